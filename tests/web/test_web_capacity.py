"""The capacity forms of the web app: promoting a backlog entry, snoozing and reassigning within capacity,
completing a selection, and setting capacities on the users page — with the role and scope rules."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from task_testkit import add_backlog_entry, add_task, task_row
from web_testkit import WebEnv, csrf_of

from kehu.playbooks.workload import working_days
from kehu.service.tasks import local_today
from kehu.store.actions import audit_log, playbook_firings
from kehu.store.capacity import backlog


def test_a_manager_promotes_a_backlog_entry_into_a_task_on_the_first_free_day(web: WebEnv) -> None:
    entry, firing = add_backlog_entry(web, "rep_a")
    rep = web.login("rep_a")
    inbox = rep.get("/tasks.json").json()
    mine = [e for e in inbox["backlog"]["entries"] if e["id"] == entry]
    assert mine and mine[0]["stake"]["basis"] == "churn" and not inbox["backlog"]["can_promote"]
    zh = rep.get("/tasks", headers={"Accept-Language": "zh-CN"}).text
    assert "待分配" in zh and "涉及价值约" in zh and "流失风险 25%" in zh and "Call back" in zh
    denied = rep.post(f"/backlog/{entry}/promote", data={"csrf_token": csrf_of(zh)})
    assert denied.status_code == 403
    boss = web.login("manager")
    token = csrf_of(boss.get("/tasks").text)
    r = boss.post(f"/backlog/{entry}/promote", data={"csrf_token": token, "next": "/tasks"}, follow_redirects=False)
    assert r.status_code == 303 and f"done=backlog-{entry}" in r.headers["location"]
    with web.ws.engine.connect() as conn:
        row = conn.execute(sa.select(backlog).where(backlog.c.id == entry)).one()
        fate = conn.execute(sa.select(playbook_firings.c.fate).where(playbook_firings.c.id == firing)).scalar_one()
        actions = (
            conn.execute(sa.select(audit_log.c.action).where(audit_log.c.actor == web.accounts["manager"].name))
            .scalars()
            .all()
        )
    task = task_row(web, row.task_id)
    assert row.status == "promoted" and fate == "task" and "backlog.promote" in actions
    assert task.assignee_id == web.accounts["rep_a"].id and task.title == "Call back"
    assert task.due_date == working_days(local_today(web.ws), 1, web.ws.settings.weekdays)[0]
    again = boss.post(f"/backlog/{entry}/promote", data={"csrf_token": token})
    assert again.status_code == 422 and "only a waiting entry is promoted" in again.text


def test_snooze_and_reassign_stay_within_capacity(web: WebEnv) -> None:
    today = local_today(web.ws)
    day = working_days(today + dt.timedelta(days=1), 1, web.ws.settings.weekdays)[0]
    task = add_task(web, "rep_a", due=today)
    other = add_task(web, "rep_b", due=today)
    web.ws.system().capacity.set(per_day=1, user=web.accounts["rep_a"].name)
    add_task(web, "rep_a", due=day, title="Already that day")  # rep_a's day is now full
    rep = web.login("rep_a")
    token = csrf_of(rep.get("/tasks").text)
    full = rep.post(f"/tasks/{task}/snooze", data={"csrf_token": token, "due_date": day.isoformat()})
    assert full.status_code == 422 and "capacity 1 a day" in full.text and task_row(web, task).due_date == today
    later = working_days(day + dt.timedelta(days=1), 1, web.ws.settings.weekdays)[0]
    ok = rep.post(f"/tasks/{task}/snooze", data={"csrf_token": token, "due_date": later.isoformat()},
                  follow_redirects=False)  # fmt: skip
    assert ok.status_code == 303 and task_row(web, task).due_date == later
    assert (
        rep.post(f"/tasks/{other}/snooze", data={"csrf_token": token, "due_date": later.isoformat()}).status_code == 404
    )
    nope = rep.post(f"/tasks/{task}/reassign", data={"csrf_token": token, "assignee": str(web.accounts["rep_b"].id)})
    assert nope.status_code == 403
    boss = web.login("manager")
    btoken = csrf_of(boss.get("/tasks").text)
    moved = boss.post(f"/tasks/{task}/reassign", data={"csrf_token": btoken, "assignee": str(web.accounts["rep_b"].id)},
                      follow_redirects=False)  # fmt: skip
    assert moved.status_code == 303 and task_row(web, task).assignee_id == web.accounts["rep_b"].id
    told = web.login("rep_b").get("/notifications.json").json()
    assert any(n["kind"] == "task_assigned" and n["link"].endswith(f"task-{task}") for n in told["items"])
    outside = boss.post(f"/tasks/{other}/reassign",
                        data={"csrf_token": btoken, "assignee": str(web.accounts["other_rep"].id)})  # fmt: skip
    assert outside.status_code == 403 and task_row(web, other).assignee_id == web.accounts["rep_b"].id


def test_completing_a_selection_closes_only_ones_own_open_tasks(web: WebEnv) -> None:
    today = local_today(web.ws)
    a, b = add_task(web, "rep_a", due=today), add_task(web, "rep_a", due=today + dt.timedelta(days=2))
    theirs = add_task(web, "rep_b", due=today)
    rep = web.login("rep_a")
    token = csrf_of(rep.get("/tasks").text)
    form = {"csrf_token": token, "task": [str(a), str(b), str(theirs)], "outcome": "reached", "next": "/tasks"}
    r = rep.post("/tasks/bulk", data=form, follow_redirects=False)
    assert r.status_code == 303 and "done=bulk-2" in r.headers["location"]
    assert task_row(web, a).status == task_row(web, b).status == "done" and task_row(web, a).outcome == "reached"
    assert task_row(web, theirs).status == "open"
    page = rep.get(r.headers["location"], headers={"Accept-Language": "en"}).text
    assert "2 tasks completed." in page
    no_outcome = rep.post("/tasks/bulk", data={"csrf_token": token, "task": [str(theirs)]})
    assert no_outcome.status_code == 422 and "outcome" in no_outcome.text


def test_capacities_on_the_users_page(web: WebEnv) -> None:
    admin = web.login("admin")
    page = admin.get("/users", headers={"Accept-Language": "zh-CN"}).text
    assert "每日任务容量" in page and "角色默认" in page and "销售" in page
    team = web.accounts["rep_a"].team
    r = admin.post("/users/capacity", data={"csrf_token": csrf_of(page), "target": f"team:{team}", "per_day": "4"})
    assert r.status_code == 200 and "每日任务容量已保存" in r.text
    data = admin.get("/users.json").json()["capacity"]
    rows = {u["id"]: u for u in data["users"]}
    assert rows[web.accounts["rep_a"].id]["capacity"] == 4 and rows[web.accounts["rep_a"].id]["source"] == "team"
    assert rows[web.accounts["other_rep"].id]["source"] == "role"
    bad = admin.post("/users/capacity", data={"csrf_token": csrf_of(page), "target": f"team:{team}", "per_day": "x"})
    assert bad.status_code == 422 and "per_day" in bad.text
    boss = web.login("manager")
    btoken = csrf_of(boss.get("/users").text)
    other_team = web.accounts["other_rep"].team
    denied = boss.post("/users/capacity", data={"csrf_token": btoken, "target": f"team:{other_team}", "per_day": "2"})
    assert denied.status_code == 403
    cleared = boss.post("/users/capacity", data={"csrf_token": btoken, "target": f"team:{team}", "clear": "1"})
    assert cleared.status_code == 200
    en = boss.get("/users", headers={"Accept-Language": "en"}).text
    assert "Daily task capacity" in en and "role default" in en and "每日" not in en
