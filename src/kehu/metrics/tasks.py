"""What the task KPIs are computed from: one :class:`TaskFact` per task of a period, read from the app store.

Definitions (the formulas are in :mod:`kehu.metrics.formulas` and ``docs/kpis.md``):

- everything is *as of a cut-off*: the end of the report's as-of day (or now, if earlier); a task created, closed,
  started or noted after it is seen as it was at the cut-off;
- a task *due in P* has its ``due_date`` in P; a task *created in P* has its ``created_at`` in P; cancelled tasks
  count in neither;
- a task is *done* when its state is ``done`` and it was closed before the cut-off (or at an unknown time); its
  *outcome* is the one it was closed with (reached, no answer, won back, lost, not interested);
- the *first touch* of a task is the earliest of: its completion, a person starting it (``task.in_progress`` in
  the audit log) and a note its assignee wrote on the customer after the task was created;
- a *win-back task* is one whose customer was lapsed when it was created: they had bought before, but not in the
  ``lapse_days`` before;
- a done task's customer *ordered after* it when they made a purchase within ``window_days`` after it was closed;
  this is known only once the window has passed by the cut-off (else ``None``: too recent to tell).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from kehu.metrics import formulas as f
from kehu.metrics.periods import Period
from kehu.store.actions import audit_log, tasks
from kehu.store.notes import customer_notes
from kehu.store.schema import orders
from kehu.vocabulary import PURCHASE_STATUSES, TASK_OUTCOMES

__all__ = [
    "DEFAULT_ORDER_WINDOW_DAYS",
    "TOUCH_ACTIONS",
    "TaskFact",
    "load_task_facts",
    "outcome_summary",
    "task_kpis",
    "tasks_available",
]

#: days after a task was closed in which a purchase by its customer counts as "ordered after"
DEFAULT_ORDER_WINDOW_DAYS = 30
#: audit actions on a task that are a person touching it
TOUCH_ACTIONS = ("task.in_progress", "task.done")
#: fewest judged tasks on each side before the orders can confirm the "won back" outcomes
_MIN_JUDGED = 5


@dataclass(frozen=True)
class TaskFact:
    """One task as the KPIs of a period see it (see the module docstring for each word)."""

    customer: int | None
    assignee: int | None
    due: bool  # due in P
    created: bool  # created in P
    done: bool
    outcome: str | None  # when done
    touched: bool  # touched before the cut-off
    touch_hours: float  # created -> first touch, or -> the cut-off when not touched yet
    win_back: bool
    ordered: bool | None  # done: did the customer buy within the window after; None: not done or too recent


def tasks_available(conn: sa.Connection) -> str | None:
    """``None`` when the playbooks' ``tasks`` table (``customer_id``, ``status``, ``due_date``) exists, else why not."""
    inspector = sa.inspect(conn)
    if not inspector.has_table("tasks"):
        return "no tasks table: task KPIs need playbooks (tasks are created by playbooks)"
    cols = {c["name"] for c in inspector.get_columns("tasks")}
    missing = {"customer_id", "status", "due_date"} - cols
    return f"the tasks table has no {', '.join(sorted(missing))} column" if missing else None


def _grouped(conn: sa.Connection, stmt: sa.Select[Any]) -> dict[int, dt.datetime]:
    return {int(tid): at for tid, at in conn.execute(stmt) if at is not None}


def load_task_facts(
    conn: sa.Connection,
    period: Period,
    *,
    timezone: str,
    cutoff: dt.datetime,
    lapse_days: int,
    window_days: int = DEFAULT_ORDER_WINDOW_DAYS,
) -> list[TaskFact]:
    """The facts of every task due or created in ``period``, as of ``cutoff`` (aware), in five reads."""
    start, end = period.bounds(timezone)
    t = tasks.c
    due = sa.and_(t.due_date >= period.start, t.due_date < period.end)
    created = sa.and_(t.created_at >= start, t.created_at < end)
    chosen = sa.and_(sa.or_(due, created), t.status != "cancelled", t.created_at < cutoff)
    rows = conn.execute(
        sa.select(t.id, t.customer_id, t.assignee_id, t.status, t.outcome, t.due_date, t.created_at, t.closed_at)
        .where(chosen)
        .order_by(t.id)
    ).all()
    if not rows:
        return []
    target = sa.literal("task:") + sa.cast(t.id, sa.String)
    audited = _grouped(conn, sa.select(t.id, sa.func.min(audit_log.c.at))
                       .select_from(tasks.join(audit_log, sa.and_(audit_log.c.customer_id == t.customer_id,
                                                                  audit_log.c.target == target)))
                       .where(chosen, audit_log.c.action.in_(TOUCH_ACTIONS), audit_log.c.at < cutoff)
                       .group_by(t.id))  # fmt: skip
    n = customer_notes.c
    noted = _grouped(conn, sa.select(t.id, sa.func.min(n.created_at))
                     .select_from(tasks.join(customer_notes, sa.and_(n.customer_id == t.customer_id,
                                                                     n.author_id == t.assignee_id)))
                     .where(chosen, n.created_at >= t.created_at, n.created_at < cutoff)
                     .group_by(t.id))  # fmt: skip
    purchase = sa.func.lower(sa.func.trim(orders.c.status)).in_(PURCHASE_STATUSES)
    o = orders.c
    last_before = _grouped(conn, sa.select(t.id, sa.func.max(o.ordered_at))
                           .select_from(tasks.join(orders, o.customer_id == t.customer_id))
                           .where(chosen, purchase, o.ordered_at < t.created_at)
                           .group_by(t.id))  # fmt: skip
    first_after = _grouped(conn, sa.select(t.id, sa.func.min(o.ordered_at))
                           .select_from(tasks.join(orders, o.customer_id == t.customer_id))
                           .where(chosen, t.status == "done", t.closed_at.is_not(None), purchase,
                                  o.ordered_at > t.closed_at, o.ordered_at < cutoff)
                           .group_by(t.id))  # fmt: skip
    lapse, window = dt.timedelta(days=lapse_days), dt.timedelta(days=window_days)
    facts = []
    for tid, customer, assignee, status, outcome, due_date, created_at, closed_at in rows:
        done = status == "done" and (closed_at is None or closed_at < cutoff)  # closed at an unknown time: done
        touches = [at for at in (closed_at if done else None, audited.get(tid), noted.get(tid)) if at is not None]
        touch = min(touches) if touches else None
        last = last_before.get(tid)
        ordered: bool | None = None
        if done and closed_at is not None and closed_at + window <= cutoff:
            after = first_after.get(tid)
            ordered = after is not None and after <= closed_at + window
        facts.append(
            TaskFact(
                customer=None if customer is None else int(customer),
                assignee=None if assignee is None else int(assignee),
                due=due_date is not None and period.start <= due_date < period.end,
                created=start <= created_at < end,
                done=done,
                outcome=outcome if done else None,
                touched=touch is not None,
                touch_hours=max(0.0, ((touch or cutoff) - created_at).total_seconds() / 3600.0),
                win_back=last is not None and last < created_at - lapse,
                ordered=ordered,
            )
        )
    return facts


