"""Re-imports keep the values they replace (order status and amounts, contract end, status and value), on SQLite
and PostgreSQL: one version per change, valid until the import that replaced it, nothing for unchanged rows."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from kehu.ingest.importer import ImportSummary, import_file
from kehu.service.workspace import Workspace
from kehu.store.history import contract_history, order_history, versions
from kehu.store.schema import contracts, import_runs, orders

UTC = dt.UTC
ORDER_HEADERS = ["订单编号", "客户编号", "下单时间", "订单金额", "品类", "订单状态"]
CONTRACT_HEADERS = ["合同编号", "客户编号", "开始日期", "结束日期", "合同金额", "合同状态", "签订日期"]
T1 = dt.datetime(2024, 3, 1, 2, 0, tzinfo=UTC)
T2 = dt.datetime(2024, 6, 10, 17, 0, tzinfo=UTC)
T3 = dt.datetime(2024, 8, 1, 2, 0, tzinfo=UTC)


def write_csv(path: Path, headers: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(headers)
        w.writerows(rows)
    return path


def orders_file(tmp_path: Path, name: str, o1_status: str, o1_category: str = "饮料") -> Path:
    return write_csv(
        tmp_path / name,
        ORDER_HEADERS,
        [
            ["O1", "C1", "2024-01-10 10:00", "100", o1_category, o1_status],
            ["O2", "C1", "2024-02-10 10:00", "200", "饮料", "已完成"],
        ],
    )


def contracts_file(tmp_path: Path, name: str, end: str, status: str = "active") -> Path:
    return write_csv(
        tmp_path / name, CONTRACT_HEADERS, [["K1", "C1", "2024-01-01", end, "12000", status, "2024-01-01"]]
    )


def load(ws: Workspace, kind: str, path: Path, now: dt.datetime) -> ImportSummary:
    return import_file(ws.engine, ws.settings, kind, path, now=now)


def record_id(ws: Workspace, table, key: str) -> int:  # type: ignore[no-untyped-def]
    key_col = table.c.order_id if table is orders else table.c.contract_id
    with ws.engine.connect() as conn:
        return int(conn.execute(select(table.c.id).where(key_col == key)).scalar_one())


def count(ws: Workspace, table) -> int:  # type: ignore[no-untyped-def]
    with ws.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def history_of(ws: Workspace, table_name: str, rid: int) -> list[dict[str, object]]:
    with ws.engine.connect() as conn:
        return versions(conn, table_name, rid)


def test_reimport_keeps_the_replaced_status_and_end_date(workspace: Workspace, tmp_path: Path) -> None:
    first = load(workspace, "orders", orders_file(tmp_path, "o1.csv", "已付款"), T1)
    load(workspace, "contracts", contracts_file(tmp_path, "k1.csv", "2024-12-31"), T1)
    assert first.versions == 0 and count(workspace, order_history) == 0  # a first import keeps no versions
    o1, o2, k1 = (
        record_id(workspace, orders, "O1"),
        record_id(workspace, orders, "O2"),
        record_id(workspace, contracts, "K1"),
    )
    assert history_of(workspace, "orders", o1) == [
        {"status": "paid", "amount_cents": 10000, "gross_margin_cents": None, "discount_cents": None,
         "quantity": None, "import_run_id": first_run(workspace), "valid_from": None, "valid_to": None},
    ]  # fmt: skip

    s = load(workspace, "orders", orders_file(tmp_path, "o2.csv", "已退款"), T2)
    c = load(workspace, "contracts", contracts_file(tmp_path, "k2.csv", "2025-06-30"), T2)
    assert (s.read, s.updated, s.unchanged, s.versions) == (2, 1, 1, 1)
    assert (c.updated, c.versions) == (1, 1)
    order_versions = history_of(workspace, "orders", o1)
    assert [(v["status"], v["valid_from"], v["valid_to"]) for v in order_versions] == [
        ("paid", None, T2),
        ("refunded", T2, None),
    ]
    # the version names the import that replaced it, the import that wrote the current values
    assert order_versions[0]["import_run_id"] == order_versions[1]["import_run_id"] != first_run(workspace)
    assert [
        (v["end_date"], v["status"], v["valid_from"], v["valid_to"]) for v in history_of(workspace, "contracts", k1)
    ] == [
        (dt.date(2024, 12, 31), "active", None, T2),
        (dt.date(2025, 6, 30), "active", T2, None),
    ]
    assert len(history_of(workspace, "orders", o2)) == 1  # unchanged: no version

    # the same file again: nothing new (idempotent), whatever time the import counts as now
    again = load(workspace, "orders", orders_file(tmp_path, "o2.csv", "已退款"), T3)
    assert (again.unchanged, again.updated, again.versions) == (2, 0, 0)
    assert count(workspace, order_history) == 1 and count(workspace, contract_history) == 1

    # a change of an untracked column updates the row and keeps no version
    recat = load(workspace, "orders", orders_file(tmp_path, "o3.csv", "已退款", o1_category="茶叶"), T3)
    assert (recat.updated, recat.versions) == (1, 0)

    # a third value: versions chain without gaps
    back = load(workspace, "orders", orders_file(tmp_path, "o4.csv", "已完成", o1_category="茶叶"), T3)
    assert back.versions == 1
    assert [(v["status"], v["valid_from"], v["valid_to"]) for v in history_of(workspace, "orders", o1)] == [
        ("paid", None, T2),
        ("refunded", T2, T3),
        ("completed", T3, None),
    ]


def test_a_bad_status_in_a_reimport_is_quarantined_and_changes_nothing(workspace: Workspace, tmp_path: Path) -> None:
    load(workspace, "orders", orders_file(tmp_path, "o1.csv", "已付款"), T1)
    bad = orders_file(tmp_path, "o2.csv", "退货中途丢失")
    s = load(workspace, "orders", bad, T2)
    assert (s.read, s.quarantined, s.unchanged, s.updated, s.versions) == (2, 1, 1, 0, 0)
    assert s.quarantine_file is not None
    with open(s.quarantine_file, encoding="utf-8-sig", newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    assert (row["source_file"], row["row"], row["column"], row["value"]) == (bad.name, "2", "订单状态", "退货中途丢失")
    o1 = record_id(workspace, orders, "O1")
    assert [(v["status"], v["valid_to"]) for v in history_of(workspace, "orders", o1)] == [("paid", None)]
    assert count(workspace, order_history) == 0


def test_a_failed_reimport_keeps_no_version(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(workspace, "contracts", contracts_file(tmp_path, "k1.csv", "2024-12-31"), T1)
    import kehu.ingest.importer as importer

    def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(importer, "update_rows", broken)  # fails after the version is written
    with pytest.raises(RuntimeError, match="disk full"):
        load(workspace, "contracts", contracts_file(tmp_path, "k2.csv", "2025-06-30", status="已终止"), T2)
    k1 = record_id(workspace, contracts, "K1")
    assert [(v["end_date"], v["status"]) for v in history_of(workspace, "contracts", k1)] == [
        (dt.date(2024, 12, 31), "active")
    ]
    assert count(workspace, contract_history) == 0


def test_an_import_counted_at_an_earlier_time_keeps_the_version_without_overlap(
    workspace: Workspace, tmp_path: Path
) -> None:
    load(workspace, "orders", orders_file(tmp_path, "o1.csv", "已付款"), T1)
    load(workspace, "orders", orders_file(tmp_path, "o2.csv", "已退款"), T3)
    load(workspace, "orders", orders_file(tmp_path, "o3.csv", "已完成"), T2)  # "now" earlier than the last change
    o1 = record_id(workspace, orders, "O1")
    assert [(v["status"], v["valid_from"], v["valid_to"]) for v in history_of(workspace, "orders", o1)] == [
        ("paid", None, T3),
        ("refunded", T3, T3),  # kept, though it holds at no moment
        ("completed", T3, None),
    ]


def first_run(ws: Workspace) -> int:
    with ws.engine.connect() as conn:
        return int(conn.execute(select(func.min(import_runs.c.id))).scalar_one())
