"""Churn service: point-in-time snapshots do not leak, and the demo company's backtest beats every baseline."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from kehu.config import load_settings
from kehu.models.churn import CHURN_FEATURES, ChurnModel
from kehu.publish.churn_data import arrow_columns
from kehu.store import schema

pytest.importorskip("lightgbm")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))
from pipeline_testkit import Store, fill_random

AS_OF = dt.date(2025, 6, 30)


def _snapshot(store: Store) -> Any:
    from kehu.publish.churn_data import arrow_columns, features_as_of
    from kehu.publish.run import Run

    with Run(store.settings, store.engine, engine="duckdb") as run:  # the whole store, no cut-off
        table = features_as_of(run.backend, run.tables, AS_OF)
    return table, arrow_columns(table)


def test_removing_or_shuffling_data_after_as_of_changes_no_feature_and_no_score(tmp_path: Path) -> None:
    full = Store(tmp_path / "full")
    fill_random(full, seed=11, customers=250, start=dt.date(2024, 1, 1), end=dt.date(2025, 12, 31))
    table_full, cols_full = _snapshot(full)

    # the same store with every row dated after as_of removed, then with those rows' dates shuffled
    cutoff = dt.datetime.combine(AS_OF + dt.timedelta(days=1), dt.time(), dt.UTC)
    events = {"orders": "ordered_at", "interactions": "occurred_at", "tickets": "opened_at", "feedback": "responded_at"}
    with full.engine.begin() as conn:
        later = {n: conn.execute(sa.select(sa.func.count()).select_from(schema.metadata.tables[n]).where(
            schema.metadata.tables[n].c[c] >= cutoff)).scalar_one() for n, c in events.items()}  # fmt: skip
    assert later["orders"] > 50, "the fixture must have activity after as_of"

    shuffled = Store(tmp_path / "shuffled")
    fill_random(shuffled, seed=11, customers=250, start=dt.date(2024, 1, 1), end=dt.date(2025, 12, 31))
    rng = np.random.default_rng(0)
    with shuffled.engine.begin() as conn:
        for name, col in events.items():
            t = schema.metadata.tables[name]
            ids = [r[0] for r in conn.execute(sa.select(t.c.id).where(t.c[col] >= cutoff))]
            for i, new_id in zip(ids, rng.permutation(ids), strict=True):
                day = cutoff + dt.timedelta(days=int(rng.integers(0, 300)), hours=int(new_id % 24))
                conn.execute(sa.update(t).where(t.c.id == i).values({col: day}))
    removed = Store(tmp_path / "removed")
    fill_random(removed, seed=11, customers=250, start=dt.date(2024, 1, 1), end=dt.date(2025, 12, 31))
    with removed.engine.begin() as conn:
        for name, col in events.items():
            t = schema.metadata.tables[name]
            conn.execute(sa.delete(t).where(t.c[col] >= cutoff))

    rng = np.random.default_rng(2)
    X = np.column_stack([cols_full[f] for f in CHURN_FEATURES])
    y = (rng.random(X.shape[0]) < 0.4).astype(int)
    y[:2] = (0, 1)
    model = ChurnModel(n_estimators=30, min_child_samples=5, early_stopping_rounds=0).fit(X, y, calibration=(X, y))
    ids = table_full.column("customer_id").to_numpy()
    for other in (shuffled, removed):
        table, _ = _snapshot(other)
        # a customer with no dated record at all is "known, date unknown"; with the later data removed, the
        # customers first seen after as_of turn into such customers (and only they are added)
        extra = ~np.isin(table.column("customer_id").to_numpy(), ids)
        assert all(d is None for d in table.filter(extra).column("first_seen_date").to_pylist())
        table = table.filter(~extra)
        assert table.equals(table_full)
        cols = arrow_columns(table)
        X_other = np.column_stack([cols[f] for f in CHURN_FEATURES])
        np.testing.assert_array_equal(model.risk(X_other), model.risk(X))
        np.testing.assert_array_equal(model.contributions(X_other), model.contributions(X))


@pytest.mark.slow
def test_demo_company_backtest_beats_every_baseline_and_is_calibrated(tmp_path: Path) -> None:
    """Acceptance: the demo company, trained through the workspace, published through `kehu run`."""
    from kehu.service.workspace import Workspace

    settings = load_settings(home=tmp_path / "home")
    with Workspace(settings) as ws:
        ws.init()
        ws.load_demo(customers=12_000, seed=7)
        trained = ws.system().models.train(engine="duckdb")
        ran = ws.run(engine="duckdb", progress=lambda *_: None)
        report = ws.system().models.report()
        out = ws.system().models.write_report(tmp_path / "report")
    bt = report["backtest"]
    assert bt == trained["backtest"] and bt["split"] == "strict"
    rows = {r["name"]: r for r in bt["churn"]}
    model = rows.pop("model")
    assert set(rows) == {"days_since_last_order", "bgnbd_no_purchase", "pareto_nbd_no_purchase", "logistic_rfm"}
    lead = bt["lead"]["auc"]
    best = max(rows, key=lambda n: rows[n]["auc"])
    assert lead["best_baseline"] == best and lead["lead"] == pytest.approx(model["auc"] - rows[best]["auc"])
    for name, base in rows.items():
        assert model["rows"] == base["rows"]
        assert model["auc"] > base["auc"], name
        assert model["capture_10"] > base["capture_10"], name
    gaps = [abs(d["gap"]) for d in model["calibration"]]
    assert max(gaps) <= 0.05, model["calibration"]
    cross = bt["cross_sell"]
    assert cross["hit_rate_at_3"] > cross["popularity_hit_rate_at_3"]
    assert {r["key"] for r in bt["concentration"]["lifecycle_stage"]} >= {"new", "mature", "dormant"}
    assert len(out["churn_plots"]) == 3 and all(Path(p).stat().st_size > 10_000 for p in out["churn_plots"])

    assert ran["churn"]["scored"] > 1_000 and ran["churn"]["reasons"] > 0
    with ws.engine.connect() as conn:
        scores = [json.loads(s) if isinstance(s, str) else s for (s,) in conn.execute(
            sa.text("SELECT scores FROM customer_scores WHERE scores IS NOT NULL"))]  # fmt: skip
    scored = [s for s in scores if s.get("churn_risk") is not None]
    assert scored and all(0 <= s["churn_risk"] <= 1 and s["churn_tier"] in ("high", "medium", "low") for s in scored)
    explained = [s for s in scored if s["churn_reasons"]]
    assert explained and all(len(s["churn_reasons"]) <= 3 for s in explained)
    assert all(set(r) == {"code", "values", "zh", "en"} for s in explained for r in s["churn_reasons"])
    assert all(0 <= s["p_order_30d"] <= 1 and 1 <= len(s["next_categories"]) <= 3 for s in scores if "p_order_30d" in s)
    renewal = [s for s in scores if s.get("renewal_risk") is not None]
    assert renewal and all(s["renewal_probability"] == pytest.approx(1 - s["renewal_risk"]) for s in renewal)
    assert all(s["renewal_risk"] == 0 for s in renewal if s["renewal_state"] in ("renewed", "draft"))
    lapsed = [s for s in scores if s.get("winback") is not None]
    assert lapsed and all(0 <= s["winback"] <= 1 and s["churn_risk"] is None for s in lapsed)
    for kind in ("renewal", "winback"):
        rows = {r["name"]: r for r in bt[kind]["metrics"]}
        assert all(rows["model"]["auc"] > r["auc"] for name, r in rows.items() if name != "model"), kind
