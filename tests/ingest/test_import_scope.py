"""A scoped import (issue 23) on SQLite and PostgreSQL: rows outside the scope are quarantined with row, column
and reason; nothing outside changes; every row is accounted for."""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import select

from kehu.ingest.importer import import_file
from kehu.ingest.scope import ImportScope
from kehu.service.workspace import Workspace
from kehu.store.schema import customer_records, customers, orders, users


def _csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def _owners(ws: Workspace) -> dict[str, str | None]:
    with ws.engine.connect() as conn:
        rows = conn.execute(
            select(customer_records.c.source_customer_id, users.c.name)
            .join(customers, customers.c.id == customer_records.c.customer_id)
            .outerjoin(users, users.c.id == customers.c.owner_id)
        ).all()
    return {str(k): v for k, v in rows}


def test_a_scoped_import_changes_only_customers_of_the_scope(workspace: Workspace, tmp_path: Path) -> None:
    ws = workspace
    header = ["客户编号", "客户姓名", "负责人", "手机号"]
    first = _csv(tmp_path / "c.csv", [header, ["A1", "甲", "ann", "13900000001"], ["B1", "乙", "bob", "13900000002"]])
    import_file(ws.engine, ws.settings, "customers", first, source="crm")  # an admin's import: ann and bob exist
    with ws.engine.connect() as conn:
        ids = {n: int(i) for i, n in conn.execute(select(users.c.id, users.c.name))}
    scope = ImportScope(frozenset({ids["ann"]}), frozenset({"ann"}), default_owner="ann", locale="en")
    rows = [header, ["A1", "甲2", "ann", ""], ["B1", "乙2", "ann", ""], ["A2", "丙", "bob", ""], ["A3", "丁", "", ""],
            ["A4", "戊", "", "13900000002"]]  # fmt: skip
    s = import_file(ws.engine, ws.settings, "customers", _csv(tmp_path / "c2.csv", rows), source="crm", scope=scope)
    assert (s.read, s.updated, s.inserted, s.quarantined) == (5, 1, 2, 2)
    assert s.read == s.inserted + s.updated + s.unchanged + s.quarantined
    # B1 kept its owner; A3 and A4 are the importer's (A4 shares B1's phone within one source: no merge)
    assert _owners(ws) == {"A1": "ann", "B1": "bob", "A3": "ann", "A4": "ann"}
    assert s.quarantine_file is not None
    with open(s.quarantine_file, encoding="utf-8-sig", newline="") as fh:
        lines = [(r["row"], r["column"], r["value"]) for r in csv.DictReader(fh)]
    assert lines == [("3", "客户编号", "B1"), ("4", "负责人", "bob")]
    # from another source, B1's phone would merge the record into B1: refused
    other = _csv(tmp_path / "o.csv", [header, ["X9", "己", "", "13900000002"]])
    s2 = import_file(ws.engine, ws.settings, "customers", other, source="shop", scope=scope)
    assert (s2.read, s2.quarantined, s2.inserted) == (1, 1, 0)
    assert _owners(ws)["B1"] == "bob"
    sales = [["订单编号", "客户编号", "下单时间", "订单金额"], ["O1", "A1", "2024-01-05", "10"],
             ["O2", "B1", "2024-01-05", "10"], ["O3", "NEW", "2024-01-05", "10"]]  # fmt: skip
    s3 = import_file(ws.engine, ws.settings, "orders", _csv(tmp_path / "s.csv", sales), source="crm", scope=scope)
    assert (s3.read, s3.inserted, s3.quarantined, s3.customers_created) == (3, 1, 2, 0)
    with ws.engine.connect() as conn:
        assert conn.execute(select(orders.c.order_id)).scalars().all() == ["O1"]
