"""One run object: ``kehu run`` opens one store engine and one analytics session, extracts once, and its
cross-sell sees nothing dated after the as-of day."""

from __future__ import annotations

import datetime as dt
import functools
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from kehu.config import Settings, load_settings
from kehu.service.workspace import Workspace
from kehu.store import published, schema

pytest.importorskip("lightgbm")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A small demo company with trained churn, propensity and cross-sell models (nothing run yet)."""
    # local[2]: the master of the tests' one Spark session
    settings = load_settings(home=tmp_path_factory.mktemp("run") / "home", spark_master="local[2]")
    with Workspace(settings) as ws:
        ws.init()
        ws.load_demo(customers=600, seed=11)
        ws.system().models.train(engine="duckdb")
    return settings


def _count_calls(monkeypatch: pytest.MonkeyPatch, originals: dict[str, Callable[..., Any]]) -> Counter[str]:
    """Wrap each function wherever a loaded ``kehu`` module holds it, counting the calls by name."""
    calls: Counter[str] = Counter()
    for name, original in originals.items():

        @functools.wraps(original)
        def counted(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            calls[_name] += 1
            return _original(*args, **kwargs)

        for module in [m for n, m in sys.modules.items() if n == "kehu" or n.startswith("kehu.")]:
            for attr, value in list(vars(module).items()):
                if value is original:
                    monkeypatch.setattr(module, attr, counted)
    return calls


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    # every module that may hold the functions is loaded before they are wrapped
    import kehu.engine
    import kehu.publish.churn
    import kehu.publish.pipeline_run
    import kehu.publish.segments
    import kehu.publish.value_models
    import kehu.store.db

    yield _count_calls(
        monkeypatch,
        {
            "create_store_engine": kehu.store.db.create_store_engine,
            "connect": kehu.engine.connect,
            "extract": kehu.engine.extract,
        },
    )


@pytest.fixture(scope="module")
def day(trained: Settings) -> dt.date:
    """The as-of day of the runs: 40 days before the latest order."""
    with Workspace(trained) as ws, ws.engine.connect() as conn:
        latest = conn.execute(sa.select(sa.func.max(schema.orders.c.ordered_at))).scalar_one()
    return latest.date() - dt.timedelta(days=40)


def test_kehu_run_opens_one_store_engine_one_session_and_extracts_once(
    trained: Settings, day: dt.date, engine: str, counted: Counter[str]
) -> None:
    with Workspace(trained) as ws:
        result = ws.run(engine=engine, as_of=day, progress=lambda *_: None)
    assert result["engine"] == engine and result["segments"]["engine"] == engine
    assert "skipped" not in result["value_models"] and "skipped" not in result["churn"], result
    assert result["churn"]["scored"] > 0 and result["segments"]["schemes"]
    assert counted == {"create_store_engine": 1, "connect": 1, "extract": 1}, counted


def _published(settings: Settings, day: dt.date) -> dict[int, dict[str, Any]]:
    h = published.customer_score_history
    with Workspace(settings) as ws, ws.engine.connect() as conn:
        rows = conn.execute(sa.select(h.c.customer_id, h.c.scores).where(h.c.as_of == day)).all()
    keys = ("next_categories", "p_order_30d", "churn_risk", "churn_tier")
    return {int(cid): {k: (s or {}).get(k) for k in keys} for cid, s in rows}


def _add_later_orders(settings: Settings, day: dt.date) -> int:
    """Copy every order as a new paid order dated 1-20 days after ``day``, each in the least bought category."""
    o = schema.orders
    with Workspace(settings) as ws, ws.engine.begin() as conn:
        least = conn.execute(
            sa.select(o.c.category).where(o.c.category.isnot(None)).group_by(o.c.category)
            .order_by(sa.func.count(), o.c.category).limit(1)
        ).scalar_one()  # fmt: skip
        rows = conn.execute(sa.select(o).where(o.c.status.in_(("paid", "completed")))).mappings().all()
        later = [
            {
                **{k: v for k, v in row.items() if k not in ("id", "created_at", "updated_at", "import_run_id")},
                "order_id": f"later-{row['id']}",
                "ordered_at": dt.datetime.combine(day + dt.timedelta(days=1 + i % 20), dt.time(12), dt.UTC),
                "paid_at": None,
                "category": least,
                "status": "paid",
            }
            for i, row in enumerate(rows)
        ]
        conn.execute(sa.insert(o), later)
    return len(later)


def test_cross_sell_sees_nothing_after_the_as_of_day(trained: Settings, day: dt.date, tmp_path: Path) -> None:
    import shutil

    settings = load_settings(home=tmp_path / "home")
    shutil.copytree(trained.home, settings.home)
    with Workspace(settings) as ws:
        ws.run(engine="duckdb", as_of=day, progress=lambda *_: None)
    before = _published(settings, day)
    assert sum(1 for s in before.values() if s["next_categories"]) > 100

    assert _add_later_orders(settings, day) > 1_000
    with Workspace(settings) as ws:
        ws.run(engine="duckdb", as_of=day, progress=lambda *_: None)
        assert _published(settings, day) == before
        # the later rows do matter once the day is after them
        later = ws.run(engine="duckdb", as_of=day + dt.timedelta(days=21), progress=lambda *_: None)
    after = _published(settings, dt.date.fromisoformat(later["as_of"]))
    changed = [c for c, s in after.items() if s["next_categories"] != before.get(c, {}).get("next_categories")]
    assert len(changed) > 100
