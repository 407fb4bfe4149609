"""The capacity part of the REST API: snooze and reassign a task within capacity, read and promote the backlog —
with the inbox's role and scope rules (a rep: own tasks only, no reassigning or promoting; a manager: the team)."""

from __future__ import annotations

import datetime as dt

from task_testkit import add_backlog_entry, add_task, task_row
from web_testkit import WebEnv

from kehu.playbooks.workload import working_days
from kehu.service.tasks import local_today


def test_a_rep_snoozes_their_own_task_within_capacity(web: WebEnv) -> None:
    today = local_today(web.ws)
    day, later = working_days(today + dt.timedelta(days=1), 2, web.ws.settings.weekdays)
    task, theirs = add_task(web, "rep_a", due=today), add_task(web, "rep_b", due=today)
    web.ws.system().capacity.set(per_day=1, user=web.accounts["rep_a"].name)
    add_task(web, "rep_a", due=day, title="Already that day")
    api, rep = web.client(), web.token("rep_a")
    full = api.post(f"/api/tasks/{task}/snooze", json={"due_date": day.isoformat()}, headers=rep)
    assert full.status_code == 422 and "capacity 1 a day" in full.json()["error"]
    ok = api.post(f"/api/tasks/{task}/snooze", json={"due_date": later.isoformat()}, headers=rep)
    assert (
        ok.status_code == 200 and ok.json()["due_date"] == later.isoformat() == task_row(web, task).due_date.isoformat()
    )
    past = api.post(f"/api/tasks/{task}/snooze", json={"due_date": today.isoformat()}, headers=rep)
    assert past.status_code == 422 and task_row(web, task).due_date == later
    other = api.post(f"/api/tasks/{theirs}/snooze", json={"due_date": later.isoformat()}, headers=rep)
    assert other.status_code == 404 and task_row(web, theirs).due_date == today


def test_reassigning_is_for_managers_within_their_team_and_notifies(web: WebEnv) -> None:
    today = local_today(web.ws)
    task, other = add_task(web, "rep_a", due=today), add_task(web, "other_rep", due=today)
    api, rep_b = web.client(), web.accounts["rep_b"].id
    denied = api.post(f"/api/tasks/{task}/reassign", json={"assignee_id": rep_b}, headers=web.token("rep_a"))
    assert denied.status_code == 403 and task_row(web, task).assignee_id == web.accounts["rep_a"].id
    boss = web.token("manager")
    moved = api.post(f"/api/tasks/{task}/reassign", json={"assignee_id": rep_b}, headers=boss)
    assert moved.status_code == 200 and moved.json()["assignee_id"] == rep_b == task_row(web, task).assignee_id
    told = api.get("/api/notifications", headers=web.token("rep_b")).json()
    assert any(n["kind"] == "task_assigned" and n["link"].endswith(f"task-{task}") for n in told["items"])
    outside = api.post(f"/api/tasks/{other}/reassign", json={"assignee_id": rep_b}, headers=boss)
    assert outside.status_code in (403, 404) and task_row(web, other).assignee_id == web.accounts["other_rep"].id
    huge = api.post(f"/api/tasks/{task}/reassign", json={"assignee_id": 2**63}, headers=boss)
    assert huge.status_code == 422


def test_the_backlog_is_listed_in_scope_and_promoted_by_a_manager(web: WebEnv) -> None:
    mine, _ = add_backlog_entry(web, "rep_a", value=900.0)
    top, _ = add_backlog_entry(web, "rep_a", value=5000.0)
    theirs, _ = add_backlog_entry(web, "other_rep")
    api = web.client()
    seen = api.get("/api/backlog", headers=web.token("rep_a")).json()
    assert [e["id"] for e in seen["entries"]] == [top, mine] and seen["count"] == 2 and not seen["can_promote"]
    assert seen["entries"][0]["value_at_stake"] == 5000.0 and seen["entries"][0]["task"]["title"] == "Call back"
    assert seen["entries"][0]["reasons"][0]["rule"] == "pb/call"
    denied = api.post(f"/api/backlog/{top}/promote", json={}, headers=web.token("rep_a"))
    assert denied.status_code == 403
    boss = web.token("manager")
    assert theirs not in {e["id"] for e in api.get("/api/backlog", headers=boss).json()["entries"]}
    assert api.post(f"/api/backlog/{theirs}/promote", json={}, headers=boss).status_code == 404
    first_free = working_days(local_today(web.ws), 1, web.ws.settings.weekdays)[0]
    done = api.post(f"/api/backlog/{top}/promote", json={}, headers=boss)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["assignee_id"] == web.accounts["rep_a"].id and body["due_date"] == first_free.isoformat()
    assert task_row(web, body["task_id"]).title == "Call back"
    assert [e["id"] for e in api.get("/api/backlog", headers=web.token("rep_a")).json()["entries"]] == [mine]
    again = api.post(f"/api/backlog/{top}/promote", json={}, headers=boss)
    assert again.status_code == 422
