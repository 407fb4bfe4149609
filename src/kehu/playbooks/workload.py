"""The capacity stage of a playbook run, around the pure ranking of :mod:`kehu.playbooks.capacity`.

Between :func:`~kehu.playbooks.planner.plan` and :func:`~kehu.playbooks.outbox.commit_plan`:

- :func:`expire_stale` closes open playbook tasks more than ``KEHU_TASK_STALE_DAYS`` past due (cancelled, reason
  ``expired``) and backlog entries waiting that long; their firings' fate becomes ``expired``.
- :func:`fit_to_capacity` reads what the ranking needs (published scores, capacities, open tasks per owner and
  day, customers' open actions), calls :func:`~kehu.playbooks.capacity.allocate` and writes the outcome into the
  plan's decisions: each firing's ``fate`` and ``stake``; the kept task's due date; the task taken out of a
  merged, backlogged or automated firing (its other actions — messages, tags, coupons, owner — stay); the
  rendered backlog entry. A task firing of a customer who already has an open action (an open playbook task, a
  waiting backlog entry) joins that action (``merged_into`` its firing).
  Waiting backlog entries compete for the same free slots (ranked with the run's firings by their value at
  stake, as of their firing): an entry whose customer's owner now has a slot in the window is *pulled* into a
  task, so freed capacity goes to the most valuable waiting action, not only to the newest firings.
- :func:`link_merged` records, after the commit, which firing of the same run a merged firing joined;
  :func:`pull_backlog` turns the pulled entries into tasks; :func:`accounting` counts a run's firings by fate.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import sqlalchemy as sa

from kehu.config import Settings
from kehu.playbooks.capacity import BASES, FATES, PRIORITIES, Slots, allocate, value_at_stake
from kehu.playbooks.model import MessageAction, TaskAction
from kehu.playbooks.outbox import render_decision
from kehu.playbooks.planner import Decision, Plan
from kehu.store.actions import audit, audit_log, insert_task, playbook_firings, tasks
from kehu.store.capacity import backlog, capacities, open_due_counts, waiting_heads
from kehu.store.published import customer_scores
from kehu.store.schema import customers, users

__all__ = ["Fitted", "accounting", "expire_stale", "fit_to_capacity", "link_merged", "pull_backlog", "working_days"]

_CHUNK = 900
_SCORES = ("clv_12m", "churn_risk", "renewal_risk", "winback", "winback_value", "p_alive")
_CONTRACT_TRIGGERS = ("contract_ends_within",)
_OPEN = ("open", "in_progress")


def working_days(start: dt.date, n: int, weekdays: Sequence[int]) -> list[dt.date]:
    """The first ``n`` working days from ``start`` on (``start`` itself when it is one)."""
    days: list[dt.date] = []
    day = start
    while len(days) < n:
        if day.isoweekday() in weekdays:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def expire_stale(engine: sa.Engine, settings: Settings, *, day: dt.date, now: dt.datetime) -> dict[str, int]:
    """Expire open playbook tasks due more than ``task_stale_days`` before ``day`` and backlog entries waiting
    that long (audited, fates set to ``expired``); returns how many of each."""
    cutoff = day - dt.timedelta(days=settings.task_stale_days)
    t = tasks.c
    with engine.begin() as conn:
        stale = conn.execute(
            sa.select(t.id, t.customer_id, t.firing_id, t.due_date).where(
                t.status.in_(_OPEN), t.playbook.is_not(None), t.due_date < cutoff
            )
        ).all()
        ids = [int(r.id) for r in stale]
        for start in range(0, len(ids), _CHUNK):
            conn.execute(
                sa.update(tasks)
                .where(t.id.in_(ids[start : start + _CHUNK]))
                .values(status="cancelled", close_reason="expired", closed_at=now, updated_at=now)
            )
        if stale:
            conn.execute(
                sa.insert(audit_log),
                [
                    {"at": now, "actor": "system", "action": "task.expired", "customer_id": r.customer_id,
                     "target": f"task:{r.id}", "reason": None,
                     "detail": {"due_date": r.due_date.isoformat(), "stale_days": settings.task_stale_days}}
                    for r in stale
                ],
            )  # fmt: skip
        waiting = conn.execute(
            sa.select(backlog.c.id, backlog.c.firing_id).where(backlog.c.status == "waiting", backlog.c.day < cutoff)
        ).all()
        entry_ids = [int(r.id) for r in waiting]
        for start in range(0, len(entry_ids), _CHUNK):
            conn.execute(
                sa.update(backlog)
                .where(backlog.c.id.in_(entry_ids[start : start + _CHUNK]))
                .values(status="expired", closed_at=now, closed_by="system")
            )
        firings = [int(r.firing_id) for r in stale if r.firing_id is not None] + [int(r.firing_id) for r in waiting]
        for start in range(0, len(firings), _CHUNK):
            conn.execute(
                sa.update(playbook_firings)
                .where(playbook_firings.c.id.in_(firings[start : start + _CHUNK]))
                .values(fate="expired")
            )
    return {"tasks": len(stale), "backlog": len(waiting)}


def _open_actions(conn: sa.Connection, customer_ids: Sequence[int]) -> dict[int, int]:
    """Customer -> the firing of their open action (an open playbook task, else a waiting backlog entry)."""
    out = waiting_heads(conn, customer_ids)
    ids = sorted(set(customer_ids))
    t = tasks.c
    for start in range(0, len(ids), _CHUNK):
        stmt = (
            sa.select(t.customer_id, sa.func.min(t.firing_id))
            .where(t.customer_id.in_(ids[start : start + _CHUNK]), t.status.in_(_OPEN), t.firing_id.is_not(None))
            .group_by(t.customer_id)
        )
        out.update({int(c): int(f) for c, f in conn.execute(stmt)})
    return out


def _scores(conn: sa.Connection, customer_ids: Sequence[int]) -> dict[int, tuple[float, ...]]:
    ids = sorted(set(customer_ids))
    cols = [customer_scores.c[name] for name in _SCORES[:-1]] + [customer_scores.c.scores["p_alive"].as_float()]
    out: dict[int, tuple[float, ...]] = {}
    for start in range(0, len(ids), _CHUNK):
        stmt = sa.select(customer_scores.c.customer_id, *cols).where(
            customer_scores.c.customer_id.in_(ids[start : start + _CHUNK])
        )
        for cid, *values in conn.execute(stmt):
            out[int(cid)] = tuple(np.nan if v is None else float(v) for v in values)
    return out


def _slots(conn: sa.Connection, settings: Settings, days: list[dt.date]) -> tuple[Slots, dict[int, int]]:
    caps = {uid: cap for uid, (cap, _) in capacities(conn, settings.role_capacities).items()}
    owners = np.array(sorted(caps), dtype=np.int64)
    used = open_due_counts(conn, caps, days)
    free = np.array([[caps[int(u)] - used.get((int(u), d), 0) for d in days] for u in owners], dtype=np.int64)
    return Slots(owners, free.reshape(len(owners), len(days))), caps


def _messages_customer(d: Decision) -> bool:
    return any(
        isinstance(a.action, MessageAction) and a.action.channel != "webhook" and a.action.to == "customer"
        for a in d.actions
    )


def _waiting(conn: sa.Connection) -> list[dict[str, Any]]:
    """Waiting backlog entries whose customer has an active owner now (the owner takes the task when pulled);
    entries of unowned customers wait for a manager to choose who takes them."""
    b, c, u = backlog.c, customers.c, users.c
    stmt = (
        sa.select(b.id, b.firing_id, b.customer_id, c.owner_id, b.playbook, b.rule, b.value_at_stake, b.task)
        .select_from(backlog.join(customers, c.id == b.customer_id).join(users, u.id == c.owner_id))
        .where(b.status == "waiting", u.active.is_(True))
        .order_by(b.id)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def _names(conn: sa.Connection) -> dict[int, str]:
    return {int(i): str(d or n) for i, n, d in conn.execute(sa.select(users.c.id, users.c.name, users.c.display_name))}


@dataclass
class Fitted:
    """What :func:`fit_to_capacity` did: a summary (days, capacities, actions, counts by fate) and the pairs
    (merged firing, the firing of the same run whose action it joined) that :func:`link_merged` records."""

    summary: dict[str, Any]
    merges: list[tuple[Decision, Decision]] = field(default_factory=list)
    #: waiting backlog entries that got a slot: the entry, its firing, customer, owner, task and due day
    pulled: list[dict[str, Any]] = field(default_factory=list)


def fit_to_capacity(
    conn: sa.Connection,
    p: Plan,
    settings: Settings,
    *,
    effects: Mapping[str, float] | None = None,
) -> Fitted:
    """Decide each decision's fate (see the module docstring) and change the plan to match."""
    effects = effects or {}
    days = working_days(p.clock.day, settings.capacity_days, settings.weekdays)
    decisions = p.decisions
    task_of = {id(d): [i for i, a in enumerate(d.actions) if a.kind == "task"] for d in decisions}
    with_tasks = [d for d in decisions if task_of[id(d)]]
    for d in decisions:
        if d.held_out:  # in the rule's holdout: nothing is done for it
            d.fate = "held_out"
        elif not task_of[id(d)]:
            d.fate = "automated"
    opened = _open_actions(conn, [d.customer_id for d in with_tasks])
    fresh: list[Decision] = []
    for d in with_tasks:
        if d.customer_id in opened:
            d.fate, d.merged_into = "merged", opened[d.customer_id]
            d.actions = [a for a in d.actions if a.kind != "task"]
        else:
            fresh.append(d)
    scores = _scores(conn, [d.customer_id for d in fresh])
    slots, caps = _slots(conn, settings, days)
    n = len(fresh)
    missing = (np.nan,) * len(_SCORES)
    table = np.array([scores.get(d.customer_id, missing) for d in fresh], dtype=np.float64).reshape(n, len(_SCORES))
    refs = [f"{d.playbook.name}/{d.rule.id}" for d in fresh]
    effect = np.array([float(effects.get(r, 1.0)) for r in refs], dtype=np.float64)
    value, basis = value_at_stake(
        *(table[:, i] for i in range(len(_SCORES))),
        contract=np.array([d.rule.when.kind in _CONTRACT_TRIGGERS for d in fresh], dtype=bool),
        effect=effect,
    )
    first_task = [d.actions[task_of[id(d)][0]] for d in fresh]
    assignee = [a.payload.get("assignee_id") for a in first_task]
    # the waiting backlog competes for the slots (its customers' new firings merged into it above)
    fresh_customers = {d.customer_id for d in fresh}
    waiting = [w for w in _waiting(conn) if w["customer_id"] not in fresh_customers]
    owners = [-1 if a is None else int(a) for a in assignee] + [int(w["owner_id"]) for w in waiting]
    priorities = [PRIORITIES.index(a.payload["priority"]) for a in first_task]
    priorities += [PRIORITIES.index(w["task"].get("priority", "normal")) for w in waiting]
    alloc = allocate(
        customer=np.array([d.customer_id for d in fresh] + [w["customer_id"] for w in waiting], dtype=np.int64),
        assignee=np.array(owners, dtype=np.int64),
        priority=np.array(priorities, dtype=np.int8),
        due_in_days=np.array([a.action.due_in_days for a in first_task] + [0] * len(waiting), dtype=np.int64),
        value=np.concatenate([value, np.array([float(w["value_at_stake"]) for w in waiting], dtype=np.float64)]),
        messages=np.array([_messages_customer(d) for d in fresh] + [False] * len(waiting), dtype=bool),
        slots=slots,
    )
    pulled = [
        {**w, "due_date": days[int(alloc.day[n + j])]}
        for j, w in enumerate(waiting)
        if FATES[int(alloc.fate[n + j])] == "task"
    ]
    names = _names(conn) if alloc.count("backlog") else {}
    merges: list[tuple[Decision, Decision]] = []
    for i, d in enumerate(fresh):
        fate = FATES[int(alloc.fate[i])]
        clv, churn, renewal, wb, wb_value, alive = table[i]
        risk = {"winback": wb, "renewal": renewal, "churn": churn, "p_alive": 1 - alive, "none": np.nan}[
            BASES[int(basis[i])]
        ]
        d.stake = {
            "value": round(float(value[i]), 2),
            "action_value": round(float(alloc.value[i]), 2),
            "basis": BASES[int(basis[i])],
            "clv": None if np.isnan(clv) else round(float(clv), 2),
            "risk": None if np.isnan(risk) else round(float(risk), 6),
            "winback_value": None if np.isnan(wb_value) else round(float(wb_value), 2),
            "effect": float(effect[i]),
            "rank": int(alloc.rank[i]),
        }
        d.fate = fate
        task = first_task[i]
        if fate == "task":
            task.payload["due_date"] = days[int(alloc.day[i])]
            d.actions = [a for a in d.actions if a.kind != "task" or a is task]
            continue
        d.actions = [a for a in d.actions if a.kind != "task"]
        if fate == "merged":
            merges.append((d, fresh[int(alloc.head[i])]))
        elif fate == "backlog":
            rendered = render_decision(replace(d, actions=[task]), names)[0]["payload"]
            d.backlog = {
                "assignee_id": task.payload.get("assignee_id"),
                "playbook": d.playbook.name,
                "rule": d.rule.id,
                "value_at_stake": round(float(alloc.value[i]), 2),
                "rank": int(alloc.rank[i]),
                "task": {"title": rendered["title"], "body": rendered.get("body"), "priority": rendered["priority"],
                         "due_in_days": int(task.action.due_in_days),
                         "kind": task.action.kind if isinstance(task.action, TaskAction) else "task"},
                "status": "waiting",
                "day": p.clock.day,
            }  # fmt: skip
    counts = {fate: sum(1 for d in decisions if d.fate == fate) for fate in FATES}
    summary = {
        "days": days,
        "capacity": {str(uid): cap for uid, cap in sorted(caps.items())},
        "actions": int(np.unique(alloc.head[:n]).size) if n else 0,
        "planned": {k: v for k, v in counts.items() if v},
        "from_backlog": len(pulled),
    }
    return Fitted(summary, merges, pulled)


