"""The history of the values re-imports change: superseded versions of orders and contracts, with their validity.

An order's status and amounts and a contract's end date, status and value are *current* values in ``orders`` and
``contracts``: a re-import overwrites them. So that a look-back (a churn training snapshot, ``kehu run --as-of``)
reads what was true on its day, every re-import that changes one of the :data:`TRACKED` columns of a row first
keeps the row's previous values here, as one *version* valid over ``[valid_from, valid_to)`` (UTC):

- ``valid_from`` is when that version became the stored value: the ``valid_to`` of the version before it, or
  NULL for the first import's values (valid from the start);
- ``valid_to`` is the time of the import that replaced it (the import's "now"; files carry no time of their
  own for a change of status, so the time Kehu learned of it is the time it counts from);
- the current values in ``orders`` / ``contracts`` are valid from the newest version's ``valid_to`` on (from the
  start when a row has no versions).

Versions of one row never overlap and leave no gap, so at any moment exactly one of them, or the current row,
holds. Rows here are written once, in the transaction of the import that replaced them, and never changed;
``updated_at`` is the time they were written (the incremental extract reads by it). An import whose rows are
unchanged, or change only untracked columns (a product name, a category), writes no version.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Date,
    ForeignKey,
    Integer,
    String,
    Table,
    select,
)

from kehu.store.schema import UTCDateTime, metadata

__all__ = ["HISTORY_TABLES", "TRACKED", "contract_history", "order_history", "versions"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _version_columns(record_table: str) -> list[Any]:
    return [
        Column("id", Integer, primary_key=True),
        Column("record_id", Integer, ForeignKey(f"{record_table}.id", ondelete="CASCADE"), nullable=False, index=True),
        Column("valid_from", UTCDateTime, nullable=True),  # NULL: since the first import
        Column("valid_to", UTCDateTime, nullable=False),
        Column("import_run_id", Integer, ForeignKey("import_runs.id"), nullable=True),  # the import that replaced it
        Column("updated_at", UTCDateTime, nullable=False, default=_now),
    ]


order_history = Table(
    "order_history",
    metadata,
    *_version_columns("orders"),
    Column("status", String(20), nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("gross_margin_cents", BigInteger, nullable=True),
    Column("discount_cents", BigInteger, nullable=True),
    Column("quantity", Integer, nullable=True),
)

contract_history = Table(
    "contract_history",
    metadata,
    *_version_columns("contracts"),
    Column("end_date", Date, nullable=False),
    Column("status", String(20), nullable=False),
    Column("value_cents", BigInteger, nullable=True),
)

#: record table -> its history table
HISTORY_TABLES: dict[str, Table] = {"orders": order_history, "contracts": contract_history}

#: record table -> the columns whose earlier values are kept: what an order or a contract settles to after it was
#: placed or signed (a refund, a cancellation, a partial refund, an extension, an early termination, an
#: amendment). The columns that date or describe a row (order time, start and signing days, product, category,
#: channel) are corrections when they change, and are not kept.
TRACKED: dict[str, tuple[str, ...]] = {
    "orders": ("status", "amount_cents", "gross_margin_cents", "discount_cents", "quantity"),
    "contracts": ("end_date", "status", "value_cents"),
}


def versions(conn: Connection, table_name: str, record_id: int) -> list[dict[str, Any]]:
    """Every value a record of ``orders`` or ``contracts`` has had, oldest first, the current one last.

    Each entry holds the :data:`TRACKED` columns, ``valid_from`` (``None``: since the first import), ``valid_to``
    (``None`` for the current values) and ``import_run_id`` (the import that replaced it; for the current
    values, the import that last wrote the row). Empty when there is no such record.
    """
    history = HISTORY_TABLES[table_name]
    record = metadata.tables[table_name]
    names = TRACKED[table_name]
    current = conn.execute(
        select(*[record.c[n] for n in names], record.c.import_run_id).where(record.c.id == record_id)
    ).first()
    if current is None:
        return []
    stmt = (
        select(*[history.c[n] for n in names], history.c.valid_from, history.c.valid_to, history.c.import_run_id)
        .where(history.c.record_id == record_id)
        .order_by(history.c.valid_to, history.c.id)
    )
    out = [dict(r) for r in conn.execute(stmt).mappings()]
    since = out[-1]["valid_to"] if out else None
    out.append({**dict(current._mapping), "valid_from": since, "valid_to": None})
    return out
