"""The importer end to end, on SQLite and PostgreSQL: counts, quarantine, idempotency, identity, formats."""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from kehu.errors import ImportFileError, NotFoundError
from kehu.service.workspace import Workspace
from kehu.store.schema import (
    contracts,
    customer_merges,
    customers,
    feedback,
    interactions,
    orders,
    tickets,
    users,
)
from kehu_testdata import cdnow_path

CUSTOMER_HEADERS = ["客户编号", "客户名称", "手机号", "邮箱", "公司名称", "城市", "负责人", "标签"]
ORDER_HEADERS = ["订单编号", "客户编号", "下单时间", "订单金额", "品类", "订单状态"]


def write_csv(path: Path, headers: list[str], rows: list[list[object]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(headers)
        w.writerows(rows)
    return path


def count(ws: Workspace, table) -> int:  # type: ignore[no-untyped-def]
    with ws.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def check_invariant(s) -> None:  # type: ignore[no-untyped-def]
    assert s.read == s.inserted + s.updated + s.unchanged + s.quarantined


def test_gbk_customers_with_chinese_headers(workspace: Workspace, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "客户.csv",
        CUSTOMER_HEADERS,
        [
            [
                "C001",
                "王䶮",
                "+86 138-0013-8000",
                "Wang@Example.com",
                "上海某某科技有限公司",
                "上海",
                "李娜",
                "VIP、老客户",
            ],
            ["C002", "𠀾丽", "13900139000", "", "", "北京", "张伟", ""],
        ],
        encoding="gb18030",
    )
    s = workspace.import_file("customers", path, source="crm")
    check_invariant(s)
    assert (s.read, s.inserted, s.quarantined, s.customers_created) == (2, 2, 0, 2)
    d = workspace.system().customers.find("C001")
    p = d["profile"]
    assert p["name"] == "王䶮" and p["phone"] == "13800138000" and p["email"] == "wang@example.com"
    assert p["owner"] == "李娜" and p["tags"] == ["VIP", "老客户"] and p["company"] == "上海某某科技有限公司"
    assert workspace.system().customers.find("crm:C002")["profile"]["name"] == "𠀾丽"
    assert {u["name"] for u in workspace.system().users.all()} == {"李娜", "张伟"}


def test_orders_formats_counts_and_minimal_customers(workspace: Workspace, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        ORDER_HEADERS,
        [
            ["O1", "C001", "2024-01-05", "¥1,234.50", "饮料", "已完成"],
            ["O2", "C001", "2024/1/6 13:45", "1234元", "饮料", "已退款"],
            ["O3", "C002", "2024年1月7日", "１２.５", "零食", ""],
            ["O4", "C002", "45296", "RMB 99", "零食", "completed"],
            ["O5", "C003", "20240108", "1.2万", "家电", "paid"],
        ],
        encoding="utf-8-sig",
    )
    s = workspace.import_file("orders", path)
    check_invariant(s)
    assert (s.read, s.inserted, s.quarantined, s.customers_created) == (5, 5, 0, 3)
    with workspace.engine.connect() as conn:
        rows = {r.order_id: r for r in conn.execute(select(orders))}
    assert rows["O1"].amount_cents == 123450 and rows["O1"].status == "completed"
    assert rows["O2"].status == "refunded" and rows["O2"].amount_cents == 123400
    assert rows["O3"].amount_cents == 1250 and rows["O3"].status == "completed"  # default status
    assert rows["O5"].amount_cents == 1_200_000
    # naive times are Asia/Shanghai: 2024-01-06 13:45 +08:00 is 05:45 UTC
    assert rows["O2"].ordered_at == dt.datetime(2024, 1, 6, 5, 45, tzinfo=dt.UTC)
    assert rows["O4"].ordered_at.astimezone(dt.timezone(dt.timedelta(hours=8))).date() == dt.date(2024, 1, 5)
    assert count(workspace, customers) == 3
    d = workspace.system().customers.find("C001")
    assert d["orders"]["count"] == 1 and d["orders"]["revenue"] == Decimal("1234.50")  # refunded excluded
    assert d["orders"]["by_status"] == {"completed": 1, "refunded": 1}


def test_quarantine_names_row_column_and_reason(workspace: Workspace, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        ORDER_HEADERS,
        [
            ["O1", "C001", "2024-01-05", "100", "饮料", "已完成"],
            ["O2", "C001", "2024-13-45", "100", "饮料", "已完成"],
            ["O3", "", "2024-01-05", "100", "饮料", "已完成"],
            ["O4", "C002", "2024-01-05", "abc", "饮料", "已完成"],
            ["O5", "C002", "2024-01-05", "-5", "饮料", "已完成"],
            ["O6", "C002", "2024-01-05", "5", "饮料", "不知道"],
            ["O7", "C002", "2099-01-05", "5", "饮料", "已完成"],
        ],
    )
    s = workspace.import_file("orders", path)
    check_invariant(s)
    assert (s.read, s.inserted, s.quarantined) == (7, 1, 6)
    assert s.quarantine_file is not None
    raw = Path(s.quarantine_file).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM so Excel shows Chinese
    with open(s.quarantine_file, encoding="utf-8-sig", newline="") as fh:
        lines = list(csv.DictReader(fh))
    by_row = {int(r["row"]): r for r in lines}
    assert set(by_row) == {3, 4, 5, 6, 7, 8}
    assert by_row[3]["column"] == "下单时间" and by_row[3]["value"] == "2024-13-45"
    assert by_row[4]["column"] == "客户编号" and "required" in by_row[4]["reason"]
    assert by_row[5]["column"] == "订单金额" and by_row[5]["value"] == "abc"
    assert "negative" in by_row[6]["reason"]
    assert by_row[7]["column"] == "订单状态"
    assert "future" in by_row[8]["reason"]
    assert all(r["source_file"] == path.name for r in lines)
    assert by_row[5]["订单编号"] == "O4"  # the original row is kept for correction


def test_reimport_is_idempotent_and_corrections_update(workspace: Workspace, tmp_path: Path) -> None:
    rows = [
        ["O1", "C001", "2024-01-05", "100", "饮料", "已完成"],
        ["O2", "C001", "2024-01-06", "200", "饮料", "已完成"],
        ["O3", "C002", "2024-01-07", "300", "零食", "已完成"],
    ]
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADERS, rows)
    first = workspace.import_file("orders", path)
    assert (first.inserted, first.customers_created) == (3, 2)
    with workspace.engine.connect() as conn:
        before = [tuple(r) for r in conn.execute(select(orders).order_by(orders.c.id))]
    second = workspace.import_file("orders", path)
    assert (second.read, second.inserted, second.updated, second.unchanged, second.customers_created) == (
        3,
        0,
        0,
        3,
        0,
    )
    with workspace.engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(select(orders).order_by(orders.c.id))] == before
    rows[1][3] = "250"
    rows.append(["O4", "C002", "2024-01-08", "400", "零食", "已完成"])
    write_csv(path, ORDER_HEADERS, rows)
    third = workspace.import_file("orders", path)
    assert (third.inserted, third.updated, third.unchanged) == (1, 1, 2)
    with workspace.engine.connect() as conn:
        assert conn.execute(select(orders.c.amount_cents).where(orders.c.order_id == "O2")).scalar() == 25000
    assert count(workspace, orders) == 4


