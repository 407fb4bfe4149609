"""Look-backs read the values of their day: after a re-import refunds an order and extends a contract, a run as of
an earlier day (``kehu run --as-of``), a cut of the extract and a churn training snapshot still see the order paid
and the old end date; later days and today's run see the new values. On DuckDB and Spark."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kehu.config import load_settings
from kehu.engine import to_arrow
from kehu.ingest.importer import import_file
from kehu.publish.churn_data import build_snapshots, features_as_of
from kehu.publish.run import Run, cut_tables
from kehu.service.workspace import Workspace

UTC = dt.UTC
T1 = dt.datetime(2024, 3, 1, 2, 0, tzinfo=UTC)
#: 01:00 on 11 June in Shanghai (the workspace's zone): 10 June still ends with the old values
T2 = dt.datetime(2024, 6, 10, 17, 0, tzinfo=UTC)
BEFORE, AFTER = dt.date(2024, 6, 10), dt.date(2024, 6, 11)


def write_csv(path: Path, headers: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(headers)
        w.writerows(rows)
    return path


def load(ws: Workspace, tmp: Path, name: str, refund: bool, end: str, now: dt.datetime) -> None:
    orders = write_csv(
        tmp / f"orders-{name}.csv",
        ["订单编号", "客户编号", "下单时间", "订单金额", "品类", "订单状态"],
        [
            ["O1", "C1", "2024-01-10 10:00", "100", "饮料", "已退款" if refund else "已付款"],
            ["O2", "C1", "2024-02-10 10:00", "200", "茶叶", "已完成"],
            ["O3", "C2", "2024-02-20 10:00", "50", "茶叶", "已完成"],
        ],
    )
    contracts = write_csv(
        tmp / f"contracts-{name}.csv",
        ["合同编号", "客户编号", "开始日期", "结束日期", "合同金额", "合同状态", "签订日期"],
        [["K1", "C1", "2024-01-01", end, "12000", "执行中", "2024-01-01"]],
    )
    import_file(ws.engine, ws.settings, "orders", orders, now=now)
    import_file(ws.engine, ws.settings, "contracts", contracts, now=now)


def changed_store(tmp_path: Path, database_url: str | None = None) -> Workspace:
    """A store where a re-import on 10 June (UTC; 11 June in Shanghai) refunded O1 and extended K1 by half a year."""
    settings = load_settings(
        home=tmp_path / "home", timezone="Asia/Shanghai", spark_master="local[2]", database_url=database_url
    )
    ws = Workspace(settings)
    ws.init()
    load(ws, tmp_path, "first", refund=False, end="2024-12-31", now=T1)
    load(ws, tmp_path, "again", refund=True, end="2025-06-30", now=T2)
    return ws


@pytest.fixture
def changed(tmp_path: Path) -> Iterator[Workspace]:
    ws = changed_store(tmp_path)
    yield ws
    ws.close()


def values(backend: Any, tables: dict[str, Any]) -> tuple[str, dt.date]:
    """(O1's status, K1's end date) in extracted tables."""
    orders = to_arrow(backend, tables["orders"].order_by("id")).to_pylist()
    (contract,) = to_arrow(backend, tables["contracts"]).to_pylist()
    return next(o["status"] for o in orders if o["amount_cents"] == 10000), contract["end_date"]


def test_runs_and_cuts_as_of_an_earlier_day_see_the_old_values(changed: Workspace, engine: str) -> None:
    old, new = ("paid", dt.date(2024, 12, 31)), ("refunded", dt.date(2025, 6, 30))
    with Run(changed.settings, changed.engine, as_of=BEFORE, engine=engine) as run:  # kehu run --as-of 2024-06-10
        assert values(run.backend, run.tables) == old
    with Run(changed.settings, changed.engine, as_of=AFTER, engine=engine) as run:
        assert values(run.backend, run.tables) == new
        assert values(run.backend, run.tables_as_of(BEFORE)) == old  # cut again, to an earlier day
    with Run(changed.settings, changed.engine, engine=engine) as run:  # today's run: the current values
        assert values(run.backend, run.tables) == new
        assert values(run.backend, run.tables_as_of(BEFORE)) == new  # a run without a cut-off is today's
        assert values(run.backend, cut_tables(run.tables, BEFORE)) == old  # training "as of" an earlier day
        assert values(run.backend, cut_tables(run.tables, dt.date(2024, 1, 31))) == old
        assert values(run.backend, cut_tables(cut_tables(run.tables, AFTER), BEFORE)) == old
        assert values(run.backend, cut_tables(cut_tables(run.tables, BEFORE), AFTER)) == old  # nothing later leaks
        assert len(to_arrow(run.backend, cut_tables(run.tables, BEFORE)["orders"])) == 3


def test_training_snapshots_see_the_values_of_their_day(changed: Workspace, engine: str) -> None:
    with Run(changed.settings, changed.engine, engine=engine) as run:

        def c1(day: dt.date) -> dict[str, Any]:
            rows = features_as_of(run.backend, run.tables, day).to_pylist()
            return next(r for r in rows if r["orders"] and r["contract_days_to_end"] is not None)

        before, after = c1(BEFORE), c1(AFTER)
        assert (before["orders"], before["refunded_orders"], before["total_revenue_cents"]) == (2, 0, 30000)
        assert (after["orders"], after["refunded_orders"], after["total_revenue_cents"]) == (1, 1, 20000)
        assert before["contract_days_to_end"] == (dt.date(2024, 12, 31) - BEFORE).days
        assert after["contract_days_to_end"] == (dt.date(2025, 6, 30) - AFTER).days
        snapshots = build_snapshots(
            run.backend, run.tables, [BEFORE, AFTER], horizon_days=30, short_days=10, grace_days=10
        )
        weights = {
            s.as_of: {(r["customer_id"], r["category"]) for r in (s.history.to_pylist() if s.history else [])}
            for s in snapshots
        }
        c1_id = before["customer_id"]
        assert (c1_id, "饮料") in weights[BEFORE] and (c1_id, "饮料") not in weights[AFTER]  # O1 was a purchase then


def test_versions_extract_from_either_store(store_url: str, tmp_path: Path) -> None:
    ws = changed_store(tmp_path, store_url)
    try:
        for day, expected in ((BEFORE, ("paid", dt.date(2024, 12, 31))), (AFTER, ("refunded", dt.date(2025, 6, 30)))):
            with Run(ws.settings, ws.engine, as_of=day, engine="duckdb") as run:
                assert values(run.backend, run.tables) == expected
    finally:
        ws.close()
