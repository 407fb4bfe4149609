"""The hostile corpus runs no script on any page or chart, in Chromium (issue 23, acceptance 5).

The corpus (script tags, attribute breakers, ``javascript:`` URLs, ECharts label and tooltip payloads; see
corpus_testkit.py) sits in customer names, companies, tags, regions, notes, tickets, tasks, a rep's display name,
an upload's file name and a campaign's template. Every GET page of the route table is opened with real ids, as
the admin and as rep A (who owns the planted customers); every chart is hovered over a grid of points so its
tooltips are drawn. A page fails when ``window.__xss`` was set, an element a payload would create is in the
document, the browser reported a Content-Security-Policy violation (an inline handler that tried to run) or a
page error, or a dialog opened. Screenshots at 390 and 1440 px of the customer list and a planted customer's
360 page are written under the pytest temporary folder and their paths printed (``pytest -s -m browser``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from browser_testkit import BROWSER_MARKS, chromium, served
from corpus_testkit import CAMPAIGN, XSS, CorpusEnv
from suite_testkit import route_table
from web_testkit import PASSWORD, csrf_of, form_fields, login_form

from kehu.service import access
from kehu.store.schema import tickets
from kehu.store.segments import segment_memberships, segment_runs

pytestmark = BROWSER_MARKS

_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
#: recorded before any script of the page runs: CSP violations, dialogs
_TRAP = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " " + (e.sample || e.blockedURI || ""));
});
"""
#: elements that only a payload rendered as markup would create
_INJECTED = ("img[src='x'], svg[onload], iframe[srcdoc], b[onmouseover], a[href^='javascript:'], "
             "script:not([src]):not([type='application/json'])")  # fmt: skip


#: every data point's tooltip of chart ``i`` drawn in turn (ECharts' showTip); returns how many showed a payload
_SHOW_EVERY_TIP = """
i => {
  const node = document.querySelectorAll("[data-chart]")[i];
  const chart = window.echarts && window.echarts.getInstanceByDom(node);
  if (!chart) { return 0; }
  let shown = 0;
  (chart.getOption().series || []).forEach((series, s) => {
    const n = Math.min(Math.max((series.data || []).length, (series.links || []).length), 80);
    for (let d = 0; d < n; d++) {
      chart.dispatchAction({ type: "showTip", seriesIndex: s, dataIndex: d });
      if (Array.from(node.querySelectorAll("div")).some(x => x.textContent.includes("__xss"))) { shown++; }
    }
  });
  chart.dispatchAction({ type: "hideTip" });
  return shown;
}
"""


def _pages(env: CorpusEnv) -> list[str]:
    """The GET page routes: not the API, a JSON twin, a download, a static file or the sign-in page."""
    out = []
    for method, path in route_table(env.app):
        if method != "GET" or path.startswith(("/api/", "/static")) or path in ("/", "/login"):
            continue
        if path.endswith((".json", ".csv")) or "/export." in path:
            continue
        out.append(path)
    return out


def _ids(env: CorpusEnv) -> dict[str, Any]:
    """Real ids for the path parameters: planted objects, the hostile campaign and upload job."""
    cid = min(env.planted)
    with env.ws.engine.connect() as conn:
        ticket = conn.execute(
            sa.select(sa.func.min(tickets.c.id)).where(tickets.c.source == "hostile")
        ).scalar_one()  # fmt: skip
        newest = sa.select(segment_runs.c.scheme, sa.func.max(segment_runs.c.id).label("id")).group_by(
            segment_runs.c.scheme
        ).subquery()  # fmt: skip
        scheme, segment = conn.execute(
            sa.select(newest.c.scheme, segment_memberships.c.segment)
            .join(newest, newest.c.id == segment_memberships.c.run_id)
            .where(segment_memberships.c.customer_id == cid)
        ).first() or ("lifecycle", "new")  # fmt: skip
    return {"customer_id": cid, "ticket_id": ticket, "scheme": scheme, "segment": segment}


