"""The segments pages: sizes and trends, members, flows, exports and the custom segment editor, each within the
signed-in user's row-level scope."""

from __future__ import annotations

import csv
import io

import numpy as np
import openpyxl
from sqlalchemy import select
from web_testkit import WebEnv, csrf_of

from kehu.store.schema import customers


def _owned_by(web: WebEnv, user_id: int) -> set[int]:
    with web.ws.engine.connect() as conn:
        return set(conn.execute(select(customers.c.id).where(customers.c.owner_id == user_id)).scalars())


def test_overview_lists_every_scheme_with_sizes_changes_and_trends(web: WebEnv) -> None:
    admin = web.login("admin")
    page = admin.get("/segments", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200
    assert "重要价值客户" in page.text and "RFM" in page.text and 'data-chart="rfm_cn"' in page.text
    data = admin.get("/segments.json").json()
    schemes = {s["scheme"]: s for s in data["schemes"]}
    assert {"rfm_cn", "rfm_en", "lifecycle", "value", "cross"} <= set(schemes)
    for s in schemes.values():
        assert len(s["runs"]) == 2 and s["previous_as_of"] < s["as_of"]
        for seg in s["segments"]:
            assert seg["trend"][-1] == seg["size"]
            assert seg["change"] == seg["size"] - seg["previous_size"]
    lifecycle = schemes["lifecycle"]
    with web.ws.engine.connect() as conn:
        everyone = len(list(conn.execute(select(customers.c.id))))
    assert sum(seg["size"] for seg in lifecycle["segments"]) == lifecycle["members"] == everyone
    assert abs(sum(seg["share"] for seg in lifecycle["segments"]) - 1) < 1e-9


def test_a_rep_counts_and_sees_only_own_customers(web: WebEnv) -> None:
    rep = web.login("rep_a")
    own = _owned_by(web, web.accounts["rep_a"].id)
    data = rep.get("/segments.json").json()
    assert data["scope"] == "own"
    lifecycle = next(s for s in data["schemes"] if s["scheme"] == "lifecycle")
    assert lifecycle["members"] == len(own)
    seen: set[int] = set()
    for seg in lifecycle["segments"]:
        after = None
        while True:
            url = f"/segments/lifecycle/{seg['segment']}.json" + (f"?after={after}" if after else "")
            page = rep.get(url).json()
            seen |= {m["id"] for m in page["members"]}
            assert page["size"] == seg["size"]
            after = page["next"]
            if after is None:
                break
    assert seen == own
    other = web.owned["other_rep"]
    html = rep.get("/segments/lifecycle/" + lifecycle["segments"][0]["segment"]).text
    assert f'href="/customers/{other}"' not in html


def test_exports_open_in_spreadsheets_and_hold_only_customers_in_scope(web: WebEnv) -> None:
    rep = web.login("rep_a")
    own = _owned_by(web, web.accounts["rep_a"].id)
    data = rep.get("/segments.json").json()
    lifecycle = next(s for s in data["schemes"] if s["scheme"] == "lifecycle")
    seg = max(lifecycle["segments"], key=lambda s: s["size"])
    r = rep.get(f"/segments/lifecycle/{seg['segment']}/export.xlsx", headers={"Accept-Language": "zh-CN"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxml")
    sheet = openpyxl.load_workbook(io.BytesIO(r.content), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert "客户ID" in rows[0] or any("客户" in str(h) for h in rows[0])
    ids = {int(row[0]) for row in rows[1:]}
    assert len(ids) == seg["size"] and ids <= own
    text = rep.get(f"/segments/lifecycle/{seg['segment']}/export.csv").content.decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert {int(row[0]) for row in lines[1:]} == ids
    assert rep.get(f"/segments/lifecycle/{seg['segment']}/export.pdf").status_code == 422


def test_flows_add_up_and_feed_a_sankey(web: WebEnv) -> None:
    manager = web.login("manager")
    data = manager.get("/segments/flows.json?scheme=rfm_cn").json()
    assert data["from"] < data["to"] and data["moves"]
    for seg in data["segments"]:
        assert seg["balanced"] and seg["size_to"] == seg["size_from"] - seg["out"] + seg["in"]
    page = manager.get("/segments/flows?scheme=rfm_cn", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and 'data-chart="flow"' in page.text and "Important value" in page.text
    bad = manager.get("/segments/flows?scheme=rfm_cn&from=2026-13-01")
    assert bad.status_code == 422
    assert manager.get("/segments/flows.json?scheme=nope").status_code == 404


def test_rule_preview_and_save_with_validation_and_roles(web: WebEnv) -> None:
    manager = web.login("manager")
    page = manager.get("/segments").text
    rule = "all:\n  - {field: orders, ge: 2}\n"
    form = {"csrf_token": csrf_of(page), "name": "repeaters", "label_zh": "复购客户", "label_en": "Repeat buyers"}
    preview = manager.post("/segments", data={**form, "rule": rule, "action": "preview"})
    assert preview.status_code == 200 and 'id="editor-preview"' in preview.text
    counted = manager.get("/segments/preview.json", params={"rule": rule}).json()["count"]
    assert counted > 0
    bad = manager.post("/segments", data={**form, "rule": "all:\n  - {field: no_such_field, gt: 1}\n",
                                          "action": "save"})  # fmt: skip
    assert bad.status_code == 422 and "no_such_field" in bad.text
    broken = manager.post("/segments", data={**form, "rule": "all: [\n", "action": "preview"})
    assert broken.status_code == 422 and "line" in broken.text
    injected = manager.get("/segments/preview.json", params={"rule": '{field: region, eq: "x\' OR 1=1 --"}'})
    assert injected.status_code == 200 and injected.json()["count"] == 0
    saved = manager.post("/segments", data={**form, "rule": rule, "action": "save"})
    assert saved.status_code == 200 and 'id="editor-saved"' in saved.text
    members = manager.get("/segments/custom.repeaters/repeaters.json").json()
    assert members["labels"]["zh"] == "复购客户" and members["size"] == counted
    rep = web.login("rep_a")
    refused = rep.post("/segments", data={**form, "csrf_token": csrf_of(rep.get("/segments").text), "rule": rule,
                                          "action": "save"})  # fmt: skip
    assert refused.status_code == 403
    no_csrf = manager.post("/segments", data={**{k: v for k, v in form.items() if k != "csrf_token"}, "rule": rule})
    assert no_csrf.status_code == 403


def test_customer_360_shows_scores_current_segments_and_their_history(web: WebEnv) -> None:
    rep = web.login("rep_a")
    cid = web.owned["rep_a"]
    data = rep.get(f"/customers/{cid}.json").json()
    timeline = data["segments"]["timeline"]
    assert len(timeline) == 2 and timeline[0]["as_of"] > timeline[1]["as_of"]
    assert "lifecycle" in data["segments"]["current"]
    for step, before in zip(timeline, [*timeline[1:], {"schemes": {}}], strict=True):
        for scheme, item in step["schemes"].items():
            was = before["schemes"].get(scheme)
            assert item["changed"] == (bool(before["schemes"]) and (was or {}).get("segment") != item["segment"])
    page = rep.get(f"/customers/{cid}", headers={"Accept-Language": "zh-CN"}).text
    assert 'id="segment-timeline"' in page and "生命周期" in page
    lifecycle = data["segments"]["current"]["lifecycle"]
    assert lifecycle["labels"]["zh"] in page
    if data["scores"].get("clv_12m") is not None:
        assert 'id="clv"' in page


def test_dashboard_kpis_segments_pareto_and_risk_list_within_scope(web: WebEnv) -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    from kehu.store.published import customer_scores
    from kehu.store.schema import orders

    rep = web.login("rep_a")
    own = _owned_by(web, web.accounts["rep_a"].id)
    data = rep.get("/dashboard.json").json()
    assert data["scope"] == "own"
    day = dt.date.fromisoformat(data["as_of"])
    tz = ZoneInfo(web.settings.timezone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    windows = {
        "now": (end - dt.timedelta(days=30), end),
        "before": (end - dt.timedelta(days=60), end - dt.timedelta(days=30)),
    }
    with web.ws.engine.connect() as conn:
        rows = conn.execute(
            select(orders.c.customer_id, orders.c.ordered_at, orders.c.amount_cents, orders.c.status)
        ).all()
        revenue = {
            cid: cents
            for cid, cents in conn.execute(select(customer_scores.c.customer_id, customer_scores.c.total_revenue_cents))
        }
    expected = {}
    for name, (a, b) in windows.items():
        live = [r for r in rows if r.customer_id in own and r.status not in ("refunded", "cancelled")
                and a <= r.ordered_at.astimezone(tz) < b]  # fmt: skip
        expected[name] = (len(live), sum(r.amount_cents for r in live), len({r.customer_id for r in live}))
    kpis = {k["key"]: k for k in data["kpis"]}
    assert kpis["orders"]["value"] == expected["now"][0] and kpis["orders"]["previous"] == expected["before"][0]
    assert round(float(kpis["revenue"]["value"]) * 100) == expected["now"][1]
    assert kpis["buyers"]["value"] == expected["now"][2]
    if expected["before"][0]:
        assert abs(kpis["orders"]["change"] - (expected["now"][0] / expected["before"][0] - 1)) < 1e-9
    funnel = data["segments"]["lifecycle"]["segments"]
    assert [s["segment"] for s in funnel][:2] == ["prospect", "new"] and sum(s["size"] for s in funnel) == len(own)
    values = sorted((revenue.get(c) or 0 for c in own), reverse=True)
    top = values[: round(0.2 * len(values))]
    assert abs(data["pareto"]["top20_share"] - sum(top) / sum(values)) < 1e-3
    assert data["pareto"]["share"][0] == 0 and data["pareto"]["share"][-1] == 1
    assert all(c["id"] in own for c in data["at_risk"])
    ranked = [c["value"] for c in data["at_risk"]]
    assert ranked == sorted(ranked, reverse=True)
    admin = web.login("admin").get("/dashboard.json").json()
    assert admin["cohorts"]["cells"] and all(0 <= v <= 1 for _, _, v in admin["cohorts"]["cells"])
    with web.ws.engine.connect() as conn:  # the risk histogram counts the published scores, band by band
        risks = [s["churn_risk"] for s in conn.execute(select(customer_scores.c.scores)).scalars()
                 if s and s.get("churn_risk") is not None]  # fmt: skip
    if risks:
        bands = np.histogram(np.clip(risks, 0.0, 1.0), bins=10, range=(0.0, 1.0))[0].tolist()
        assert admin["churn_risk"]["scored"] == len(risks) and admin["churn_risk"]["customers"] == bands
    else:
        assert admin["churn_risk"] is None
    assert admin["flows"] is None or all(s["balanced"] for s in admin["flows"]["segments"])
