"""What people do on a customer's page: add a note, create a task, change the owner, add or remove a tag.

Every action checks the row-level rules first (:func:`~kehu.service.access.check_customer`), validates its input
with messages that name the field, writes in one transaction and appends an audit entry with the acting user —
the same audit log the playbooks write, so a customer's history shows people and automation side by side.

Who may do what:

- everyone who may see the customer: notes, tags, tasks;
- a rep assigns tasks only to themselves; a manager to anyone in their team; an admin to anyone;
- owner changes: managers (to someone in their team) and admins; reps are refused.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import sqlalchemy as sa

from kehu.errors import AccessDeniedError, ValidationError
from kehu.service.access import Principal, check_customer, owner_scope
from kehu.service.workspace import Workspace
from kehu.store.actions import TASK_PRIORITIES, audit, change_tags, insert_task, set_owner
from kehu.store.notes import add_note as store_add_note
from kehu.store.schema import customers, users

__all__ = ["add_note", "add_tag", "assignable_users", "change_owner", "create_task", "remove_tag"]

NOTE_MAX = 5000
TITLE_MAX = 300
TAG_MAX = 40
_TAG_RE = re.compile(r"^[^,;<>\"'`\x00-\x1f]+$")


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def _text(value: str | None, field: str, limit: int, *, required: bool = True) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise ValidationError(f"{field}: must not be empty")
        return None
    if len(text) > limit:
        raise ValidationError(f"{field}: at most {limit} characters ({len(text)} given)")
    return text


def add_note(
    ws: Workspace, principal: Principal, customer_id: int, body: str, *, now: dt.datetime | None = None
) -> int:
    """Add a note to the customer; returns the note id."""
    check_customer(ws, principal, customer_id)
    text = _text(body, "note", NOTE_MAX)
    at = _now(now)
    with ws.engine.begin() as conn:
        note_id = store_add_note(conn, customer_id=customer_id, author_id=principal.id, body=text or "", at=at)
        audit(
            conn,
            at=at,
            actor=principal.name,
            action="note.add",
            customer_id=customer_id,
            target=f"note:{note_id}",
            detail={"chars": len(text or "")},
        )
    return note_id


def assignable_users(ws: Workspace, principal: Principal) -> list[dict[str, Any]]:
    """The users the principal may assign tasks or customers to (id, name, display name), by name."""
    stmt = sa.select(users.c.id, users.c.name, users.c.display_name).order_by(users.c.name)
    if principal.role == "rep":
        stmt = stmt.where(users.c.id == principal.id)
    elif principal.role == "manager":
        scope = owner_scope(ws, principal) or [principal.id]
        stmt = stmt.where(users.c.id.in_(scope))
    with ws.engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def _check_assignee(ws: Workspace, principal: Principal, user_id: int, field: str) -> None:
    allowed = {u["id"] for u in assignable_users(ws, principal)}
    if user_id not in allowed:
        with ws.engine.connect() as conn:
            exists = conn.execute(sa.select(users.c.id).where(users.c.id == user_id)).first() is not None
        if not exists:
            raise ValidationError(f"{field}: no user with id {user_id}")
        raise AccessDeniedError(f"{field}: you may not assign work to user {user_id}")


def create_task(
    ws: Workspace,
    principal: Principal,
    customer_id: int,
    *,
    title: str,
    body: str | None = None,
    due_date: dt.date | str | None = None,
    priority: str = "normal",
    assignee_id: int | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Create a task for the customer (default assignee: the customer's owner when allowed, else the principal)."""
    check_customer(ws, principal, customer_id)
    title_text = _text(title, "title", TITLE_MAX)
    body_text = _text(body, "body", NOTE_MAX, required=False)
    if priority not in TASK_PRIORITIES:
        raise ValidationError(f"priority: {priority!r} is not one of {', '.join(TASK_PRIORITIES)}")
    if isinstance(due_date, str):
        try:
            due = dt.date.fromisoformat(due_date.strip()) if due_date.strip() else None
        except ValueError:
            raise ValidationError(f"due_date: {due_date!r} is not a date (YYYY-MM-DD)") from None
    else:
        due = due_date
    at = _now(now)
    if assignee_id is None:
        with ws.engine.connect() as conn:
            owner = conn.execute(sa.select(customers.c.owner_id).where(customers.c.id == customer_id)).scalar()
        allowed = {u["id"] for u in assignable_users(ws, principal)}
        assignee_id = owner if owner in allowed else principal.id
    else:
        _check_assignee(ws, principal, assignee_id, "assignee")
    with ws.engine.begin() as conn:
        task_id = insert_task(
            conn,
            customer_id=customer_id,
            assignee_id=assignee_id,
            title=title_text or "",
            body=body_text,
            priority=priority,
            due_date=due,
            now=at,
        )
        audit(
            conn,
            at=at,
            actor=principal.name,
            action="task.create",
            customer_id=customer_id,
            target=f"task:{task_id}",
            detail={"assignee_id": assignee_id, "due_date": due.isoformat() if due else None, "title": title_text},
        )
    return int(task_id)


def change_owner(
    ws: Workspace, principal: Principal, customer_id: int, owner_id: int, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Give the customer to another owner (managers within their team, admins)."""
    if principal.role not in ("manager", "admin"):
        raise AccessDeniedError("only managers and admins change a customer's owner")
    check_customer(ws, principal, customer_id)
    _check_assignee(ws, principal, owner_id, "owner")
    at = _now(now)
    with ws.engine.begin() as conn:
        current = set_owner(conn, customer_id, owner_id, now=at)
        if current == owner_id:
            return {"from": current, "to": owner_id, "changed": False}
        audit(
            conn,
            at=at,
            actor=principal.name,
            action="owner.change",
            customer_id=customer_id,
            target=f"customer:{customer_id}",
            detail={"from": current, "to": owner_id},
        )
    return {"from": current, "to": owner_id, "changed": True}


def _tag(value: str) -> str:
    tag = _text(value, "tag", TAG_MAX) or ""
    if not _TAG_RE.match(tag):
        raise ValidationError("tag: must not contain commas, semicolons, quotes, angle brackets or control characters")
    return tag


def _change_tags(
    ws: Workspace, principal: Principal, customer_id: int, *, add: list[str], remove: list[str], now: dt.datetime | None
) -> list[str]:
    check_customer(ws, principal, customer_id)
    at = _now(now)
    with ws.engine.begin() as conn:
        before, after = change_tags(conn, customer_id, add=add, remove=remove, now=at)
        if after != before:
            audit(
                conn,
                at=at,
                actor=principal.name,
                action="tag.change",
                customer_id=customer_id,
                target=f"customer:{customer_id}",
                detail={"add": add, "remove": remove, "tags": after},
            )
    return after


def add_tag(
    ws: Workspace, principal: Principal, customer_id: int, tag: str, *, now: dt.datetime | None = None
) -> list[str]:
    """Add one tag (no-op when present); returns the customer's tags."""
    return _change_tags(ws, principal, customer_id, add=[_tag(tag)], remove=[], now=now)


def remove_tag(
    ws: Workspace, principal: Principal, customer_id: int, tag: str, *, now: dt.datetime | None = None
) -> list[str]:
    """Remove one tag (no-op when absent); returns the customer's tags."""
    return _change_tags(ws, principal, customer_id, add=[], remove=[(tag or "").strip()], now=now)