def task_kpis(facts: Sequence[TaskFact] | None) -> dict[str, Any]:
    """The task KPIs of some tasks (``None``: no tasks table, every KPI ``None``).

    ``tasks_due`` and ``tasks_done`` (due in P, done of them), ``task_completion_rate``,
    ``task_first_touch_hours_median`` (over tasks created in P, Kaplan–Meier: a task not touched yet counts as
    still waiting), ``win_back_tasks_done`` (done win-back tasks due in P), ``task_won_back_share`` (of those,
    closed as won back) and ``task_won_back_ordered_rate`` (of the tasks due in P closed as won back whose order
    window is over, the share whose customer ordered in it).
    """
    if facts is None:
        keys = ("tasks_due", "tasks_done", "task_completion_rate", "task_first_touch_hours_median",
                "win_back_tasks_done", "task_won_back_share", "task_won_back_ordered_rate")  # fmt: skip
        return dict.fromkeys(keys)
    due = [x for x in facts if x.due]
    done = [x for x in due if x.done]
    win_back = [x for x in done if x.win_back]
    judged = [x for x in done if x.outcome == "won_back" and x.ordered is not None]
    return {
        "tasks_due": len(due),
        "tasks_done": len(done),
        "task_completion_rate": f.task_completion_rate(len(done), len(due)),
        "task_first_touch_hours_median": f.median_time_to_event((x.touch_hours, x.touched) for x in facts if x.created),
        "win_back_tasks_done": len(win_back),
        "task_won_back_share": f.share(sum(1 for x in win_back if x.outcome == "won_back"), len(win_back)),
        "task_won_back_ordered_rate": f.share(sum(1 for x in judged if x.ordered), len(judged)),
    }


def _interval(ordered: int, judged: int) -> tuple[float | None, float | None]:
    low = f.wilson_lower_bound(ordered, judged)
    high = f.wilson_lower_bound(judged - ordered, judged)
    return low, None if high is None else 1.0 - high


def outcome_summary(facts: Iterable[TaskFact], *, window_days: int = DEFAULT_ORDER_WINDOW_DAYS) -> dict[str, Any]:
    """The done tasks due in P by outcome, each with how many customers ordered within ``window_days`` after.

    Returns ``window_days``, ``outcomes`` (per outcome of :data:`~kehu.vocabulary.TASK_OUTCOMES`: ``tasks``,
    ``win_back`` tasks, ``judged`` (window over), ``ordered``, ``ordered_share`` and its 95 % Wilson interval
    ``low``/``high``), ``others`` (the same over every outcome but won back) and ``verdict``: ``confirmed`` when
    customers closed as won back ordered more often than the others beyond doubt (the intervals do not overlap),
    ``not_confirmed`` when both sides have at least 5 judged tasks but the intervals overlap, ``too_few`` else.
    """
    done = [x for x in facts if x.due and x.done]

    def row(chosen: list[TaskFact]) -> dict[str, Any]:
        judged = [x for x in chosen if x.ordered is not None]
        ordered = sum(1 for x in judged if x.ordered)
        low, high = _interval(ordered, len(judged))
        share = f.share(ordered, len(judged))
        return {"tasks": len(chosen), "win_back": sum(1 for x in chosen if x.win_back), "judged": len(judged),
                "ordered": ordered, "ordered_share": share, "low": low, "high": high}  # fmt: skip

    outcomes = [{"outcome": name, **row([x for x in done if x.outcome == name])} for name in TASK_OUTCOMES]
    won = outcomes[TASK_OUTCOMES.index("won_back")]
    others = row([x for x in done if x.outcome != "won_back"])
    if won["judged"] < _MIN_JUDGED or others["judged"] < _MIN_JUDGED:
        verdict = "too_few"
    else:
        verdict = "confirmed" if won["low"] > others["high"] else "not_confirmed"
    return {"window_days": window_days, "outcomes": outcomes, "others": others, "verdict": verdict}
