"""Issue 23: a manager acts only within their team — playbooks they save or run, campaign results, the outbox —
and a task or a notification shows a customer's details only to someone who may see that customer."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from web_testkit import WebEnv, csrf_of

from kehu.store.actions import insert_task, outbox, tasks
from kehu.store.capacity import backlog
from kehu.store.schema import customers, users

VIP = 'entered: {segment: "rfm_cn:important_value", within_days: 400, initial: true}'


def _owners(web: WebEnv) -> dict[int, int | None]:
    with web.ws.engine.connect() as conn:
        return {int(c): o for c, o in conn.execute(sa.select(customers.c.id, customers.c.owner_id))}


def _team(web: WebEnv) -> set[int]:
    team = web.accounts["manager"].team
    with web.ws.engine.connect() as conn:
        return {int(u) for u in conn.execute(sa.select(users.c.id).where(users.c.team == team)).scalars()}


def _write(web: WebEnv, name: str, text: str) -> None:
    (web.settings.resolved_playbooks_dir / f"{name}.yaml").write_text(text, encoding="utf-8")


def _only(web: WebEnv, keep: str) -> None:
    """Disable every playbook file but ``keep`` (so a run does only what the test's playbook says)."""
    for f in web.settings.resolved_playbooks_dir.glob("*.yaml"):
        if f.stem != keep:
            f.write_text(f.read_text(encoding="utf-8").replace("enabled: true", "enabled: false"), encoding="utf-8")


def _owner_rule(name: str, user: str, team: str | None = None) -> str:
    head = f"playbook: {name}\n" + (f"team: {team}\n" if team else "")
    return (
        head
        + f"rules:\n  - id: to_{name}\n    when: {{{VIP}}}\n    holdout: 0\n    then:\n"
        + (f"      - owner: {{assign: {{user: {user}}}}}\n")
    )


def test_a_managers_run_now_moves_only_their_teams_customers(web: WebEnv) -> None:
    manager = web.accounts["manager"]
    _write(web, "escape", _owner_rule("escape", manager.name))  # an admin's playbook, every team's customers
    _only(web, "escape")
    before, team = _owners(web), _team(web)
    c = web.login("manager")
    r = c.post("/playbooks/run-now", data={"csrf_token": csrf_of(c.get("/playbooks").text)})
    assert r.status_code == 200
    after = _owners(web)
    moved = {cid for cid in after if after[cid] != before[cid]}
    assert moved and all(after[cid] == manager.id for cid in moved)
    assert all(before[cid] in team for cid in moved)  # only customers of the team changed owner
    outside = [cid for cid, o in before.items() if o not in team]
    assert all(after[cid] == before[cid] for cid in outside)
    # the admin's run of the same playbook acts on every team (nothing left in the team to move)
    web.ws.system().playbooks.run(trigger="test")
    assert any(_owners(web)[cid] == manager.id for cid in outside)


def test_a_manager_edits_only_their_teams_playbooks_and_names_only_their_team(web: WebEnv) -> None:
    manager, other = web.accounts["manager"], web.accounts["other_rep"]
    c = web.login("manager")
    token = csrf_of(c.get("/playbooks").text)
    company = c.post("/playbooks/rfm_cn_strategies", data={"csrf_token": token, "action": "save",
                                                            "text": _owner_rule("rfm_cn_strategies", manager.name)},
                     headers={"Accept-Language": "en"})  # fmt: skip
    assert company.status_code == 403 and "only an admin may change it" in company.text
    _write(web, "team_vip", _owner_rule("team_vip", web.accounts["rep_b"].name, manager.team))
    original = (web.settings.resolved_playbooks_dir / "team_vip.yaml").read_text(encoding="utf-8")
    out = c.post("/playbooks/team_vip", data={"csrf_token": token, "action": "save",
                                              "text": _owner_rule("team_vip", other.name, manager.team)},
                 headers={"Accept-Language": "en"})  # fmt: skip
    assert out.status_code == 422 and f"{other.name} is not in your team" in out.text
    untagged = c.post("/playbooks/team_vip", data={"csrf_token": token, "action": "save",
                                                   "text": _owner_rule("team_vip", manager.name)})  # fmt: skip
    assert untagged.status_code == 422 and f"team: {manager.team}" in untagged.text and "本团队" in untagged.text
    rr = _owner_rule("team_vip", manager.name, manager.team).replace(
        f"{{user: {manager.name}}}", "{round_robin: {role: rep}}"
    )
    assert (
        "轮流分配必须指定您的团队"
        in c.post("/playbooks/team_vip", data={"csrf_token": token, "action": "check", "text": rr}).text
    )
    assert (web.settings.resolved_playbooks_dir / "team_vip.yaml").read_text(encoding="utf-8") == original
    saved = c.post("/playbooks/team_vip", data={"csrf_token": token, "action": "save",
                                                "text": _owner_rule("team_vip", manager.name, manager.team)},
                   follow_redirects=False)  # fmt: skip
    assert saved.status_code == 303
    # the saved team playbook, run by the scheduler (an admin's rights), still acts only on the team
    _only(web, "team_vip")
    before, team = _owners(web), _team(web)
    web.ws.system().playbooks.run(trigger="test")
    after = _owners(web)
    moved = {cid for cid in after if after[cid] != before[cid]}
    assert moved and all(before[cid] in team and after[cid] == manager.id for cid in moved)


def _task_rules(web: WebEnv) -> None:
    rep_b = web.accounts["rep_b"].name
    _write(
        web,
        "handover",
        f"""playbook: handover
rules:
  - id: call
    when: {{{VIP}}}
    priority: 50
    holdout: 0
    then:
      - task: {{title: "Call {{name}}", assignee: owner, fallback: {{round_robin: {{role: rep}}}}, priority: urgent}}
  - id: move
    when: {{{VIP}}}
    priority: 10
    holdout: 0
    then:
      - owner: {{assign: {{user: {rep_b}}}}}
""",
    )
    _only(web, "handover")


def test_a_task_goes_to_the_customers_owner_at_the_end_of_the_run(web: WebEnv) -> None:
    _task_rules(web)  # `call` (decided first) makes a task for the owner; `move` (later) gives the customer to rep_b
    before = _owners(web)
    web.ws.system().playbooks.run(trigger="test")
    after = _owners(web)
    with web.ws.engine.connect() as conn:
        made = conn.execute(sa.select(tasks.c.customer_id, tasks.c.assignee_id).where(tasks.c.rule == "call")).all()
    assert made and any(before[cid] != after[cid] for cid, _ in made)  # owners did change in the run
    assert all(assignee == after[cid] for cid, assignee in made)  # the owner after `move`, not the one before


def test_an_unowned_customers_task_waits_for_a_manager(web: WebEnv) -> None:
    _write(
        web,
        "unowned",
        f"""playbook: unowned
rules:
  - id: call
    when: {{{VIP}}}
    holdout: 0
    then:
      - task: {{title: "Call {{name}}", assignee: owner, fallback: {{round_robin: {{role: rep}}}}}}
""",
    )
    _only(web, "unowned")
    with web.ws.engine.begin() as conn:
        conn.execute(sa.update(customers).values(owner_id=None))
    web.ws.system().playbooks.run(trigger="test")
    with web.ws.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).where(tasks.c.rule == "call")).scalar_one() == 0
        waiting = conn.execute(sa.select(backlog.c.assignee_id).where(backlog.c.rule == "call")).scalars().all()
    assert waiting and set(waiting) == {None}


