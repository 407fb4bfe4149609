"""Refresh now: admins start the analytics run from the web app or the API and follow its progress; managers and
reps neither see the button nor may start it; the as-of day of the figures moves with the run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from refresh_testkit import add_later_order, wait_until_finished
from web_testkit import WebEnv, csrf_of

from kehu.publish.run import STEPS
from kehu.store import refresh as store


def test_reps_and_managers_may_not_start_or_follow_a_refresh(web: WebEnv) -> None:
    for who in ("rep_a", "manager"):
        api = web.client()
        assert api.post("/api/refresh", headers=web.token(who)).status_code == 403
        assert api.get("/api/refresh", headers=web.token(who)).status_code == 403
        page = web.login(who)
        dashboard = page.get("/dashboard").text
        assert 'id="refresh-now"' not in dashboard and "立即更新" not in dashboard
        assert page.post("/refresh", data={"csrf_token": csrf_of(dashboard)}).status_code == 403
        assert page.get("/refresh").status_code == 403 and page.get("/refresh.json").status_code == 403
    assert web.client().post("/api/refresh").status_code == 401


def test_admin_refreshes_through_the_api_and_the_as_of_day_moves(web: WebEnv, tmp_path: Path) -> None:
    api, headers = web.client(), web.token("admin")
    before = web.login("admin").get("/dashboard.json").json()["as_of"]
    day = add_later_order(web.ws, tmp_path)
    assert day.isoformat() > before
    started = api.post("/api/refresh", headers=headers)
    assert started.status_code == 202 and started.json()["started"] is True
    run_id = started.json()["run"]["id"]
    again = api.post("/api/refresh", headers=headers).json()  # one at a time: the running one comes back
    assert again["started"] is False and (again["run"] is None or again["run"]["id"] == run_id)
    run = wait_until_finished(lambda i: api.get(f"/api/refresh/{i}", headers=headers).json(), run_id)
    assert run["status"] == "done" and run["as_of"] == day.isoformat() and run["trigger"] == "api"
    assert [s["step"] for s in run["steps"]] == list(STEPS)
    assert all(s["state"] == "done" and s["seconds"] is not None for s in run["steps"])
    status = api.get("/api/refresh", headers=headers).json()
    assert status["running"] is None and status["last"]["id"] == run_id
    assert status["schedule"]["on"] is True and status["schedule"]["daily_at"] == "02:00"
    admin = web.login("admin")
    assert admin.get("/dashboard.json").json()["as_of"] == day.isoformat()
    assert admin.get("/customers.json").json()["as_of"] == day.isoformat()


def test_admin_sees_the_button_the_schedule_and_a_failure_in_plain_words(web: WebEnv) -> None:
    admin = web.login("admin")
    dashboard = admin.get("/dashboard").text
    assert 'id="refresh-now"' in dashboard and "立即更新" in dashboard and "截至" in dashboard
    settings = admin.get("/settings").text
    assert "每天 02:00（UTC+8）" in settings and "下次自动更新" in settings
    assert admin.get("/settings.json").json()["refresh"]["schedule"]["on"] is True
    # a run that failed says why, without a server path or an exception
    now = dt.datetime.now(dt.UTC)
    run_id = store.start_run(web.ws.engine, trigger="web", requested_by=None, now=now)
    store.finish_run(web.ws.engine, run_id, now=now, error="store", detail=f"cannot open {web.home}/kehu.db")
    page = admin.get(f"/refresh?run={run_id}").text
    assert "更新失败：无法读写业务数据库" in page and str(web.home) not in page and "kehu.db" not in page
    assert admin.get(f"/refresh.json?run={run_id}").json()["run"]["error"] == "store"
    english = web.login("admin", web.client(headers={"Accept-Language": "en"}))
    english.cookies.set("kehu_locale", "en")
    assert "The refresh failed: The app store cannot be read" in english.get(f"/refresh?run={run_id}").text
