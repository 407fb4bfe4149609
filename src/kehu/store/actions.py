"""What the playbooks decide and do: firings, the outbox and its delivery attempts, tasks, coupons, the audit log.

Tables (on :data:`kehu.store.schema.metadata`)::

    playbook_runs        one row per playbook run (decide + deliver): the day, the clock, counts per rule
    playbook_firings     one row per (playbook, rule, customer, trigger occurrence) — unique: a rule acts on
                         one occurrence of its trigger for one customer once, ever; ``fate`` says what became of
                         it: ``acted`` or ``held_out`` (the customer is in the rule's holdout: no outbox row)
    outbox               one row per action a firing decided, written in the same transaction as the firing;
                         ``idempotency_key`` is unique. status: pending | retry | sending | done | dead | unknown
    delivery_attempts    one row per attempt to deliver an outbox row (ok, error, response)
    tasks                work for people: open | in_progress | done | cancelled, due date, priority, outcome,
                         notes, assignee, customer, and the playbook/rule/firing that created it (or none: manual)
    coupons              issued coupons: unique code, value, expiry, customer, the firing that issued it
    audit_log            every automated and manual action: who/what (actor), when, why (rule and values)

The exactly-once contract (see :mod:`kehu.playbooks.outbox`): a decision writes its firing and its outbox rows
in one transaction; store-only actions (task, tag, coupon, owner) are applied in one transaction with marking
their outbox row done; messages are claimed, sent, then marked — a process that stops while sending leaves the
row ``sending``, and once its lease has expired it becomes ``unknown`` (listed, never re-sent on its own).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)

from kehu.store.notifications import notify_task_assigned
from kehu.store.schema import UTCDateTime, customers, metadata

__all__ = [
    "FIRING_FATES",
    "OUTBOX_STATES",
    "audit",
    "audit_log",
    "change_tags",
    "coupons",
    "delivery_attempts",
    "insert_task",
    "outbox",
    "playbook_firings",
    "playbook_runs",
    "set_owner",
    "tasks",
]

FIRING_FATES = ("acted", "held_out")
OUTBOX_STATES = ("pending", "retry", "sending", "done", "dead", "unknown")

playbook_runs = Table(
    "playbook_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("day", Date, nullable=False),  # the day triggers were evaluated for
    Column("as_of", Date, nullable=True),  # the published profile the `if` rules read (None: nothing published)
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("trigger", String(20), nullable=False),  # cli | run | schedule | api
    Column("summary", JSON, nullable=True),  # rule -> counts
)

playbook_firings = Table(
    "playbook_firings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("playbook", String(100), nullable=False),
    Column("rule", String(100), nullable=False),
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
    Column("occurrence", String(200), nullable=False),  # which occurrence of the trigger (e.g. entered:2026-10-31)
    Column("day", Date, nullable=False),  # the day it was decided for (per-day caps count these)
    Column("decided_at", UTCDateTime, nullable=False),
    Column("run_id", Integer, ForeignKey("playbook_runs.id"), nullable=True),
    Column("reason", JSON, nullable=True),  # trigger values that made it fire
    # what became of it: acted (before capacity planning) | held_out (in the rule's holdout: nothing was done) |
    # one of kehu.playbooks.capacity.FATES; the firing whose action it merged into, and its value at stake
    # ({"value", "basis", "clv", "risk", "effect"}; see kehu.playbooks.capacity.value_at_stake)
    Column("fate", String(20), nullable=False, default="acted", server_default="acted"),
    Column("merged_into", Integer, ForeignKey("playbook_firings.id", ondelete="SET NULL"), nullable=True, index=True),
    Column("stake", JSON, nullable=True),
    Index("uq_playbook_firings_occurrence", "playbook", "rule", "customer_id", "occurrence", unique=True),
    Index("ix_playbook_firings_rule_day", "playbook", "rule", "day"),
    Index("ix_playbook_firings_customer_day", "customer_id", "day"),
    Index("ix_playbook_firings_run_id_fate", "run_id", "fate"),  # a run's accounting
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("idempotency_key", String(100), nullable=False),
    Column("firing_id", Integer, ForeignKey("playbook_firings.id", ondelete="SET NULL"), nullable=True, index=True),
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="SET NULL"), nullable=True),
    Column("kind", String(20), nullable=False),  # task | message | tag | coupon | owner
    Column("channel", String(100), nullable=True),  # messages: email | webhook:NAME | sms
    Column("payload", JSON, nullable=False),
    Column("status", String(10), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),  # not before (quiet hours, backoff)
    Column("lease_until", UTCDateTime, nullable=True),  # while sending
    Column("done_at", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("result", JSON, nullable=True),  # e.g. {"task_id": 12}
    Index("uq_outbox_idempotency_key", "idempotency_key", unique=True),
    Index("ix_outbox_status_next", "status", "next_attempt_at"),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("outbox_id", Integer, ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("ok", Boolean, nullable=True),  # None: the process stopped during the attempt
    Column("error", Text, nullable=True),
    Column("response", Text, nullable=True),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("assignee_id", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True),
    Column("title", String(300), nullable=False),
    Column("body", Text, nullable=True),
    Column("priority", String(10), nullable=False, default="normal"),
    Column("status", String(12), nullable=False, default="open"),
    Column("due_date", Date, nullable=True),
    Column("outcome", String(20), nullable=True),
    Column("notes", Text, nullable=True),
    Column("playbook", String(100), nullable=True),  # None: created by a person
    Column("rule", String(100), nullable=True),
    Column("firing_id", Integer, ForeignKey("playbook_firings.id", ondelete="SET NULL"), nullable=True),
    Column("idempotency_key", String(100), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime, nullable=True),
    Column("close_reason", String(20), nullable=True),  # expired: a stale playbook task closed by a run
    Index("uq_tasks_idempotency_key", "idempotency_key", unique=True),
    Index("ix_tasks_status_due", "status", "due_date"),
)

coupons = Table(
    "coupons",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(40), nullable=False),
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("kind", String(10), nullable=False),  # amount | percent
    Column("amount_cents", BigInteger, nullable=True),
    Column("percent", Integer, nullable=True),
    Column("currency", String(3), nullable=True),
    Column("min_order_cents", BigInteger, nullable=True),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("expires_on", Date, nullable=False),
    Column("status", String(10), nullable=False, default="issued"),  # issued | redeemed | void
    Column("playbook", String(100), nullable=True),
    Column("rule", String(100), nullable=True),
    Column("firing_id", Integer, ForeignKey("playbook_firings.id", ondelete="SET NULL"), nullable=True),
    Column("idempotency_key", String(100), nullable=True),
    Index("uq_coupons_code", "code", unique=True),
    Index("uq_coupons_idempotency_key", "idempotency_key", unique=True),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("actor", String(200), nullable=False),  # user name, or playbook:NAME/RULE, or system
    Column("action", String(40), nullable=False),  # e.g. firing, task.create, task.done, tag.add, message.sent
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="SET NULL"), nullable=True, index=True),
    Column("target", String(100), nullable=True),  # e.g. task:12, outbox:7, coupon:3
    Column("reason", JSON, nullable=True),  # why: rule and trigger values
    Column("detail", JSON, nullable=True),  # what changed
)


def audit(
    conn: Connection,
    *,
    at: dt.datetime,
    actor: str,
    action: str,
    customer_id: int | None = None,
    target: str | None = None,
    reason: Any = None,
    detail: Any = None,
) -> None:
    """Append one entry to the audit log (inside the caller's transaction)."""
    conn.execute(
        insert(audit_log).values(
            at=at, actor=actor, action=action, customer_id=customer_id, target=target, reason=reason, detail=detail
        )
    )


def insert_task(
    conn: Connection,
    *,
    customer_id: int,
    assignee_id: int | None,
    title: str,
    body: str | None,
    priority: str,
    due_date: dt.date | None,
    now: dt.datetime,
    playbook: str | None = None,
    rule: str | None = None,
    firing_id: int | None = None,
    idempotency_key: str | None = None,
    created_by: int | None = None,
) -> int:
    """Insert one open task (inside the caller's transaction); returns its id. No playbook: made by a person.

    The assignee is notified in the same transaction, unless they created the task themselves (``created_by``).
    """
    task_id = int(
        conn.execute(
            insert(tasks)
            .values(
                customer_id=customer_id,
                assignee_id=assignee_id,
                title=title,
                body=body,
                priority=priority,
                status="open",
                due_date=due_date,
                playbook=playbook,
                rule=rule,
                firing_id=firing_id,
                idempotency_key=idempotency_key,
                created_at=now,
                updated_at=now,
            )
            .returning(tasks.c.id)
        ).scalar_one()
    )
    if assignee_id is not None and assignee_id != created_by:
        notify_task_assigned(conn, task_id=task_id, assignee_id=assignee_id, customer_id=customer_id, title=title,
                             due_date=due_date, now=now)  # fmt: skip
    return task_id


def set_owner(conn: Connection, customer_id: int, owner_id: int | None, *, now: dt.datetime) -> int | None:
    """Give the customer to ``owner_id`` (inside the caller's transaction); returns the previous owner's id."""
    current = conn.execute(select(customers.c.owner_id).where(customers.c.id == customer_id)).scalar()
    if current != owner_id:
        conn.execute(update(customers).where(customers.c.id == customer_id).values(owner_id=owner_id, updated_at=now))
    return current


def change_tags(
    conn: Connection, customer_id: int, *, add: list[str], remove: list[str], now: dt.datetime
) -> tuple[list[str], list[str]]:
    """Remove then add tags (order kept, no repeats) inside the caller's transaction; returns (before, after)."""
    stored = conn.execute(select(customers.c.tags).where(customers.c.id == customer_id)).scalar()
    before = list(stored or [])
    after = [t for t in before if t not in remove] + [t for t in add if t not in before]
    if after != before:
        conn.execute(update(customers).where(customers.c.id == customer_id).values(tags=after, updated_at=now))
    return before, after