def _hostile_job(env: CorpusEnv) -> str:
    """An import job of a file whose name and cells are payloads (as the admin, through the web form)."""
    from fastapi.testclient import TestClient
    from web_testkit import start_previewed_import

    c = TestClient(env.app)
    token = login_form(c)
    c.post("/login", data={"name": "admin", "password": PASSWORD, "csrf_token": token})
    rows = "客户编号,客户姓名,公司\n" + "".join(
        f'H{i},"{x.replace(chr(34), chr(39))}",{i}\n' for i, x in enumerate(XSS)
    )
    r = c.post("/imports", data={"csrf_token": csrf_of(c.get("/imports").text), "kind": "customers",
                                 "source": "hostile"},
               files={"file": (f"{XSS[3]}.csv", rows.encode(), "text/csv")})  # fmt: skip
    assert r.status_code == 200, r.text[:300]
    assert form_fields(r.text, "mapping-form")
    job = start_previewed_import(c, r.text, source="hostile")
    c.close()
    return job


def _fill(path: str, ids: dict[str, Any], *, playbook: str, job: str) -> str:
    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        if name == "name":
            return CAMPAIGN if path.startswith("/campaigns") else playbook
        if name == "job_id":
            return job
        return str(ids[name])

    return _PARAM.sub(value, path)


def _session(env: CorpusEnv, who: str) -> str:
    name = env.accounts[who]["name"]
    return access.login(env.ws, name, PASSWORD, client="xss-test").token


def _hover_charts(page: Any, tooltips: list[int]) -> int:
    """Move the mouse over a grid of points of every drawn chart (tooltips, emphasis), then draw each data point's
    tooltip; returns the charts seen and counts in ``tooltips[0]`` the tooltips that showed a payload (as text)."""
    charts = page.locator("[data-chart]")
    seen = 0
    for i in range(charts.count()):
        box = charts.nth(i).bounding_box()
        if not box or box["width"] < 10 or box["height"] < 10:
            continue
        charts.nth(i).scroll_into_view_if_needed()
        box = charts.nth(i).bounding_box()
        if not box:
            continue
        seen += 1
        for fx in (0.15, 0.35, 0.5, 0.65, 0.85):
            for fy in (0.3, 0.55, 0.8):
                page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
                page.wait_for_timeout(15)
                shown = page.evaluate(
                    "i => Array.from(document.querySelectorAll('[data-chart]')[i].querySelectorAll('div'))"
                    ".some(d => d.textContent.includes('__xss'))",
                    i,
                )
                tooltips[0] += bool(shown)
        tooltips[0] += page.evaluate(_SHOW_EVERY_TIP, i)
    return seen


def _check_page(page: Any, url: str, errors: list[str], problems: list[str], tooltips: list[int]) -> int:
    errors.clear()
    response = page.goto(url, wait_until="load")
    status = response.status if response else 0
    page.wait_for_timeout(50)
    charts = _hover_charts(page, tooltips) if status == 200 else 0
    state = page.evaluate(
        "sel => ({xss: window.__xss, parent: window.parent.__xss, violations: window.__violations || [],"
        " injected: document.querySelectorAll(sel).length})",
        _INJECTED,
    )
    where = f"{url} ({status})"
    if state["xss"] or state["parent"]:
        problems.append(f"{where}: window.__xss was set")
    if state["injected"]:
        problems.append(f"{where}: {state['injected']} element(s) made by a payload")
    if state["violations"]:
        problems.append(f"{where}: CSP violations {state['violations'][:3]}")
    if errors:
        problems.append(f"{where}: page errors {errors[:3]}")
    return charts


