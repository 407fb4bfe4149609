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
    from kehu.engine import materialize, register_arrow, release, to_arrow
    from kehu.segments.compute import PERSISTED, segment_tables
    from kehu.segments.config import load_config

    name = f"test_profile_{next(_names)}"
    table = register_arrow(backend, name, profile_table(list(rows)))
    try:
        out = segment_tables(
            table,
            config or load_config(),
            AS_OF,
            custom,
            persist=lambda key, expr: materialize(backend, key, expr),
            only=only,
        )
        members = {
            scheme: {r["customer_id"]: r for r in to_arrow(backend, t.members).to_pylist()} for scheme, t in out.items()
        }
        stats = {
            scheme: {k: to_arrow(backend, s).to_pylist()[0] for k, s in t.stats.items()} for scheme, t in out.items()
        }
    finally:
        release(backend, [name, *PERSISTED])
    return members, stats


def segments_of(members: Mapping[int, Mapping[str, Any]]) -> dict[int, str]:
    """customer_id -> segment."""
    return {cid: row["segment"] for cid, row in members.items()}


REGIONS = ("华东", "华南", "华北", "西南", None)
CATEGORIES = ("茶叶", "茶具", "礼盒", None)


def random_profile(seed: int, customers: range, as_of: dt.date) -> list[dict[str, Any]]:
    """Seeded published features for ``customers`` as of a day (a mix of buyers, prospects, contracts)."""
    import random

    rng = random.Random(seed)
    rows = []
    for cid in customers:
        orders = rng.choice((0, 1, 1, 2, 3, 5, 8, 13))
        tenure = rng.randint(0, 1500)
        row: dict[str, Any] = {"customer_id": cid, "orders": orders, "tenure_days": tenure, "total_revenue_cents": 0,
                               "first_seen_date": as_of - dt.timedelta(days=tenure)}  # fmt: skip
        if orders:
            days = rng.randint(0, min(tenure, 800))
            first = rng.randint(days, max(days, tenure))
            revenue = orders * rng.choice((990, 2500, 2500, 12_000, 48_000))
            row.update(
                days_since_last_order=days, last_order_date=as_of - dt.timedelta(days=days),
                first_order_date=as_of - dt.timedelta(days=first), T_days=first, frequency=orders - 1,
                total_revenue_cents=revenue, mean_order_value_cents=revenue / orders,
                total_margin_cents=rng.choice((None, revenue // 3)), top_category=rng.choice(CATEGORIES),
                overdue_ratio=None if orders == 1 else round(rng.uniform(0, 4), 3),
                latest_nps=rng.choice((None, 0, 6, 9, 10)),
            )  # fmt: skip
        if rng.random() < 0.15:
            to_end = rng.choice((-400, -30, 15, 200))
            row.update(contract_days_to_end=to_end, contracts_active=int(to_end >= 0),
                       contract_renewals=rng.choice((0, 1)))  # fmt: skip
        rows.append(row)
    return rows


def random_scores(seed: int, rows: list[dict[str, Any]]) -> dict[int, dict[str, float]]:
    """Seeded model scores (``clv_12m``, ``p_alive``) for most buyers."""
    import random

    rng = random.Random(seed)
    return {
        r["customer_id"]: {"clv_12m": round(rng.uniform(0, 5000), 2), "p_alive": round(rng.random(), 4)}
        for r in rows
        if r["orders"] and rng.random() < 0.8
    }


def make_store(settings: Any) -> Any:
    """A fresh SQLite store with every table (segment tables included), customers 1..N added on publish."""
    from kehu.store import published, schema
    from kehu.store import segments as store_segments
    from kehu.store.db import create_store_engine

    assert store_segments.segment_runs.name in schema.metadata.tables
    assert published.customer_scores.name in schema.metadata.tables
    settings.home.mkdir(parents=True, exist_ok=True)
    engine = create_store_engine(settings.resolved_database_url)
    schema.metadata.create_all(engine)
    return engine


def publish_profile(
    engine: Any, rows: list[dict[str, Any]], as_of: dt.date, scores: Mapping[int, Mapping[str, float]] | None = None
) -> None:
    """Publish ``rows`` as the pipeline would for ``as_of`` (customers, owners and contacts created as needed)."""
    import sqlalchemy as sa

    from kehu.store import published, schema

    with engine.begin() as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(schema.users)).scalar_one() == 0:
            conn.execute(schema.users.insert(), [
                {"id": 1, "name": "zhang.wei", "display_name": "张伟", "role": "rep", "team": "华东一组",
                 "active": True, "created_at": dt.datetime(2024, 1, 1, tzinfo=dt.UTC)},
                {"id": 2, "name": "li.na", "display_name": "李娜", "role": "rep", "team": "华南组", "active": True,
                 "created_at": dt.datetime(2024, 1, 1, tzinfo=dt.UTC)},
            ])  # fmt: skip
        known = set(conn.execute(sa.select(schema.customers.c.id)).scalars())
        new = [
            {"id": r["customer_id"], "name": f"客户{r['customer_id']}", "company": f"=1+1 公司{r['customer_id']}",
             "phone": f"1380000{r['customer_id']:04d}", "email": f"c{r['customer_id']}@example.cn",
             "region": REGIONS[r["customer_id"] % len(REGIONS)], "city": "杭州", "owner_id": 1 + r["customer_id"] % 2}
            for r in rows if r["customer_id"] not in known
        ]  # fmt: skip
        if new:
            conn.execute(schema.customers.insert(), new)
        table = _features(rows)
        published.publish(conn, as_of=as_of, engine="duckdb", features=table, cohorts=pa.table({}),
                          repeat_curve=pa.table({}), step_seconds={}, started_at=dt.datetime.now(dt.UTC))  # fmt: skip
        for cid, values in (scores or {}).items():
            h = published.customer_score_history
            conn.execute(h.update().where(h.c.customer_id == cid, h.c.as_of == as_of).values(scores=dict(values)))


def _features(rows: list[dict[str, Any]]) -> pa.Table:
    from kehu.store.published import FEATURE_COLUMNS

    types = {"int64": pa.int64(), "float64": pa.float64(), "date": pa.date32(), "timestamp": pa.timestamp("us"),
             "string": pa.string()}  # fmt: skip
    schema = pa.schema([("customer_id", pa.int64()), *((n, types[k]) for n, k in FEATURE_COLUMNS.items())])
    return pa.Table.from_pylist([{n: r.get(n) for n in schema.names} for r in rows], schema=schema)
