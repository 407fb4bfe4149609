"""How much work people can take, and the work that waits: daily task capacities and the ranked backlog.

Tables (on :data:`kehu.store.schema.metadata`)::

    task_capacities   overrides of the daily task capacity: ``key`` is ``team:NAME`` or ``user:ID``; the default
                      per role is a setting (``KEHU_TASK_CAPACITY_REP`` …)
    backlog           playbook actions that did not fit an owner's capacity: the rendered task, its value at
                      stake and rank; status waiting | promoted | expired

A user's capacity is their own override, else their team's, else their role's default (:func:`capacities`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from kehu.store.actions import playbook_firings, tasks
from kehu.store.schema import UTCDateTime, metadata, users

__all__ = [
    "BACKLOG_STATES",
    "action_reasons",
    "backlog",
    "capacities",
    "capacity_overrides",
    "close_backlog",
    "open_due_counts",
    "set_capacity",
    "task_capacities",
    "waiting_heads",
]

BACKLOG_STATES = ("waiting", "promoted", "expired")

task_capacities = Table(
    "task_capacities",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(120), nullable=False),  # team:NAME | user:ID
    Column("per_day", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", String(200), nullable=False),
    Index("uq_task_capacities_key", "key", unique=True),
)

backlog = Table(
    "backlog",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("firing_id", Integer, ForeignKey("playbook_firings.id", ondelete="CASCADE"), nullable=False),
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("assignee_id", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True),
    Column("playbook", String(100), nullable=False),
    Column("rule", String(100), nullable=False),
    Column("value_at_stake", Float(precision=53), nullable=False),
    Column("rank", Integer, nullable=False),  # place in its run's ranking (0: most at stake)
    Column("task", JSON, nullable=False),  # the rendered task: title, body, priority, due_in_days
    Column("status", String(10), nullable=False),  # waiting | promoted | expired
    Column("day", Date, nullable=False),  # the run's day
    Column("created_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime, nullable=True),
    Column("closed_by", String(200), nullable=True),
    Column("task_id", Integer, ForeignKey("tasks.id", ondelete="SET NULL"), nullable=True),
    Index("uq_backlog_firing_id", "firing_id", unique=True),
    Index("ix_backlog_status_value", "status", "value_at_stake"),
)


def capacity_overrides(conn: Connection) -> dict[str, int]:
    """Every override: ``team:NAME`` / ``user:ID`` -> tasks per day."""
    return {str(k): int(n) for k, n in conn.execute(select(task_capacities.c.key, task_capacities.c.per_day))}


def capacities(conn: Connection, role_defaults: Mapping[str, int]) -> dict[int, tuple[int, str]]:
    """Each user's daily task capacity and where it comes from (``user``, ``team`` or ``role``); inactive: 0."""
    overrides = capacity_overrides(conn)
    out: dict[int, tuple[int, str]] = {}
    for uid, role, team, active in conn.execute(select(users.c.id, users.c.role, users.c.team, users.c.active)):
        if not active:
            out[int(uid)] = (0, "inactive")
        elif f"user:{uid}" in overrides:
            out[int(uid)] = (overrides[f"user:{uid}"], "user")
        elif team and f"team:{team}" in overrides:
            out[int(uid)] = (overrides[f"team:{team}"], "team")
        else:
            out[int(uid)] = (int(role_defaults.get(role, 0)), "role")
    return out


def set_capacity(conn: Connection, key: str, per_day: int | None, *, actor: str, now: dt.datetime) -> None:
    """Set (or with ``None`` remove) the override ``key`` inside the caller's transaction."""
    conn.execute(delete(task_capacities).where(task_capacities.c.key == key))
    if per_day is not None:
        conn.execute(insert(task_capacities).values(key=key, per_day=per_day, updated_at=now, updated_by=actor))


def open_due_counts(
    conn: Connection, user_ids: Iterable[int], days: list[dt.date], *, carry_overdue: bool = True
) -> dict[tuple[int, dt.date], int]:
    """Open tasks per (assignee, due day) for ``days``; tasks due before the first day (and undated ones) count
    on the first day, unless ``carry_overdue`` is false (then only tasks due within ``days`` count)."""
    ids = sorted(set(user_ids))
    if not ids or not days:
        return {}
    t = tasks.c
    day = func.coalesce(t.due_date, days[0])
    where = [t.assignee_id.in_(ids), t.status.in_(("open", "in_progress")), day <= days[-1]]
    if not carry_overdue:
        where.append(t.due_date >= days[0])
    stmt = select(t.assignee_id, t.due_date, func.count()).where(*where).group_by(t.assignee_id, t.due_date)
    out: dict[tuple[int, dt.date], int] = {}
    for uid, due, n in conn.execute(stmt):
        due_day = due if isinstance(due, dt.date) else days[0]
        key = (int(uid), max(due_day, days[0]))
        out[key] = out.get(key, 0) + int(n)
    return out


def waiting_heads(conn: Connection, customer_ids: Iterable[int]) -> dict[int, int]:
    """Customer -> the firing of their waiting backlog entry (their open action that is not a task)."""
    ids = sorted(set(customer_ids))
    out: dict[int, int] = {}
    for start in range(0, len(ids), 900):
        part = ids[start : start + 900]
        stmt = select(backlog.c.customer_id, backlog.c.firing_id).where(
            backlog.c.status == "waiting", backlog.c.customer_id.in_(part)
        )
        out.update({int(c): int(f) for c, f in conn.execute(stmt)})
    return out


def close_backlog(
    conn: Connection, entry_id: int, *, status: str, actor: str, now: dt.datetime, task_id: int | None = None
) -> None:
    """Mark a waiting entry promoted (with its task) or expired, inside the caller's transaction."""
    conn.execute(
        update(backlog)
        .where(backlog.c.id == entry_id)
        .values(status=status, closed_at=now, closed_by=actor, task_id=task_id)
    )


def action_reasons(conn: Connection, head_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """For each firing heading an action (a task's or a backlog entry's firing): its own and every firing merged
    into it — playbook, rule, day, trigger values (``reason``) and value at stake (``stake``) — first decided first."""
    ids = sorted(set(head_ids))
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    f = playbook_firings.c
    for start in range(0, len(ids), 900):
        part = ids[start : start + 900]
        stmt = (
            select(f.id, f.merged_into, f.playbook, f.rule, f.day, f.reason, f.stake)
            .where(or_(f.id.in_(part), f.merged_into.in_(part)))
            .order_by(f.id)
        )
        for row in conn.execute(stmt).mappings():
            head = int(row["id"]) if int(row["id"]) in out else int(row["merged_into"])
            out[head].append({k: row[k] for k in ("playbook", "rule", "day", "reason", "stake")})
    return out
