"""Notes people write about a customer, and the reads the customer 360 page needs from the action tables.

Tables (on :data:`kehu.store.schema.metadata`)::

    customer_notes   one row per note: customer, author (a user), text, when; notes are never edited in place —
                     a correction is a new note, so the history a colleague read stays what it was

The other reads here (tasks, coupons, loyalty balance and tier, recent audit entries of one customer) only read
tables owned by :mod:`kehu.store.actions` and :mod:`kehu.store.care`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Column, Connection, ForeignKey, Integer, Table, Text, func, insert, select

from kehu.store.actions import audit_log, coupons, tasks
from kehu.store.care import loyalty_ledger, loyalty_tiers
from kehu.store.schema import UTCDateTime, metadata, users

__all__ = [
    "add_note",
    "customer_actions_summary",
    "customer_notes",
]

customer_notes = Table(
    "customer_notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("author_id", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)


def add_note(conn: Connection, *, customer_id: int, author_id: int | None, body: str, at: dt.datetime) -> int:
    """Insert one note (inside the caller's transaction); returns its id."""
    return int(
        conn.execute(
            insert(customer_notes)
            .values(customer_id=customer_id, author_id=author_id, body=body, created_at=at)
            .returning(customer_notes.c.id)
        ).scalar_one()
    )


def _user_label() -> Any:
    return func.coalesce(users.c.display_name, users.c.name)


def customer_actions_summary(conn: Connection, customer_id: int, *, limit: int = 20) -> dict[str, Any]:
    """One customer's notes, tasks, coupons, loyalty (balance, tier) and latest audit entries, newest first."""
    notes = [
        dict(r)
        for r in conn.execute(
            select(
                customer_notes.c.id, customer_notes.c.body, customer_notes.c.created_at, _user_label().label("author")
            )
            .select_from(customer_notes.outerjoin(users, users.c.id == customer_notes.c.author_id))
            .where(customer_notes.c.customer_id == customer_id)
            .order_by(customer_notes.c.created_at.desc(), customer_notes.c.id.desc())
            .limit(limit)
        ).mappings()
    ]
    task_rows = [
        dict(r)
        for r in conn.execute(
            select(
                tasks.c.id,
                tasks.c.title,
                tasks.c.status,
                tasks.c.priority,
                tasks.c.due_date,
                tasks.c.outcome,
                tasks.c.playbook,
                tasks.c.rule,
                tasks.c.created_at,
                _user_label().label("assignee"),
            )
            .select_from(tasks.outerjoin(users, users.c.id == tasks.c.assignee_id))
            .where(tasks.c.customer_id == customer_id)
            .order_by(tasks.c.created_at.desc(), tasks.c.id.desc())
            .limit(limit)
        ).mappings()
    ]
    coupon_rows = [
        dict(r)
        for r in conn.execute(
            select(
                coupons.c.code,
                coupons.c.kind,
                coupons.c.amount_cents,
                coupons.c.percent,
                coupons.c.currency,
                coupons.c.expires_on,
                coupons.c.status,
                coupons.c.issued_at,
            )
            .where(coupons.c.customer_id == customer_id)
            .order_by(coupons.c.issued_at.desc())
            .limit(limit)
        ).mappings()
    ]
    balance = conn.execute(
        select(func.coalesce(func.sum(loyalty_ledger.c.points), 0)).where(loyalty_ledger.c.customer_id == customer_id)
    ).scalar_one()
    tier = conn.execute(
        select(loyalty_tiers.c.tier, loyalty_tiers.c.since).where(loyalty_tiers.c.customer_id == customer_id)
    ).first()
    activity = [
        dict(r)
        for r in conn.execute(
            select(audit_log.c.at, audit_log.c.actor, audit_log.c.action, audit_log.c.target, audit_log.c.detail)
            .where(audit_log.c.customer_id == customer_id)
            .order_by(audit_log.c.at.desc(), audit_log.c.id.desc())
            .limit(limit)
        ).mappings()
    ]
    return {
        "notes": notes,
        "tasks": task_rows,
        "coupons": coupon_rows,
        "loyalty": {
            "points": int(balance or 0),
            "tier": tier.tier if tier is not None else None,
            "since": tier.since if tier is not None else None,
        },
        "activity": activity,
    }
