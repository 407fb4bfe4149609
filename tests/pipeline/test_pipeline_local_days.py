"""Days are the workspace's local days: an order at 00:30 in Shanghai (16:30 UTC the day before) belongs to
the Shanghai day in every date, window, cohort and the default as_of, on every engine; published instants
stay the original UTC instants.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pipeline_testkit import Store, at, features_by_customer, run_features

from kehu.publish.pipeline_run import run_pipeline
from kehu.store import published

ZONE = "Asia/Shanghai"
D = dt.date


def local(instant: dt.datetime) -> dt.datetime:
    """The naive Shanghai wall-clock time of a UTC instant, computed with zoneinfo."""
    return instant.astimezone(ZoneInfo(ZONE)).replace(tzinfo=None)


def near_midnight(home: Path) -> tuple[Store, dict[str, int], dict[str, dt.datetime]]:
    s = Store(home, timezone=ZONE)
    times = {
        "a_first": at(2024, 3, 2, 16, 30),  # 2024-03-03 00:30 in Shanghai
        "a_last": at(2024, 3, 20, 12),  # 2024-03-20 20:00
        "b_only": at(2024, 3, 31, 16, 30),  # 2024-04-01 00:30: the latest order, on the next local day
        "c_signup": at(2024, 2, 29, 20),  # 2024-03-01 04:00
    }
    ids = {"a": s.customer(name="a"), "b": s.customer(name="b")}
    ids["c"] = s.customer(name="c", signup_at=times["c_signup"])
    s.order(ids["a"], times["a_first"], 1_000)
    s.order(ids["a"], times["a_last"], 2_000)
    s.order(ids["b"], times["b_only"], 3_000)
    return s, ids, times


def test_orders_near_local_midnight_count_on_the_local_day(
    engine: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    s, ids, times = near_midnight(tmp_path_factory.mktemp("tz") / "home")
    days = {name: local(t).date() for name, t in times.items()}
    assert days["b_only"] == D(2024, 4, 1) and times["b_only"].date() == D(2024, 3, 31)

    output = run_features(s, engine)  # as_of defaults to the latest order's local day
    assert output.as_of == days["b_only"]
    f = features_by_customer(output)
    a = f[ids["a"]]
    assert a["first_order_date"] == days["a_first"] == D(2024, 3, 3)
    assert a["last_order_date"] == days["a_last"]
    assert a["first_order_at"] == local(times["a_first"])  # wall-clock time inside the engine
    assert a["recency_days"] == (days["a_last"] - days["a_first"]).days == 17
    assert a["T_days"] == (output.as_of - days["a_first"]).days == 29
    # (as_of - 30 days, as_of] = (03-02, 04-01]: the 00:30 order of 03-03 is inside, its UTC day is not
    assert a["orders_30d"] == 2 and a["revenue_30d_cents"] == 3_000
    assert f[ids["b"]]["first_order_date"] == D(2024, 4, 1) and f[ids["b"]]["T_days"] == 0
    assert f[ids["c"]]["first_seen_date"] == days["c_signup"] == D(2024, 3, 1)
    cohorts = {(r["cohort_month"], r["months_since"]): r for r in output.to_arrow("cohorts").to_pylist()}
    assert cohorts[(D(2024, 4, 1), 0)]["cohort_customers"] == 1  # b is an April customer
    assert cohorts[(D(2024, 3, 1), 0)]["cohort_customers"] == 1  # a only

    # as of 03-31 local, b's order (04-01 00:30 local) has not happened yet
    earlier = features_by_customer(run_features(s, engine, D(2024, 3, 31)))
    assert ids["b"] not in earlier and earlier[ids["a"]]["T_days"] == 28
    s.engine.dispose()


def test_published_instants_stay_utc_and_dates_local(tmp_path: Path) -> None:
    s, ids, times = near_midnight(tmp_path / "home")
    result = run_pipeline(s.settings, progress=lambda *_: None)
    assert result.as_of == D(2024, 4, 1)
    with s.engine.connect() as conn:
        a = published.published_features(conn, ids["a"])
        b = published.published_features(conn, ids["b"])
    assert a is not None and b is not None
    assert a["first_order_at"] == times["a_first"] and a["first_order_date"] == D(2024, 3, 3)
    assert b["last_order_at"] == times["b_only"] and b["last_order_date"] == D(2024, 4, 1)
    s.engine.dispose()
