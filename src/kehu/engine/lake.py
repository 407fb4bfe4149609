"""Orders and interactions read straight from Parquet in a data lake, shaped like the store's extract.

A lake file needs the columns named in :data:`LAKE_REQUIRED`; the optional ones of the store's extract
(:data:`kehu.engine.extract.EXTRACT_COLUMNS`) are filled with NULL (``status`` with ``paid``) when absent.
Timestamps may be naive (taken as UTC) or zoned; they are turned into naive UTC here, and into local
wall-clock time by the extract, like the store's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kehu.errors import ConfigError

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = ["LAKE_REQUIRED", "LAKE_TABLES", "normalize_lake_table"]

#: table -> columns a lake file must have
LAKE_REQUIRED: dict[str, tuple[str, ...]] = {
    "orders": ("customer_id", "ordered_at", "amount_cents"),
    "interactions": ("customer_id", "occurred_at", "type"),
}
LAKE_TABLES = tuple(LAKE_REQUIRED)

_TYPES: dict[str, dict[str, str]] = {
    "orders": {
        "id": "int64", "customer_id": "int64", "ordered_at": "timestamp", "amount_cents": "int64",
        "gross_margin_cents": "int64", "discount_cents": "int64", "quantity": "int64", "category": "string",
        "channel": "string", "status": "string", "updated_at": "timestamp",
    },
    "interactions": {
        "id": "int64", "customer_id": "int64", "occurred_at": "timestamp", "type": "string",
        "channel": "string", "updated_at": "timestamp",
    },
}  # fmt: skip


def normalize_lake_table(table_name: str, raw: ir.Table) -> ir.Table:
    """Select, cast and complete a lake table's columns to match the store extract.

    Parameters
    ----------
    table_name
        ``"orders"`` or ``"interactions"``.
    raw
        The Parquet data as read by the engine.

    Returns
    -------
    ibis.Table
        With exactly the extract's columns and types. Without an ``id`` column, rows are numbered in the
        order of (customer, time) — a global window, which is slow on a cluster: give lake files an ``id``.

    Raises
    ------
    ConfigError
        When a required column is missing.
    """
    import ibis

    missing = [c for c in LAKE_REQUIRED[table_name] if c not in raw.columns]
    if missing:
        raise ConfigError(
            f"{table_name} Parquet data lacks column(s) {', '.join(missing)}; "
            f"it needs {', '.join(LAKE_REQUIRED[table_name])}"
        )
    time_column = LAKE_REQUIRED[table_name][1]
    values: dict[str, ir.Value] = {}
    for name, kind in _TYPES[table_name].items():
        if name in raw.columns:
            column = raw[name]
            if kind == "timestamp" and column.type().is_timestamp() and column.type().timezone is not None:
                # the engine session runs in UTC, so dropping the zone keeps the UTC wall time
                values[name] = column.cast("timestamp")
            else:
                values[name] = column.cast(kind)
        elif name == "status":
            values[name] = ibis.literal("paid", type="string")
        elif name == "updated_at":
            values[name] = raw[time_column].cast("timestamp")
        elif name == "id":
            values[name] = ibis.row_number().over(order_by=[raw.customer_id, raw[time_column]]).cast("int64") + 1
        else:
            values[name] = ibis.null(kind)
    return raw.select(**values)
