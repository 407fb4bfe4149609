"""The same pipeline gives the same outputs on DuckDB and Spark, and nothing after as_of leaks in."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pipeline_testkit import STATUSES, Store, assert_same_table, at, fill_random, run_features

from kehu import pipeline

AS_OF = dt.date(2024, 9, 30)


@pytest.fixture(scope="module")
def random_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    s = Store(tmp_path_factory.mktemp("parity") / "home")
    fill_random(s, seed=7, customers=300, start=dt.date(2022, 11, 1), end=dt.date(2024, 12, 31))
    return s


@pytest.fixture(scope="module")
def duckdb_outputs(random_store: Store) -> dict[str, Any]:
    output = run_features(random_store, "duckdb", AS_OF)
    return {name: output.to_arrow(name) for name in pipeline.OUTPUTS}


def test_random_store_exercises_the_features(duckdb_outputs: dict[str, Any]) -> None:
    features = duckdb_outputs["customer_features"].to_pylist()
    assert 250 < len(features) <= 300  # customers first seen after as_of are left out
    assert any(f["frequency"] and f["frequency"] >= 2 for f in features)
    assert any(f["orders"] == 0 for f in features)
    assert any(f["refunded_orders"] for f in features)
    assert any(f["latest_nps"] is not None for f in features)
    assert any(f["contract_days_to_end"] is not None for f in features)
    assert duckdb_outputs["cohorts"].num_rows > 12


@pytest.mark.spark
@pytest.mark.usefixtures("spark_started")
def test_spark_equals_duckdb(random_store: Store, duckdb_outputs: dict[str, Any]) -> None:
    output = run_features(random_store, "spark", AS_OF)
    grains = {step.name: step.grain for step in pipeline.STEPS}
    for name in pipeline.OUTPUTS:
        assert_same_table(output.to_arrow(name), duckdb_outputs[name], grains[name])


def test_rows_after_as_of_change_nothing(engine: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    s = Store(tmp_path_factory.mktemp("pit") / "home")
    fill_random(s, seed=11, customers=60, start=dt.date(2023, 1, 1), end=AS_OF)
    before = run_features(s, engine, AS_OF)
    before_tables = {name: before.to_arrow(name) for name in pipeline.OUTPUTS}
    # later activity for existing customers and for a customer who only appears later
    later = at(2024, 10, 1, 0)
    for cid in (1, 2, 3):
        for status in STATUSES:
            s.order(cid, later, 7_000, status=status, category="late")
        s.interaction(cid, later)
        s.ticket(cid, later, first_response_at=later, is_complaint=True)
        s.feedback(cid, "nps", 0, later)
        s.contract(cid, dt.date(2024, 10, 1), dt.date(2030, 1, 1), signed_at=dt.date(2024, 10, 1))
    newcomer = s.customer(name="later")
    s.order(newcomer, at(2024, 12, 1), 1_000)
    after = run_features(s, engine, AS_OF)  # the second extract is incremental
    grains = {step.name: step.grain for step in pipeline.STEPS}
    for name in pipeline.OUTPUTS:
        assert_same_table(after.to_arrow(name), before_tables[name], grains[name])
    # and the later rows do count once as_of moves past them
    moved = {r["customer_id"]: r for r in run_features(s, engine, dt.date(2024, 12, 1)).to_arrow(
        "customer_features").to_pylist()}  # fmt: skip
    assert newcomer in moved and moved[newcomer]["orders"] == 1
    assert moved[1]["complaints_90d"] >= 1
