"""``run_pipeline``: extract, run, publish; the published tables and data functions."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
import sqlalchemy as sa
from pipeline_testkit import Store, at, fill_random, run_features

from kehu.errors import StoreError
from kehu.publish.pipeline_run import run_pipeline
from kehu.store import published, schema

AS_OF = dt.date(2024, 6, 30)


@pytest.fixture
def filled(store: Store) -> Store:
    fill_random(store, seed=3, customers=40, start=dt.date(2023, 6, 1), end=AS_OF)
    return store


def count(store: Store, table: sa.Table, **where: Any) -> int:
    stmt = sa.select(sa.func.count()).select_from(table)
    for name, value in where.items():
        stmt = stmt.where(table.c[name] == value)
    with store.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def test_run_publishes_features_history_cohorts_and_run(filled: Store) -> None:
    events: list[tuple[str, str, float | None]] = []
    result = run_pipeline(filled.settings, progress=lambda *e: events.append(e))
    assert result.engine == "duckdb"
    with filled.engine.connect() as conn:
        latest_order = conn.execute(sa.select(sa.func.max(schema.orders.c.ordered_at))).scalar_one()
    assert result.as_of == dt.date.fromisoformat(str(latest_order)[:10])  # default: the latest order's day
    assert result.customers == count(filled, published.customer_scores) > 0
    assert count(filled, published.customer_score_history, as_of=result.as_of) == result.customers
    assert count(filled, published.cohort_snapshots, as_of=result.as_of) > 0
    assert count(filled, published.repeat_curve_snapshots, as_of=result.as_of) > 0
    stages = [name for phase, name, _ in events if phase == "done"]
    assert stages[0] == "extract" and stages[-2:] == ["fetch", "publish"]
    assert list(result.step_seconds) == stages
    assert result.as_dict()["as_of"] == result.as_of.isoformat()
    with filled.engine.connect() as conn:
        run = published.latest_run(conn)
        assert run is not None and run["id"] == result.run_id and run["customers"] == result.customers
        assert published.published_cohorts(conn)[0]["as_of"] == result.as_of


def test_published_features_match_the_pipeline(filled: Store) -> None:
    run_pipeline(filled.settings, as_of=AS_OF)
    expected = {r["customer_id"]: r for r in run_features(filled, "duckdb", AS_OF).to_arrow(
        "customer_features").to_pylist()}  # fmt: skip
    with filled.engine.connect() as conn:
        for cid, row in expected.items():
            got = published.published_features(conn, cid)
            assert got is not None and got["as_of"] == AS_OF and got["scores"] == {}
            for name in published.FEATURE_COLUMNS:
                value = row[name]
                if isinstance(value, dt.datetime):
                    value = value.replace(tzinfo=dt.UTC)
                assert got[name] == (pytest.approx(value) if isinstance(value, float) else value), name
        assert published.published_features(conn, 10**9) is None


def test_older_as_of_backfills_history_only(filled: Store) -> None:
    run_pipeline(filled.settings, as_of=AS_OF)
    run_pipeline(filled.settings, as_of=dt.date(2024, 1, 31))
    with filled.engine.connect() as conn:
        as_ofs = set(conn.execute(sa.select(published.customer_scores.c.as_of).distinct()).scalars())
        history = set(conn.execute(sa.select(published.customer_score_history.c.as_of).distinct()).scalars())
    assert as_ofs == {AS_OF}
    assert history == {AS_OF, dt.date(2024, 1, 31)}
    rows = count(filled, published.customer_score_history, as_of=AS_OF)
    run_pipeline(filled.settings, as_of=AS_OF)  # re-publishing a day replaces its snapshot
    assert count(filled, published.customer_score_history, as_of=AS_OF) == rows
    assert count(filled, published.pipeline_runs) == 3


def test_plain_log_lines_without_a_terminal(filled: Store, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="kehu.pipeline"):
        run_pipeline(filled.settings, as_of=AS_OF)
    messages = [r.getMessage() for r in caplog.records if r.name == "kehu.pipeline"]
    assert any(m.startswith("step customer_features done in") for m in messages)


def test_unmigrated_store_is_reported(tmp_path: Any) -> None:
    from kehu.config import load_settings

    settings = load_settings(home=tmp_path)
    engine = sa.create_engine(settings.resolved_database_url)
    foundation = [t for name, t in schema.metadata.tables.items() if not name.startswith(
        ("pipeline_", "customer_score", "cohort_", "repeat_"))]  # fmt: skip
    schema.metadata.create_all(engine, tables=foundation)
    engine.dispose()
    with pytest.raises(StoreError, match="kehu init"):
        run_pipeline(settings)


@pytest.mark.spark
@pytest.mark.usefixtures("spark_started")
def test_run_on_spark(store: Store) -> None:
    a = store.customer()
    store.order(a, at(2024, 1, 5), 1_000)
    store.order(a, at(2024, 2, 5), 2_000)
    result = run_pipeline(store.settings, engine="spark")
    assert (result.engine, result.customers, result.as_of) == ("spark", 1, dt.date(2024, 2, 5))
    with store.engine.connect() as conn:
        features = published.published_features(conn, a)
    assert features is not None and features["frequency"] == 1 and features["T_days"] == 31
