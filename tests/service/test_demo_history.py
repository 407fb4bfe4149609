"""A fresh demo opens on a lived-in inbox: data up to yesterday, weeks of follow-up work done through the task
services (outcomes, notes), some tasks due today and later, a few overdue, and task KPIs that are not empty."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from kehu.config import load_settings
from kehu.service.workspace import Workspace
from kehu.store.actions import audit_log, tasks
from kehu.store.notes import customer_notes
from kehu.store.schema import orders
from kehu.vocabulary import TASK_OUTCOMES

TODAY = dt.date(2026, 12, 7)  # a Monday


def _load(home: Path) -> tuple[Workspace, dict[str, Any]]:
    ws = Workspace(load_settings(home=home))
    ws.init()
    return ws, ws.load_demo(customers=300, seed=5, today=TODAY, history_weeks=6)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, dict[str, Any]]]:
    ws, loaded = _load(tmp_path_factory.mktemp("history") / "home")
    yield ws, loaded
    ws.close()


def test_the_data_end_yesterday_and_nothing_happens_from_today_on(demo: tuple[Workspace, dict[str, Any]]) -> None:
    ws, loaded = demo
    assert loaded["as_of"] == TODAY - dt.timedelta(days=1)
    start = dt.datetime.combine(TODAY, dt.time(), tzinfo=ZoneInfo(ws.settings.timezone))
    with ws.engine.connect() as conn:
        newest = conn.execute(sa.select(sa.func.max(orders.c.ordered_at))).scalar_one()
        last_task = conn.execute(sa.select(sa.func.max(tasks.c.created_at))).scalar_one()
        last_close = conn.execute(sa.select(sa.func.max(tasks.c.closed_at))).scalar_one()
        last_audit = conn.execute(sa.select(sa.func.max(audit_log.c.at))).scalar_one()
        notes = conn.execute(sa.select(sa.func.count()).select_from(customer_notes)).scalar_one()
    assert newest < start and last_task < start and last_close < start and last_audit < start
    h = loaded["history"]
    assert h["days"] == ["2026-10-26", "2026-12-04"]  # six weeks of working days before Monday, December 7th
    assert h["tasks"] == h["done"] + h["open"] and h["done"] == sum(h["outcomes"].values())
    assert notes == h["notes"] > 0 and set(h["outcomes"]) <= set(TASK_OUTCOMES)


def test_the_inbox_is_workable(demo: tuple[Workspace, dict[str, Any]]) -> None:
    ws, loaded = demo
    inbox = ws.system().tasks.inbox(today=TODAY)
    count = {g["group"]: g["count"] for g in inbox["groups"]}
    assert count["today"] > 0 and count["upcoming"] > 0 and count["overdue"] > 0
    assert count["done"] == loaded["history"]["done"]
    assert count["overdue"] < 0.15 * loaded["history"]["tasks"]  # a few, not all
    with ws.engine.connect() as conn:
        assignees = conn.execute(sa.select(sa.func.count(sa.distinct(tasks.c.assignee_id)))).scalar_one()
        people = conn.execute(
            sa.select(sa.func.count())
            .select_from(audit_log)
            .where(audit_log.c.action == "task.done", audit_log.c.actor != "cli")
        ).scalar_one()
    assert assignees > 5 and people == loaded["history"]["done"]  # closed by the owners themselves, audited


def test_the_task_kpis_of_the_demo_are_not_empty(demo: tuple[Workspace, dict[str, Any]]) -> None:
    ws, _ = demo
    r = ws.system().kpis.report(period="month")  # as of the newest order: December 6th, so November
    assert r["period"]["label"] == "2026-11"
    k = r["kpis"]
    assert k["tasks_due"] > 0 and 0.5 < k["task_completion_rate"] < 1.0
    assert k["task_first_touch_hours_median"] is not None and k["win_back_tasks_done"] > 0
    assert any(row["task_completion_rate"] is not None for row in r["leaderboard"])
    assert r["teams"] and all(row["owners"] >= 1 for row in r["teams"])


def test_the_same_seed_and_today_give_the_same_history(
    demo: tuple[Workspace, dict[str, Any]],
    tmp_path: Path,
) -> None:
    _, first = demo
    ws, again = _load(tmp_path / "again")
    ws.close()
    assert again["history"] == first["history"]
