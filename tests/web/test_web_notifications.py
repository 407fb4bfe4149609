"""The notification centre (/notifications, its .json twin, /api/notifications), the bell and the account page's
digest form: notifications are made when things happen, and a user — an admin too — sees and marks only their own."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from task_testkit import add_task
from web_testkit import WebEnv, csrf_of

from kehu.service.access import Principal
from kehu.service.tasks import local_today
from kehu.store.notifications import notifications


def _principal(web: WebEnv, who: str) -> Principal:
    a = web.accounts[who]
    return Principal(a.id, a.name, a.name, a.role, a.team, None)


def _mine(web: WebEnv, who: str) -> list[Any]:
    with web.ws.engine.connect() as conn:
        uid = web.accounts[who].id
        return list(conn.execute(sa.select(notifications).where(notifications.c.user_id == uid)).all())


def _give_task(web: WebEnv, by: str, to: str, title: str) -> int:
    actor = web.ws.as_user(_principal(web, by)).customers
    return actor.create_task(web.owned[to], title=title, assignee_id=web.accounts[to].id)


def _bell(html: str) -> int | None:
    match = re.search(r'id="bell-count">([^<]+)<', html)
    return int(match[1]) if match else None


def test_a_task_given_to_a_rep_is_notified_to_them_alone(web: WebEnv) -> None:
    before = {who: len(_mine(web, who)) for who in ("rep_a", "rep_b", "manager", "admin")}
    task_id = _give_task(web, "manager", "rep_a", "回访：续约报价")
    _give_task(web, "rep_b", "rep_b", "my own reminder")  # a task one makes for oneself is not notified
    after = {who: len(_mine(web, who)) for who in before}
    assert after == {**before, "rep_a": before["rep_a"] + 1}
    mine = max(_mine(web, "rep_a"), key=lambda n: n.id)
    assert (mine.kind, mine.link, mine.params["title"]) == ("task_assigned", f"/tasks#task-{task_id}", "回访：续约报价")
    rep_a, rep_b, admin = web.login("rep_a"), web.login("rep_b"), web.login("admin")
    zh = rep_a.get("/notifications.json").json()
    item = next(i for i in zh["items"] if i["id"] == mine.id)
    assert item["unread"] and item["text"].startswith("新任务：回访：续约报价（")
    en = rep_a.get("/notifications.json", headers={"Accept-Language": "en"}).json()
    assert zh["unread"] == en["unread"] == after["rep_a"]  # a fresh store: nothing read yet
    for other in (rep_b, admin):
        ids = {i["id"] for i in other.get("/notifications.json").json()["items"]}
        assert mine.id not in ids
        page = other.get("/notifications")
        assert f'id="notification-{mine.id}"' not in page.text
        r = other.post(f"/notifications/{mine.id}/read", data={"csrf_token": csrf_of(page.text)},
                       follow_redirects=False)  # fmt: skip
        assert r.status_code == 404
    for who in ("rep_b", "admin"):
        headers = web.token(who)
        api = web.client().get("/api/notifications", params={"limit": 200}, headers=headers).json()
        assert mine.id not in {i["id"] for i in api["items"]}
        assert web.client().post(f"/api/notifications/{mine.id}/read", headers=headers).status_code == 404
    assert next(n for n in _mine(web, "rep_a") if n.id == mine.id).read_at is None  # nobody else could read it


def test_the_bell_counts_unread_and_marking_read_lowers_it(web: WebEnv) -> None:
    rep = web.login("rep_a")
    rep.post("/api/notifications/read", headers=web.token("rep_a"))  # what the demo run brought, read
    assert _bell(rep.get("/dashboard").text) is None
    for i in range(3):
        _give_task(web, "manager", "rep_a", f"call {i}")
    unread = rep.get("/api/notifications/unread", headers=web.token("rep_a")).json()["unread"]
    assert unread == 3
    for path in ("/dashboard", "/customers", "/tasks", "/account"):
        assert _bell(rep.get(path).text) == 3, path
    page = rep.get("/notifications?unread=1")
    newest = rep.get("/notifications.json?unread=1").json()["items"][0]
    r = rep.post(f"/notifications/{newest['id']}/read", data={"csrf_token": csrf_of(page.text), "open": "1"},
                 follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == newest["link"]
    assert rep.get("/notifications.json").json()["unread"] == unread - 1
    r = rep.post("/notifications/read-all", data={"csrf_token": csrf_of(page.text), "next": "/notifications?unread=1"},
                 follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == "/notifications?unread=1"
    assert rep.get("/notifications.json").json()["unread"] == 0
    assert _bell(rep.get("/tasks").text) is None
    empty = rep.get("/notifications?unread=1").text
    assert "没有未读通知" in empty and 'id="read-all"' not in empty
    assert rep.post("/notifications/read-all", data={}).status_code == 403  # no CSRF token, no change


def test_the_api_pages_through_ones_notifications(web: WebEnv) -> None:
    for i in range(5):
        _give_task(web, "manager", "rep_b", f"task {i}")
    headers = web.token("rep_b")
    client = web.client()
    first = client.get("/api/notifications", params={"limit": 2}, headers=headers).json()
    second = client.get("/api/notifications", params={"limit": 2, "before": first["next_before"]}, headers=headers)
    ids = [i["id"] for i in first["items"]] + [i["id"] for i in second.json()["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 4
    assert client.post(f"/api/notifications/{ids[0]}/read", headers=headers).json()["marked"] == 1
    assert client.post(f"/api/notifications/{ids[0]}/read", headers=headers).json()["marked"] == 0
    assert client.post("/api/notifications/read", headers=headers).json()["unread"] == 0
    assert client.get("/api/notifications", params={"unread": True}, headers=headers).json()["items"] == []
    assert client.get("/api/notifications", params={"limit": 0}, headers=headers).status_code == 422


def test_the_clock_brings_due_overdue_and_late_ticket_notifications_once(web: WebEnv) -> None:
    today = local_today(web.ws)
    add_task(web, "rep_b", due=today, title="due now")
    add_task(web, "rep_b", due=today - dt.timedelta(days=2), title="late")
    tz = ZoneInfo(web.settings.timezone)
    early = dt.datetime.combine(today, dt.time(7, 0), tz)  # before the default digest time (08:30)
    assert web.ws.system().notifications.remind(now=early)["notifications"]["tasks_due"] == 0
    now = dt.datetime.combine(today, dt.time(10, 0), tz)
    first = web.ws.system().notifications.remind(now=now)["notifications"]
    again = web.ws.system().notifications.remind(now=now + dt.timedelta(minutes=5))["notifications"]
    assert first["tasks_due"] >= 1 and first["tasks_overdue"] >= 1
    assert again == {"tasks_due": 0, "tasks_overdue": 0, "ticket_sla": 0}
    kinds = {n.kind: n for n in _mine(web, "rep_b")}
    with web.ws.engine.connect() as conn:
        due = conn.execute(sa.text(
            "SELECT count(*) FROM tasks WHERE assignee_id = :u AND due_date = :d AND status IN ('open', 'in_progress')"
        ), {"u": web.accounts["rep_b"].id, "d": today}).scalar_one()  # fmt: skip
    assert kinds["tasks_due"].params["count"] == due and kinds["tasks_due"].link == "/tasks#group-today"
    items = web.login("rep_b").get("/notifications.json", headers={"Accept-Language": "en"}).json()["items"]
    texts = {i["kind"]: i["text"] for i in items}
    assert texts["tasks_due"] == f"Tasks due today: {due}"


def test_the_account_page_saves_the_digest_choices(web: WebEnv) -> None:
    rep = web.login("rep_a")
    page = rep.get("/account")
    assert 'id="digest-form"' in page.text and "每日提醒" in page.text
    assert rep.get("/account.json").json()["digest"]["digest_at"] == "08:30"
    r = rep.post("/account/digest", data={"csrf_token": csrf_of(page.text), "digest_at": "07:45"},
                 follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    saved = rep.get("/account.json").json()["digest"]
    assert (saved["email"], saved["webhook"], saved["digest_at"]) == (False, None, "07:45")  # unticked: no e-mail
    bad = rep.post("/account/digest", data={"csrf_token": csrf_of(page.text), "webhook": "nope"})
    assert bad.status_code == 422 and "webhook" in bad.text
    assert web.login("rep_b").get("/account.json").json()["digest"]["digest_at"] == "08:30"
    api = web.client().put("/api/account/digest", json={"email": True, "digest_at": "09:10"},
                           headers=web.token("rep_b"))  # fmt: skip
    assert api.status_code == 200 and api.json()["digest_at"] == "09:10"
