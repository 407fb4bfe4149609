"""The demo company's recent weeks of follow-up work: its owners create follow-up tasks, call, note and close them
with outcomes, through the same services the web app uses, so that a fresh demo opens on a lived-in inbox.

The simulation (seeded: the same seed, data and ``today`` give the same history) walks the working days of the
``weeks`` before ``today``. On each, every owner creates a few follow-up tasks for their own customers — mostly
customers who have gone quiet, some lapsed ones (a win-back call) — due one to five days later. Most tasks are
touched around their due day (on it or just before, some late); sometimes a first call goes unanswered and the
owner notes it, then the task is closed with an outcome. The outcome follows what the imported orders say happened
next: a lapsed customer who did buy within 30 days is mostly closed as won back, one who did not mostly as lost,
not interested or no answer (and now and then as won back all the same: reps are optimistic, which the KPI page's
check against the orders is for). A few tasks are never handled (overdue today), and nothing happens at or after
the start of ``today``: the tasks of the last days are still open, due today or later.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import sqlalchemy as sa

from kehu import i18n
from kehu.service.customers import CustomerService
from kehu.service.principal import Principal, Workspace
from kehu.service.tasks import TaskService
from kehu.store.schema import customers, orders, users
from kehu.vocabulary import PURCHASE_STATUSES

__all__ = ["DEFAULT_HISTORY_WEEKS", "simulate_task_history"]

#: how many weeks of follow-up work ``kehu demo`` simulates before today
DEFAULT_HISTORY_WEEKS = 6
_TASKS_PER_DAY = 2.0  # an owner's new follow-ups per working day (fewer for an owner of few customers)
_QUIET_DAYS = 30  # a customer without a purchase for this long is worth a call
_LAPSE_DAYS = 180  # ... and one without a purchase for this long is a win-back call (as the KPIs count it)
_REPLY_DAYS = 30  # a purchase this soon after the call is what the call achieved
_NEVER = 0.06  # share of tasks nobody handles
_NO_ANSWER_FIRST = 0.3  # share of handled tasks whose first call goes unanswered (noted, called again)
_DUE_DAYS = (1, 2, 3, 4, 5)  # a new task is due this many days later
_TOUCH_DAYS = (-2, -1, 0, 1, 2, 4)  # the first touch: this many days from the due day (not before the creation) ...
_TOUCH_P = (0.15, 0.25, 0.35, 0.12, 0.08, 0.05)  # ... and how often


@dataclass(frozen=True)
class _Outcomes:
    names: tuple[str, ...]
    p: tuple[float, ...]


#: (win-back call?, bought within _REPLY_DAYS after?) -> how the owner closes the task
_OUTCOMES = {
    (True, True): _Outcomes(("won_back", "reached"), (0.8, 0.2)),
    (True, False): _Outcomes(
        ("lost", "not_interested", "no_answer", "reached", "won_back"), (0.3, 0.25, 0.22, 0.15, 0.08)
    ),
    (False, True): _Outcomes(("reached", "no_answer"), (0.85, 0.15)),
    (False, False): _Outcomes(("reached", "no_answer", "not_interested"), (0.55, 0.3, 0.15)),
}


def _purchases(ws: Workspace, owned: set[int]) -> dict[int, list[dt.datetime]]:
    """Every owned customer's purchase times, sorted."""
    out: dict[int, list[dt.datetime]] = defaultdict(list)
    purchase = sa.func.lower(sa.func.trim(orders.c.status)).in_(PURCHASE_STATUSES)
    stmt = (
        sa.select(orders.c.customer_id, orders.c.ordered_at)
        .select_from(orders.join(customers, customers.c.id == orders.c.customer_id))
        .where(purchase, customers.c.owner_id.is_not(None))
        .order_by(orders.c.customer_id, orders.c.ordered_at)
    )
    with ws.engine.connect() as conn:
        for cid, at in conn.execute(stmt):
            if int(cid) in owned:
                out[int(cid)].append(at)
    return out


def _owners(ws: Workspace) -> list[tuple[Principal, list[tuple[int, str]]]]:
    """Every active owner of customers, with their customers (id, name), by user id."""
    with ws.engine.connect() as conn:
        people = conn.execute(
            sa.select(users.c.id, users.c.name, users.c.display_name, users.c.role, users.c.team)
            .where(users.c.active.is_(True))
            .order_by(users.c.id)
        ).all()
        book: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for cid, name, owner in conn.execute(
            sa.select(customers.c.id, customers.c.name, customers.c.owner_id)
            .where(customers.c.owner_id.is_not(None))
            .order_by(customers.c.id)
        ):
            book[int(owner)].append((int(cid), name or str(cid)))
    return [
        (Principal(int(uid), name, display or name, role, team, None), book[int(uid)])
        for uid, name, display, role, team in people
        if book.get(int(uid))
    ]


def _working_days(today: dt.date, weeks: int) -> list[dt.date]:
    first = today - dt.timedelta(days=7 * weeks)
    days = (first + dt.timedelta(days=i) for i in range((today - first).days))
    return [d for d in days if d.weekday() < 5]


