"""Customer care around tickets: assignments, SLA breaches, satisfaction follow-ups; and the loyalty ledger.

Tables (on :data:`kehu.store.schema.metadata`)::

    ticket_assignments     every automatic or manual assignment of a ticket: who, by which rule, when
    ticket_round_robin     per round-robin pool (topic or team) the position of the last assignee
    ticket_sla_breaches    one row per (ticket, kind): a first-response or resolution target missed — unique, so
                           a breach is recorded (and can trigger a playbook) once
    satisfaction_followups one row per resolved complaint: a CSAT survey due at a time (scheduled | sent |
                           answered | cancelled)
    loyalty_ledger         every points movement of a customer (earn | expire | adjust), signed; earn rows keep
                           ``remaining`` (not yet expired) and ``expires_on``; ``idempotency_key`` is unique so a
                           re-run awards nothing twice
    loyalty_tiers          each customer's current tier
    loyalty_tier_changes   every tier change (from, to, day, why): what playbooks trigger on
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from kehu.store.schema import UTCDateTime, metadata

__all__ = [
    "loyalty_ledger",
    "loyalty_tier_changes",
    "loyalty_tiers",
    "satisfaction_followups",
    "ticket_assignments",
    "ticket_round_robin",
    "ticket_sla_breaches",
]

ticket_assignments = Table(
    "ticket_assignments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("assignee", String(100), nullable=False),
    Column("rule", String(20), nullable=False),  # owner | round_robin | manual
    Column("pool", String(200), nullable=True),  # the round-robin pool (topic:X or team:Y)
    Column("at", UTCDateTime, nullable=False),
)

ticket_round_robin = Table(
    "ticket_round_robin",
    metadata,
    Column("pool", String(200), primary_key=True),
    Column("position", Integer, nullable=False),
)

ticket_sla_breaches = Table(
    "ticket_sla_breaches",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("kind", String(20), nullable=False),  # first_response | resolution
    Column("priority", String(10), nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("detected_at", UTCDateTime, nullable=False),
    Index("uq_ticket_sla_breaches_ticket_kind", "ticket_id", "kind", unique=True),
)

satisfaction_followups = Table(
    "satisfaction_followups",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("due_at", UTCDateTime, nullable=False),
    Column("status", String(10), nullable=False),  # scheduled | sent | answered | cancelled
    Column("created_at", UTCDateTime, nullable=False),
    Index("uq_satisfaction_followups_ticket", "ticket_id", unique=True),
)

loyalty_ledger = Table(
    "loyalty_ledger",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(10), nullable=False),  # earn | expire | adjust
    Column("points", BigInteger, nullable=False),  # signed
    Column("remaining", BigInteger, nullable=True),  # earn rows: points not yet expired
    Column("reason", String(40), nullable=False),  # spend | review | referral | expiry | ...
    Column("reference", String(200), nullable=True),  # e.g. order:123, ledger:45
    Column("spend_cents", BigInteger, nullable=True),  # earn for spend: the amount it was for
    Column("on_day", Date, nullable=False),  # the day it counts for
    Column("expires_on", Date, nullable=True),  # earn rows: the first day it no longer counts
    Column("idempotency_key", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("note", Text, nullable=True),
    Index("uq_loyalty_ledger_idempotency_key", "idempotency_key", unique=True),
    Index("ix_loyalty_ledger_customer_day", "customer_id", "on_day"),
)

loyalty_tiers = Table(
    "loyalty_tiers",
    metadata,
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    Column("tier", String(20), nullable=False),
    Column("since", Date, nullable=False),
)

loyalty_tier_changes = Table(
    "loyalty_tier_changes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("from_tier", String(20), nullable=True),
    Column("to_tier", String(20), nullable=False),
    Column("on_day", Date, nullable=False),
    Column("reason", JSON, nullable=True),  # points and spend in the window, thresholds
    Column("created_at", UTCDateTime, nullable=False),
    Index("uq_loyalty_tier_changes_customer_day", "customer_id", "on_day", unique=True),
)