def test_duplicate_key_in_one_file(workspace: Workspace, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        ORDER_HEADERS,
        [
            ["O1", "C001", "2024-01-05", "100", "饮料", "已完成"],
            ["O1", "C001", "2024-01-05", "100", "饮料", "已完成"],
            ["O1", "C001", "2024-01-05", "999", "饮料", "已完成"],
        ],
    )
    s = workspace.import_file("orders", path)
    check_invariant(s)
    assert (s.inserted, s.unchanged, s.quarantined) == (1, 1, 1)
    with open(s.quarantine_file, encoding="utf-8-sig") as fh:  # type: ignore[arg-type]
        text = fh.read()
    assert "first at row 2" in text


def test_file_level_problems_change_nothing(workspace: Workspace, tmp_path: Path) -> None:
    good = write_csv(tmp_path / "orders.csv", ORDER_HEADERS, [["O1", "C001", "2024-01-05", "100", "饮料", "已完成"]])
    workspace.import_file("orders", good)
    bad = write_csv(tmp_path / "no_amount.csv", ["订单编号", "客户编号", "下单时间"], [["O9", "C9", "2024-01-05"]])
    with pytest.raises(ImportFileError) as err:
        workspace.import_file("orders", bad)
    assert "no_amount.csv" in str(err.value) and "amount" in str(err.value)
    with pytest.raises(ImportFileError, match="unknown kind"):
        workspace.import_file("ordres", good)
    with pytest.raises(ImportFileError):
        workspace.import_file("orders", tmp_path / "missing.csv")
    assert count(workspace, orders) == 1 and count(workspace, customers) == 1


