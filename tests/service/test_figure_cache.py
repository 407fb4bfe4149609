"""The pages' figure cache: re-scoring without a run (``kehu models train``) makes cached figures stale."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kehu.config import load_settings
from kehu.publish.scores import write_scores
from kehu.service.figure_cache import run_stamp
from kehu.service.workspace import Workspace
from kehu.store.published import latest_run


def test_a_score_write_changes_the_run_stamp(tmp_path: Path) -> None:
    with Workspace(load_settings(home=tmp_path / "home")) as ws:
        ws.init()
        with ws.engine.connect() as conn:
            before = run_stamp(conn)
        with ws.engine.begin() as conn:
            write_scores(conn, dt.date(2025, 1, 31), {})
        with ws.engine.connect() as conn:
            after = run_stamp(conn)
            assert run_stamp(conn) == after  # nothing written in between: the same stamp
    assert after != before


def test_models_train_rescoring_refreshes_the_cached_dashboard(tmp_path: Path) -> None:
    pytest.importorskip("lightgbm")
    with Workspace(load_settings(home=tmp_path / "home")) as ws:
        ws.init()
        ws.load_demo(customers=600, seed=11)
        ws.run(engine="duckdb", progress=lambda *_: None)  # no churn model yet: no risk scores
        assert ws.system().dashboard.figures()["churn_risk"] is None  # cached now, for a minute
        with ws.engine.connect() as conn:
            runs_before = latest_run(conn)
            stamp = run_stamp(conn)
        trained = ws.system().models.train(engine="duckdb")
        assert trained["scored"]["scored"] > 0
        with ws.engine.connect() as conn:
            assert latest_run(conn) == runs_before  # no new pipeline run ...
            assert run_stamp(conn) != stamp  # ... yet the stamp moved
        risk = ws.system().dashboard.figures()["churn_risk"]  # within the cache's minute
        assert risk is not None and risk["scored"] == sum(risk["customers"]) == trained["scored"]["scored"]
