"""The actor's scope for what acts on customers: imports, playbooks, campaign results, tasks and the outbox.

:func:`kehu.service.access.owner_scope` says whose customers a principal may *see* (``None``: everyone's, for
an admin). The same set bounds what a manager may *do*: an import may change only customers owned by the
people of the scope (:func:`import_scope`), a playbook a manager saves or runs acts only on them and may give
customers only to them (:func:`team_of`, :func:`check_people`), and what a task or a notification shows of a
customer depends on whether the reader may see that customer (:func:`visible`). Messages come from the
``scope`` section of the catalog, in the actor's language (:func:`say`).
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from kehu.errors import AccessDeniedError
from kehu.i18n import text
from kehu.ingest.scope import ImportScope
from kehu.service.access import owner_scope
from kehu.service.principal import Principal, Workspace
from kehu.store.schema import customers, users

__all__ = ["check_visible", "import_scope", "say", "scope_users", "visible"]

_CHUNK = 900


def say(ws: Workspace, principal: Principal, key: str, **values: object) -> str:
    """The text ``scope.<key>`` of the catalog in the principal's language (else the workspace's)."""
    locale = principal.locale if principal.locale in ("zh-CN", "en") else ws.settings.locale
    return text(f"scope.{key}", locale).format(**values)


def scope_users(ws: Workspace, principal: Principal) -> dict[int, str] | None:
    """Id -> name of the users whose customers the principal may see and act on (``None``: everyone's)."""
    ids = owner_scope(ws, principal)
    if ids is None:
        return None
    with ws.engine.connect() as conn:
        rows = conn.execute(sa.select(users.c.id, users.c.name).where(users.c.id.in_(ids))).all()
    return {int(i): str(n) for i, n in rows}


def import_scope(ws: Workspace, principal: Principal) -> ImportScope | None:
    """What an import started by ``principal`` may touch (``None``: everything, for an admin)."""
    people = scope_users(ws, principal)
    if people is None:
        return None
    locale = principal.locale if principal.locale in ("zh-CN", "en") else ws.settings.locale
    return ImportScope(frozenset(people), frozenset(people.values()), principal.name, locale)


def visible(ws: Workspace, principal: Principal, customer_ids: Iterable[int]) -> set[int]:
    """Those of ``customer_ids`` the principal may see."""
    ids = sorted({int(c) for c in customer_ids})
    scope = owner_scope(ws, principal)
    if scope is None:
        return set(ids)
    out: set[int] = set()
    with ws.engine.connect() as conn:
        for start in range(0, len(ids), _CHUNK):
            stmt = sa.select(customers.c.id).where(
                customers.c.id.in_(ids[start : start + _CHUNK]), customers.c.owner_id.in_(scope)
            )
            out.update(int(c) for c in conn.execute(stmt).scalars())
    return out


def check_visible(ws: Workspace, principal: Principal, customer_id: int | None, key: str, **values: object) -> None:
    """Raise :class:`AccessDeniedError` (message ``scope.<key>``) unless the principal may see the customer
    (an object of no customer is checked by role elsewhere)."""
    if customer_id is not None and int(customer_id) not in visible(ws, principal, [int(customer_id)]):
        raise AccessDeniedError(say(ws, principal, key, **values))
