"""Helpers for the segmentation tests: profiles built by hand, schemes run on a backend, a filled store.

Importable from any test module (``from segments_testkit import profile_table``).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

SPARK_MASTER = "local[2]"
AS_OF = dt.date(2025, 6, 30)
_names = itertools.count()


def profile_table(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """An Arrow profile (every profile field; those not given are NULL)."""
    from kehu.segments.profile import arrow_schema

    schema = arrow_schema()
    data = [{name: row.get(name) for name in schema.names} for row in rows]
    for row in rows:
        unknown = set(row) - set(schema.names)
        assert not unknown, unknown
    return pa.Table.from_pylist(data, schema=schema)


def buyer(cid: int, *, days: int, orders: int, revenue: int, **extra: Any) -> dict[str, Any]:
    """A customer with purchases: days since the last order, orders and total revenue (cents)."""
    return {
        "customer_id": cid, "orders": orders, "days_since_last_order": days, "total_revenue_cents": revenue,
        "mean_order_value_cents": revenue / orders, "T_days": days + 30 * orders, "tenure_days": days + 30 * orders,
        "last_order_date": AS_OF - dt.timedelta(days=days), **extra,
    }  # fmt: skip


def run_schemes(
    backend: Any,
    rows: Iterable[Mapping[str, Any]],
    config: Any = None,
    custom: Any = (),
    only: tuple[str, ...] | None = None,
) -> Any:
    """Run the schemes (``only`` these, if given) on a hand-made profile.

    Returns scheme -> {customer_id: row dict}, and scheme -> statistics name -> row.
    """
    from kehu.engine import register_arrow, release, to_arrow
    from kehu.segments.compute import segment_tables
    from kehu.segments.config import load_config

    name = f"test_profile_{next(_names)}"
    table = register_arrow(backend, name, profile_table(list(rows)))
    try:
        out = segment_tables(table, config or load_config(), AS_OF, custom)
        out = {k: v for k, v in out.items() if only is None or k in only}
        members = {
            scheme: {r["customer_id"]: r for r in to_arrow(backend, t.members).to_pylist()} for scheme, t in out.items()
        }
        stats = {
            scheme: {k: to_arrow(backend, s).to_pylist()[0] for k, s in t.stats.items()} for scheme, t in out.items()
        }
    finally:
        release(backend, [name])
    return members, stats


def segments_of(members: Mapping[int, Mapping[str, Any]]) -> dict[int, str]:
    """customer_id -> segment."""
    return {cid: row["segment"] for cid, row in members.items()}
