"""Helpers of the task inbox tests (tests/web/test_web_tasks.py and the browser test)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from web_testkit import WebEnv

from kehu.store.actions import tasks


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
