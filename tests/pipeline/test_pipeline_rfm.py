"""The RFM-only entry point: same numbers as the full pipeline, as lifetimes and as a hand count.

``rfm_summary`` reads nothing but the orders; its frequency, recency, T and monetary value must equal the
``purchase_features`` columns of the full run on every engine, and ``lifetimes``' summary (computed here
from the raw rows) on DuckDB.
"""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any

import pytest
from pipeline_testkit import Store, at, fill_random, run_features

from kehu import pipeline

AS_OF = dt.date(2024, 9, 30)
RFM = ("frequency", "recency_days", "T_days", "recency_weeks", "T_weeks", "monetary_value_cents")


@pytest.fixture(scope="module")
def rfm_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    s = Store(tmp_path_factory.mktemp("rfm") / "home")
    fill_random(s, seed=23, customers=200, start=dt.date(2023, 1, 1), end=dt.date(2024, 12, 31))
    return s


def run_rfm(store: Store, engine: str, as_of: dt.date | None = AS_OF) -> Any:
    from kehu.engine import connect, extract

    backend = connect(store.settings, engine=engine)
    tables = extract(store.engine, backend, as_of, settings=store.settings)
    return pipeline.rfm_summary(backend, tables["orders"], as_of)


def test_rfm_equals_the_full_pipeline(engine: str, rfm_store: Store) -> None:
    summary = {r["customer_id"]: r for r in run_rfm(rfm_store, engine).to_arrow("rfm_summary").to_pylist()}
    features = run_features(rfm_store, engine, AS_OF).to_arrow("customer_features").to_pylist()
    buyers = {f["customer_id"]: f for f in features if f["purchase_days"] > 0}
    assert len(buyers) > 100 and any(f["frequency"] >= 2 for f in buyers.values())
    assert set(summary) == set(buyers)
    for cid, row in summary.items():
        for name in RFM:
            assert row[name] == buyers[cid][name], (cid, name)


def test_rfm_equals_lifetimes(rfm_store: Store) -> None:
    import pandas as pd
    import sqlalchemy as sa

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifetimes imports deprecated pandas/scipy names
        from lifetimes.utils import summary_data_from_transaction_data

        from kehu.store import schema

        orders = schema.orders
        with rfm_store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(orders.c.customer_id, orders.c.ordered_at, orders.c.amount_cents, orders.c.status)
            ).all()
        frame = pd.DataFrame(rows, columns=["customer_id", "ordered_at", "amount_cents", "status"])
        frame["ordered_at"] = pd.to_datetime(frame["ordered_at"], utc=True).dt.tz_localize(None)
        cutoff = pd.Timestamp(AS_OF + dt.timedelta(days=1))
        frame = frame[frame.status.isin(["paid", "completed"]) & (frame.ordered_at < cutoff)]
        expected = summary_data_from_transaction_data(
            frame, "customer_id", "ordered_at", monetary_value_col="amount_cents",
            observation_period_end=pd.Timestamp(AS_OF), freq="D",
        )  # fmt: skip
    summary = {r["customer_id"]: r for r in run_rfm(rfm_store, "duckdb").to_arrow("rfm_summary").to_pylist()}
    assert set(summary) == set(expected.index)
    for cid, want in expected.iterrows():
        got = summary[cid]
        assert got["frequency"] == want["frequency"], cid
        assert got["recency_days"] == want["recency"], cid
        assert got["T_days"] == want["T"], cid
        if want["frequency"] > 0:
            assert got["monetary_value_cents"] == pytest.approx(want["monetary_value"], rel=1e-12), cid
        else:
            assert got["monetary_value_cents"] is None  # lifetimes writes 0 without repeats


def test_rfm_by_hand(engine: str, store: Store) -> None:
    a = store.customer(name="regular")
    store.order(a, at(2024, 1, 10, 9), 1_000)
    store.order(a, at(2024, 1, 10, 20), 500, status=" Completed ")  # same day, untidy status
    store.order(a, at(2024, 3, 1), 4_000)
    store.order(a, at(2024, 3, 1, 18), 2_000)
    store.order(a, at(2024, 5, 5), 3_000)
    store.order(a, at(2024, 5, 6), 9_000, status="refunded")  # not a purchase
    store.order(a, at(2024, 6, 1), 9_000, status="cancelled")
    store.order(a, at(2024, 7, 1), 9_000)  # after as_of
    b = store.customer(name="later")
    store.order(b, at(2024, 7, 2), 1_000)
    as_of = dt.date(2024, 6, 30)
    output = run_rfm(store, engine, as_of)
    assert output.as_of == as_of and [s.name for s in output.steps] == ["rfm_summary"]
    rows = output.to_arrow("rfm_summary").to_pylist()
    assert [r["customer_id"] for r in rows] == [a]
    first, last = dt.date(2024, 1, 10), dt.date(2024, 5, 5)
    assert rows[0] == {
        "customer_id": a,
        "frequency": 2,
        "recency_days": (last - first).days,
        "T_days": (as_of - first).days,
        "recency_weeks": (last - first).days / 7,
        "T_weeks": (as_of - first).days / 7,
        "monetary_value_cents": (4_000 + 2_000 + 3_000) / 2,
    }
