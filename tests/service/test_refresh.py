"""Fresh by default: the daily run is on by default and is scheduled right (time zones, clock changes, catch-up,
off), one run at a time through a lock in the store (two processes, a stale lock after a crash), and a run's
progress is written to the store step by step."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from kehu.config import Settings, load_settings
from kehu.errors import AccessDeniedError
from kehu.publish.run import STEPS
from kehu.service.principal import Principal
from kehu.service.refresh import LOCK, claim, execute
from kehu.service.scheduler import DailySchedule, Scheduler
from kehu.service.workspace import Workspace
from kehu.store import refresh as store

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
MINUTE = dt.timedelta(minutes=1)


def _local(tz: ZoneInfo, *args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=tz)  # type: ignore[misc]


def test_the_daily_run_is_on_by_default_at_two_in_the_morning(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert settings.schedule_daily_at == "02:00"
    schedule = Scheduler(settings).schedule
    assert schedule.at == dt.time(2, 0) and schedule.tz == SHANGHAI
    now = _local(SHANGHAI, 2026, 12, 7, 15, 0)
    assert schedule.next_run(now) == _local(SHANGHAI, 2026, 12, 8, 2, 0)
    assert schedule.last_scheduled(now) == _local(SHANGHAI, 2026, 12, 7, 2, 0)


@pytest.mark.parametrize("off", ["off", "", "OFF"])
def test_the_daily_run_is_off_with_a_setting(tmp_path: Path, off: str) -> None:
    scheduler = Scheduler(load_settings(home=tmp_path, schedule_daily_at=off))
    now = _local(SHANGHAI, 2026, 12, 7, 15, 0)
    assert scheduler.schedule.next_run(now) is None and scheduler.schedule.last_scheduled(now) is None
    assert scheduler.daily_due(now) is False  # without a store: off never looks


def test_next_run_is_computed_in_the_workspace_time_zone() -> None:
    at_two = DailySchedule(dt.time(2, 0), SHANGHAI)
    # 17:59 UTC is 01:59 in Shanghai the next day: the run is a minute away, not a day
    assert at_two.next_run(dt.datetime(2026, 12, 7, 17, 59, tzinfo=dt.UTC)) == dt.datetime(
        2026, 12, 7, 18, 0, tzinfo=dt.UTC
    )
    assert at_two.next_run(dt.datetime(2026, 12, 7, 18, 0, tzinfo=dt.UTC)) == dt.datetime(
        2026, 12, 8, 18, 0, tzinfo=dt.UTC
    )
    assert at_two.last_scheduled(dt.datetime(2026, 12, 7, 18, 0, tzinfo=dt.UTC)) == dt.datetime(
        2026, 12, 7, 18, 0, tzinfo=dt.UTC
    )


def test_next_run_across_clock_changes() -> None:
    half_past_two = DailySchedule(dt.time(2, 30), NEW_YORK)
    # 2026-03-08 02:30 does not exist in New York (clocks jump from 02:00 to 03:00): the run is at 03:30 EDT
    spring = half_past_two.next_run(_local(NEW_YORK, 2026, 3, 8, 0, 0))
    assert spring == dt.datetime(2026, 3, 8, 7, 30, tzinfo=dt.UTC)
    assert half_past_two.next_run(spring + MINUTE) == dt.datetime(2026, 3, 9, 6, 30, tzinfo=dt.UTC)  # 02:30 EDT
    # 2026-11-01 01:30 happens twice: the run is at the first, and once only
    once = DailySchedule(dt.time(1, 30), NEW_YORK)
    autumn = once.next_run(_local(NEW_YORK, 2026, 11, 1, 0, 0))
    assert autumn == dt.datetime(2026, 11, 1, 5, 30, tzinfo=dt.UTC)  # 01:30 EDT
    assert once.next_run(autumn + MINUTE) == dt.datetime(2026, 11, 2, 6, 30, tzinfo=dt.UTC)  # 01:30 EST


def _record(ws: Workspace, started: dt.datetime, status: str = "done") -> int:
    run_id = store.start_run(ws.engine, trigger="schedule", requested_by=None, now=started)
    if status != "running":
        store.finish_run(ws.engine, run_id, now=started + MINUTE, error="data" if status == "failed" else None)
    return run_id


def test_catch_up_runs_once_for_all_missed_days(workspace: Workspace) -> None:
    scheduler = Scheduler(workspace.settings)  # 02:00 in Shanghai
    now = _local(SHANGHAI, 2026, 12, 7, 9, 0)
    assert scheduler.daily_due(now)  # never ran
    _record(workspace, _local(SHANGHAI, 2026, 12, 2, 2, 0))  # five days ago: the server was down since
    assert scheduler.daily_due(now)
    _record(workspace, now)  # the catch-up
    assert not scheduler.daily_due(now + dt.timedelta(hours=1))  # not once per missed day
    assert not scheduler.daily_due(_local(SHANGHAI, 2026, 12, 8, 1, 59))
    assert scheduler.daily_due(_local(SHANGHAI, 2026, 12, 8, 2, 0))  # the next scheduled time


def test_a_run_started_after_the_scheduled_time_counts_however_it_was_started(workspace: Workspace) -> None:
    scheduler = Scheduler(workspace.settings)
    _record(workspace, _local(SHANGHAI, 2026, 12, 7, 1, 0))
    assert scheduler.daily_due(_local(SHANGHAI, 2026, 12, 7, 2, 1))
    _record(workspace, _local(SHANGHAI, 2026, 12, 7, 2, 5), status="failed")  # tried: not retried on each tick
    assert not scheduler.daily_due(_local(SHANGHAI, 2026, 12, 7, 3, 0))


def test_a_run_left_running_by_a_crash_does_not_count(workspace: Workspace) -> None:
    scheduler = Scheduler(workspace.settings)
    started = _local(SHANGHAI, 2026, 12, 7, 2, 0)
    _record(workspace, started, status="running")
    assert not scheduler.daily_due(started + dt.timedelta(minutes=5))  # still beating
    assert scheduler.daily_due(started + dt.timedelta(hours=1))  # silent for longer than the stale timeout


def test_one_run_at_a_time_and_a_stale_lock_is_taken_over(workspace: Workspace) -> None:
    engine, stale = workspace.engine, dt.timedelta(seconds=workspace.settings.refresh_stale_seconds)
    now = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)
    first = claim(workspace.settings, engine, trigger="schedule", now=now)
    assert first is not None
    assert claim(workspace.settings, engine, trigger="web", now=now + MINUTE) is None
    assert store.beat(engine, LOCK, first.holder, now=now + 2 * MINUTE, run_id=first.run_id)
    # the first process crashed: no beat for longer than the stale timeout, and another takes over
    later = now + 2 * MINUTE + stale - MINUTE
    assert claim(workspace.settings, engine, trigger="web", now=later) is None
    second = claim(workspace.settings, engine, trigger="web", now=later + 2 * MINUTE)
    assert second is not None and second.run_id != first.run_id
    with engine.connect() as conn:
        crashed = store.recent_runs(conn, run_id=first.run_id)[0]
    assert crashed["status"] == "interrupted"
    assert not store.beat(engine, LOCK, first.holder, now=later + 3 * MINUTE)  # it lost the lock
    store.release_lock(engine, LOCK, first.holder)  # and cannot release the new holder's
    assert claim(workspace.settings, engine, trigger="web", now=later + 4 * MINUTE) is None
    store.release_lock(engine, LOCK, second.holder)
    assert claim(workspace.settings, engine, trigger="web", now=later + 5 * MINUTE) is not None


_OTHER_PROCESS = """
import datetime as dt, sys
from kehu.config import load_settings
from kehu.service.refresh import claim
from kehu.service.workspace import Workspace
ws = Workspace(load_settings(home=sys.argv[1], database_url=sys.argv[2]))
print(claim(ws.settings, ws.engine, trigger="schedule") is not None)
"""


def test_the_lock_holds_across_processes(workspace: Workspace) -> None:
    s = workspace.settings
    mine = claim(s, workspace.engine, trigger="web")
    assert mine is not None

    def other() -> str:
        args = [sys.executable, "-c", _OTHER_PROCESS, str(s.home), s.resolved_database_url]
        return subprocess.run(args, capture_output=True, text=True, check=True, timeout=120).stdout.strip()

    assert other() == "False"
    store.release_lock(workspace.engine, LOCK, mine.holder)
    assert other() == "True"


def test_a_failed_run_says_why_and_releases_the_lock(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace  # no customers, no orders
    job = claim(ws.settings, ws.engine, trigger="web")
    assert job is not None
    result = execute(ws, job)
    assert result["error"] == "data"
    shown = ws.system().refresh.run(job.run_id)
    assert shown["status"] == "failed" and shown["error"] == "data" and shown["finished_at"] is not None
    assert shown["steps"][0] == {"step": "extract", "state": "done", "seconds": shown["steps"][0]["seconds"]}
    assert claim(ws.settings, ws.engine, trigger="web") is not None  # released


def test_only_admins_start_or_follow_the_run(sqlite_workspace: Workspace) -> None:
    for role in ("rep", "manager"):
        actor = sqlite_workspace.as_user(Principal(7, "u", "u", role, "east", None))
        with pytest.raises(AccessDeniedError):
            actor.refresh.start()
        with pytest.raises(AccessDeniedError):
            actor.refresh.status()


def test_status_shows_the_schedule_and_every_step_in_order(sqlite_workspace: Workspace) -> None:
    now = dt.datetime(2026, 12, 7, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai
    run_id = store.start_run(sqlite_workspace.engine, trigger="web", requested_by=None, now=now)
    store.step_done(sqlite_workspace.engine, run_id, "extract", 1.234, now=now)
    store.step_started(sqlite_workspace.engine, run_id, "features", now=now)
    status = sqlite_workspace.system().refresh.status(now=now + dt.timedelta(seconds=5))
    assert status["schedule"] == {"on": True, "daily_at": "02:00", "timezone": "Asia/Shanghai", "utc_offset": "UTC+8",
                                  "next_run": _local(SHANGHAI, 2026, 12, 8, 2, 0)}  # fmt: skip
    running = status["running"]
    assert running["id"] == run_id and running["seconds"] == 5.0 and running["steps_done"] == 1
    assert [s["step"] for s in running["steps"]] == list(STEPS)
    assert [s["state"] for s in running["steps"][:3]] == ["done", "running", "waiting"]
    assert running["steps"][0]["seconds"] == 1.23 and status["last"] is None


def test_kehu_serve_keeps_the_daily_run_by_default_and_catches_up_at_start(tmp_path: Path) -> None:
    import os
    import socket
    import time

    home = tmp_path / "home"
    ws = Workspace(load_settings(home=home))
    ws.init()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEHU_")}  # the defaults: 02:00 in Shanghai
    args = [sys.executable, "-m", "kehu.cli", "serve", "--port", str(port), "--home", str(home)]
    with subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
        try:
            deadline = time.monotonic() + 120
            while True:  # a store that never ran: the server catches up once, at start
                with ws.engine.connect() as conn:
                    runs = [r for r in store.recent_runs(conn) if r["status"] != "running"]
                if runs:
                    break
                assert time.monotonic() < deadline, "kehu serve did not run the analytics"
                time.sleep(0.5)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert [(r["trigger"], r["status"], r["error"]) for r in runs] == [("catch_up", "failed", "data")]
    status = ws.system().refresh.status()
    assert status["schedule"]["on"] and status["last"]["status"] == "failed" and status["running"] is None
    ws.close()


@pytest.mark.parametrize(("zone", "offset"), [("Asia/Kolkata", "UTC+5:30"), ("America/New_York", "UTC-5")])
def test_the_schedule_names_its_time_zone_by_its_offset(sqlite_workspace: Workspace, zone: str, offset: str) -> None:
    s = sqlite_workspace.settings
    with Workspace(load_settings(home=s.home, database_url=s.resolved_database_url, timezone=zone)) as ws:
        schedule = ws.system().refresh.status(now=dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC))["schedule"]
    assert schedule["utc_offset"] == offset and schedule["timezone"] == zone
