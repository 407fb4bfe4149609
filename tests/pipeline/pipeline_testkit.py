"""Helpers for the pipeline tests: a SQLite store filled row by row, seeded random activity, comparisons.

Importable from any test module (``from pipeline_testkit import Store``); the fixtures live in conftest.py.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from kehu.config import Settings, load_settings
from kehu.store import published, schema

UTC = dt.UTC
SPARK_MASTER = "local[2]"


def at(year: int, month: int, day: int, hour: int = 12, minute: int = 0, second: int = 0) -> dt.datetime:
    """A UTC time (noon by default)."""
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC)


class Store:
    """A SQLite app store that tests fill row by row (every optional column defaults to NULL)."""

    def __init__(self, home: Path, timezone: str = "UTC") -> None:
        # UTC by default: the hand-checked expectations count days of the UTC times they insert; tests of
        # local days pass the zone
        self.settings: Settings = load_settings(home=home, spark_master=SPARK_MASTER, timezone=timezone)
        home.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(self.settings.resolved_database_url)
        schema.metadata.create_all(self.engine)
        assert published.customer_scores.name in schema.metadata.tables
        self._ids = itertools.count(1_000_000)

    def _insert(self, table: sa.Table, **values: Any) -> int:
        row = {c.name: None for c in table.c if c.name not in ("created_at", "updated_at")}
        row["id"] = next(self._ids)
        if "source" in row:
            row.update(source="test", row_hash=0)
            if "currency" in row:
                row["currency"] = "CNY"
            key = next(c.name for c in table.c if c.name.endswith("_id") and c.name not in ("customer_id",))
            row[key] = f"k{row['id']}"
        row.update(values)
        with self.engine.begin() as conn:
            conn.execute(table.insert().values(**{k: v for k, v in row.items() if v is not None}))
        return int(row["id"])

    def customer(self, **values: Any) -> int:
        return self._insert(schema.customers, **values)

    def order(self, customer_id: int, when: dt.datetime, cents: int, status: str = "paid", **values: Any) -> int:
        return self._insert(
            schema.orders, customer_id=customer_id, ordered_at=when, amount_cents=cents, status=status, **values
        )

    def interaction(self, customer_id: int, when: dt.datetime, kind: str = "call") -> int:
        return self._insert(schema.interactions, customer_id=customer_id, occurred_at=when, type=kind)

    def ticket(self, customer_id: int, opened: dt.datetime, **values: Any) -> int:
        values = {"priority": "normal", "status": "open", "is_complaint": False, **values}
        return self._insert(schema.tickets, customer_id=customer_id, opened_at=opened, **values)

    def feedback(self, customer_id: int, kind: str, score: int, when: dt.datetime) -> int:
        return self._insert(schema.feedback, customer_id=customer_id, kind=kind, score=score, responded_at=when)

    def contract(self, customer_id: int, start: dt.date, end: dt.date, **values: Any) -> int:
        values = {"status": "active", **values}
        return self._insert(schema.contracts, customer_id=customer_id, start_date=start, end_date=end, **values)


def run_features(store: Store, engine: str, as_of: dt.date | None = None) -> Any:
    """Extract ``store`` into ``engine`` and run the pipeline; returns the :class:`PipelineOutput`."""
    from kehu import pipeline
    from kehu.engine import connect, extract

    backend = connect(store.settings, engine=engine)
    tables = extract(store.engine, backend, as_of, settings=store.settings)
    return pipeline.run(backend, tables, as_of)


def features_by_customer(output: Any) -> dict[int, dict[str, Any]]:
    """customer_id -> feature dict, from a pipeline output."""
    rows = output.to_arrow("customer_features").to_pylist()
    return {row["customer_id"]: row for row in rows}


STATUSES = ("paid", "paid", "paid", "completed", "completed", "refunded", "cancelled", "pending")
CATEGORIES = ("tea", "cups", "pots", "gifts", None)


def fill_random(store: Store, *, seed: int, customers: int, start: dt.date, end: dt.date) -> None:
    """Seeded random activity for ``customers`` customers between ``start`` and ``end`` (bulk inserts)."""
    import random

    rng = random.Random(seed)
    span = (end - start).days
    rows: dict[str, list[dict[str, Any]]] = {k: [] for k in ("customers", "orders", "interactions", "tickets",
                                                             "feedback", "contracts")}  # fmt: skip
    key = itertools.count(10_000)

    def when(low: int = 0) -> dt.datetime:
        day = start + dt.timedelta(days=rng.randint(low, span))
        return dt.datetime.combine(day, dt.time(rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)), UTC)

    def origin(customer_id: int, name: str) -> dict[str, Any]:
        return {"id": next(key), "source": "gen", name: f"g{next(key)}", "customer_id": customer_id, "row_hash": 0}

    for cid in range(1, customers + 1):
        signup = when() if rng.random() < 0.5 else None
        rows["customers"].append({"id": cid, "name": f"c{cid}", "signup_at": signup})
        n_orders = rng.choice((0, 1, 1, 2, 3, 5, 8))
        first = rng.randint(0, span)
        for _ in range(n_orders):
            t = when(first)
            rows["orders"].append({
                **origin(cid, "order_id"), "ordered_at": t, "amount_cents": rng.randint(100, 50_000),
                "currency": "CNY", "status": rng.choice(STATUSES), "category": rng.choice(CATEGORIES),
                "discount_cents": rng.choice((None, 0, 500)), "gross_margin_cents": rng.choice((None, 1_000)),
            })  # fmt: skip
            if rng.random() < 0.3:  # a second order on the same day
                rows["orders"].append({
                    **origin(cid, "order_id"), "ordered_at": t + dt.timedelta(minutes=5), "amount_cents": 999,
                    "currency": "CNY", "status": "paid", "category": "tea", "discount_cents": None,
                    "gross_margin_cents": None,
                })  # fmt: skip
        for _ in range(rng.choice((0, 1, 3))):
            rows["interactions"].append({**origin(cid, "interaction_id"), "occurred_at": when(), "type": "call"})
        for _ in range(rng.choice((0, 0, 1, 2))):
            opened = when()
            response = opened + dt.timedelta(minutes=rng.randint(1, 5_000)) if rng.random() < 0.8 else None
            rows["tickets"].append({
                **origin(cid, "ticket_id"), "opened_at": opened, "first_response_at": response,
                "priority": "normal", "status": "open", "is_complaint": rng.random() < 0.3,
            })  # fmt: skip
        for _ in range(rng.choice((0, 1, 2))):
            rows["feedback"].append({
                **origin(cid, "feedback_id"), "kind": rng.choice(("nps", "csat")), "score": rng.randint(0, 10),
                "responded_at": when(),
            })  # fmt: skip
        if rng.random() < 0.3:
            begin = when().date()
            rows["contracts"].append({
                **origin(cid, "contract_id"), "start_date": begin, "end_date": begin + dt.timedelta(days=365),
                "currency": "CNY", "status": "active", "renewal_of": rng.choice((None, "g1")), "signed_at": None,
            })  # fmt: skip
    with store.engine.begin() as conn:
        for name, data in rows.items():
            if data:
                conn.execute(schema.metadata.tables[name].insert(), data)


def assert_same_table(left: Any, right: Any, grain: tuple[str, ...]) -> None:
    """Two Arrow tables hold the same rows: exact for everything but floats (relative 1e-9)."""
    assert left.column_names == right.column_names
    assert left.num_rows == right.num_rows
    keys = [(k, "ascending") for k in grain]
    a, b = left.sort_by(keys).to_pylist(), right.sort_by(keys).to_pylist()
    for row_a, row_b in zip(a, b, strict=True):
        for name in left.column_names:
            va, vb = row_a[name], row_b[name]
            if isinstance(va, float) and isinstance(vb, float):
                assert va == pytest.approx(vb, rel=1e-9, abs=1e-12), (name, row_a)
            else:
                assert va == vb, (name, row_a, row_b)
