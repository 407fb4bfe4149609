"""Helpers of the task inbox tests (tests/web/test_web_tasks.py and the browser test)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from web_testkit import WebEnv

from kehu.service.tasks import local_today
from kehu.store.actions import playbook_firings, tasks
from kehu.store.capacity import backlog


def add_task(
    web: WebEnv,
    who: str,
    *,
    due: dt.date | None,
    customer: int | None = None,
    title: str = "Call",
    status: str = "open",
    playbook: str | None = None,
    rule: str | None = None,
) -> int:
    """A task assigned to ``who`` (an accounts key) for one of their customers (default: the first they own)."""
    now = dt.datetime.now(dt.UTC)
    values = dict(
        customer_id=customer or web.owned.get(who, web.owned["rep_a"]), assignee_id=web.accounts[who].id,
        title=title, priority="high", status=status, due_date=due, playbook=playbook, rule=rule,
        created_at=now, updated_at=now, closed_at=now if status in ("done", "cancelled") else None,
    )  # fmt: skip
    with web.ws.engine.begin() as conn:
        return int(conn.execute(sa.insert(tasks).values(**values).returning(tasks.c.id)).scalar_one())


def task_row(web: WebEnv, task_id: int) -> Any:
    """The stored task."""
    with web.ws.engine.connect() as conn:
        return conn.execute(sa.select(tasks).where(tasks.c.id == task_id)).one()


def add_backlog_entry(web: WebEnv, who: str, *, value: float = 1234.5) -> tuple[int, int]:
    """A waiting backlog entry meant for ``who`` (with its firing); returns (entry id, firing id)."""
    now = dt.datetime.now(dt.UTC)
    cid = web.owned[who]
    stake = {"value": value, "action_value": value, "basis": "churn", "clv": value * 4, "risk": 0.25,
             "winback_value": None, "effect": 1.0, "rank": 0}  # fmt: skip
    with web.ws.engine.begin() as conn:
        fid = conn.execute(
            sa.insert(playbook_firings)
            .values(playbook="pb", rule="call", customer_id=cid, occurrence=f"test:{now.timestamp()}",
                    day=local_today(web.ws), decided_at=now, fate="backlog", stake=stake,
                    reason={"trigger": "entered"})
            .returning(playbook_firings.c.id)
        ).scalar_one()  # fmt: skip
        eid = conn.execute(
            sa.insert(backlog)
            .values(firing_id=fid, customer_id=cid, assignee_id=web.accounts[who].id, playbook="pb", rule="call",
                    value_at_stake=value, rank=0, task={"title": "Call back", "body": None, "priority": "high",
                                                        "due_in_days": 0}, status="waiting",
                    day=local_today(web.ws), created_at=now)
            .returning(backlog.c.id)
        ).scalar_one()  # fmt: skip
    return int(eid), int(fid)