def _foreign_task(web: WebEnv) -> tuple[int, int, str]:
    """A task of rep_a whose customer now belongs to the other team's rep (with a bell entry for rep_a)."""
    cid = web.owned["other_rep"]
    with web.ws.engine.begin() as conn:
        name, phone = conn.execute(sa.select(customers.c.name, customers.c.phone).where(customers.c.id == cid)).one()
        tid = insert_task(conn, customer_id=cid, assignee_id=web.accounts["rep_a"].id, title=f"致电 {name}",
                          body=f"{name} 的电话 {phone}：NPS 0 分，说「太差了」", priority="urgent",
                          due_date=dt.date.today(), now=dt.datetime.now(dt.UTC))  # fmt: skip
    return tid, cid, str(name)


def _assert_hidden(task: dict[str, Any], name: str) -> None:
    assert task["customer_hidden"] is True
    assert task["customer"] is None and task.get("phone") is None and task["body"] is None
    assert name not in task["title"]


def test_task_and_notification_reads_show_only_customers_one_may_see(web: WebEnv) -> None:
    tid, cid, name = _foreign_task(web)
    c = web.login("rep_a")
    assert c.get(f"/customers/{cid}.json").status_code == 403
    page = c.get(f"/tasks/{tid}.json")
    assert page.status_code == 200
    _assert_hidden(page.json(), name)
    listed = [t for g in c.get("/tasks.json").json()["groups"] for t in g["tasks"] if t["id"] == tid]
    assert listed and all(_assert_hidden(t, name) is None for t in listed)
    assert name not in c.get("/tasks").text
    h = web.token("rep_a")
    _assert_hidden(c.get(f"/api/tasks/{tid}", headers=h).json(), name)
    (api,) = [t for t in c.get("/api/tasks", headers=h).json()["tasks"] if t["id"] == tid]
    _assert_hidden(api, name)
    bell = [n for n in c.get("/notifications.json").json()["items"] if n["customer_id"] == cid]
    assert bell and all(n["customer"] is None and name not in n["text"] for n in bell)
    api_bell = [n for n in c.get("/api/notifications", headers=h).json()["items"] if n["customer_id"] == cid]
    assert api_bell and all(n["customer"] is None and name not in n["text"] and name not in str(n["params"])
                            for n in api_bell)  # fmt: skip
    # the customer's owner's manager, and an admin, see the task with its customer
    admin = web.client().get(f"/api/tasks/{tid}", headers=web.token("admin")).json()
    assert admin["customer"] == name and admin["customer_hidden"] is False


