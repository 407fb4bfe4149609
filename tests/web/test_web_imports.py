"""Imports in the web app: the mapping preview shows how a file will be read before anything is stored, the
user's column choices become a mapping file, and the import runs in the background with its progress."""

from __future__ import annotations

import csv
import io
import time

import yaml
from sqlalchemy import func, select
from web_testkit import WebEnv, csrf_of, form_fields, start_previewed_import

from kehu.store.schema import customers, orders


def _csv(rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode(encoding)


def _count(web: WebEnv, table: object) -> int:
    with web.ws.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_preview_recognizes_columns_checks_rows_and_stores_nothing(web: WebEnv) -> None:
    c = web.login("manager")
    before = _count(web, customers)
    rows = [["客户编号", "姓名", "手机号", "注册日期", "备注"], ["P1", "张三", "13800000001", "2024-01-05", "老客户"],
            ["P2", "李四", "13800000002", "2024-13-40", ""], ["P3", "王五", "12345", "2024-02-01", ""]]  # fmt: skip
    r = c.post("/imports", data={"csrf_token": csrf_of(c.get("/imports").text), "kind": "customers", "source": "shop"},
               files={"file": ("客户.csv", _csv(rows, "gb18030"), "text/csv")},
               headers={"Accept-Language": "zh-CN"})  # fmt: skip
    assert r.status_code == 200
    html = r.text
    assert "字段映射预览" in html and "gb18030" in html and "已自动识别" in html
    fields = form_fields(html, "mapping-form")
    chosen = {fields[f"header_{i}"]: fields[f"field_{i}"] for i in range(5)}
    assert chosen["客户编号"] == "customer_id" and chosen["手机号"] == "phone" and chosen["备注"] == ""
    assert 'id="preview-check" class="error"' in html and "前 3 行中有 2 行将被隔离" in html
    assert html.count('class="bad"') >= 2  # the bad date and the bad phone are marked in the sample
    assert _count(web, customers) == before  # nothing stored by a preview


def test_the_user_fixes_an_unrecognized_column_and_the_choice_becomes_a_mapping(web: WebEnv) -> None:
    c = web.login("admin")  # orders of new customers: a manager's import refuses them (issue 23, test_api_scope)
    rows = [["买家", "成交时间", "实付", "单号"], ["C1", "2024-03-01 10:00", "99.50", "O-1"],
            ["C1", "2024-03-09 11:00", "20", "O-2"]]  # fmt: skip
    token = csrf_of(c.get("/imports").text)
    r = c.post("/imports", data={"csrf_token": token, "kind": "orders", "source": "tmall"},
               files={"file": ("orders.csv", _csv(rows), "text/csv")})  # fmt: skip
    assert r.status_code == 422  # the customer column is not recognized: the import cannot start yet
    assert "required field" in r.text and 'id="import-start" disabled' in r.text
    fields = form_fields(r.text, "mapping-form")
    index = {fields[f"header_{i}"]: i for i in range(4)}
    changes = {f"field_{index['买家']}": "customer_id", f"field_{index['成交时间']}": "ordered_at",
               f"field_{index['实付']}": "amount", f"field_{index['单号']}": "order_id"}  # fmt: skip
    again = c.post("/imports/preview", data={**fields, **changes, "source": "tmall"}, headers={"Accept-Language": "en"})
    assert again.status_code == 200 and 'id="import-start" disabled' not in again.text
    assert "0 of the first 2 rows would be quarantined" in again.text
    twice = c.post("/imports/preview", data={**fields, **changes, f"field_{index['单号']}": "amount", "source": "x"})
    assert twice.status_code == 422 and "chosen for both column" in twice.text
    before = _count(web, orders)
    job = start_previewed_import(c, again.text, source="tmall")
    state = c.get(f"/imports/jobs/{job}.json").json()["job"]
    assert state["state"] == "done" and state["percent"] == 100 and state["summary"]["inserted"] == 2
    assert _count(web, orders) == before + 2
    mapping = yaml.safe_load((web.home / "uploads" / state["mapping"]).read_text(encoding="utf-8"))
    assert mapping == {"kind": "orders", "columns": {"买家": "customer_id", "成交时间": "ordered_at", "实付": "amount",
                                                     "单号": "order_id"}}  # fmt: skip
    page = c.get(f"/imports/jobs/{job}", headers={"Accept-Language": "zh-CN"}).text
    assert "导入完成" in page and 'id="import-summary"' in page and state["mapping"] in page


def test_a_failing_import_reports_why_and_jobs_are_private(web: WebEnv) -> None:
    c = web.login("manager")
    rows = [["订单编号", "客户编号", "订单日期", "订单金额"], ["X1", "NOBODY", "2024-01-01", "10"]]
    token = csrf_of(c.get("/imports").text)
    r = c.post("/imports", data={"csrf_token": token, "kind": "orders", "source": "erp"},
               files={"file": ("o.csv", _csv(rows), "text/csv")})  # fmt: skip
    assert r.status_code == 200
    job = start_previewed_import(c, r.text, source="erp")
    state = c.get(f"/imports/jobs/{job}.json").json()["job"]
    assert state["state"] in ("done", "failed")
    if state["state"] == "done":  # an order of an unknown customer is quarantined, never dropped
        assert state["summary"]["read"] == 1
    other_manager = web.login("admin")
    assert other_manager.get(f"/imports/jobs/{job}.json").status_code == 200  # admins see every job
    rep = web.login("rep_a")
    assert rep.get(f"/imports/jobs/{job}").status_code == 403
    assert c.get("/imports/jobs/../../etc/passwd").status_code == 404
    assert c.get("/imports/jobs/20990101-000000-abcdefabcdef.json").status_code == 404
    bad = c.post("/imports/start", data={"csrf_token": token, "upload_id": "../x", "kind": "orders", "source": "e"})
    assert bad.status_code == 422
    time.sleep(0)  # (no thread is left running: start_previewed_import waited for the end)


def test_a_job_whose_server_stopped_reads_as_interrupted(web: WebEnv) -> None:
    import json
    import subprocess
    import sys

    c = web.login("manager")
    rows = [["客户编号", "姓名"], ["Q1", "赵六"]]
    r = c.post("/imports", data={"csrf_token": csrf_of(c.get("/imports").text), "kind": "customers", "source": "q"},
               files={"file": ("q.csv", _csv(rows), "text/csv")})  # fmt: skip
    job = start_previewed_import(c, r.text, source="q")
    path = web.home / "uploads" / "jobs" / f"{job}.json"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    state = json.loads(path.read_text(encoding="utf-8"))
    state.update(state="running", pid=int(gone.stdout), summary=None)  # as a killed server would have left it
    path.write_text(json.dumps(state), encoding="utf-8")
    shown = c.get(f"/imports/jobs/{job}.json").json()["job"]
    assert shown["state"] == "failed" and shown["error_key"] == "files.interrupted"
    assert "已中断" in shown["error"]  # in the reader's language (the manager reads zh-CN)
    assert json.loads(path.read_text(encoding="utf-8"))["state"] == "failed"
