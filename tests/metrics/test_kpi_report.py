"""The KPI report on a small store whose every figure is worked out by hand (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from pathlib import Path

import pytest
import sqlalchemy as sa

from kehu.metrics.periods import Period
from kehu.metrics.report import PeriodData, lapsed_at_starts, scalar_kpis, split_by_owner, tasks_available
from kehu.metrics.tasks import TaskFact
from kehu.service.workspace import Workspace
from kehu.store.actions import tasks
from kehu.store.published import customer_scores, pipeline_runs, sync_list_scores
from kehu.vocabulary import TASK_OUTCOMES
from loop_testkit import Store, at


@pytest.fixture
def filled(workspace: Workspace) -> tuple[Workspace, dict[str, int]]:
    s = Store(workspace.engine)
    ann, bob = s.user("ann"), s.user("bob")
    c = {name: s.customer(owner=ann if name in "ab" else bob, name=name) for name in "abcde"}
    # lapsed: last bought 2024-10-01 (more than 180 days before 2025-06-01)
    s.order(c["e"], "2024-10-01", 100)
    # May (previous period): a, b, c buy
    for name in "abc":
        s.order(c[name], "2025-05-10", 100)
    # June: a twice (100 + 300), c once (200), d new (400), e comes back (1000); a cancelled order counts for nothing
    s.order(c["a"], "2025-06-02", 100)
    s.order(c["a"], "2025-06-20", 300)
    s.order(c["c"], "2025-06-15", 200)
    s.order(c["d"], "2025-06-30", 400)
    s.order(c["e"], "2025-06-05", 1000)
    s.order(c["b"], "2025-06-05", 999, status="cancelled")
    s.order(c["b"], "2025-07-01", 50)  # July 1st, Shanghai time: not June
    for name, score in zip("abcd", (10, 9, 8, 3), strict=True):
        s.answer(c[name], "2025-06-10", "nps", score)
    s.answer(c["a"], "2025-06-11", "csat", 5)
    s.answer(c["c"], "2025-06-11", "csat", 2)
    s.ticket(c["a"], at("2025-06-03", 8), first=at("2025-06-03", 10), resolved=at("2025-06-04", 8))
    s.ticket(c["d"], at("2025-06-03", 8), first=at("2025-06-03", 12))
    return workspace, c


def test_kpis_by_hand(filled: tuple[Workspace, dict[str, int]]) -> None:
    ws, _ = filled
    r = ws.system().kpis.report(period="month", as_of=dt.date(2025, 7, 15))
    assert r["period"]["label"] == "2025-06" and r["previous_period"]["label"] == "2025-05"
    k = r["kpis"]
    assert k["active_customers"] == 4  # a, c, d, e
    assert k["purchases"] == 5
    assert k["revenue_cents"] == 200_000  # 100 + 300 + 200 + 400 + 1000 yuan
    assert k["retention_rate"] == pytest.approx(2 / 3)  # of a, b, c: a and c
    assert k["churn_rate"] == pytest.approx(1 / 3)
    assert k["repurchase_rate"] == 0.25  # a of a, c, d, e
    assert k["average_order_value_cents"] == 40_000
    assert k["revenue_top20_share"] == 0.5  # ceil(0.8) = 1 buyer: e, 1000 of 2000
    assert k["nps"] == 25.0  # 2 promoters, 1 detractor of 4
    assert k["csat"] == 50.0 and k["csat_mean"] == 3.5
    assert k["first_response_hours_mean"] == 3.0  # 2 h and 4 h
    assert k["resolution_hours_mean"] == 24.0
    assert k["lapsed_at_start"] == 1 and k["win_back_rate"] == 1.0
    assert k["task_completion_rate"] is None and "task_completion_rate" not in r["not_available"]  # none due
    assert r["previous"]["active_customers"] == 3
    assert r["previous"]["lapsed_at_start"] == 1  # e, at May 1st as at June 1st
    assert r["previous"]["nps"] is None  # nobody answered in May
    assert r["cohorts"] is None and "cohort_retention" in r["not_available"]
    board = {row["owner"]: row for row in r["leaderboard"]}
    assert board["ann"]["customers"] == 2 and board["ann"]["retention_rate"] == 0.5  # a kept, b not
    assert board["bob"]["retention_rate"] == 1.0  # c kept
    assert board["bob"]["active_customers"] == 3 and board["bob"]["nps"] == pytest.approx(100 * (0 - 1) / 2)
    assert [row["rank"] for row in r["leaderboard"]] == [1, 2] and r["leaderboard"][0]["owner"] == "bob"
    assert (board["ann"]["retention_base"], board["bob"]["retention_base"]) == (2, 1)
    # ranked by the 95 % Wilson lower bound: 1 of 1 (0.207) above 1 of 2 (0.095)
    assert board["bob"]["retention_lower_bound"] == pytest.approx(1 / (1 + 1.959964**2))
    assert board["bob"]["retention_lower_bound"] > board["ann"]["retention_lower_bound"] > 0


def test_feedback_trend_and_segment_filter(filled: tuple[Workspace, dict[str, int]]) -> None:
    ws, _ = filled
    d = ws.system().kpis.feedback(period="month", periods=2, as_of=dt.date(2025, 6, 30))
    may, june = d["trend"]
    assert may["nps"]["nps"] is None and may["csat"] is None
    assert june["nps"]["nps"] == 25.0 and june["nps"]["responses"] == 4
    assert june["nps_change"] is None  # May has no data


def test_kpis_on_an_empty_store(workspace: Workspace) -> None:
    r = workspace.system().kpis.report(period="month", as_of=dt.date(2025, 6, 30))
    assert r["kpis"]["active_customers"] == 0
    assert r["kpis"]["retention_rate"] is None and r["kpis"]["nps"] is None and r["kpis"]["csat"] is None
    assert r["leaderboard"] == [] and r["segment_flow"] is None


def test_task_completion_is_not_available_without_a_tasks_table(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'bare.db'}")
    with engine.connect() as conn:
        assert "no tasks table" in str(tasks_available(conn))
        sa.Table("tasks", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True)).create(conn)
        assert "no customer_id, due_date, status column" in str(tasks_available(conn))
    engine.dispose()


def test_task_completion_from_the_tasks_table(filled: tuple[Workspace, dict[str, int]]) -> None:
    ws, c = filled
    table = tasks
    now = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
    rows = [  # due in June: a done, a open, d done, c cancelled (not counted); b due in July (not counted)
        ("a", "done", "2025-06-10"), ("a", "open", "2025-06-11"), ("d", "done", "2025-06-30"),
        ("c", "cancelled", "2025-06-12"), ("b", "done", "2025-07-01"),
    ]  # fmt: skip
    with ws.engine.begin() as conn:
        for name, status, due in rows:
            conn.execute(
                sa.insert(table).values(
                    customer_id=c[name],
                    title="call",
                    priority="normal",
                    status=status,
                    due_date=dt.date.fromisoformat(due),
                    created_at=now,
                    updated_at=now,
                )
            )
    r = ws.system().kpis.report(period="month", as_of=dt.date(2025, 6, 30))
    assert r["kpis"]["task_completion_rate"] == pytest.approx(2 / 3)
    assert "task_completion_rate" not in r["not_available"]
    board = {row["owner"]: row for row in r["leaderboard"]}
    assert board["ann"]["task_completion_rate"] == 0.5 and board["bob"]["task_completion_rate"] == 1.0


def test_the_owner_split_gives_each_owner_the_kpis_of_filtering_by_owner() -> None:
    """The leaderboard splits the period's data by owner in one pass; each part must give exactly the KPIs of
    filtering the whole period by that owner's customers (random data, unowned customers, empty owners)."""
    rng = random.Random(11)
    customers_ = range(300)
    owner_of = {c: rng.randrange(6) for c in customers_ if rng.random() < 0.8} | {1000: 9}  # owner 9: no data
    data = PeriodData(Period("month", dt.date(2025, 6, 1), dt.date(2025, 7, 1)), tasks=[])
    data.previous_buyers = {c for c in customers_ if rng.random() < 0.4}
    for c in customers_:
        if rng.random() < 0.5:
            data.orders[c], data.revenue[c] = rng.randint(1, 4), rng.randint(0, 90_000)
    data.lapsed = {c for c in customers_ if rng.random() < 0.2}
    data.nps = [(rng.choice(customers_), rng.randint(0, 10)) for _ in range(120)]
    data.csat = [(rng.choice(customers_), rng.randint(1, 5)) for _ in range(80)]
    data.first_response = [(rng.choice(customers_), rng.uniform(60, 90_000)) for _ in range(60)]
    data.resolution = [(rng.choice(customers_), rng.uniform(600, 900_000)) for _ in range(50)]
    data.tasks = [_fact(rng, rng.choice([None, *customers_])) for _ in range(90)]  # unassigned: the owner's
    parts = split_by_owner(data, owner_of)
    assert set(parts) == set(owner_of.values())
    for owner, part in parts.items():
        mine = {c for c, o in owner_of.items() if o == owner}
        assert scalar_kpis(part) == scalar_kpis(data, keep=mine.__contains__), owner
        assert part.previous_buyers == mine & data.previous_buyers
    assert scalar_kpis(parts[9])["active_customers"] == 0
    # an assigned task is its assignee's, whoever owns the customer (also a user who owns no customer: 12)
    assigned = [dataclasses.replace(_fact(rng, c), assignee=rng.choice([0, 12])) for c in customers_[:40]]
    parts = split_by_owner(dataclasses.replace(data, tasks=assigned), owner_of)
    assert set(parts) == {*owner_of.values(), 12}
    assert [len(parts[o].tasks or []) for o in (0, 12)] == [sum(t.assignee == o for t in assigned) for o in (0, 12)]
    no_tasks = dataclasses.replace(data, tasks=None)
    assert all(p.tasks is None for p in split_by_owner(no_tasks, owner_of).values())


