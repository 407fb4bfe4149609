"""The tickets pages of the web app and their JSON twins: the list with filters and SLA state, one ticket with
its history, and opening / changing tickets through the same service the CLI and the API use.

Every view takes the signed-in :class:`~kehu.service.access.Principal`: a rep sees and changes only tickets of
their own customers, a manager those of their team's customers, an admin all (enforced in the queries here).

SLA state of a ticket (targets from ``loop.yaml``, see docs/loop.md): hours to the first response and to the
resolution (so far, for open tickets) next to the priority's targets; ``breached`` lists the targets missed as
of now. The *breached* filter keeps tickets that missed a target (answered or resolved late, or still waiting
past it) or have a recorded breach (``kehu tickets check``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from kehu.errors import AccessDeniedError, ValidationError
from kehu.service.access import Principal, check_customer, list_users, owner_scope
from kehu.service.tickets import STATUSES
from kehu.service.workspace import Workspace
from kehu.store.care import satisfaction_followups, ticket_assignments, ticket_sla_breaches
from kehu.store.schema import customers, tickets, users
from kehu.tickets.policy import PRIORITIES, TicketPolicy, breaches

__all__ = ["TicketFilter", "change_ticket", "open_ticket", "ticket_page", "tickets_page"]

PAGE = 50
_OPEN = ("open", "in_progress")


@dataclass(frozen=True)
class TicketFilter:
    """The list's filters (empty = any) and its page (tickets with ids below ``before``)."""

    status: str | None = None
    priority: str | None = None
    topic: str | None = None
    owner_id: int | None = None
    breached: bool = False
    before: int | None = None
    limit: int = PAGE

    def check(self) -> None:
        """Raise :class:`ValidationError` naming the filter that cannot be used."""
        if self.status and self.status not in STATUSES:
            raise ValidationError(f"status: {self.status[:40]!r} is not one of {', '.join(STATUSES)}")
        if self.priority and self.priority not in PRIORITIES:
            raise ValidationError(f"priority: {self.priority[:40]!r} is not one of {', '.join(PRIORITIES)}")
        if self.topic is not None and len(self.topic) > 200:
            raise ValidationError("topic: at most 200 characters")
        if not 1 <= self.limit <= 500:
            raise ValidationError(f"limit: {self.limit} is not between 1 and 500")

    def params(self) -> dict[str, str]:
        """The filters as query parameters (for links)."""
        owner = None if self.owner_id is None else str(self.owner_id)
        out = {"status": self.status, "priority": self.priority, "topic": self.topic, "owner": owner,
               "breached": "1" if self.breached else None}  # fmt: skip
        return {k: v for k, v in out.items() if v}


def _hours(start: dt.datetime, end: dt.datetime | None) -> float | None:
    return None if end is None else round((end - start).total_seconds() / 3600, 1)


def sla_state(ticket: dict[str, Any], policy: TicketPolicy, now: dt.datetime) -> dict[str, Any]:
    """Time to first response / resolution (hours; so far when still open) against the priority's targets."""
    target = policy.sla.get(ticket["priority"], policy.sla["normal"])
    opened = ticket["opened_at"]
    done = ticket["status"] not in _OPEN
    missed = breaches(ticket, policy, now)
    due = policy.due(ticket["priority"], opened)
    return {
        "first_response_target_hours": target.first_response,
        "resolution_target_hours": target.resolution,
        "first_response_hours": _hours(opened, ticket["first_response_at"]),
        "resolution_hours": _hours(opened, ticket["resolved_at"]),
        "open_hours": None if done else _hours(opened, now),
        "first_response_due": due["first_response"],
        "resolution_due": due["resolution"],
        "breached": sorted(missed),
    }


def _scope_clause(ws: Workspace, principal: Principal) -> sa.ColumnElement[bool] | None:
    scope = owner_scope(ws, principal)
    return None if scope is None else customers.c.owner_id.in_(scope)


def _breached_ids(
    conn: sa.Connection, joined: Any, conds: list[Any], policy: TicketPolicy, now: dt.datetime
) -> set[int]:
    """Ids of the tickets (among ``conds``) that missed a target as of ``now`` or have a recorded breach."""
    t = tickets.c
    recorded = set(conn.execute(sa.select(ticket_sla_breaches.c.ticket_id).distinct()).scalars())
    stmt = sa.select(t.id, t.priority, t.status, t.opened_at, t.first_response_at, t.resolved_at)
    out = set()
    for row in conn.execute(stmt.select_from(joined).where(*conds)):
        if row.id in recorded or breaches(row._asdict(), policy, now):
            out.add(int(row.id))
    return out