def test_identity_resolution_merges_across_sources(workspace: Workspace, tmp_path: Path) -> None:
    crm = write_csv(
        tmp_path / "crm.csv",
        CUSTOMER_HEADERS,
        [
            ["C001", "王芳", "13800138000", "wf@example.com", "", "上海", "李娜", ""],
            ["C002", "张伟", "13900139000", "zw@example.com", "", "北京", "张伟", ""],
            ["C003", "刘洋", "", "ly@example.com", "", "深圳", "", ""],
        ],
    )
    shop_orders = write_csv(
        tmp_path / "orders.csv",
        ORDER_HEADERS,
        [
            ["S1", "M01", "2024-01-05", "100", "饮料", "已完成"],
            ["S2", "M02", "2024-01-06", "100", "饮料", "已完成"],
        ],
    )
    store = write_csv(
        tmp_path / "store.csv",
        ["会员编号", "姓名", "手机", "邮箱", "城市"],
        [
            ["M01", "王芳", "+86 138 0013 8000", "", "上海"],  # same phone as C001, formatted differently
            ["M02", "刘洋", "", "LY@Example.COM", "深圳"],  # same email as C003
            ["M03", "陈静", "13700137000", "", "杭州"],  # nobody else
        ],
    )
    workspace.import_file("customers", crm, source="crm")
    o = workspace.import_file("orders", shop_orders, source="store")
    assert o.customers_created == 2  # M01 and M02 not known yet: minimal customers
    s = workspace.import_file("customers", store, source="store")
    check_invariant(s)
    assert s.merges == 2 and s.inserted == 3
    assert count(workspace, customers) == 4  # C001+M01, C002, C003+M02, M03
    d = workspace.system().customers.find("C001")
    assert {f"{r['source']}:{r['source_customer_id']}" for r in d["records"]} == {"crm:C001", "store:M01"}
    assert d["orders"]["count"] == 1  # the order of M01 moved to the merged customer
    assert workspace.system().customers.find("store:M01")["id"] == d["id"]
    merges = workspace.system().customers.merges()
    assert {m["rule"] for m in merges} == {"phone", "email"}
    # importing the same file again changes nothing and merges nothing
    again = workspace.import_file("customers", store, source="store")
    assert (again.unchanged, again.merges) == (3, 0)
    # an explicit link
    kept = workspace.system().customers.link("crm:C002", "store:M03")
    assert workspace.system().customers.find("M03")["id"] == kept == workspace.system().customers.find("C002")["id"]
    assert count(workspace, customers) == 3
    with workspace.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(customer_merges)).scalar_one() == 3
    with pytest.raises(NotFoundError):
        workspace.system().customers.link("crm:C002", "store:NOPE")


def test_xlsx_parquet_and_other_kinds(workspace: Workspace, tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    sheet = wb.active
    sheet.title = "合同"
    sheet.append(["合同编号", "客户编号", "开始日期", "结束日期", "合同金额", "合同状态", "续约自"])
    sheet.append(["HT1", "C001", dt.date(2023, 1, 1), dt.date(2023, 12, 31), 120000, "已到期", None])
    sheet.append(["HT2", "C001", "2024/1/1", "2024/12/31", "¥130,000.00", "生效", "HT1"])
    sheet.append(["HT3", "C002", "2024-06-01", "2024-01-01", 5, "生效", None])  # ends before it starts
    xlsx = tmp_path / "contracts.xlsx"
    wb.save(xlsx)
    s = workspace.import_file("contracts", xlsx, sheet="合同")
    check_invariant(s)
    assert (s.inserted, s.quarantined) == (2, 1)
    table = pa.table(
        {
            "客户编号": ["C001", "C001", "C002"],
            "时间": pa.array(
                [dt.datetime(2024, 3, 1, 8, 0), dt.datetime(2024, 3, 2, 9, 0), dt.datetime(2024, 3, 3)],
                pa.timestamp("us"),
            ),
            "类型": ["登录", "电话", "拜访"],
            "渠道": ["app", "电话", None],
            "页面": ["首页", None, None],  # an extra column, kept as attributes
        }
    )
    pq.write_table(table, tmp_path / "interactions.parquet")
    s = workspace.import_file("interactions", tmp_path / "interactions.parquet")
    check_invariant(s)
    assert (s.inserted, s.quarantined) == (3, 0) and s.extras == ["页面"]
    assert workspace.import_file("interactions", tmp_path / "interactions.parquet").unchanged == 3
    write_csv(
        tmp_path / "tickets.csv",
        ["工单编号", "客户编号", "创建时间", "首次响应时间", "解决时间", "优先级", "是否投诉", "满意度"],
        [
            ["T1", "C001", "2024-03-01 09:00", "2024-03-01 10:30", "2024-03-02 09:00", "高", "是", "4"],
            [
                "T2",
                "C002",
                "2024-03-01 09:00",
                "2024-02-01 10:30",
                "",
                "低",
                "否",
                "",
            ],  # response before open
        ],
    )
    s = workspace.import_file("tickets", tmp_path / "tickets.csv")
    assert (s.inserted, s.quarantined) == (1, 1)
    write_csv(
        tmp_path / "nps.csv",
        ["客户编号", "类型", "评分", "提交时间", "评论"],
        [
            ["C001", "NPS", "9", "2024-03-05", "很好"],
            ["C002", "nps", "11", "2024-03-05", ""],
            ["C002", "CSAT", "0", "2024-03-05", ""],
            ["C002", "满意度", "5", "2024-03-05", "满意"],
        ],
    )
    s = workspace.import_file("feedback", tmp_path / "nps.csv")
    assert (s.inserted, s.quarantined) == (2, 2)
    with workspace.engine.connect() as conn:
        t = conn.execute(select(tickets)).one()
        assert t.is_complaint is True and t.priority == "high" and t.satisfaction == 4
        c = conn.execute(select(contracts).where(contracts.c.contract_id == "HT2")).one()
        assert c.value_cents == 13_000_000 and c.renewal_of == "HT1" and c.status == "active"
        attrs = conn.execute(select(interactions.c.attributes).where(interactions.c.type == "login")).scalar()
        assert (json.loads(attrs) if isinstance(attrs, str) else attrs) == {"页面": "首页"}
        assert sorted(conn.execute(select(feedback.c.kind, feedback.c.score)).all()) == [
            ("csat", 5),
            ("nps", 9),
        ]


def test_orders_before_customers(workspace: Workspace, tmp_path: Path) -> None:
    workspace.import_file(
        "orders",
        write_csv(tmp_path / "o.csv", ORDER_HEADERS, [["O1", "C001", "2024-01-05", "100", "饮料", "已完成"]]),
    )
    s = workspace.import_file(
        "customers",
        write_csv(tmp_path / "c.csv", CUSTOMER_HEADERS, [["C001", "王芳", "", "", "", "上海", "李娜", ""]]),
    )
    assert (s.inserted, s.customers_created) == (1, 0)
    d = workspace.system().customers.find("C001")
    assert d["profile"]["name"] == "王芳" and d["orders"]["count"] == 1
    with workspace.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(users)).scalar_one() == 1


