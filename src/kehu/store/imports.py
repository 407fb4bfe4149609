"""Import runs: the log of every file import (kind, file, counts, quarantine), newest first.

The ``import_runs`` table is declared in :mod:`kehu.store.schema`; the importer (:mod:`kehu.ingest`) writes it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from kehu.store.schema import import_runs

__all__ = ["get_import_run", "list_import_runs"]


def list_import_runs(conn: Connection, *, limit: int = 50, user_id: int | None = None) -> list[dict[str, Any]]:
    """The newest import runs (of one user, when ``user_id`` is given)."""
    stmt = select(import_runs).order_by(import_runs.c.id.desc()).limit(limit)
    if user_id is not None:
        stmt = stmt.where(import_runs.c.user_id == user_id)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def get_import_run(conn: Connection, run_id: int) -> dict[str, Any] | None:
    """One import run by id."""
    row = conn.execute(select(import_runs).where(import_runs.c.id == run_id)).mappings().first()
    return None if row is None else dict(row)
