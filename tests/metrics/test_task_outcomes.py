"""Task outcomes feed the KPIs: tasks created, noted, started and closed with outcomes through the facade, and the
company's KPIs, the owner leaderboard and the team rows worked out by hand (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kehu.metrics import formulas as f
from kehu.service.principal import Principal
from kehu.service.workspace import Workspace
from loop_testkit import Store, at

AS_OF = dt.date(2025, 7, 15)  # the report: June 2025, tasks seen as at the end of July 15th (Shanghai)


def _rep(ws: Workspace, name: str, team: str) -> Principal:
    uid = ws.system().users.add(name, role="rep", team=team)
    return Principal(uid, name, name, "rep", team, None)


def _task(ws: Workspace, who: Principal, customer: int, created: str, due: str, hour: int = 9) -> int:
    return ws.as_user(who).customers.create_task(
        customer, title="回访", due_date=dt.date.fromisoformat(due), now=at(created, hour)
    )


def _close(
    ws: Workspace, who: Principal, task: int, action: str, when: dt.datetime, outcome: str | None = None
) -> None:
    ws.as_user(who).tasks.change(task, action=action, outcome=outcome, now=when)


@pytest.fixture
def worked(workspace: Workspace) -> tuple[Workspace, dict[str, Principal], dict[str, int]]:
    ws = workspace
    reps = {"ann": _rep(ws, "ann", "east"), "bob": _rep(ws, "bob", "east"), "cat": _rep(ws, "cat", "west")}
    s = Store(ws.engine)
    owner = {"c1": "ann", "c2": "ann", "c3": "bob", "c4": "bob", "c5": "cat"}
    c = {name: s.customer(owner=reps[o].id, name=name) for name, o in owner.items()}
    s.order(c["c1"], "2024-10-01", 100)  # lapsed in June (180 days) ...
    s.order(c["c1"], "2025-06-20", 100)  # ... and ordered 15 days after being closed as won back
    s.order(c["c2"], "2024-11-01", 100)  # lapsed, never came back
    s.order(c["c3"], "2025-05-20", 100)  # active
    s.order(c["c5"], "2024-09-01", 100)  # lapsed
    s.order(c["c5"], "2025-07-20", 100)  # after the cut-off: not seen
    ann, bob, cat = reps["ann"], reps["bob"], reps["cat"]
    t1 = _task(ws, ann, c["c1"], "2025-06-02", "2025-06-04")
    _close(ws, ann, t1, "complete", at("2025-06-05", 9), "won_back")  # touched after 72 h
    t2 = _task(ws, ann, c["c2"], "2025-06-02", "2025-06-06")
    ws.as_user(ann).customers.add_note(c["c2"], "打过电话，客户说在考虑", now=at("2025-06-02", 15))  # 6 h
    _close(ws, ann, t2, "complete", at("2025-06-08", 9), "lost")
    _task(ws, ann, c["c2"], "2025-06-20", "2025-06-25")  # t3: never touched (waiting 639 h at the cut-off)
    t4 = _task(ws, bob, c["c3"], "2025-06-03", "2025-06-05")
    _close(ws, bob, t4, "start", at("2025-06-03", 11))  # touched after 2 h
    _close(ws, bob, t4, "complete", at("2025-06-04", 9), "reached")
    t5 = _task(ws, bob, c["c4"], "2025-06-10", "2025-07-02")  # due in July: not in June's completion
    _close(ws, bob, t5, "complete", at("2025-06-10", 21), "no_answer")  # 12 h
    t6 = _task(ws, cat, c["c5"], "2025-06-01", "2025-06-03")
    _close(ws, cat, t6, "complete", at("2025-06-30", 9), "won_back")  # 696 h; its 30 days end after the cut-off
    t7 = _task(ws, cat, c["c5"], "2025-05-28", "2025-06-01")
    _close(ws, cat, t7, "cancel", at("2025-06-01", 10))  # cancelled: counts nowhere
    t8 = _task(ws, ann, c["c1"], "2025-06-12", "2025-06-15")
    _close(ws, ann, t8, "complete", at("2025-07-20", 9), "reached")  # after the cut-off: open then (807 h)
    return ws, reps, c


def _board(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["owner"]: row for row in report["leaderboard"]}


def test_outcomes_feed_the_company_kpis(worked: tuple[Workspace, dict[str, Principal], dict[str, int]]) -> None:
    ws, _, _ = worked
    r = ws.system().kpis.report(period="month", as_of=AS_OF)
    assert r["period"]["label"] == "2025-06"
    assert r["tasks_as_of"] == "2025-07-16T00:00:00+08:00"
    k = r["kpis"]
    assert (k["tasks_due"], k["tasks_done"]) == (6, 4)  # t1 t2 t3 t4 t6 t8 due; t1 t2 t4 t6 done by July 15th
    assert k["task_completion_rate"] == pytest.approx(4 / 6)
    # created in June: 2 6 12 72 (touched), 639 (waiting), 696 (touched), 807 (waiting) hours; Kaplan–Meier:
    # S = 6/7, 5/7, 4/7, then 4/7 * 3/4 = 3/7 <= 1/2 at 72 h
    assert k["task_first_touch_hours_median"] == pytest.approx(72.0)
    assert k["win_back_tasks_done"] == 3  # t1 t2 t6: their customers had not bought for 180 days
    assert k["task_won_back_share"] == pytest.approx(2 / 3)  # t1 and t6
    assert k["task_won_back_ordered_rate"] == 1.0  # t1's customer ordered; t6's 30 days are not over
    out = {row["outcome"]: row for row in r["task_outcomes"]["outcomes"]}
    assert (out["won_back"]["tasks"], out["won_back"]["judged"], out["won_back"]["ordered"]) == (2, 1, 1)
    assert (out["lost"]["tasks"], out["lost"]["ordered"], out["reached"]["tasks"], out["no_answer"]["tasks"]) == (
        1, 0, 1, 0)  # fmt: skip
    assert r["task_outcomes"]["others"]["judged"] == 2 and r["task_outcomes"]["verdict"] == "too_few"
    assert out["won_back"]["low"] == pytest.approx(f.wilson_lower_bound(1, 1))


def test_outcomes_feed_the_leaderboard_and_the_teams(
    worked: tuple[Workspace, dict[str, Principal], dict[str, int]],
) -> None:
    ws, reps, _ = worked
    r = ws.system().kpis.report(period="month", as_of=AS_OF)
    board = _board(r)
    ann, bob, cat = board["ann"], board["bob"], board["cat"]
    assert (ann["tasks_due"], ann["tasks_done"], ann["task_completion_rate"]) == (4, 2, 0.5)  # t1 t2 / t3 t8
    assert ann["task_first_touch_hours_median"] == pytest.approx(72.0)  # 6, 72, waiting 639 and 807: S 3/4, 1/2
    assert ann["task_won_back_share"] == 0.5  # won back t1, lost t2
    assert (bob["tasks_due"], bob["task_completion_rate"], bob["task_first_touch_hours_median"]) == (1, 1.0, 2.0)
    assert bob["win_back_tasks_done"] == 0 and bob["task_won_back_share"] is None
    assert (cat["task_completion_rate"], cat["task_first_touch_hours_median"]) == (1.0, pytest.approx(696.0))
    assert cat["task_won_back_share"] == 1.0 and cat["task_won_back_ordered_rate"] is None  # too recent to tell
    teams = {row["team"]: row for row in r["teams"]}
    assert set(teams) == {"east", "west"} and teams["east"]["owners"] == 2 and teams["east"]["customers"] == 4
    assert (teams["east"]["tasks_due"], teams["east"]["tasks_done"]) == (5, 3)
    # east: 2 6 12 72 touched, 639 807 waiting: S 5/6, 4/6, 3/6 = 1/2 at 12 h
    assert teams["east"]["task_first_touch_hours_median"] == pytest.approx(12.0)
    assert teams["west"]["task_completion_rate"] == 1.0
    # a rep sees their own row and no team rows on the KPI page
    mine = ws.as_user(reps["bob"]).kpis.summary(period="month", as_of=AS_OF)
    assert [row["owner"] for row in mine["leaderboard"]] == ["bob"] and mine["teams"] == []
    assert {k["kpi"]: k["value"] for k in mine["kpis"]}["tasks_due"] == 1  # of bob's customers' tasks: t4


def test_completing_a_task_moves_the_leaderboard_exactly(
    worked: tuple[Workspace, dict[str, Principal], dict[str, int]],
) -> None:
    ws, reps, c = worked
    t9 = _task(ws, reps["cat"], c["c5"], "2025-06-10", "2025-06-18")
    before = _board(ws.system().kpis.report(period="month", as_of=AS_OF))["cat"]
    assert (before["tasks_due"], before["tasks_done"], before["task_completion_rate"]) == (2, 1, 0.5)
    _close(ws, reps["cat"], t9, "complete", at("2025-06-11", 9), "not_interested")  # 24 h, a win-back task
    after = ws.system().kpis.report(period="month", as_of=AS_OF)
    cat = _board(after)["cat"]
    assert (cat["tasks_due"], cat["tasks_done"], cat["task_completion_rate"]) == (2, 2, 1.0)
    assert cat["task_first_touch_hours_median"] == pytest.approx(24.0)  # 24 and 696: S 1/2 at 24 h
    assert (cat["win_back_tasks_done"], cat["task_won_back_share"]) == (2, 0.5)
    assert after["kpis"]["task_completion_rate"] == pytest.approx(5 / 7)
    row = {r["outcome"]: r for r in after["task_outcomes"]["outcomes"]}["not_interested"]
    assert (row["tasks"], row["judged"], row["ordered"]) == (1, 1, 0)  # June 11th + 30 days is before the cut-off
