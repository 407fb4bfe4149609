"""The actor's scope for what acts on customers: imports, playbooks, campaign results, tasks and the outbox.

:func:`kehu.service.access.owner_scope` says whose customers a principal may *see* (``None``: everyone's, for
an admin). The same set bounds what a manager may *do*: an import may change only customers owned by the
people of the scope (:func:`import_scope`), a playbook a manager saves or runs acts only on them and may give
customers only to them (:mod:`kehu.service.playbook_scope`), and what a task or a notification shows of a
customer depends on whether the reader may see that customer (:func:`hide_customers`,
:func:`hide_in_notifications`). Messages come from the
``scope`` section of the catalog, in the actor's language (:func:`say`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from kehu.errors import AccessDeniedError
from kehu.i18n import text
from kehu.ingest.scope import ImportScope
from kehu.service.access import owner_scope
from kehu.service.principal import Principal, Workspace
from kehu.store.schema import customers, users

__all__ = [
    "check_visible",
    "denied",
    "hide_customers",
    "hide_in_notifications",
    "import_scope",
    "say",
    "scope_users",
    "visible",
]

_CHUNK = 900


def say(ws: Workspace, principal: Principal, key: str, **values: object) -> str:
    """The text ``scope.<key>`` of the catalog in the principal's language (else the workspace's)."""
    locale = principal.locale if principal.locale in ("zh-CN", "en") else ws.settings.locale
    return text(f"scope.{key}", locale).format(**values)


def denied(ws: Workspace, principal: Principal, key: str, **values: object) -> AccessDeniedError:
    """An :class:`AccessDeniedError` with the text ``scope.<key>`` in the principal's language, carrying its catalog
    key and values so that a page answers in the language it is shown in."""
    error = AccessDeniedError(say(ws, principal, key, **values))
    error.said(f"scope.{key}", **values)  # shown in the reader's language (kehu.i18n.error_text)
    return error


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
        raise denied(ws, principal, key, **values)


def _identities(ws: Workspace, customer_ids: Iterable[int]) -> dict[int, list[str]]:
    """Customer id -> the texts that identify them (name, company, phone, e-mail), longest first."""
    ids = sorted(set(customer_ids))
    out: dict[int, list[str]] = {}
    c = customers.c
    with ws.engine.connect() as conn:
        for start in range(0, len(ids), _CHUNK):
            stmt = sa.select(c.id, c.name, c.company, c.phone, c.email).where(c.id.in_(ids[start : start + _CHUNK]))
            for cid, *values in conn.execute(stmt):
                out[int(cid)] = sorted({str(v) for v in values if v}, key=len, reverse=True)
    return out


def _mask(value: object, identities: list[str], placeholder: str) -> object:
    if not isinstance(value, str):
        return value
    for ident in identities:
        value = value.replace(ident, placeholder)
    return value


def hide_customers(ws: Workspace, principal: Principal, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tasks (or backlog entries) as the principal may read them: for a customer they may not see, no customer
    name, phone or company, no body, no reasons, and the customer's name, company, phone and e-mail masked in the
    title and notes (``customer_hidden``: true). Changes and returns ``rows``."""
    hidden = {int(r["customer_id"]) for r in rows if r.get("customer_id") is not None}
    hidden -= visible(ws, principal, hidden)
    identities = _identities(ws, hidden) if hidden else {}
    placeholder = say(ws, principal, "hidden_customer")
    for r in rows:
        cid = r.get("customer_id")
        r["customer_hidden"] = cid is not None and int(cid) in hidden
        if cid is None or not r["customer_hidden"]:
            continue
        idents = identities.get(int(cid), [])
        for key in ("customer", "phone", "company", "email"):
            if key in r:
                r[key] = None
        for key in ("title", "notes"):
            if key in r:
                r[key] = _mask(r[key], idents, placeholder)
        for key, empty in (("body", None), ("reasons", []), ("stake", None)):
            if key in r:
                r[key] = empty
    return rows


def hide_in_notifications(ws: Workspace, principal: Principal, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Notification rows (``customer_id``, ``customer``, ``params``) as the principal may read them: for a customer
    they may not see, the placeholder for the customer's name and their identities masked in the parameters (so in
    the text); such a row says ``customer_hidden``."""
    hidden = {int(r["customer_id"]) for r in rows if r.get("customer_id") is not None}
    hidden -= visible(ws, principal, hidden)
    if not hidden:
        return rows
    identities = _identities(ws, hidden)
    placeholder = say(ws, principal, "hidden_customer")
    out = []
    for r in rows:
        cid = r.get("customer_id")
        if cid is not None and int(cid) in hidden:
            idents = identities.get(int(cid), [])
            params = {k: _mask(v, idents, placeholder) for k, v in (r.get("params") or {}).items()}
            r = {**r, "customer": placeholder, "params": params, "customer_hidden": True}
        out.append(r)
    return out
