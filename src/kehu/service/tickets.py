"""Tickets through the service: create and update (CLI/API), automatic assignment, SLA breach detection and
satisfaction follow-ups after resolved complaints. The clock is always passed in (``now``)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa

from kehu.errors import NotFoundError, ValidationError
from kehu.store.care import satisfaction_followups, ticket_assignments, ticket_round_robin, ticket_sla_breaches
from kehu.store.schema import customers, tickets, users
from kehu.tickets.policy import PRIORITIES, TicketPolicy, breaches, choose_assignee

__all__ = ["check_tickets", "create_ticket", "get_ticket", "list_breaches", "update_ticket"]

STATUSES = ("open", "in_progress", "resolved", "closed")
SOURCE = "kehu"


def _active_users(conn: sa.Connection) -> dict[str, str | None]:
    return {n: t for n, t in conn.execute(sa.select(users.c.name, users.c.team).where(users.c.active.is_(True)))}


def _assign(conn: sa.Connection, policy: TicketPolicy, ticket_id: int, now: dt.datetime,
            active: dict[str, str | None]) -> str | None:  # fmt: skip
    row = conn.execute(
        sa.select(tickets.c.topic, users.c.name)
        .select_from(tickets.join(customers, customers.c.id == tickets.c.customer_id).outerjoin(
            users, users.c.id == customers.c.owner_id))
        .where(tickets.c.id == ticket_id)
    ).one()  # fmt: skip
    positions = {p: int(i) for p, i in conn.execute(sa.select(ticket_round_robin))}
    pick = choose_assignee(
        owner=row.name, topic=row.topic, policy=policy.assignment, active=active, positions=positions
    )
    if pick is None:
        return None
    assignee, rule, pool, position = pick
    conn.execute(sa.update(tickets).where(tickets.c.id == ticket_id).values(assignee=assignee, updated_at=now))
    conn.execute(
        sa.insert(ticket_assignments).values(ticket_id=ticket_id, assignee=assignee, rule=rule, pool=pool, at=now)
    )
    if pool is not None:
        updated = conn.execute(
            sa.update(ticket_round_robin).where(ticket_round_robin.c.pool == pool).values(position=position)
        ).rowcount
        if not updated:
            conn.execute(sa.insert(ticket_round_robin).values(pool=pool, position=position))
    return assignee


def _followup(conn: sa.Connection, policy: TicketPolicy, ticket: Any, now: dt.datetime) -> bool:
    """Schedule the CSAT follow-up of a resolved complaint (once per ticket)."""
    if not ticket.is_complaint or ticket.resolved_at is None:
        return False
    exists = conn.execute(
        sa.select(satisfaction_followups.c.id).where(satisfaction_followups.c.ticket_id == ticket.id)
    ).first()
    if exists:
        return False
    conn.execute(sa.insert(satisfaction_followups).values(
        ticket_id=ticket.id, customer_id=ticket.customer_id, status="scheduled", created_at=now,
        due_at=ticket.resolved_at + dt.timedelta(hours=policy.followup_hours),
    ))  # fmt: skip
    return True


def create_ticket(
    store: sa.Engine,
    policy: TicketPolicy,
    customer_id: int,
    *,
    now: dt.datetime,
    topic: str | None = None,
    priority: str = "normal",
    complaint: bool = False,
    note: str | None = None,
    assignee: str | None = None,
) -> dict[str, Any]:
    """Open a ticket for a customer and assign it (``assignee``, else the assignment rules)."""
    if priority not in PRIORITIES:
        raise ValidationError(f"priority {priority!r} is not one of {', '.join(PRIORITIES)}")
    with store.begin() as conn:
        if conn.execute(sa.select(customers.c.id).where(customers.c.id == customer_id)).first() is None:
            raise NotFoundError(f"no customer #{customer_id}")
        tid = int(conn.execute(sa.insert(tickets).values(
            source=SOURCE, ticket_id=f"K-{uuid.uuid4().hex[:12]}", customer_id=customer_id, row_hash=0,
            attributes={"note": note} if note else None, opened_at=now, topic=topic, priority=priority,
            status="open", is_complaint=complaint, created_at=now, updated_at=now,
        ).returning(tickets.c.id)).scalar_one())  # fmt: skip
        active = _active_users(conn)
        if assignee is not None:
            if assignee not in active:
                raise ValidationError(f"assignee {assignee!r} is not an active user")
            conn.execute(sa.update(tickets).where(tickets.c.id == tid).values(assignee=assignee))
            conn.execute(sa.insert(ticket_assignments).values(ticket_id=tid, assignee=assignee, rule="manual", at=now))
        else:
            _assign(conn, policy, tid, now, active)
        return _ticket(conn, tid, policy)


def _ticket(conn: sa.Connection, tid: int, policy: TicketPolicy) -> dict[str, Any]:
    row = conn.execute(sa.select(tickets).where(tickets.c.id == tid)).first()
    if row is None:
        raise NotFoundError(f"no ticket #{tid}")
    d = dict(row._mapping)
    d["due"] = policy.due(d["priority"], d["opened_at"])
    return d


def get_ticket(store: sa.Engine, policy: TicketPolicy, ticket_id: int) -> dict[str, Any]:
    """One ticket with its SLA due times (NotFoundError when there is none)."""
    with store.connect() as conn:
        return _ticket(conn, ticket_id, policy)


def update_ticket(
    store: sa.Engine,
    policy: TicketPolicy,
    ticket_id: int,
    *,
    now: dt.datetime,
    status: str | None = None,
    respond: bool = False,
    resolve: bool = False,
    assignee: str | None = None,
    priority: str | None = None,
    satisfaction: int | None = None,
) -> dict[str, Any]:
    """Change a ticket: record the first response (``respond``), resolve it, set status, priority, assignee or
    satisfaction. Resolving a complaint schedules its satisfaction follow-up."""
    if status is not None and status not in STATUSES:
        raise ValidationError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    if priority is not None and priority not in PRIORITIES:
        raise ValidationError(f"priority {priority!r} is not one of {', '.join(PRIORITIES)}")
    if satisfaction is not None and not 1 <= satisfaction <= 5:
        raise ValidationError(f"satisfaction {satisfaction}: use 1 to 5")
    with store.begin() as conn:
        current = _ticket(conn, ticket_id, policy)
        values: dict[str, Any] = {"updated_at": now}
        if respond and current["first_response_at"] is None:
            values["first_response_at"] = now
        if resolve or status in ("resolved", "closed"):
            if current["resolved_at"] is None:
                values["resolved_at"] = now
                values.setdefault("first_response_at", current["first_response_at"] or now)
            values["status"] = status or "resolved"
        elif status is not None:
            values["status"] = status
        elif respond and current["status"] == "open":
            values["status"] = "in_progress"
        if priority is not None:
            values["priority"] = priority
        if satisfaction is not None:
            values["satisfaction"] = satisfaction
        if assignee is not None:
            if assignee not in _active_users(conn):
                raise ValidationError(f"assignee {assignee!r} is not an active user")
            values["assignee"] = assignee
            conn.execute(sa.insert(ticket_assignments).values(ticket_id=ticket_id, assignee=assignee, rule="manual",
                                                              at=now))  # fmt: skip
        conn.execute(sa.update(tickets).where(tickets.c.id == ticket_id).values(**values))
        row = conn.execute(sa.select(tickets).where(tickets.c.id == ticket_id)).one()
        _followup(conn, policy, row, now)
        return _ticket(conn, ticket_id, policy)


def check_tickets(store: sa.Engine, policy: TicketPolicy, *, now: dt.datetime) -> dict[str, Any]:
    """Housekeeping as of ``now``: assign unassigned open tickets, record new SLA breaches (each once), schedule
    follow-ups of resolved complaints. Returns counts and the new breaches."""
    assigned = unassigned = followups = 0
    new_breaches: list[dict[str, Any]] = []
    with store.begin() as conn:
        active = _active_users(conn)
        waiting = conn.execute(
            sa.select(tickets.c.id).where(tickets.c.assignee.is_(None), tickets.c.status.in_(("open", "in_progress")))
            .order_by(tickets.c.opened_at, tickets.c.id)
        ).scalars().all()  # fmt: skip
        for tid in waiting:
            if _assign(conn, policy, int(tid), now, active):
                assigned += 1
            else:
                unassigned += 1
        known = {
            (int(t), k) for t, k in conn.execute(sa.select(ticket_sla_breaches.c.ticket_id, ticket_sla_breaches.c.kind))
        }
        for row in conn.execute(sa.select(tickets).where(tickets.c.opened_at <= now)).all():
            for kind, due in breaches(dict(row._mapping), policy, now).items():
                if (row.id, kind) in known:
                    continue
                item = {"ticket_id": row.id, "customer_id": row.customer_id, "kind": kind, "priority": row.priority,
                        "due_at": due, "detected_at": now}  # fmt: skip
                conn.execute(sa.insert(ticket_sla_breaches).values(**item))
                new_breaches.append(item)
            followups += _followup(conn, policy, row, now)
    return {"assigned": assigned, "unassigned": unassigned, "new_breaches": len(new_breaches),
            "followups_scheduled": followups, "breaches": new_breaches}  # fmt: skip


def list_breaches(store: sa.Engine, *, limit: int = 100) -> list[dict[str, Any]]:
    """Recorded SLA breaches, newest due first, with the ticket's status and assignee."""
    b = ticket_sla_breaches
    stmt = (
        sa.select(
            b, tickets.c.ticket_id.label("source_ticket_id"), tickets.c.status, tickets.c.assignee, tickets.c.topic
        )
        .join(tickets, tickets.c.id == b.c.ticket_id)
        .order_by(b.c.due_at.desc(), b.c.id.desc())
        .limit(limit)
    )
    with store.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]
