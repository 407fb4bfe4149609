"""The schedule `kehu serve` keeps: the daily run once a day at the set time (once to catch up on a missed one),
and delivery."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from playbooks_testkit import DATE_FREE_RULES, NOW, count, write

from kehu.errors import ConfigError
from kehu.service.scheduler import Scheduler, parse_daily_at
from kehu.service.workspace import Workspace


# the value models, fitted on the testkit's 8 customers, overflow in numpy (kehu.models.clv); not this test's subject
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_the_daily_run_happens_once_after_its_time(sqlite_ws: Workspace, tmp_path: Path, with_settings) -> None:
    write(sqlite_ws.settings.resolved_playbooks_dir, "p.yaml", DATE_FREE_RULES)
    ws = with_settings(sqlite_ws, schedule_daily_at="09:30", schedule_delivery_seconds=60)
    clock = [NOW - dt.timedelta(hours=1)]  # 09:00 in Shanghai: yesterday's 09:30 went without a run
    scheduler = Scheduler(ws.settings, clock=lambda: clock[0])
    caught_up = scheduler.tick()
    assert caught_up["run"] == {"as_of": "2026-10-31", "playbooks": True, "trigger": "catch_up"}
    assert "delivery" in caught_up
    # the detractor (customer 8) has no owner: the call waits in the backlog for a manager to give it to someone
    assert (
        count(ws.engine, "pipeline_runs") == 1 and count(ws.engine, "tasks") == 0 and count(ws.engine, "backlog") == 1
    )
    clock[0] = NOW - dt.timedelta(minutes=50)  # 09:10: caught up, today's time not yet
    assert "run" not in scheduler.tick()
    clock[0] = NOW  # 10:00
    ran = scheduler.tick()
    assert ran["run"]["playbooks"] is True and ran["run"]["trigger"] == "schedule"
    # the detractor (customer 8) has no owner: their call waits in the backlog for a manager to assign
    assert count(ws.engine, "pipeline_runs") == 2 and count(ws.engine, "backlog") == 1
    clock[0] = NOW + dt.timedelta(minutes=30)
    assert "run" not in scheduler.tick()
    restarted = Scheduler(ws.settings, clock=lambda: clock[0])  # a restart the same day does not run it again
    assert "run" not in restarted.tick()
    clock[0] = NOW + dt.timedelta(days=1)
    assert "run" in restarted.tick()
    assert count(ws.engine, "pipeline_runs") == 3


def test_without_data_the_daily_job_still_sweeps_the_playbooks(sqlite_workspace: Workspace, with_settings) -> None:
    ws = with_settings(sqlite_workspace, schedule_daily_at="00:00")
    done = Scheduler(ws.settings, clock=lambda: NOW).tick()
    assert done.get("sweep") is True and count(ws.engine, "playbook_runs") == 1


def test_a_bad_daily_time_is_a_config_error() -> None:
    assert parse_daily_at("02:30") == dt.time(2, 30) and parse_daily_at(None) is None
    assert parse_daily_at("off") is None and parse_daily_at("") is None
    with pytest.raises(ConfigError, match="KEHU_SCHEDULE_DAILY_AT='2:3x'"):
        parse_daily_at("2:3x")