def simulate_task_history(
    ws: Workspace, *, today: dt.date, seed: int = 0, weeks: int = DEFAULT_HISTORY_WEEKS
) -> dict[str, Any]:
    """Simulate ``weeks`` of the owners' follow-up work before ``today`` (see the module docstring).

    Returns the counts: ``tasks`` created, ``done`` (per outcome in ``outcomes``), ``notes`` written, ``open``
    (left open at the start of ``today``), and the first and last ``days`` simulated.
    """
    tz = ZoneInfo(ws.settings.timezone)
    locale = ws.settings.locale
    start_of_today = dt.datetime.combine(today, dt.time(), tzinfo=tz)
    rng = np.random.default_rng([seed, 18])
    owners = _owners(ws)
    bought = _purchases(ws, {cid for _, book in owners for cid, _ in book})
    days = _working_days(today, weeks)
    counts: dict[str, Any] = {"tasks": 0, "done": 0, "notes": 0, "open": 0, "outcomes": defaultdict(int)}
    for day in days:
        for principal, book in owners:
            people, work = CustomerService(ws, principal), TaskService(ws, principal)
            n = rng.poisson(min(_TASKS_PER_DAY, len(book) / 15))
            if n == 0:
                continue
            created = dt.datetime.combine(day, dt.time(9), tzinfo=tz) + dt.timedelta(minutes=int(rng.integers(0, 480)))
            last_of = [_last_before(bought.get(cid, []), created) for cid, _ in book]
            weight = np.array([_weight(last, created) for last in last_of])
            if weight.sum() == 0:
                continue
            picks = rng.choice(len(book), size=min(n, int((weight > 0).sum())), replace=False, p=weight / weight.sum())
            for i in sorted(picks):
                cid, name = book[i]
                last = last_of[i]
                win_back = last is not None and last < created - dt.timedelta(days=_LAPSE_DAYS)
                quiet = None if last is None else (created - last).days
                kind = (
                    "win_back"
                    if win_back
                    else "follow_up"
                    if quiet is not None and quiet >= _QUIET_DAYS
                    else "check_in"
                )
                title = _text(f"{kind}_title", locale, name=name, days=quiet)
                due = day + dt.timedelta(days=int(rng.choice(_DUE_DAYS)))
                task = people.create_task(cid, title=title, due_date=due, now=created)
                counts["tasks"] += 1
                touch = _touch(rng, created, due, tz)
                if rng.random() < _NEVER or touch >= start_of_today:
                    counts["open"] += 1
                    continue
                if rng.random() < _NO_ANSWER_FIRST:
                    people.add_note(cid, _text("no_answer_note", locale), now=touch)
                    counts["notes"] += 1
                    touch = touch + dt.timedelta(days=1, hours=float(rng.uniform(-2, 2)))
                    if touch >= start_of_today:
                        counts["open"] += 1
                        continue
                after = _first_after(bought.get(cid, []), touch)
                replied = after is not None and after <= touch + dt.timedelta(days=_REPLY_DAYS)
                choice = _OUTCOMES[(win_back, replied)]
                outcome = str(rng.choice(choice.names, p=choice.p))
                work.change(task, action="complete", outcome=outcome, now=touch)
                counts["done"] += 1
                counts["outcomes"][outcome] += 1
    counts["outcomes"] = dict(sorted(counts["outcomes"].items()))
    counts["days"] = [days[0].isoformat(), days[-1].isoformat()] if days else []
    return counts


def _text(key: str, locale: str, **values: Any) -> str:
    return i18n.text(f"outcomes.demo.{key}", locale).format(**values)


def _last_before(times: list[dt.datetime], at: dt.datetime) -> dt.datetime | None:
    i = bisect.bisect_left(times, at)
    return times[i - 1] if i else None


def _first_after(times: list[dt.datetime], at: dt.datetime) -> dt.datetime | None:
    i = bisect.bisect_right(times, at)
    return times[i] if i < len(times) else None


def _weight(last: dt.datetime | None, at: dt.datetime) -> float:
    """How likely an owner calls a customer: those gone quiet most, lapsed ones often, recent buyers seldom."""
    if last is None:
        return 0.0  # never bought: nothing to follow up
    days = (at - last).days
    if days >= _LAPSE_DAYS:
        return 2.0
    return 4.0 if days >= _QUIET_DAYS else 0.5


def _touch(rng: np.random.Generator, created: dt.datetime, due: dt.date, tz: ZoneInfo) -> dt.datetime:
    """When the owner first gets to a task: around its due day (mostly on it or just before, some late), in
    working hours, never before it was created."""
    day = due + dt.timedelta(days=int(rng.choice(_TOUCH_DAYS, p=_TOUCH_P)))
    at = dt.datetime.combine(day, dt.time(10), tzinfo=tz) + dt.timedelta(minutes=int(rng.integers(0, 480)))
    return max(at, created + dt.timedelta(minutes=int(rng.integers(20, 120))))
