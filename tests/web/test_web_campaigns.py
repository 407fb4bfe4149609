"""The campaigns pages (managers and admins; reps refused), the create form's validation, launching, the results
page with per-arm outcomes, uplift intervals drawn from the chart block and verdicts in both languages; and the
KPI page with its scope (admin: company; manager: team; rep: own row)."""

from __future__ import annotations

import html
import json
import re

import pytest
import sqlalchemy as sa
from web_testkit import WebEnv, csrf_of

from kehu.store.campaigns import campaign_members, campaigns
from kehu.store.schema import customers


def _chart(page: str) -> dict:
    block = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', page, re.S)
    assert block is not None
    return dict(json.loads(html.unescape(block.group(1))))


def _form(token: str, **fields: str) -> dict[str, str]:
    base = {"csrf_token": token, "name": "winback", "target_kind": "segment", "segment": "lifecycle:lost",
            "channel": "file", "template": "{name}，回来看看！优惠码 {coupon}", "coupon": "BACK20", "holdout": "20",
            "seed": "7", "window": "30", "lapse_days": "180", "stratify_by": "value"}  # fmt: skip
    return base | fields


def test_reps_are_refused_everywhere(web: WebEnv) -> None:
    rep = web.login("rep_a")
    page = rep.get("/dashboard").text
    assert 'href="/campaigns"' not in page
    assert rep.get("/campaigns").status_code == 403
    assert rep.get("/campaigns.json").status_code == 403
    assert rep.post("/campaigns", data=_form(csrf_of(page))).status_code == 403
    with web.ws.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(campaigns)).scalar_one() == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"holdout": "150"}, "holdout share"),
        ({"holdout": "ten"}, "holdout"),
        ({"template": "hi {nickname}"}, "placeholder"),
        ({"segment": ""}, "segment"),
        ({"segment": "lifecycle:no_such"}, "lifecycle:no_such"),
        ({"target_kind": "rule", "rule": "all: [unclosed"}, "rule"),
        ({"window": "0"}, "attribution window"),
        ({"name": "bad name!"}, "campaign name"),
        ({"stratify_by": "nope"}, "stratify_by"),
    ],
)
def test_the_create_form_shows_what_is_wrong(web: WebEnv, fields: dict[str, str], field: str) -> None:
    manager = web.login("manager")
    token = csrf_of(manager.get("/campaigns").text)
    r = manager.post("/campaigns", data=_form(token, **fields))
    assert r.status_code == 422, r.text
    assert 'id="campaign-error"' in r.text and field in html.unescape(r.text)
    assert "winback" in r.text or fields.get("name", "") in html.unescape(r.text)  # the form keeps what was typed


