"""End-to-end tests in a real browser: Debian's chromium driven by Playwright against a live server on loopback.

Screenshots of the dashboard and a customer 360 page in zh-CN are written to ``<pytest tmp>/screenshots`` and
their paths printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_testkit import BROWSER_MARKS, chromium, new_page, served
from sqlalchemy import func, select
from web_testkit import PASSWORD, SCRIPT_NAME, WebEnv

from kehu.store.schema import customers, orders

pytestmark = BROWSER_MARKS
_CJK = re.compile(r"[\u3400-\u9fff]")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture
def live(web: WebEnv) -> Iterator[str]:
    """The app served by uvicorn in a thread; yields its base URL."""
    with served(web.app) as base:
        yield base


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def _page(browser: Any, base: str, locale: str = "zh-CN") -> Any:
    return new_page(browser, base, locale)


def _login(page: Any, name: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(re.compile(r"/dashboard$"))


def test_login_and_dashboard_charts_render_with_data(web: WebEnv, live: str, browser: Any, shots: Path) -> None:
    page = _page(browser, live)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto("/dashboard")
    assert "/login" in page.url  # not signed in yet
    page.fill("input[name=name]", "admin")
    page.fill("input[name=password]", "wrong password")
    page.click("#login-form button[type=submit]")
    assert page.locator("p.error").inner_text() == "用户名或密码错误。"
    _login(page, "admin")
    for chart in ("revenue", "customers", "regions", "rfm", "funnel", "cohorts", "pareto", "flows"):
        node = page.locator(f"#chart-{chart}")
        node.locator("canvas").first.wait_for(timeout=15_000)
        page.wait_for_selector(f"#chart-{chart}[data-rendered]", timeout=15_000)  # set by ECharts' 'finished' event
        assert int(node.get_attribute("data-rendered") or 0) > 0
    with web.ws.engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(customers)).scalar_one()
    assert page.locator("#kpi-customers").inner_text() == f"{n:,}"
    assert page.locator("#kpi-revenue").inner_text().startswith("¥")
    path = shots / "dashboard-zh-CN.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"\nscreenshot: {path}")
    assert path.stat().st_size > 20_000 and not errors, errors
    page.context.close()


def test_customer_360_shows_the_customer(web: WebEnv, live: str, browser: Any, shots: Path) -> None:
    with web.ws.engine.connect() as conn:
        cid, n = conn.execute(
            select(orders.c.customer_id, func.count()).group_by(orders.c.customer_id).order_by(func.count().desc())
        ).first()
        name = conn.execute(select(customers.c.name).where(customers.c.id == cid)).scalar_one()
    page = _page(browser, live)
    _login(page, "admin")
    page.goto("/customers")
    page.fill("input[name=q]", name)
    page.click("form.filters button[type=submit]")
    page.click(f"#customers-table a[href='/customers/{cid}'] >> nth=1")
    page.wait_for_url(re.compile(rf"/customers/{cid}$"))
    assert name in page.locator("#customer-name").inner_text()
    assert page.locator("#recent-orders tbody tr").count() == min(n, 20)
    assert page.locator("#records tbody tr").count() >= 1
    assert page.locator("#customer-revenue").inner_text().startswith("¥")
    path = shots / "customer-360-zh-CN.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"\nscreenshot: {path}")
    page.context.close()


def test_a_rep_cannot_see_another_reps_customer(web: WebEnv, live: str, browser: Any) -> None:
    page = _page(browser, live)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    _login(page, web.accounts["rep_a"].name)
    theirs = web.owned["rep_b"]
    response = page.goto(f"/customers/{theirs}")
    assert response.status == 403 and page.locator("h1").inner_text() == "您无权查看此内容。"
    assert page.request.get(f"/customers/{theirs}.json").status == 403
    assert page.request.get(f"/api/customers/{theirs}").status == 401  # a session is no API token
    export = page.request.get("/customers/export.csv").text()
    ids = {int(r["id"]) for r in csv.DictReader(io.StringIO(export.lstrip("\ufeff")))}
    assert theirs not in ids and web.owned["rep_a"] in ids
    # their own customer named <script>… is listed and shown as text, nothing runs
    page.goto(f"/customers/{web.script_customer}")
    assert page.locator("#customer-name").inner_text().startswith(SCRIPT_NAME)
    assert page.title().endswith("客户") and dialogs == []
    page.context.close()


def test_upload_gbk_csv_with_bad_rows_shows_summary_and_quarantine(
    web: WebEnv, live: str, browser: Any, tmp_path: Path
) -> None:
    rows = [["客户编号", "客户名称", "手机号", "邮箱", "省份"], ["G1", "欧阳䶮", "13700000001", "", "浙江省"],
            ["G2", "林𠀾", "13700000002", "", "福建省"], ["", "缺编号", "13700000003", "", "福建省"]]  # fmt: skip
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    upload = tmp_path / "门店客户.csv"
    upload.write_bytes(buf.getvalue().encode("gb18030"))
    page = _page(browser, live)
    _login(page, web.accounts["manager"].name)
    page.goto("/imports")
    page.set_input_files("input[name=file]", str(upload))
    page.select_option("select[name=kind]", "customers")
    page.fill("input[name=source]", "stores")
    page.click("#import-form button[type=submit]")
    page.locator("#mapping-table").wait_for()  # the preview: nothing stored yet
    assert "gb18030" in page.locator("#preview-format").inner_text()
    assert page.locator("#preview-rows td.bad").count() >= 1  # the row without an id is marked
    page.click("#import-start")
    page.locator("#import-summary").wait_for(timeout=30_000)  # progress page polls, then shows the summary
    assert page.locator("#summary-read").inner_text() == "3"
    assert page.locator("#summary-inserted").inner_text() == "2"
    assert page.locator("#summary-quarantined").inner_text() == "1"
    with page.expect_download() as info:
        page.click("#quarantine-link")
    saved = tmp_path / "quarantine.csv"
    info.value.save_as(saved)
    assert "缺编号" in saved.read_text(encoding="utf-8-sig")
    page.context.close()


def _labels(page: Any) -> list[str]:
    """The text of every label-like element, without data (own text nodes of labels; headers; buttons …)."""
    return page.evaluate(
        """() => {
          const own = el => Array.from(el.childNodes).filter(n => n.nodeType === 3)
            .map(n => n.textContent).join('').trim();
          const sel = 'nav a, th, h1, h2, h3, dt, figcaption, button, .kpi span, label, a#export, .pager a, p.count';
          const data = el => el.id === 'customer-name';  // the customer's name is data, not a label
          return Array.from(document.querySelectorAll(sel)).filter(el => !data(el)).map(own)
            .filter(t => t && t !== '#');
        }"""
    )


def test_switching_language_changes_every_label(web: WebEnv, live: str, browser: Any) -> None:
    page = _page(browser, live)
    _login(page, "admin")
    pages = ["/dashboard", "/customers", f"/customers/{web.owned['rep_a']}", "/imports", "/users", "/account",
             "/segments", "/segments/lifecycle/lost", "/segments/flows?scheme=rfm_cn",
             "/settings", "/tasks", "/playbooks", "/playbooks/rfm_cn_strategies"]  # fmt: skip
    for path in pages:
        page.goto(path)
        labels = _labels(page)
        assert labels and all(_CJK.search(t) for t in labels if not t.isdigit()), (path, labels)
    page.goto("/customers")
    with page.expect_navigation():
        page.select_option("#locale-select", "en")  # submits on change
    for path in pages:
        page.goto(path)
        labels = _labels(page)
        assert labels and not [t for t in labels if _CJK.search(t)], (path, [t for t in labels if _CJK.search(t)])
        assert page.locator("html").get_attribute("lang") == "en"
    page.context.close()


def test_segments_trends_and_flows_render(web: WebEnv, live: str, browser: Any, shots: Path) -> None:
    page = _page(browser, live)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _login(page, web.accounts["manager"].name)
    page.goto("/segments")
    node = page.locator("[data-chart=rfm_cn]")
    page.wait_for_selector("[data-chart=rfm_cn][data-rendered]", timeout=15_000)
    assert int(node.get_attribute("data-rendered") or 0) == 8  # one size per class of the 8-class scheme
    page.click("#flows-link")
    page.wait_for_selector("#chart-flow[data-rendered]", timeout=15_000)
    assert page.locator("#flow-balance tbody tr").count() == 8
    path = shots / "segment-flows-zh-CN.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"\nscreenshot: {path}")
    page.goto("/segments")
    page.fill("#segment-editor input[name=name]", "repeaters")
    page.fill("#segment-editor textarea[name=rule]", "{field: orders, ge: 2}")
    page.click("#preview-rule")
    assert "位客户符合" in page.locator("#editor-preview").inner_text()
    assert not errors, errors
    page.context.close()


# -- task inbox (issue 7/9) -------------------------------------------------------------------------------------
def test_completing_a_task_records_the_outcome(web: WebEnv, live: str, browser: Any, shots: Path) -> None:
    from task_testkit import add_task, task_row

    from kehu.service.tasks import local_today
    from kehu.store.actions import audit_log

    rep = web.accounts["rep_a"]
    task = add_task(web, "rep_a", due=local_today(web.ws), title="回访：确认续约意向")
    theirs = add_task(web, "rep_b", due=local_today(web.ws), title="Someone else's call")
    page = _page(browser, live)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _login(page, rep.name)
    page.click("#nav-tasks")
    page.wait_for_url(re.compile(r"/tasks$"))
    row = page.locator(f"#task-{task}")
    assert "回访：确认续约意向" in row.inner_text() and page.locator(f"#task-{theirs}").count() == 0
    assert row.locator("xpath=ancestor::section").get_attribute("id") == "group-today"
    path = shots / "tasks-zh-CN.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"\nscreenshot: {path}")
    row.locator("select[name=outcome]").select_option("won_back")
    row.locator("input[name=notes]").fill("客户同意续约，下周签合同")
    with page.expect_navigation():
        row.locator("button.complete").click()
    assert f"任务 {task} 已保存" in page.locator("#task-saved").inner_text()
    done = page.locator(f"#task-{task}")
    assert done.get_attribute("data-status") == "done" and "已挽回" in done.inner_text()
    assert done.locator("xpath=ancestor::section").get_attribute("id") == "group-done"
    stored = task_row(web, task)
    assert (stored.status, stored.outcome) == ("done", "won_back") and "客户同意续约" in stored.notes
    with web.ws.engine.connect() as conn:
        entry = conn.execute(select(audit_log).where(audit_log.c.target == f"task:{task}")).one()
    assert (entry.actor, entry.action, entry.detail["outcome"]) == (rep.name, "task.done", "won_back")
    assert task_row(web, theirs).status == "open" and not errors, errors
    page.context.close()