def link_merged(engine: sa.Engine, fitted: Fitted, run_id: int) -> int:
    """After the commit: point each firing merged into another of the same run at that firing; returns how many."""
    if not fitted.merges:
        return 0
    f = playbook_firings.c
    with engine.begin() as conn:
        ids = {
            (pb, rule, int(cid), occ): int(fid)
            for fid, pb, rule, cid, occ in conn.execute(
                sa.select(f.id, f.playbook, f.rule, f.customer_id, f.occurrence).where(f.run_id == run_id)
            )
        }

        def key(d: Decision) -> tuple[str, str, int, str]:
            return (d.playbook.name, d.rule.id, d.customer_id, d.occurrence.key)

        rows = [
            {"fid": ids[key(d)], "head": ids[key(head)]}
            for d, head in fitted.merges
            if key(d) in ids and key(head) in ids
        ]
        if rows:
            conn.execute(
                sa.update(playbook_firings).where(f.id == sa.bindparam("fid")).values(merged_into=sa.bindparam("head")),
                rows,
            )
    return len(rows)


def pull_backlog(engine: sa.Engine, fitted: Fitted, *, now: dt.datetime) -> int:
    """Turn the backlog entries :func:`fit_to_capacity` found a slot for into tasks for their customer's owner
    (entry ``promoted``, closed by ``playbooks``; firing fate ``task``; audited ``backlog.pull``); an entry a
    manager promoted or that expired meanwhile is left alone. Returns how many became tasks."""
    done = 0
    with engine.begin() as conn:
        for w in fitted.pulled:
            claimed = conn.execute(
                sa.update(backlog)
                .where(backlog.c.id == w["id"], backlog.c.status == "waiting")
                .values(status="promoted", closed_at=now, closed_by="playbooks")
            ).rowcount
            if not claimed:
                continue
            task = w["task"]
            task_id = insert_task(conn, customer_id=w["customer_id"], assignee_id=w["owner_id"], title=task["title"],
                                  body=task.get("body"), priority=task.get("priority", "normal"),
                                  due_date=w["due_date"], now=now, playbook=w["playbook"], rule=w["rule"],
                                  firing_id=w["firing_id"])  # fmt: skip
            conn.execute(sa.update(backlog).where(backlog.c.id == w["id"]).values(task_id=task_id))
            conn.execute(sa.update(playbook_firings).where(playbook_firings.c.id == w["firing_id"]).values(fate="task"))
            audit(conn, at=now, actor="playbooks", action="backlog.pull", customer_id=w["customer_id"],
                  target=f"task:{task_id}", detail={"backlog": w["id"], "assignee_id": w["owner_id"],
                                                    "due_date": w["due_date"].isoformat()})  # fmt: skip
            done += 1
    return done


def accounting(engine: sa.Engine, run_id: int) -> dict[str, int]:
    """A run's firings by fate: ``firings`` and one count per fate of :data:`~kehu.playbooks.capacity.FATES`
    (``firings`` equals their sum; a firing written without a fate counts as ``unknown``)."""
    f = playbook_firings.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(f.fate, sa.func.count()).where(f.run_id == run_id).group_by(f.fate)).all()
    by_fate: dict[str | None, int] = {fate: int(n) for fate, n in rows}
    out = {"firings": sum(by_fate.values())}
    out.update({fate: by_fate.get(fate, 0) for fate in FATES})
    unknown = sum(n for fate, n in by_fate.items() if fate not in FATES)
    if unknown:
        out["unknown"] = unknown
    return out