@pytest.fixture(scope="module")
def walk(corpus: CorpusEnv, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Walk every page as the admin and as rep A; screenshots of two pages at 390 and 1440 px."""
    ids = _ids(corpus)
    playbook = _playbook(corpus)
    job = _hostile_job(corpus)
    urls = [_fill(p, ids, playbook=playbook, job=job) for p in _pages(corpus)]
    shots = tmp_path_factory.mktemp("screenshots-xss")
    result: dict[str, Any] = {"urls": urls, "problems": [], "charts": 0, "tooltips": [0], "shots": [], "widths": []}
    with served(corpus.app) as base, chromium() as browser:
        for who in ("admin", "rep_a"):
            context = browser.new_context(base_url=base, locale="zh-CN", viewport={"width": 1440, "height": 1000},
                                          extra_http_headers={"Accept-Language": "zh-CN"})  # fmt: skip
            context.add_init_script(_TRAP)
            context.add_cookies([{"name": "kehu_session", "value": _session(corpus, who), "url": base}])
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
            page.on("dialog", lambda d, errors=errors: (errors.append(f"dialog: {d.message}"), d.dismiss()))
            for url in urls:
                result["charts"] += _check_page(page, url, errors, result["problems"], result["tooltips"])
            if who == "rep_a":
                for name, url in (("customers", "/customers?q="), ("customer", f"/customers/{ids['customer_id']}")):
                    for width in (390, 1440):
                        page.set_viewport_size({"width": width, "height": 900})
                        page.goto(url, wait_until="load")
                        path = shots / f"xss-{name}-{width}.png"
                        page.screenshot(path=str(path), full_page=True)
                        result["shots"].append(path)
                        result["widths"].append((url, width, page.evaluate("document.documentElement.scrollWidth")))
                        print(f"\nscreenshot: {path}")
            context.close()
        # the control: rendered as markup (no CSP on a blank page), the payloads do run
        control = browser.new_page()
        control.set_content("".join(x for x in XSS if "onerror" in x or "onload" in x))
        control.wait_for_timeout(200)
        result["control"] = control.evaluate("window.__xss")
        control.close()
    return result


def _playbook(env: CorpusEnv) -> str:
    from fastapi.testclient import TestClient

    c = TestClient(env.app)
    token = login_form(c)
    c.post("/login", data={"name": "admin", "password": PASSWORD, "csrf_token": token})
    overview = c.get("/playbooks.json").json()
    c.close()
    for value in overview.values():
        if isinstance(value, list) and value and isinstance(value[0], dict) and "name" in value[0]:
            return str(value[0]["name"])
    raise AssertionError("no playbook")


def test_the_corpus_reaches_the_pages_and_charts(corpus: CorpusEnv, walk: dict[str, Any]) -> None:
    """Not vacuous: the planted text is on the pages (as text) and in the charts' data."""
    from fastapi.testclient import TestClient

    c = TestClient(corpus.app)
    token = login_form(c)
    c.post("/login", data={"name": corpus.accounts["rep_a"]["name"], "password": PASSWORD, "csrf_token": token})
    page = c.get(f"/customers/{min(corpus.planted)}").text
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in page
    blocks = [re.search(r'id="chart-data">(.*?)</script>', c.get(u).text, re.S) for u in walk["urls"]]
    c.close()
    assert any(b and "__xss" in b.group(1) for b in blocks), "no chart carries a payload"
    print(f"\nxss walk: {len(walk['urls'])} pages x 2 principals, {walk['charts']} charts hovered, "
          f"{walk['tooltips'][0]} tooltips showing a payload as text")  # fmt: skip
    assert walk["charts"] >= 10
    assert walk["tooltips"][0] > 0, "no hovered tooltip showed a payload"
    assert len(walk["urls"]) >= 20


def test_no_page_or_chart_runs_the_corpus(walk: dict[str, Any]) -> None:
    assert walk["control"] == 1, "the payloads would run if a page rendered them as markup"
    assert walk["problems"] == [], "\n".join(walk["problems"][:30])


def test_screenshots_at_phone_and_desktop_width(walk: dict[str, Any]) -> None:
    shots: list[Path] = walk["shots"]
    assert len(shots) == 4 and all(p.stat().st_size > 5000 for p in shots)
    # long unbroken payload names wrap or scroll in their own box: the page never gets wider than the screen
    wide = [(url, width, seen) for url, width, seen in walk["widths"] if seen > width + 1]
    assert not wide, wide