def _fact(rng: random.Random, customer: int | None) -> TaskFact:
    done = rng.random() < 0.6
    return TaskFact(customer=customer, assignee=None, due=rng.random() < 0.8, created=rng.random() < 0.7, done=done,
                    outcome=rng.choice(TASK_OUTCOMES) if done else None, touched=done or rng.random() < 0.3,
                    touch_hours=rng.uniform(0, 200), win_back=rng.random() < 0.3,
                    ordered=rng.choice([None, True, False]) if done else None)  # fmt: skip


def test_clv_is_the_published_clv_of_the_scored_customers(workspace: Workspace) -> None:
    s = Store(workspace.engine)
    ids = [s.customer(name=f"c{i}") for i in range(5)]
    now = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
    values: list[float | None] = [120.5, None, 300.0, 0.0]  # the fifth customer has no scores at all
    with workspace.engine.begin() as conn:
        run = conn.execute(
            sa.insert(pipeline_runs)
            .values(as_of=now.date(), engine="duckdb", started_at=now, finished_at=now, customers=4, seconds=1.0,
                    step_seconds={})
            .returning(pipeline_runs.c.id)
        ).scalar_one()  # fmt: skip
        for cid, clv in zip(ids, values, strict=False):
            conn.execute(sa.insert(customer_scores).values(
                customer_id=cid, as_of=now.date(), run_id=run, scores={"clv_12m": clv, "p_alive": 0.5}))  # fmt: skip
        sync_list_scores(conn)
    r = workspace.system().kpis.report(period="month", as_of=dt.date(2025, 7, 15))
    assert r["clv"] == {"customers": 3, "total": 420.5, "mean": pytest.approx(420.5 / 3)}


