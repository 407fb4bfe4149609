"""Tickets through the service: create and update (CLI/API), automatic assignment, SLA breach detection and
satisfaction follow-ups after resolved complaints. The clock is always passed in (``now``)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from kehu.errors import AccessDeniedError, NotFoundError, ValidationError
from kehu.service.access import Principal, check_customer, list_users, owner_scope, require_role
from kehu.service.loop_config import ticket_policy
from kehu.service.principal import Service, Workspace
from kehu.store.care import satisfaction_followups, ticket_assignments, ticket_round_robin, ticket_sla_breaches
from kehu.store.db import ensure_current
from kehu.store.schema import customers, tickets, users
from kehu.tickets.policy import TicketPolicy, breaches, choose_assignee
from kehu.vocabulary import PRIORITIES

__all__ = [
    "TicketFilter",
    "TicketService",
    "change_ticket",
    "check_tickets",
    "create_ticket",
    "get_ticket",
    "list_breaches",
    "update_ticket",
]

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


# -- The tickets pages of the web app and their JSON twins: the list with filters and SLA state, one tick ----------


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


def _scoped_ticket(ws: Workspace, principal: Principal, ticket_id: int) -> dict[str, Any]:
    ensure_current(ws.engine)
    ticket: dict[str, Any] = get_ticket(ws.engine, ticket_policy(ws.settings), ticket_id)  # NotFoundError: none
    check_customer(ws, principal, int(ticket["customer_id"]))
    return ticket


def change_ticket(
    ws: Workspace, principal: Principal, ticket_id: int, *, now: dt.datetime | None = None, **changes: Any
) -> dict[str, Any]:
    """Change a ticket of a customer the principal may see (see :func:`kehu.service.tickets.update_ticket`)."""
    current = _scoped_ticket(ws, principal, ticket_id)
    for key in ("status", "priority", "assignee", "satisfaction"):
        if key in changes and changes[key] == current.get(key):
            changes[key] = None  # unchanged (a form re-sends every field): no new assignment is recorded
    ensure_current(ws.engine)
    return update_ticket(
        ws.engine, ticket_policy(ws.settings), ticket_id, now=now or dt.datetime.now(dt.UTC), **changes
    )


class TicketService(Service):
    """The tickets of the customers the actor may see."""

    def create(self, customer: int | str, *, now: dt.datetime | None = None, **fields: Any) -> dict[str, Any]:
        """Open a ticket for a customer the actor may see (an int is Kehu's id; text: a source id, ``SOURCE:ID``
        or Kehu's id) and assign it (see :func:`create_ticket`)."""
        if isinstance(customer, int):
            customer_id = customer
        else:
            from kehu.service.customers import CustomerService

            customer_id = int(CustomerService(self.ws, self.principal).find(customer)["id"])
        check_customer(self.ws, self.principal, customer_id)
        ensure_current(self.ws.engine)
        policy = ticket_policy(self.ws.settings)
        return create_ticket(self.ws.engine, policy, customer_id, now=now or dt.datetime.now(dt.UTC), **fields)

    def update(self, ticket_id: int, *, now: dt.datetime | None = None, **changes: Any) -> dict[str, Any]:
        """Change a ticket of a customer the actor may see (see :func:`update_ticket`)."""
        ensure_current(self.ws.engine)
        policy = ticket_policy(self.ws.settings)
        check_customer(self.ws, self.principal, int(get_ticket(self.ws.engine, policy, ticket_id)["customer_id"]))
        return update_ticket(self.ws.engine, policy, ticket_id, now=now or dt.datetime.now(dt.UTC), **changes)

    def get(self, ticket_id: int) -> dict[str, Any]:
        """One ticket of a customer the actor may see, with its SLA due times (see :func:`get_ticket`)."""
        ensure_current(self.ws.engine)
        ticket = get_ticket(self.ws.engine, ticket_policy(self.ws.settings), ticket_id)
        check_customer(self.ws, self.principal, int(ticket["customer_id"]))
        return ticket

    def check(self, *, now: dt.datetime | None = None) -> dict[str, Any]:
        """Assign waiting tickets, record SLA breaches, schedule follow-ups as of ``now`` (managers and admins)."""
        require_role(self.principal, "admin", "manager")
        ensure_current(self.ws.engine)
        return check_tickets(self.ws.engine, ticket_policy(self.ws.settings), now=now or dt.datetime.now(dt.UTC))

    def breaches(self, *, limit: int = 100) -> list[dict[str, Any]]:
        """Recorded SLA breaches, newest first (managers and admins)."""
        require_role(self.principal, "admin", "manager")
        ensure_current(self.ws.engine)
        return list_breaches(self.ws.engine, limit=limit)

    def page(self, filters: TicketFilter, *, now: dt.datetime) -> dict[str, Any]:
        """One page of tickets in the principal's scope, newest first, with SLA state and counts per status."""
        filters.check()
        policy: TicketPolicy = ticket_policy(self.ws.settings)
        scope = owner_scope(self.ws, self.principal)
        if filters.owner_id is not None:
            if self.principal.role == "rep" and filters.owner_id != self.principal.id:
                raise AccessDeniedError("owner: a rep sees only their own customers' tickets")
            if scope is not None and filters.owner_id not in scope:
                raise AccessDeniedError(f"owner: user {filters.owner_id} is not in your team")
        conds: list[sa.ColumnElement[bool]] = []
        in_scope = _scope_clause(self.ws, self.principal)
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
        with self.ws.engine.connect() as conn:
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
                    sa.select(tickets.c.status, sa.func.count())
                    .select_from(joined)
                    .where(*base)
                    .group_by(tickets.c.status)
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
        owners = [] if self.principal.role == "rep" else [
            {"id": u["id"], "name": u.get("display_name") or u["name"]} for u in list_users(self.ws, self.principal)
            if scope is None or u["id"] in scope
        ]  # fmt: skip
        return {
            "scope": "all" if scope is None else "own" if self.principal.role == "rep" else "team",
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

    def view(self, ticket_id: int, *, now: dt.datetime) -> dict[str, Any]:
        """One ticket in scope: its fields, customer, SLA state, assignment history, recorded breaches, follow-up."""
        ticket = _scoped_ticket(self.ws, self.principal, ticket_id)
        ticket.pop("row_hash", None)
        policy: TicketPolicy = ticket_policy(self.ws.settings)
        with self.ws.engine.connect() as conn:
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
        assignees = [u["name"] for u in list_users(self.ws, self.principal) if u.get("active", True)]
        if self.principal.name not in assignees:
            assignees.append(self.principal.name)
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

    def open(
        self,
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
        check_customer(self.ws, self.principal, customer_id)
        ensure_current(self.ws.engine)
        return create_ticket(
            self.ws.engine, ticket_policy(self.ws.settings), customer_id, now=now or dt.datetime.now(dt.UTC),
            topic=topic or None, priority=priority, complaint=complaint, note=note or None,
        )  # fmt: skip

    def change(self, ticket_id: int, *, now: dt.datetime | None = None, **changes: Any) -> dict[str, Any]:
        """See :func:`change_ticket`."""
        return change_ticket(self.ws, self.principal, ticket_id, now=now, **changes)
