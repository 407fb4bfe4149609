"""Issue 23: what a manager's import may change, and who may download an import's quarantine file (API)."""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import select
from web_testkit import WebEnv

from kehu.store.schema import customer_records, customers


def _csv(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode("utf-8")


def _record(web: WebEnv, customer_id: int) -> tuple[str, str]:
    with web.ws.engine.connect() as conn:
        row = conn.execute(
            select(customer_records.c.source, customer_records.c.source_customer_id).where(
                customer_records.c.customer_id == customer_id
            )
        ).first()
    assert row is not None
    return str(row[0]), str(row[1])


def _owner(web: WebEnv, customer_id: int) -> Any:
    with web.ws.engine.connect() as conn:
        return conn.execute(select(customers.c.owner_id).where(customers.c.id == customer_id)).scalar_one()


def _quarantine(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


def test_a_managers_import_does_not_take_another_teams_customer(web: WebEnv) -> None:
    victim = web.owned["other_rep"]
    source, code = _record(web, victim)
    manager = web.accounts["manager"]
    c, h = web.client(), web.token("manager")
    body = _csv([["客户编号", "客户姓名", "负责人"], [code, "王涛翔", manager.name]])
    r = c.post("/api/imports", data={"kind": "customers", "source": source},
               files={"file": ("owners.csv", body, "text/csv")}, headers=h)  # fmt: skip
    assert r.status_code == 200, r.text
    summary = r.json()
    assert (summary["read"], summary["quarantined"], summary["updated"]) == (1, 1, 0)
    assert _owner(web, victim) == web.accounts["other_rep"].id  # the other team's owner is unchanged
    q = c.get(f"/api/imports/{summary['run_id']}/quarantine.csv", headers=h)
    assert q.status_code == 200
    (line,) = _quarantine(q.text)
    assert line["row"] == "2" and line["column"] == "客户编号" and line["value"] == code
    assert code in line["reason"] and "团队" in line["reason"]  # the manager's language (the workspace's: zh-CN)


def test_a_managers_import_names_only_owners_of_the_team(web: WebEnv) -> None:
    mine = web.owned["rep_a"]
    source, code = _record(web, mine)
    other, rep_b = web.accounts["other_rep"], web.accounts["rep_b"]
    c, h = web.client(), web.token("manager")
    body = _csv(
        [["客户编号", "客户姓名", "负责人"], [code, "甲", other.name], ["NEW-1", "乙", ""], ["NEW-2", "丙", rep_b.name]]
    )
    summary = c.post("/api/imports", data={"kind": "customers", "source": source},
                     files={"file": ("o.csv", body, "text/csv")}, headers=h).json()  # fmt: skip
    assert (summary["read"], summary["quarantined"], summary["inserted"]) == (3, 1, 2)
    assert _owner(web, mine) == web.accounts["rep_a"].id
    lines = _quarantine(c.get(f"/api/imports/{summary['run_id']}/quarantine.csv", headers=h).text)
    assert [(x["row"], x["column"], x["value"]) for x in lines] == [("2", "负责人", other.name)]
    with web.ws.engine.connect() as conn:
        owners = dict(
            conn.execute(
                select(customer_records.c.source_customer_id, customers.c.owner_id)
                .join(customers, customers.c.id == customer_records.c.customer_id)
                .where(customer_records.c.source_customer_id.in_(["NEW-1", "NEW-2"]))
            ).all()
        )
    # a new customer with no owner is the importing manager's, so that they can see it
    assert owners == {"NEW-1": web.accounts["manager"].id, "NEW-2": rep_b.id}


def test_a_managers_orders_import_refuses_rows_of_other_teams_customers(web: WebEnv) -> None:
    source, theirs = _record(web, web.owned["other_rep"])
    _, mine = _record(web, web.owned["rep_a"])
    c, h = web.client(), web.token("manager")
    body = _csv([["订单编号", "客户编号", "下单时间", "订单金额"], ["Z-1", theirs, "2024-01-05", "10"],
                 ["Z-2", mine, "2024-01-05", "12"], ["Z-3", "NOBODY-9", "2024-01-05", "9"]])  # fmt: skip
    r = c.post("/api/imports", data={"kind": "orders", "source": source},
               files={"file": ("orders.csv", body, "text/csv")}, headers=h)  # fmt: skip
    assert r.status_code == 200, r.text
    summary = r.json()
    assert (summary["read"], summary["inserted"], summary["quarantined"], summary["customers_created"]) == (3, 1, 2, 0)
    lines = _quarantine(c.get(f"/api/imports/{summary['run_id']}/quarantine.csv", headers=h).text)
    assert [(x["row"], x["column"], x["value"]) for x in lines] == [
        ("2", "客户编号", theirs),
        ("4", "客户编号", "NOBODY-9"),
    ]


def test_quarantine_file_is_the_uploaders_and_admins_and_holds_no_path_or_formula(web: WebEnv) -> None:
    c, admin = web.client(), web.token("admin")
    body = _csv([["客户编号", "客户名称", "手机号", "邮箱"], ["", "=cmd|' /C calc'!A0", "+8613900000001", "@SUM(A1)"],
                 ["", "-2+3", "\t13900000002", "\rx@y"]])  # fmt: skip
    summary = c.post("/api/imports", data={"kind": "customers", "source": "crm"},
                     files={"file": ("crm.csv", body, "text/csv")}, headers=admin).json()  # fmt: skip
    assert summary["quarantined"] == 2
    url = f"/api/imports/{summary['run_id']}/quarantine.csv"
    assert c.get(url, headers=web.token("manager")).status_code == 403  # not the manager's import
    q = c.get(url, headers=admin)
    assert q.status_code == 200
    assert str(web.home) not in q.text and "/uploads/" not in q.text
    cells = [cell for row in csv.reader(io.StringIO(q.text.lstrip("\ufeff"))) for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    lines = _quarantine(q.text)
    assert lines[0]["客户名称"] == "'=cmd|' /C calc'!A0" and lines[1]["手机号"] == "'\t13900000002"
    assert lines[0]["source_file"].endswith("crm.csv")
    # the page's download follows the same rule
    page = web.login("manager").get(f"/imports/{summary['run_id']}/quarantine.csv")
    assert page.status_code == 403