def test_lapsed_customers_at_several_period_starts_in_one_read(filled: tuple[Workspace, dict[str, int]]) -> None:
    ws, c = filled  # e last bought 2024-10-01 (then again in June 2025); nobody else before May 2025
    june = Period("month", dt.date(2025, 6, 1), dt.date(2025, 7, 1))
    months = [june, june.previous(), Period("month", dt.date(2025, 4, 1), dt.date(2025, 5, 1)),
              Period("month", dt.date(2024, 11, 1), dt.date(2024, 12, 1)), Period("month", dt.date(2024, 9, 1),
              dt.date(2024, 10, 1)), Period("month", dt.date(2025, 8, 1), dt.date(2025, 9, 1))]  # fmt: skip
    with ws.engine.connect() as conn:
        together = lapsed_at_starts(conn, months, timezone="Asia/Shanghai")
        alone = [lapsed_at_starts(conn, [m], timezone="Asia/Shanghai")[0] for m in months]
        short = lapsed_at_starts(conn, months, timezone="Asia/Shanghai", lapse_days=20)
    # June, May and April: 180 days since e's October order; November 2024: only 31 days; September: no
    # purchase yet; August 2025: everyone bought within 180 days
    assert together == alone == [{c["e"]}, {c["e"]}, {c["e"]}, set(), set(), set()]
    # with 20 days: at June 1st a, b and c (May 10th) are lapsed too; at August 1st everyone (last on June 2nd to
    # July 1st); at May 1st still only e
    assert short[0] == {c["a"], c["b"], c["c"], c["e"]} and short[1] == {c["e"]}
    assert short[5] == {c["a"], c["b"], c["c"], c["d"], c["e"]}