def test_create_launch_and_results_with_chart_and_verdicts(web: WebEnv) -> None:
    manager = web.login("admin")  # company-wide results; a manager's cover their team (test_web_scope)
    token = csrf_of(manager.get("/campaigns").text)
    r = manager.post("/campaigns", data=_form(token), follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/campaigns/winback"
    draft = manager.get("/campaigns/winback", headers={"Accept-Language": "zh-CN"}).text
    assert "草稿" in draft and 'id="launch-campaign"' in draft
    assert manager.post("/campaigns/winback/launch", data={"csrf_token": "forged"}).status_code == 403
    r = manager.post("/campaigns/winback/launch", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    with web.ws.engine.connect() as conn:
        cid = conn.execute(sa.select(campaigns.c.id).where(campaigns.c.name == "winback")).scalar_one()
        arms = dict(
            conn.execute(
                sa.select(campaign_members.c.arm, sa.func.count())
                .where(campaign_members.c.campaign_id == cid)
                .group_by(campaign_members.c.arm)
            ).all()
        )
    data = manager.get("/campaigns/winback.json").json()
    results = data["results"]
    assert results["arms"]["treatment"]["customers"] == arms["treatment"]
    assert results["arms"]["holdout"]["customers"] == arms["holdout"] > 0
    assert results["messages"]["to_holdout"] == 0 and results["messages"]["sent"] == arms["treatment"]
    zh = manager.get("/campaigns/winback", headers={"Accept-Language": "zh-CN"}).text
    assert results["verdict"]["zh"]["conversion"] in html.unescape(zh) and "实验组" in zh and "分层结果" in zh
    chart = _chart(zh)
    rates = chart["rates"]
    assert rates["kind"] == "interval" and rates["names"][0] == "转化率"
    conv = results["uplift"]["conversion"]
    assert rates["values"][0] == round(100 * conv["difference"], 2)
    assert all(lo <= v <= hi for lo, v, hi in zip(rates["lows"], rates["values"], rates["highs"], strict=True))
    assert chart["arms"]["kind"] == "arms"
    money = results["uplift"]["revenue_per_customer"]  # a few buyers in a small holdout: no revenue verdict
    assert money["low"] is None and money["reason"] == "few_buyers" and "revenue" not in chart
    assert results["verdict"]["zh"]["revenue_per_customer"] in html.unescape(zh) and "暂不下结论" in zh
    manager.post("/account/locale", data={"locale": "en", "csrf_token": token, "next": "/campaigns"})
    en = manager.get("/campaigns/winback").text
    assert results["verdict"]["en"]["conversion"] in html.unescape(en) and "By stratum" in en and "转化率" not in en
    assert _chart(en)["rates"]["names"][0] == "Conversion"
    listing = manager.get("/campaigns.json").json()["campaigns"]
    assert listing[0]["name"] == "winback" and listing[0]["arms"] == arms
    # the strata are the value classes, labelled
    assert {s["stratum"] for s in results["strata"]} <= {"A", "B", "C", "-"}


def test_forms_without_the_csrf_token_are_refused(web: WebEnv) -> None:
    admin = web.login("admin")
    form = _form("")
    del form["csrf_token"]
    assert admin.post("/campaigns", data=form).status_code == 403
    with web.ws.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(campaigns)).scalar_one() == 0


def test_kpis_page_scopes_the_table_and_the_leaderboard(web: WebEnv) -> None:
    admin = web.login("admin")
    company = admin.get("/kpis.json").json()
    report = web.ws.system().kpis.report()
    assert company["scope"] == "all" and company["period"] == report["period"]
    values = {k["kpi"]: k["value"] for k in company["kpis"]}
    assert values == {k: report["kpis"][k] for k in values}
    assert {r["owner_id"] for r in company["leaderboard"]} == {r["owner_id"] for r in report["leaderboard"]}
    page = admin.get("/kpis", headers={"Accept-Language": "zh-CN"}).text
    assert "负责人排行" in page and "留存率" in page and 'data-chart="feedback"' in page
    assert 'id="task-outcomes"' in page and "任务数字截至" in page and "已挽回" in page
    assert company["teams"] and ('id="teams"' in page) and company["tasks_as_of"] == report["tasks_as_of"]
    # a manager: the team's rows and KPIs over the team's customers
    manager = web.login("manager")
    team = manager.get("/kpis.json").json()
    with web.ws.engine.connect() as conn:
        team_ids = {
            u for u, t in conn.execute(sa.text("select id, team from users")) if t == web.accounts["manager"].team
        }
        own = conn.execute(
            sa.select(sa.func.count()).where(customers.c.owner_id == web.accounts["rep_a"].id)
        ).scalar_one()
    assert team["scope"] == "team" and {r["owner_id"] for r in team["leaderboard"]} <= team_ids
    assert web.accounts["rep_a"].id in {r["owner_id"] for r in team["leaderboard"]}
    assert [r["team"] for r in team["teams"]] == [web.accounts["manager"].team]
    # a rep: their own row only, and KPIs over their customers equal to that row
    rep = web.login("rep_a")
    mine = rep.get("/kpis.json").json()
    assert mine["scope"] == "own" and mine["customers"] == own
    (row,) = mine["leaderboard"]
    assert mine["teams"] == []
    assert row["owner_id"] == web.accounts["rep_a"].id
    rep_values = {k["kpi"]: k["value"] for k in mine["kpis"]}
    for key in ("active_customers", "revenue_cents", "retention_rate", "repurchase_rate", "nps"):
        assert rep_values[key] == row[key]
    en = rep.get("/kpis", headers={"Accept-Language": "en"}).text
    assert "Owner leaderboard" in en and en.count('data-owner="') == 1
    assert rep.get("/kpis.json", params={"period": "decade"}).status_code == 422
    assert rep.get("/kpis.json", params={"as_of": "not-a-day"}).status_code == 422
