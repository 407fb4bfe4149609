"""The "what works" page (/effects, managers and admins): per rule, acted-on vs held-out customers with uplift,
intervals and a plain verdict, in both languages; linked from /playbooks; the editor explains the holdout."""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa
from web_testkit import WebEnv

from effects_kit import seed_rule_effects
from kehu.store.schema import orders

RATES = {"rfm_cn_strategies/important_value_manager": 0.6, "lifecycle_strategies/activity_dropped_30d": 0.4,
         "rfm_cn_strategies/important_retain_coupon": 0.2}  # fmt: skip


def _seed(web: WebEnv) -> dt.date:
    """Firings 80 days before the demo's last order for 1,500 new customers per rule, with known effects."""
    with web.ws.engine.connect() as conn:
        newest = conn.execute(sa.select(sa.func.max(orders.c.ordered_at))).scalar_one()
    day = newest.date() - dt.timedelta(days=80)
    seed_rule_effects(web.ws.engine, RATES, day, first_id=1_000_001, per_rule=1500, share=0.3, seed=7)
    return day


def test_reps_are_refused(web: WebEnv) -> None:
    rep = web.login("rep_a")
    assert rep.get("/effects").status_code == 403 and rep.get("/effects.json").status_code == 403
    assert 'href="/effects"' not in rep.get("/tasks").text


def test_every_rule_fired_is_listed_and_recent_firings_are_pending(web: WebEnv) -> None:
    manager = web.login("manager")
    data = manager.get("/effects.json").json()
    with web.ws.engine.connect() as conn:
        fired = dict(
            conn.execute(
                sa.text("SELECT playbook || '/' || rule, count(DISTINCT customer_id) FROM playbook_firings GROUP BY 1")
            ).all()
        )
    assert {r["ref"]: sum(r["fired_customers"].values()) for r in data["rules"]} == fired
    for r in data["rules"]:  # the demo's last-day firings have not had their 60 days: pending, not measured
        assert r["pending"] + sum(a["customers"] for a in r["arms"].values()) == fired[r["ref"]]
    assert sum(r["pending"] for r in data["rules"]) > 0
    zh = manager.get("/effects", headers={"Accept-Language": "zh-CN"}).text
    assert "策略效果" in zh and "数据截至" in zh and "未满观察期" in zh
    shown = re.sub(r"<[^>]+>", " ", zh)  # the text a reader sees: no field names, cents or English
    assert not re.search(r"revenue_per_customer|held_out|_cents|too_few|\bpending\b", shown)
    assert 'href="/effects"' in manager.get("/playbooks").text


def test_known_effects_get_their_verdicts_on_the_page(web: WebEnv) -> None:
    day = _seed(web)
    manager = web.login("manager")
    since, until = (day - dt.timedelta(days=1)).isoformat(), (day + dt.timedelta(days=1)).isoformat()
    data = manager.get("/effects.json", params={"since": since, "until": until}).json()
    verdicts = {r["ref"]: r["verdict"] for r in data["rules"]}
    assert verdicts == {"rfm_cn_strategies/important_value_manager": "positive",
                        "lifecycle_strategies/activity_dropped_30d": "none",
                        "rfm_cn_strategies/important_retain_coupon": "negative"}  # fmt: skip
    assert data["rules"][0]["ref"] == "rfm_cn_strategies/important_retain_coupon"  # flagged first
    assert data["form"] == {"since": since, "until": until, "horizon": 60}
    assert all(r["title"]["zh"] and r["holdout"] == 0.1 for r in data["rules"])  # the rules' own YAML
    zh = manager.get("/effects", params={"since": since, "until": until}, headers={"Accept-Language": "zh-CN"}).text
    assert zh.count('class="tag flagged"') == 2 and "有效" in zh and "负面效果" in zh and "无可测量效果" in zh
    assert "人均销售额" in zh and "个百分点" in zh and "95% 置信区间" in zh
    en = manager.get("/effects", params={"since": since, "until": until}, headers={"Accept-Language": "en"}).text
    assert "Works" in en and "Harmful" in en and "Revenue per customer" in en
    bad = manager.get("/effects.json", params={"since": "yesterday"})
    assert bad.status_code == 422 and "since" in bad.text


def test_the_editor_explains_the_holdout_and_the_preview_counts_it(web: WebEnv) -> None:
    manager = web.login("manager")
    page = manager.get("/playbooks/rfm_cn_strategies", headers={"Accept-Language": "zh-CN"}).text
    assert 'id="holdout-help"' in page and "对照组" in page
    preview = manager.get("/playbooks/rfm_cn_strategies/dry-run.json").json()["preview"]
    assert all("held_out" in r and r["holdout"] == 0.1 for r in preview["rules"])
