"""The playbooks pages (/playbooks): list with rules, runs and counts; the YAML editor with validation (problems
by line and field, nothing saved when invalid); the dry-run preview without side effects; run now; dead letters
with retry; reps refused; CSRF; inert texts."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from web_testkit import WebEnv, csrf_of

from kehu.store.actions import audit_log, coupons, outbox, playbook_firings, playbook_runs, tasks
from kehu.store.schema import customers

PB = "rfm_cn_strategies"


def _file(web: WebEnv) -> Any:
    return web.settings.resolved_playbooks_dir / "rfm_cn.yaml"


def _state(web: WebEnv) -> tuple[int, ...]:
    """Row counts of everything a playbook run can write."""
    with web.ws.engine.connect() as conn:
        counts = [
            conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (tasks, playbook_firings, outbox, coupons, audit_log, playbook_runs)
        ]
        tags = conn.execute(sa.select(sa.func.count()).where(customers.c.tags.is_not(None))).scalar_one()
    return (*counts, tags)


def test_reps_are_refused_everywhere(web: WebEnv) -> None:
    rep = web.login("rep_a")
    assert "/playbooks" not in rep.get("/tasks").text  # no navigation link either
    for url in ("/playbooks", "/playbooks.json", f"/playbooks/{PB}", f"/playbooks/{PB}.json",
                f"/playbooks/{PB}/dry-run.json"):  # fmt: skip
        assert rep.get(url).status_code == 403, url
    token = csrf_of(rep.get("/tasks").text)
    before = _file(web).read_text(encoding="utf-8")
    assert rep.post("/playbooks/run-now", data={"csrf_token": token}).status_code == 403
    saved = rep.post(f"/playbooks/{PB}", data={"csrf_token": token, "action": "save", "text": "playbook: x\n"})
    assert saved.status_code == 403 and _file(web).read_text(encoding="utf-8") == before
    assert rep.post("/playbooks/outbox/1/retry", data={"csrf_token": token}).status_code == 403


def test_the_list_shows_rules_enabled_state_runs_and_counts_in_both_languages(web: WebEnv) -> None:
    manager = web.login("manager")
    data = manager.get("/playbooks.json").json()
    names = {p["name"] for p in data["playbooks"]}
    assert names == {"rfm_cn_strategies", "lifecycle_strategies", "service_strategies"}
    with web.ws.engine.connect() as conn:
        last = conn.execute(sa.select(playbook_runs.c.summary).order_by(playbook_runs.c.id.desc())).scalars().first()
        firings = dict(
            conn.execute(sa.select(playbook_firings.c.rule, sa.func.count()).group_by(playbook_firings.c.rule)).all()
        )
    assert len(data["runs"]) == 1  # the template's present `kehu run`; its look back 91 days earlier did not act
    for pb in data["playbooks"]:
        assert pb["enabled"] is True and pb["problems"] == []
        for rule in pb["rules"]:
            assert rule["last_fired"] == last[rule["ref"]]["fired"]
            assert rule["fired_total"] == firings.get(rule["id"], 0)
    assert sum(r["fired_total"] for p in data["playbooks"] for r in p["rules"]) > 0
    zh = manager.get("/playbooks", headers={"Accept-Language": "zh-CN"}).text
    assert "重要价值客户：专属客户经理" in zh and "进入分群" in zh and "已启用" in zh and "发件箱" in zh
    en = manager.get("/playbooks", headers={"Accept-Language": "en"}).text
    assert "Important value: dedicated account manager" in en and "Entered a segment" in en and "Outbox" in en


def test_invalid_edits_show_line_and_field_and_are_not_saved(web: WebEnv) -> None:
    admin = web.login("admin")
    page = admin.get(f"/playbooks/{PB}")
    assert page.status_code == 200
    token = csrf_of(page.text)
    original = _file(web).read_text(encoding="utf-8")
    assert "important_value_manager" in page.text  # the YAML is in the editor
    bad_field = original.replace("due_in_days: 7", "due_in_days: soon", 1)
    line = bad_field.splitlines().index(next(x for x in bad_field.splitlines() if "due_in_days: soon" in x)) + 1
    broken_yaml = original + "\n  - id: [unclosed\n"
    unknown_trigger = original.replace("entered: {segment", "entred: {segment", 1)
    for text in (bad_field, broken_yaml, unknown_trigger):
        for action in ("check", "save", "preview"):
            r = admin.post(f"/playbooks/{PB}", data={"csrf_token": token, "action": action, "text": text})
            assert r.status_code == 422, (action, r.text[:500])
            assert 'id="playbook-problems"' in r.text and "data-line=" in r.text
            assert _file(web).read_text(encoding="utf-8") == original
    r = admin.post(f"/playbooks/{PB}", data={"csrf_token": token, "action": "save", "text": bad_field})
    assert f'data-line="{line}"' in r.text and "due_in_days" in r.text
    en = admin.post(f"/playbooks/{PB}", data={"csrf_token": token, "action": "save", "text": bad_field},
                    headers={"Accept-Language": "en"})  # fmt: skip
    assert "Not saved" in en.text and f"line {line}," in en.text
    zh = admin.post(f"/playbooks/{PB}", data={"csrf_token": token, "action": "save", "text": bad_field},
                    headers={"Accept-Language": "zh-CN"})  # fmt: skip
    assert "未保存" in zh.text and f"第 {line} 行" in zh.text
    clash = original.replace("playbook: rfm_cn_strategies", "playbook: lifecycle_strategies", 1)
    r = admin.post(f"/playbooks/{PB}", data={"csrf_token": token, "action": "save", "text": clash})
    assert r.status_code == 422 and "also used by" in r.text
    assert _file(web).read_text(encoding="utf-8") == original
    with web.ws.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).where(audit_log.c.action == "playbook.edit")).scalar_one() == 0


def test_a_valid_edit_is_saved_audited_and_shown(web: WebEnv) -> None:
    admin = web.login("admin")
    token = csrf_of(admin.get(f"/playbooks/{PB}").text)
    text = _file(web).read_text(encoding="utf-8").replace("enabled: true", "enabled: false", 1)
    r = admin.post(f"/playbooks/{PB}", data={"csrf_token": token, "action": "save", "text": text},
                   follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == f"/playbooks/{PB}?saved=1"
    assert _file(web).read_text(encoding="utf-8") == text
    shown = admin.get(r.headers["location"], headers={"Accept-Language": "en"}).text
    assert 'id="playbook-saved"' in shown and "disabled" in shown
    listed = {p["name"]: p for p in admin.get("/playbooks.json").json()["playbooks"]}
    assert listed[PB]["enabled"] is False and listed["lifecycle_strategies"]["enabled"] is True
    with web.ws.engine.connect() as conn:
        entry = conn.execute(sa.select(audit_log).where(audit_log.c.action == "playbook.edit")).one()
    assert entry.actor == "admin" and entry.target == f"playbook:{PB}" and entry.detail["enabled"] is False
    assert web.ws.system().playbooks.dry_run()["rules"]  # the folder still loads
    assert all(not r["rule"].startswith(PB) for r in web.ws.system().playbooks.dry_run()["rules"])  # disabled: not run


def test_the_dry_run_preview_matches_the_service_and_changes_nothing(web: WebEnv) -> None:
    manager = web.login("manager")
    with web.ws.engine.connect() as conn:
        day = conn.execute(sa.select(sa.func.max(playbook_runs.c.day))).scalar_one()
    token = csrf_of(manager.get(f"/playbooks/{PB}").text)
    # a renamed rule is a new rule: it would fire for everyone its trigger matches today
    text = _file(web).read_text(encoding="utf-8").replace("id: important_value_manager", "id: vip_manager_v2")
    before = _state(web)
    r = manager.post(
        f"/playbooks/{PB}",
        data={"csrf_token": token, "action": "preview", "text": text, "day": day.isoformat()},
        headers={"Accept-Language": "zh-CN"},
    )
    assert r.status_code == 200 and 'id="playbook-preview"' in r.text and "将会触发" in r.text
    saved_preview = manager.get(f"/playbooks/{PB}/dry-run.json", params={"day": day.isoformat()}).json()
    assert _state(web) == before  # neither preview wrote anything
    assert "vip_manager_v2" not in _file(web).read_text(encoding="utf-8")
    rules = {x["rule"]: x for x in saved_preview["preview"]["rules"]}
    # nobody entered in the first run (initial: false); the look back 91 days earlier made the entries since visible
    assert 0 < rules[f"{PB}/important_value_manager"]["would_fire"] <= 40  # its max_per_day
    expected = web.ws.system().playbooks.dry_run(day=day)
    want = {x["rule"]: (x["matched"], x["would_fire"]) for x in expected["rules"] if x["rule"].startswith(PB)}
    assert {k: (v["matched"], v["would_fire"]) for k, v in rules.items()} == want
    new = r.text.split('data-rule="rfm_cn_strategies/vip_manager_v2"')[1].split("</tr>")[0]
    matched = rules[f"{PB}/important_value_manager"]["matched"]
    assert matched > 0 and f'class="num would-fire">{matched:,}<' in new
    scope = {u["id"] for u in web.ws.system().users.all() if u["team"] == web.accounts["manager"].team}  # the team
    with web.ws.engine.connect() as conn:
        owners = dict(conn.execute(sa.select(customers.c.id, customers.c.owner_id)).all())
    for rule in saved_preview["preview"]["rules"]:
        assert all(owners[s["customer_id"]] in scope for s in rule["samples"])  # only customers they may see


def test_run_now_and_retrying_a_dead_letter_are_audited(web: WebEnv) -> None:
    admin = web.login("admin")
    token = csrf_of(admin.get("/playbooks").text)
    assert admin.post("/playbooks/run-now", data={}).status_code == 403  # no CSRF token
    r = admin.post("/playbooks/run-now", data={"csrf_token": token}, headers={"Accept-Language": "en"})
    assert r.status_code == 200 and 'id="run-result"' in r.text
    with web.ws.engine.connect() as conn:
        run = conn.execute(sa.select(playbook_runs).order_by(playbook_runs.c.id.desc())).first()
        assert run is not None and run.trigger == "web" and run.finished_at is not None
        who = conn.execute(sa.select(audit_log.c.actor).where(audit_log.c.action == "playbooks.run")).scalar_one()
        assert who == "admin"
        message = conn.execute(sa.select(outbox.c.id).where(outbox.c.kind == "message")).scalars().first()
    assert message is not None
    with web.ws.engine.begin() as conn:
        conn.execute(sa.update(outbox).where(outbox.c.id == message).values(status="dead", last_error="HTTP 500 <b>"))
    page = admin.get("/playbooks").text
    assert f'data-outbox="{message}"' in page and "HTTP 500 &lt;b&gt;" in page
    retried = admin.post(f"/playbooks/outbox/{message}/retry", data={"csrf_token": token}, follow_redirects=False)
    assert retried.status_code == 303
    with web.ws.engine.connect() as conn:
        assert conn.execute(sa.select(outbox.c.status).where(outbox.c.id == message)).scalar_one() == "retry"
        entry = conn.execute(sa.select(audit_log).where(audit_log.c.action == "message.retry")).one()
    assert entry.actor == "admin" and entry.target == f"outbox:{message}"
    again = admin.post(f"/playbooks/outbox/{message}/retry", data={"csrf_token": token})
    assert again.status_code == 422  # only dead or unknown messages are retried


def test_script_in_a_playbook_renders_inert(web: WebEnv) -> None:
    admin = web.login("admin")
    token = csrf_of(admin.get(f"/playbooks/{PB}").text)
    original = _file(web).read_text(encoding="utf-8")
    text = original.replace("RFM 八类客户策略", "<script>alert(1)</script>", 1)
    r = admin.post(f"/playbooks/{PB}", data={"csrf_token": token, "action": "check", "text": text},
                   headers={"Accept-Language": "zh-CN"})  # fmt: skip
    assert r.status_code == 200 and "<script>alert(1)" not in r.text and "&lt;script&gt;alert(1)" in r.text
    assert _file(web).read_text(encoding="utf-8") == original  # check never writes
