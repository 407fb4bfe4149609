"""Sign-ins for the demo company, so that `make demo` ends with a web app one can log into."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from kehu.service import access
from kehu.service.workspace import Workspace
from kehu.store.schema import users

__all__ = ["DEMO_ADMIN", "DEMO_PASSWORD", "demo_logins"]

DEMO_ADMIN = "admin"
#: the demo company's shared password; printed by ``kehu demo`` (never use it for real data)
DEMO_PASSWORD = "kehu-demo"


def demo_logins(ws: Workspace, *, password: str = DEMO_PASSWORD) -> list[dict[str, Any]]:
    """Give the demo's admin, managers and reps a password; return one example login per role.

    Creates the ``admin`` user when missing. Every user of the workspace gets ``password``.
    """
    access.create_user(ws, DEMO_ADMIN, role="admin", password=password, display_name="管理员")
    with ws.engine.connect() as conn:
        rows = [
            dict(r)
            for r in conn.execute(
                select(users.c.id, users.c.name, users.c.role, users.c.team).order_by(users.c.id)
            ).mappings()
        ]
    for row in rows:
        if row["name"] != DEMO_ADMIN:
            access.reset_password(ws, None, int(row["id"]), password)
    examples: dict[str, dict[str, Any]] = {}
    for row in rows:
        examples.setdefault(
            row["role"], {"name": row["name"], "role": row["role"], "team": row["team"], "password": password}
        )
    return [examples[r] for r in ("admin", "manager", "rep") if r in examples]