def test_cdnow_master_with_its_mapping(sqlite_workspace: Workspace) -> None:
    data = cdnow_path("CDNOW_master.txt").parent
    mapping = Path(__file__).resolve().parents[2] / "examples" / "cdnow"
    s = sqlite_workspace.import_file(
        "orders", data / "CDNOW_master.txt", mapping=mapping / "master.yaml", source="cdnow"
    )
    assert (s.read, s.inserted, s.quarantined, s.customers_created) == (69_659, 69_659, 0, 23_570)
    s2 = sqlite_workspace.import_file(
        "orders", data / "CDNOW_sample.txt", mapping=mapping / "sample.yaml", source="cdnow-sample"
    )
    assert (s2.read, s2.inserted, s2.customers_created) == (6_919, 6_919, 2_357)
    with sqlite_workspace.engine.connect() as conn:
        total = conn.execute(select(func.sum(orders.c.amount_cents)).where(orders.c.source == "cdnow")).scalar()
    raw_total = 0
    with (data / "CDNOW_master.txt").open() as fh:
        next(fh)
        for line in fh:
            raw_total += round(float(line.split()[3]) * 100)
    assert total == raw_total


def test_link_file_all_or_nothing(workspace: Workspace, tmp_path: Path) -> None:
    write_csv(
        tmp_path / "crm.csv",
        CUSTOMER_HEADERS,
        [["C1", "甲", "", "", "", "", "", ""], ["C2", "乙", "", "", "", "", "", ""]],
    )
    write_csv(
        tmp_path / "shop.csv",
        CUSTOMER_HEADERS,
        [["S1", "甲", "", "", "", "", "", ""], ["S2", "乙", "", "", "", "", "", ""]],
    )
    workspace.import_file("customers", tmp_path / "crm.csv", source="crm")
    workspace.import_file("customers", tmp_path / "shop.csv", source="shop")
    bad = tmp_path / "bad_links.csv"
    bad.write_text("record_a,record_b\ncrm:C1,shop:S1\ncrm:C2,shop:NOPE\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match=r"bad_links.csv: row 3"):
        workspace.system().customers.link_file(bad)
    assert count(workspace, customers) == 4  # nothing linked
    good = tmp_path / "links.csv"
    good.write_text("crm:C1,shop:S1\ncrm:C2,shop:S2\n", encoding="utf-8")
    assert workspace.system().customers.link_file(good) == 2
    assert count(workspace, customers) == 2
    assert workspace.system().customers.find("S2")["id"] == workspace.system().customers.find("C2")["id"]