def tickets_page(ws: Workspace, principal: Principal, filters: TicketFilter, *, now: dt.datetime) -> dict[str, Any]:
    """One page of tickets in the principal's scope, newest first, with SLA state and counts per status."""
    filters.check()
    policy: TicketPolicy = ws.ticket_policy()
    scope = owner_scope(ws, principal)
    if filters.owner_id is not None:
        if principal.role == "rep" and filters.owner_id != principal.id:
            raise AccessDeniedError("owner: a rep sees only their own customers' tickets")
        if scope is not None and filters.owner_id not in scope:
            raise AccessDeniedError(f"owner: user {filters.owner_id} is not in your team")
    conds: list[sa.ColumnElement[bool]] = []
    in_scope = _scope_clause(ws, principal)
    if in_scope is not None:
        conds.append(in_scope)
    base = list(conds)
    if filters.status:
        conds.append(tickets.c.status == filters.status)
    if filters.priority:
        conds.append(tickets.c.priority == filters.priority)
    if filters.topic:
        conds.append(tickets.c.topic == filters.topic)
    if filters.owner_id is not None:
        conds.append(customers.c.owner_id == filters.owner_id)
    joined = tickets.join(customers, customers.c.id == tickets.c.customer_id).outerjoin(
        users, users.c.id == customers.c.owner_id
    )
    cols: list[Any] = [tickets, customers.c.name.label("customer_name"), customers.c.owner_id,
                       users.c.display_name.label("owner_name")]  # fmt: skip
    with ws.engine.connect() as conn:
        late = _breached_ids(conn, joined, base, policy, now)
        if filters.breached:
            conds.append(tickets.c.id.in_(sorted(late)) if late else sa.false())
        page_conds = list(conds)
        if filters.before is not None:
            page_conds.append(tickets.c.id < filters.before)
        stmt = sa.select(*cols).select_from(joined).where(*page_conds).order_by(tickets.c.id.desc())
        rows = [dict(r._mapping) for r in conn.execute(stmt.limit(filters.limit + 1))]
        total = conn.execute(sa.select(sa.func.count()).select_from(joined).where(*conds)).scalar_one()
        by_status: dict[str, int] = dict(
            conn.execute(
                sa.select(tickets.c.status, sa.func.count()).select_from(joined).where(*base).group_by(tickets.c.status)
            ).all()
        )
        named = sa.select(tickets.c.topic).select_from(joined).where(*base).distinct()
        topics = sorted(t for t in conn.execute(named).scalars() if t)
    more = len(rows) > filters.limit
    rows = rows[: filters.limit]
    items = []
    for r in rows:
        r.pop("row_hash", None)
        items.append({**r, "sla": sla_state(r, policy, now)})
    owners = [] if principal.role == "rep" else [
        {"id": u["id"], "name": u.get("display_name") or u["name"]} for u in list_users(ws, principal)
        if scope is None or u["id"] in scope
    ]  # fmt: skip
    return {
        "scope": "all" if scope is None else "own" if principal.role == "rep" else "team",
        "filters": filters.params(),
        "tickets": items,
        "total": int(total),
        "before": filters.before,
        "next_before": items[-1]["id"] if more and items else None,
        "counts": {s: int(by_status.get(s, 0)) for s in STATUSES} | {"breached": len(late)},
        "topics": topics,
        "owners": owners,
        "statuses": list(STATUSES),
        "priorities": list(PRIORITIES),
        "now": now,
    }


def _scoped_ticket(ws: Workspace, principal: Principal, ticket_id: int) -> dict[str, Any]:
    ticket: dict[str, Any] = ws.ticket(ticket_id)  # NotFoundError when there is none
    check_customer(ws, principal, int(ticket["customer_id"]))
    return ticket


def ticket_page(ws: Workspace, principal: Principal, ticket_id: int, *, now: dt.datetime) -> dict[str, Any]:
    """One ticket in scope: its fields, customer, SLA state, assignment history, recorded breaches, follow-up."""
    ticket = _scoped_ticket(ws, principal, ticket_id)
    ticket.pop("row_hash", None)
    policy: TicketPolicy = ws.ticket_policy()
    with ws.engine.connect() as conn:
        customer = conn.execute(
            sa.select(customers.c.id, customers.c.name, customers.c.company, customers.c.phone, customers.c.email,
                      users.c.display_name.label("owner_name"))
            .select_from(customers.outerjoin(users, users.c.id == customers.c.owner_id))
            .where(customers.c.id == ticket["customer_id"])
        ).one()._asdict()  # fmt: skip
        history = [dict(r._mapping) for r in conn.execute(
            sa.select(ticket_assignments).where(ticket_assignments.c.ticket_id == ticket_id)
            .order_by(ticket_assignments.c.at, ticket_assignments.c.id))]  # fmt: skip
        recorded = [dict(r._mapping) for r in conn.execute(
            sa.select(ticket_sla_breaches).where(ticket_sla_breaches.c.ticket_id == ticket_id)
            .order_by(ticket_sla_breaches.c.due_at))]  # fmt: skip
        followup = conn.execute(
            sa.select(satisfaction_followups).where(satisfaction_followups.c.ticket_id == ticket_id)
        ).first()
    assignees = [u["name"] for u in list_users(ws, principal) if u.get("active", True)]
    if principal.name not in assignees:
        assignees.append(principal.name)
    return {
        "ticket": ticket,
        "customer": customer,
        "sla": sla_state(ticket, policy, now),
        "assignments": history,
        "recorded_breaches": recorded,
        "followup": None if followup is None else dict(followup._mapping),
        "assignees": assignees,
        "statuses": list(STATUSES),
        "priorities": list(PRIORITIES),
    }


def open_ticket(
    ws: Workspace,
    principal: Principal,
    customer_id: int,
    *,
    topic: str | None = None,
    priority: str = "normal",
    complaint: bool = False,
    note: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Open a ticket for a customer the principal may see (assigned by the rules)."""
    if topic is not None and len(topic) > 200:
        raise ValidationError("topic: at most 200 characters")
    if note is not None and len(note) > 5000:
        raise ValidationError("note: at most 5000 characters")
    check_customer(ws, principal, customer_id)
    return ws.create_ticket(customer_id, now=now, topic=topic or None, priority=priority, complaint=complaint,
                            note=note or None)  # fmt: skip


def change_ticket(
    ws: Workspace, principal: Principal, ticket_id: int, *, now: dt.datetime | None = None, **changes: Any
) -> dict[str, Any]:
    """Change a ticket of a customer the principal may see (see :func:`kehu.service.tickets.update_ticket`)."""
    current = _scoped_ticket(ws, principal, ticket_id)
    for key in ("status", "priority", "assignee", "satisfaction"):
        if key in changes and changes[key] == current.get(key):
            changes[key] = None  # unchanged (a form re-sends every field): no new assignment is recorded
    return ws.update_ticket(ticket_id, now=now, **changes)
