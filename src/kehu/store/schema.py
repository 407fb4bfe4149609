"""The app store's tables (SQLAlchemy 2 Core metadata; Alembic migrations are generated from this).

Conventions
-----------
- Money is stored as integer cents (``*_cents`` BIGINT) and surfaced as :class:`decimal.Decimal` by the data
  functions; times are stored in UTC (``UTCDateTime``) and always come back timezone-aware.
- Every imported record keeps its origin: ``source`` (the source system named at import), its key in that
  source, the import run and the row number in the file it came from, and ``row_hash`` (a hash of its canonical
  values) so that re-importing an unchanged row changes nothing.
- Natural keys are unique *indexes* (not table constraints) so that a large import into an empty table can build
  them once at the end instead of row by row (see ``kehu.ingest.bulk.deferred_indexes``).
- ``customers`` holds the resolved ("golden") profile; ``customer_records`` holds what each source said about a
  customer and maps (source, source id) to the resolved customer — identity resolution links several records to
  one customer and logs every merge in ``customer_merges``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = [
    "ACTIVITY_TABLES",
    "UTCDateTime",
    "contracts",
    "customer_merges",
    "customer_records",
    "customers",
    "feedback",
    "import_runs",
    "interactions",
    "metadata",
    "orders",
    "tickets",
    "users",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC that always comes back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: Kehu stores timezone-aware times only")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQL on SQLite
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _origin_columns(key_name: str) -> list[Any]:
    """Columns every imported activity table has: origin, lineage and change detection."""
    return [
        Column("id", Integer, primary_key=True),
        Column("source", String(64), nullable=False),
        Column(key_name, String(200), nullable=False),
        Column("customer_id", Integer, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
        Column("attributes", JSON, nullable=True),
        Column("row_hash", BigInteger, nullable=False),
        Column("import_run_id", Integer, ForeignKey("import_runs.id"), nullable=True),
        Column("source_row", Integer, nullable=True),
        Column("created_at", UTCDateTime, nullable=False, default=_now),
        Column("updated_at", UTCDateTime, nullable=False, default=_now),
    ]


users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("display_name", String(200), nullable=True),
    Column("role", String(20), nullable=False, default="rep"),  # admin | manager | rep
    Column("team", String(100), nullable=True),
    Column("email", String(320), nullable=True),
    Column("password_hash", String(500), nullable=True),
    Column("locale", String(10), nullable=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False, default=_now),
)

import_runs = Table(
    "import_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(30), nullable=False),
    Column("path", Text, nullable=False),
    Column("source", String(64), nullable=False),
    Column("started_at", UTCDateTime, nullable=False, default=_now),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("read", Integer, nullable=False, default=0),
    Column("inserted", Integer, nullable=False, default=0),
    Column("updated", Integer, nullable=False, default=0),
    Column("unchanged", Integer, nullable=False, default=0),
    Column("quarantined", Integer, nullable=False, default=0),
    Column("customers_created", Integer, nullable=False, default=0),
    Column("quarantine_file", Text, nullable=True),
    Column("user_id", Integer, nullable=True),  # who started it (None: the command line); see 0012_scope
)

customers = Table(
    "customers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=True),
    Column("phone", String(32), nullable=True, index=True),
    Column("email", String(320), nullable=True, index=True),
    Column("company", String(300), nullable=True),
    Column("industry", String(100), nullable=True),
    Column("region", String(100), nullable=True),
    Column("city", String(100), nullable=True),
    Column("owner_id", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True),
    Column("acquisition_channel", String(100), nullable=True),
    Column("first_contact_at", UTCDateTime, nullable=True),
    Column("signup_at", UTCDateTime, nullable=True),
    Column("tags", JSON, nullable=True),
    Column("custom", JSON, nullable=True),
    Column("created_at", UTCDateTime, nullable=False, default=_now),
    Column("updated_at", UTCDateTime, nullable=False, default=_now),
)
# search, filters and sorting on the customers list (kehu.store.customer_list)
Index("ix_customers_name", customers.c.name)
Index("ix_customers_company", customers.c.company)
Index("ix_customers_region", customers.c.region)
Index("ix_customers_created_at", customers.c.created_at)
# a rep's list and a region's list, sorted, without sorting all their rows
Index("ix_customers_owner_id_name", customers.c.owner_id, customers.c.name)
Index("ix_customers_owner_id_created_at", customers.c.owner_id, customers.c.created_at)
Index("ix_customers_region_name", customers.c.region, customers.c.name)

customer_records = Table(
    "customer_records",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("source", String(64), nullable=False),
    Column("source_customer_id", String(200), nullable=False),
    Column("data", JSON, nullable=True),  # canonical fields as the source stated them (None: only referenced)
    Column("row_hash", BigInteger, nullable=True),
    Column("import_run_id", Integer, ForeignKey("import_runs.id"), nullable=True),
    Column("source_row", Integer, nullable=True),
    Column("created_at", UTCDateTime, nullable=False, default=_now),
    Column("updated_at", UTCDateTime, nullable=False, default=_now),
    Index("uq_customer_records_source_source_customer_id", "source", "source_customer_id", unique=True),
)

customer_merges = Table(
    "customer_merges",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False, default=_now),
    Column("kept_customer_id", Integer, nullable=False, index=True),
    Column("merged_customer_id", Integer, nullable=True),  # None when a new record joined an existing customer
    Column("rule", String(20), nullable=False),  # phone | email | link
    Column("detail", JSON, nullable=True),  # matched value, source ids involved
    Column("import_run_id", Integer, ForeignKey("import_runs.id"), nullable=True),
)

orders = Table(
    "orders",
    metadata,
    *_origin_columns("order_id"),
    Column("ordered_at", UTCDateTime, nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("gross_margin_cents", BigInteger, nullable=True),
    Column("discount_cents", BigInteger, nullable=True),
    Column("quantity", Integer, nullable=True),
    Column("product", String(300), nullable=True),
    Column("category", String(200), nullable=True),
    Column("channel", String(100), nullable=True),
    Column("status", String(20), nullable=False),  # paid | completed | refunded | cancelled | pending
    Column("paid_at", UTCDateTime, nullable=True),
    Index("uq_orders_source_order_id", "source", "order_id", unique=True),
    Index("ix_orders_customer_ordered", "customer_id", "ordered_at"),
)

contracts = Table(
    "contracts",
    metadata,
    *_origin_columns("contract_id"),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=False),
    Column("value_cents", BigInteger, nullable=True),
    Column("currency", String(3), nullable=False),
    Column("status", String(20), nullable=False),  # active | expired | terminated | renewed | draft
    Column("renewal_of", String(200), nullable=True),  # contract_id (same source) this one renews
    Column("signed_at", Date, nullable=True),
    Index("uq_contracts_source_contract_id", "source", "contract_id", unique=True),
    Index("ix_contracts_customer_end", "customer_id", "end_date"),
)

interactions = Table(
    "interactions",
    metadata,
    *_origin_columns("interaction_id"),  # the file's id, or a content hash when the file has none
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("type", String(30), nullable=False),
    Column("channel", String(100), nullable=True),
    Column("note", Text, nullable=True),
    Index("uq_interactions_source_interaction_id", "source", "interaction_id", unique=True),
    Index("ix_interactions_customer_at", "customer_id", "occurred_at"),
)

tickets = Table(
    "tickets",
    metadata,
    *_origin_columns("ticket_id"),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("first_response_at", UTCDateTime, nullable=True),
    Column("resolved_at", UTCDateTime, nullable=True),
    Column("topic", String(200), nullable=True),
    Column("priority", String(10), nullable=False),  # low | normal | high | urgent
    Column("status", String(20), nullable=False),  # open | in_progress | resolved | closed
    Column("is_complaint", Boolean, nullable=False),
    Column("satisfaction", Integer, nullable=True),
    Column("assignee", String(100), nullable=True),
    Index("uq_tickets_source_ticket_id", "source", "ticket_id", unique=True),
    Index("ix_tickets_customer_opened", "customer_id", "opened_at"),
)

feedback = Table(
    "feedback",
    metadata,
    *_origin_columns("feedback_id"),  # the file's id, or a content hash when the file has none
    Column("kind", String(10), nullable=False),  # nps | csat
    Column("score", Integer, nullable=False),
    Column("responded_at", UTCDateTime, nullable=False),
    Column("comment", Text, nullable=True),
    Index("uq_feedback_source_feedback_id", "source", "feedback_id", unique=True),
    Index("ix_feedback_customer_at", "customer_id", "responded_at"),
)

#: import kind -> (table, key column) for kinds that hang off a customer
ACTIVITY_TABLES: dict[str, tuple[Table, str]] = {
    "orders": (orders, "order_id"),
    "contracts": (contracts, "contract_id"),
    "interactions": (interactions, "interaction_id"),
    "tickets": (tickets, "ticket_id"),
    "feedback": (feedback, "feedback_id"),
}