def test_a_manager_retries_only_their_teams_outbox_messages(web: WebEnv) -> None:
    now = dt.datetime.now(dt.UTC)
    with web.ws.engine.begin() as conn:
        ids = {}
        for key, cid in (("mine", web.owned["rep_a"]), ("theirs", web.owned["other_rep"]), ("none", None)):
            ids[key] = conn.execute(sa.insert(outbox).values(
                idempotency_key=f"test:{key}", customer_id=cid, kind="message", channel="email",
                payload={"to": "x@example.invalid"}, status="dead", attempts=5, created_at=now, next_attempt_at=now,
                last_error="HTTP 500").returning(outbox.c.id)).scalar_one()  # fmt: skip
    c = web.login("manager")
    page = c.get("/playbooks").text
    token = csrf_of(page)
    assert f'data-outbox="{ids["mine"]}"' in page and f'data-outbox="{ids["theirs"]}"' not in page
    theirs = c.post(f"/playbooks/outbox/{ids['theirs']}/retry", data={"csrf_token": token},
                    headers={"Accept-Language": "en"})  # fmt: skip
    assert theirs.status_code == 403 and "outside your team" in theirs.text
    assert c.post(f"/playbooks/outbox/{ids['none']}/retry", data={"csrf_token": token}).status_code == 403
    mine = c.post(f"/playbooks/outbox/{ids['mine']}/retry", data={"csrf_token": token}, follow_redirects=False)
    assert mine.status_code == 303
    with web.ws.engine.connect() as conn:
        rows = conn.execute(sa.select(outbox.c.id, outbox.c.status).where(outbox.c.id.in_(list(ids.values())))).all()
    states = {int(i): s for i, s in rows}
    assert states == {ids["mine"]: "retry", ids["theirs"]: "dead", ids["none"]: "dead"}


