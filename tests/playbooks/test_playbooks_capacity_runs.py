"""The capacity stage across runs: a new firing joins the customer's open action, stale tasks and backlog entries
expire with a reason, and a full owner's tasks wait in the backlog (or go out as the rule's message)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from playbooks_testkit import DATE_FREE_RULES, DAY, NOW, count, write

from kehu.service.workspace import Workspace
from kehu.store.actions import insert_task, playbook_firings, tasks
from kehu.store.capacity import backlog


def _firing(conn: sa.Connection, cid: int, occurrence: str, **values: Any) -> int:
    return int(
        conn.execute(
            sa.insert(playbook_firings)
            .values(playbook="old", rule="call", customer_id=cid, occurrence=occurrence, day=DAY, decided_at=NOW,
                    **values)
            .returning(playbook_firings.c.id)
        ).scalar_one()
    )  # fmt: skip


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def test_a_new_firing_joins_the_customers_open_task(sqlite_ws: Workspace, tmp_path: Path) -> None:
    f = write(tmp_path, "nps.yaml", DATE_FREE_RULES.replace("within_days: 400", "within_days: 3"))
    with sqlite_ws.engine.begin() as conn:
        old = _firing(conn, 2, "earlier", fate="task")
        insert_task(conn, customer_id=2, assignee_id=1, title="Earlier call", body=None, priority="high",
                    due_date=DAY, now=NOW, playbook="old", rule="call", firing_id=old)  # fmt: skip
    run = sqlite_ws.system().playbooks.run([f], now=NOW)
    assert run["capacity"]["accounting"] == {"firings": 1, "task": 0, "merged": 1, "backlog": 0, "automated": 0,
                                             "expired": 0, "held_out": 0}  # fmt: skip
    with sqlite_ws.engine.connect() as conn:
        merged_into = conn.execute(
            sa.select(playbook_firings.c.merged_into).where(playbook_firings.c.playbook == "nps")
        ).scalar_one()
    assert merged_into == old and count(sqlite_ws.engine, "tasks") == 1
    shown = sqlite_ws.system().tasks.inbox(today=DAY)
    task = next(t for g in shown["groups"] for t in g["tasks"] if t["customer_id"] == 2)
    assert [r["rule"] for r in task["reasons"]] == ["old/call", "nps/detractor"]


def test_stale_tasks_and_backlog_entries_expire_with_a_reason(sqlite_ws: Workspace, tmp_path: Path) -> None:
    f = write(tmp_path, "none.yaml", "playbook: none\nenabled: false\nrules:\n  - id: x\n"
              "    when: {feedback: {kind: nps, max_score: 6}}\n    then: [{task: {title: x}}]\n")  # fmt: skip
    stale_days = sqlite_ws.settings.task_stale_days
    with sqlite_ws.engine.begin() as conn:
        fids = [_firing(conn, 1, f"o{i}", fate="task") for i in range(3)]
        ids = [
            insert_task(conn, customer_id=1, assignee_id=1, title=f"t{i}", body=None, priority="normal",
                        due_date=DAY - dt.timedelta(days=days), now=NOW, playbook="old" if i < 2 else None,
                        rule="call", firing_id=fids[i])
            for i, days in enumerate((stale_days + 1, stale_days, stale_days + 5))
        ]  # fmt: skip
        waiting = _firing(conn, 3, "b", fate="backlog")
        conn.execute(sa.insert(backlog).values(
            firing_id=waiting, customer_id=3, assignee_id=2, playbook="old", rule="call", value_at_stake=5.0, rank=0,
            task={"title": "w", "priority": "normal"}, status="waiting", day=DAY - dt.timedelta(days=stale_days + 1),
            created_at=NOW))  # fmt: skip
    run = sqlite_ws.system().playbooks.run([f], now=NOW)
    assert run["capacity"]["expired"] == {"tasks": 1, "backlog": 1}
    with sqlite_ws.engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(sa.select(tasks))}
        fates = dict(conn.execute(sa.select(playbook_firings.c.id, playbook_firings.c.fate)).all())
        entry = conn.execute(sa.select(backlog.c.status)).scalar_one()
        audit = conn.exec_driver_sql("SELECT action, target, detail FROM audit_log WHERE action = 'task.expired'").all()
    assert rows[ids[0]].status == "cancelled" and rows[ids[0]].close_reason == "expired"
    assert rows[ids[1]].status == "open"  # exactly stale_days past due: not yet
    assert rows[ids[2]].status == "open"  # made by a person: never expired by a run
    assert fates[fids[0]] == "expired" and fates[fids[1]] == "task" and fates[waiting] == "expired"
    assert entry == "expired"
    assert [(a, t) for a, t, _ in audit] == [("task.expired", f"task:{ids[0]}")]
    assert _json(audit[0][2])["stale_days"] == stale_days


def test_a_full_owner_gets_no_task_the_rest_waits(sqlite_ws: Workspace, tmp_path: Path, with_settings) -> None:
    f = write(tmp_path, "nps.yaml", DATE_FREE_RULES.replace("within_days: 400", "within_days: 3"))
    ws = with_settings(sqlite_ws, task_capacity_rep=0)  # alice (a rep) has no slot at all
    run = ws.system().playbooks.run([f], now=NOW)
    a = run["capacity"]["accounting"]
    assert a["firings"] == a["backlog"] == 1 and count(ws.engine, "tasks") == 0
    with ws.engine.connect() as conn:
        entry = conn.execute(sa.select(backlog)).one()
    assert entry.assignee_id == 1 and _json(entry.task)["title"] == "call 客户2" and entry.status == "waiting"


def _waiting(conn: sa.Connection, cid: int, value: float, *, assignee: int | None = 1, title: str = "w") -> int:
    fid = _firing(conn, cid, f"b{cid}", fate="backlog")
    return int(conn.execute(sa.insert(backlog).values(
        firing_id=fid, customer_id=cid, assignee_id=assignee, playbook="old", rule="call", value_at_stake=value,
        rank=0, task={"title": title, "priority": "normal"}, status="waiting", day=DAY, created_at=NOW,
    ).returning(backlog.c.id)).scalar_one())  # fmt: skip


def test_freed_capacity_pulls_the_most_valuable_waiting_action(
    sqlite_ws: Workspace, tmp_path: Path, with_settings
) -> None:
    """A waiting backlog entry becomes a task for its customer's owner once a slot is free, most at stake first;
    the others keep waiting, entries of unowned customers wait for a manager, and a dry run changes nothing."""
    f = write(tmp_path, "none.yaml", "playbook: none\nenabled: false\nrules:\n  - id: x\n"
              "    when: {feedback: {kind: nps, max_score: 6}}\n    then: [{task: {title: x}}]\n")  # fmt: skip
    ws = with_settings(sqlite_ws, task_capacity_rep=1, task_capacity_manager=0, capacity_days=1)
    with ws.engine.begin() as conn:
        low, high = _waiting(conn, 1, 10.0, title="low"), _waiting(conn, 2, 500.0, title="high")
        bobs = _waiting(conn, 3, 900.0, assignee=2)  # bob (a manager) has no slot
        nobody = _waiting(conn, 8, 9_000.0, assignee=None)  # customer 8 has no owner
    dry = ws.system().playbooks.dry_run([f], now=NOW)
    assert dry["capacity"]["from_backlog"] == 1 and count(ws.engine, "tasks") == 0
    run = ws.system().playbooks.run([f], now=NOW)
    assert run["capacity"]["from_backlog"] == 1
    with ws.engine.connect() as conn:
        status = dict(conn.execute(sa.select(backlog.c.id, backlog.c.status)).all())
        task = conn.execute(sa.select(tasks)).one()
        entry = conn.execute(sa.select(backlog).where(backlog.c.id == high)).one()
        fate = conn.execute(sa.select(playbook_firings.c.fate).where(playbook_firings.c.id == entry.firing_id)).scalar()
        pulled = conn.exec_driver_sql("SELECT actor, target FROM audit_log WHERE action = 'backlog.pull'").all()
    assert status == {low: "waiting", high: "promoted", bobs: "waiting", nobody: "waiting"}
    assert (task.customer_id, task.assignee_id, task.title, task.due_date) == (2, 1, "high", DAY)
    assert (task.playbook, task.rule, task.firing_id) == ("old", "call", entry.firing_id) and fate == "task"
    assert entry.task_id == task.id and entry.closed_by == "playbooks"
    assert pulled == [("playbooks", f"task:{task.id}")]
    again = ws.system().playbooks.run([f], now=NOW)  # alice's one slot is now taken: nothing more is pulled
    assert again["capacity"]["from_backlog"] == 0 and count(ws.engine, "tasks") == 1