def _launch(web: WebEnv, who: str, name: str) -> list[tuple[str, int | None]]:
    """Create and launch a campaign to the lost customers as ``who``; its members' (arm, owner id)."""
    from kehu.store.campaigns import campaign_members, campaigns

    c = web.login(who)
    token = csrf_of(c.get("/campaigns").text)
    form = {"csrf_token": token, "name": name, "target_kind": "segment", "segment": "lifecycle:lost",
            "channel": "file", "template": "{name}，回来看看！", "holdout": "30", "seed": "7", "window": "30",
            "lapse_days": "180", "stratify_by": ""}  # fmt: skip
    assert c.post("/campaigns", data=form, follow_redirects=False).status_code == 303
    assert c.post(f"/campaigns/{name}/launch", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    with web.ws.engine.connect() as conn:
        cid = conn.execute(sa.select(campaigns.c.id).where(campaigns.c.name == name)).scalar_one()
        return [
            (str(a), o)
            for a, o in conn.execute(
                sa.select(campaign_members.c.arm, customers.c.owner_id)
                .join(customers, customers.c.id == campaign_members.c.customer_id)
                .where(campaign_members.c.campaign_id == cid)
            )
        ]


def test_a_managers_campaign_reaches_only_their_team(web: WebEnv) -> None:
    team = _team(web)
    members = _launch(web, "manager", "lost_team")
    assert members and all(owner in team for _, owner in members)
    everyone = _launch(web, "admin", "lost_all")
    assert len(everyone) > len(members)


def test_campaign_results_of_a_manager_cover_their_team_and_say_so(web: WebEnv) -> None:
    rows = _launch(web, "admin", "lost")  # an admin's campaign, to every team's lost customers
    team = _team(web)
    c = web.login("manager")
    mine = [arm for arm, owner in rows if owner in team]
    assert 0 < len(mine) < len(rows)  # the campaign reached other teams' customers too
    for results in (c.get("/campaigns/lost.json").json()["results"],
                    c.get("/api/campaigns/lost/results", headers=web.token("manager")).json()):  # fmt: skip
        assert results["members"] == {"measured": len(mine), "total": len(rows), "scope": "team"}
        arms = results["arms"]
        assert arms["treatment"]["customers"] + arms["holdout"]["customers"] == len(mine)
        assert arms["holdout"]["customers"] == mine.count("holdout")
        assert sum(s["customers"] for s in results["strata"]) == len(mine)
        zh = f"仅显示您团队的成员：活动 {len(rows)} 位成员中的 {len(mine)} 位（其余属于其他团队）。"
        assert results["notes"]["zh"][0] == zh
        assert results["notes"]["en"][0].startswith(f"Members of your team only: {len(mine)} of the campaign's")
    page = c.get("/campaigns/lost", headers={"Accept-Language": "zh-CN"}).text
    assert "仅显示您团队的成员" in page
    admin = c.get("/api/campaigns/lost/results", headers=web.token("admin")).json()
    assert admin["members"] == {"measured": len(rows), "total": len(rows), "scope": "all"}
    assert admin["arms"]["treatment"]["customers"] + admin["arms"]["holdout"]["customers"] == len(rows)
    # the campaign list's arm sizes too: the team's members for a manager, and it says so
    listed = next(x for x in c.get("/campaigns.json").json()["campaigns"] if x["name"] == "lost")
    assert listed["arms_scope"] == "team" and sum(listed["arms"].values()) == len(mine)
    assert listed["arms"].get("holdout", 0) == mine.count("holdout")
    assert "实验组、对照组人数只计本团队负责的客户" in c.get("/campaigns", headers={"Accept-Language": "zh-CN"}).text
    everyone = next(x for x in web.login("admin").get("/campaigns.json").json()["campaigns"] if x["name"] == "lost")
    assert everyone["arms_scope"] == "all" and sum(everyone["arms"].values()) == len(rows)


def test_the_daily_digest_names_only_customers_one_may_see(web: WebEnv) -> None:
    from kehu.service.reminders import digest_facts

    tid, _cid, name = _foreign_task(web)
    with web.ws.engine.connect() as conn:
        user = conn.execute(sa.select(users).where(users.c.id == web.accounts["rep_a"].id)).one()
        facts = digest_facts(conn, user, today=dt.date.today(), now=dt.datetime.now(dt.UTC))
        admin = conn.execute(sa.select(users).where(users.c.name == "admin")).one()
    items = [*facts.due_items, *facts.overdue_items]
    assert ("致电 ***", None) in items and not [i for i in items if name in i[0] or i[1] == name]
    with web.ws.engine.begin() as conn:  # given to the admin, who sees every customer, it is named
        conn.execute(sa.update(tasks).where(tasks.c.id == tid).values(assignee_id=admin.id))
    with web.ws.engine.connect() as conn:
        facts = digest_facts(conn, admin, today=dt.date.today(), now=dt.datetime.now(dt.UTC))
    assert (f"致电 {name}", name) in [*facts.due_items, *facts.overdue_items]
