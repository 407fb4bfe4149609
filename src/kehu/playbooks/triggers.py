"""Triggers: which customers a rule's ``when`` matches on a day, each with the occurrence it fires for.

An *occurrence* is what makes a firing unique (with playbook, rule and customer): the day a customer entered a
segment, the last order a dormancy count starts from, the contract that ends, the feedback or ticket. A trigger
evaluated again — the next day, after a restart, with or without new data — names the same occurrence, so the
rule does not act twice; a new occurrence (entering again later, a new last order) may act again, subject to
the rule's re-entry and cooldown policy.

State triggers (``entered``, ``left``, ``score_crossed``) read the history the store keeps (segment runs,
score snapshots) and look back ``within_days``: a day without a run loses nothing. Date triggers
(``days_since_last_order``, ``days_since_first_order``, ``contract_ends_within``, ``feedback``,
``ticket_past_sla``) read the activity tables directly and count from the evaluated day, so a daily sweep
fires them as the clock moves even when no data changed; ``catch_up_days`` lets a missed sweep catch up.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from kehu.playbooks.model import Trigger
from kehu.store.published import customer_score_history
from kehu.store.schema import contracts, feedback, orders, tickets
from kehu.store.segments import segment_memberships, segment_runs
from kehu.vocabulary import OPEN_STATES, PURCHASE_STATUSES

__all__ = ["Clock", "Occurrence", "evaluate_trigger"]


@dataclass(frozen=True)
class Clock:
    """When triggers are evaluated: ``day`` (local date) and ``now`` (aware), in the workspace time zone."""

    day: dt.date
    now: dt.datetime
    tz: ZoneInfo

    @property
    def reference_time(self) -> dt.datetime:
        """``now``, but never after the end of ``day`` (a run for an earlier day sees that day's end)."""
        end = dt.datetime.combine(self.day + dt.timedelta(days=1), dt.time(), self.tz)
        return min(self.now, end)

    def local_date(self, at: dt.datetime) -> dt.date:
        """The local date of an aware time."""
        return at.astimezone(self.tz).date()


@dataclass(frozen=True)
class Occurrence:
    """One customer matching a trigger: the occurrence key and the values that made it match."""

    customer_id: int
    key: str
    values: dict[str, Any] = field(default_factory=dict)


def evaluate_trigger(
    conn: sa.Connection, trigger: Trigger, clock: Clock, *, sla_hours: dict[str, float]
) -> list[Occurrence]:
    """The occurrences ``trigger`` matches on ``clock.day``, ordered by customer and key."""
    kind = trigger.kind
    if kind in ("entered", "left"):
        out = _segment(conn, trigger, clock)
    elif kind == "score_crossed":
        out = _score(conn, trigger, clock)
    elif kind in ("days_since_last_order", "days_since_first_order"):
        out = _order_dates(conn, trigger, clock)
    elif kind == "contract_ends_within":
        out = _contracts(conn, trigger, clock)
    elif kind == "feedback":
        out = _feedback(conn, trigger, clock)
    elif kind == "ticket_past_sla":
        out = _tickets(conn, trigger, clock, sla_hours)
    elif kind == "ticket_breached":
        out = _breaches(conn, trigger, clock)
    elif kind == "tier_changed":
        out = _tier_changes(conn, trigger, clock)
    else:  # the schema allows no other kind
        raise ValueError(f"unknown trigger {kind!r}")
    return sorted(out, key=lambda o: (o.customer_id, o.key))


# -- state triggers: streaks over snapshots ---------------------------------------------------------------------
def _window(days: list[dt.date], clock: Clock, within: int) -> tuple[list[dt.date], bool]:
    """Snapshot days inside the look-back window plus the one before it; True when that one is the first ever."""
    days = sorted(d for d in days if d <= clock.day)
    start = clock.day - dt.timedelta(days=within)
    inside = [d for d in days if d >= start]
    before = [d for d in days if d < start]
    if before:
        return [before[-1], *inside], False
    return inside, True


def _streaks(
    days: list[dt.date], members: dict[dt.date, set[int]], *, entered: bool, first_is_initial: bool, initial: bool
) -> dict[int, dt.date]:
    """Customer -> the day their current state began (entered) or ended (left), within the loaded days."""
    out: dict[int, dt.date] = {}
    if not days:
        return out
    latest = days[-1]
    if entered:
        for c in members.get(latest, set()):
            start = latest
            i = len(days) - 1
            while i > 0 and c in members.get(days[i - 1], set()):
                i -= 1
                start = days[i]
            if i == 0 and not (first_is_initial and initial):
                continue  # in the state since before the window (or the first snapshot, with initial: false)
            out[c] = start
        return out
    inside = set().union(*(members.get(d, set()) for d in days)) - members.get(latest, set())
    for c in inside:
        last_in = max(i for i, d in enumerate(days) if c in members.get(d, set()))
        if last_in + 1 < len(days):
            out[c] = days[last_in + 1]
    return out


def _segment(conn: sa.Connection, trigger: Trigger, clock: Clock) -> list[Occurrence]:
    ref: str = trigger.get("segment")
    scheme, _, segment = ref.partition(":")
    runs = {
        row.as_of: row.id
        for row in conn.execute(
            sa.select(segment_runs.c.id, segment_runs.c.as_of).where(segment_runs.c.scheme == scheme)
        )
    }
    days, first = _window(list(runs), clock, int(trigger.get("within_days")))
    members: dict[dt.date, set[int]] = {}
    m = segment_memberships
    for day in days:
        stmt = sa.select(m.c.customer_id).where(m.c.run_id == runs[day], m.c.segment == segment)
        members[day] = {int(c) for c in conn.execute(stmt).scalars()}
    entered = trigger.kind == "entered"
    since = _streaks(days, members, entered=entered, first_is_initial=first, initial=bool(trigger.get("initial")))
    return [
        Occurrence(c, f"{trigger.kind}:{ref}:{day.isoformat()}", {"segment": ref, "since": day})
        for c, day in since.items()
    ]


def _json_number(conn: sa.Connection, column: Any, name: str) -> Any:
    """``column[name]`` as a float where it holds a JSON number, else NULL (PostgreSQL refuses to cast text such
    as ``"n/a"``; SQLite would compare it as text)."""
    if conn.dialect.name == "postgresql":
        is_number = sa.func.json_typeof(column[name]) == "number"
    else:
        is_number = sa.func.json_type(column, f'$."{name}"').in_(("integer", "real"))
    return sa.case((is_number, column[name].as_float()), else_=sa.null())


def _score(conn: sa.Connection, trigger: Trigger, clock: Clock) -> list[Occurrence]:
    h = customer_score_history
    name: str = trigger.get("score")
    above, below = trigger.get("above"), trigger.get("below")
    value = _json_number(conn, h.c.scores, name)
    snapshot_days = [d for d in conn.execute(sa.select(h.c.as_of).distinct()).scalars()]
    days, first = _window(snapshot_days, clock, int(trigger.get("within_days")))
    members: dict[dt.date, set[int]] = {day: set() for day in days}
    values: dict[int, float] = {}
    if days:
        state = value >= above if above is not None else value <= below
        stmt = sa.select(h.c.customer_id, h.c.as_of, value).where(h.c.as_of.in_(days), value.is_not(None), state)
        for cid, day, v in conn.execute(stmt):
            members[day].add(int(cid))
            if day == days[-1]:
                values[int(cid)] = float(v)
    since = _streaks(days, members, entered=True, first_is_initial=first, initial=bool(trigger.get("initial")))
    threshold = above if above is not None else below
    direction = "above" if above is not None else "below"
    return [
        Occurrence(
            c,
            f"score:{name}:{direction}:{threshold}:{day.isoformat()}",
            {"score": name, "score_value": values.get(c), "threshold": threshold, "since": day},
        )
        for c, day in since.items()
    ]


# -- date triggers ------------------------------------------------------------------------------------------------
def _day_end(clock: Clock) -> dt.datetime:
    return dt.datetime.combine(clock.day + dt.timedelta(days=1), dt.time(), clock.tz)


def _order_dates(conn: sa.Connection, trigger: Trigger, clock: Clock) -> list[Occurrence]:
    last = trigger.kind == "days_since_last_order"
    agg = sa.func.max(orders.c.ordered_at) if last else sa.func.min(orders.c.ordered_at)
    stmt = (
        sa.select(orders.c.customer_id, agg.label("at"))
        .where(orders.c.status.in_(PURCHASE_STATUSES), orders.c.ordered_at < _day_end(clock))
        .group_by(orders.c.customer_id)
    )
    n, catch_up = int(trigger.get("days")), int(trigger.get("catch_up_days"))
    newest = clock.day - dt.timedelta(days=n)
    oldest = newest - dt.timedelta(days=catch_up)
    label = "last_order_date" if last else "first_order_date"
    prefix = "last_order" if last else "first_order"
    out = []
    for cid, at in conn.execute(stmt):
        at = orders.c.ordered_at.type.process_result_value(at, conn.dialect) if isinstance(at, str) else at
        if at is None:
            continue
        if at.tzinfo is None:
            at = at.replace(tzinfo=dt.UTC)
        day = clock.local_date(at)
        if oldest <= day <= newest:
            values = {"days": (clock.day - day).days, label: day}
            out.append(Occurrence(int(cid), f"{prefix}:{n}:{day.isoformat()}", values))
    return out


def _contracts(conn: sa.Connection, trigger: Trigger, clock: Clock) -> list[Occurrence]:
    c = contracts
    renewal = sa.alias(contracts, "renewal")
    renewed = sa.exists().where(renewal.c.source == c.c.source, renewal.c.renewal_of == c.c.contract_id)
    horizon = clock.day + dt.timedelta(days=int(trigger.get("days")))
    stmt = sa.select(c.c.id, c.c.customer_id, c.c.contract_id, c.c.end_date).where(
        c.c.status == "active", c.c.end_date >= clock.day, c.c.end_date <= horizon, ~renewed
    )
    return [
        Occurrence(
            int(cid),
            f"contract:{row_id}:{end.isoformat()}",
            {"contract_id": key, "contract_end": end, "days_to_end": (end - clock.day).days},
        )
        for row_id, cid, key, end in conn.execute(stmt)
    ]


def _feedback(conn: sa.Connection, trigger: Trigger, clock: Clock) -> list[Occurrence]:
    f = feedback
    start = dt.datetime.combine(clock.day - dt.timedelta(days=int(trigger.get("within_days"))), dt.time(), clock.tz)
    conds = [f.c.kind == trigger.get("kind"), f.c.responded_at >= start, f.c.responded_at < _day_end(clock)]
    if trigger.get("max_score") is not None:
        conds.append(f.c.score <= int(trigger.get("max_score")))
    if trigger.get("min_score") is not None:
        conds.append(f.c.score >= int(trigger.get("min_score")))
    stmt = sa.select(f.c.id, f.c.customer_id, f.c.kind, f.c.score, f.c.comment, f.c.responded_at).where(*conds)
    return [
        Occurrence(
            int(cid),
            f"feedback:{row_id}",
            {"feedback_kind": kind, "feedback_score": score, "feedback_comment": comment, "responded_at": at},
        )
        for row_id, cid, kind, score, comment, at in conn.execute(stmt)
    ]


def _tickets(conn: sa.Connection, trigger: Trigger, clock: Clock, sla_hours: dict[str, float]) -> list[Occurrence]:
    t = tickets
    priorities: Iterable[str] = trigger.get("priorities") or sorted(sla_hours)
    at = clock.reference_time
    out = []
    by_priority: dict[str, list[Any]] = defaultdict(list)
    for priority in priorities:
        hours = sla_hours.get(priority)
        if hours is None:
            continue
        conds = [
            t.c.priority == priority,
            t.c.status.in_(OPEN_STATES),
            t.c.resolved_at.is_(None),
            t.c.opened_at < at - dt.timedelta(hours=hours),
        ]
        if trigger.get("complaints_only"):
            conds.append(t.c.is_complaint.is_(True))
        stmt = sa.select(t.c.id, t.c.customer_id, t.c.ticket_id, t.c.topic, t.c.opened_at).where(*conds)
        by_priority[priority] = list(conn.execute(stmt))
        for row_id, cid, key, topic, opened in by_priority[priority]:
            values = {
                "ticket_id": key,
                "ticket_topic": topic,
                "ticket_priority": priority,
                "hours_open": round((at - opened).total_seconds() / 3600, 1),
                "sla_hours": hours,
            }
            out.append(Occurrence(int(cid), f"ticket:{row_id}", values))
    return out


# -- loop events: recorded SLA breaches and loyalty tier changes (issue #8) --------------------------------------
def _breaches(conn: sa.Connection, trigger: Trigger, clock: Clock) -> list[Occurrence]:
    """Breaches recorded in the last ``within_days`` days (each fires once: its key is the breach)."""
    from kehu.store.care import ticket_sla_breaches as b

    start = dt.datetime.combine(clock.day - dt.timedelta(days=int(trigger.get("within_days"))), dt.time(), clock.tz)
    conds = [b.c.detected_at >= start, b.c.detected_at < _day_end(clock)]
    if trigger.get("kinds"):
        conds.append(b.c.kind.in_(list(trigger.get("kinds"))))
    if trigger.get("priorities"):
        conds.append(b.c.priority.in_(list(trigger.get("priorities"))))
    stmt = (
        sa.select(b.c.id, b.c.customer_id, b.c.kind, b.c.priority, b.c.due_at, tickets.c.ticket_id, tickets.c.topic)
        .join(tickets, tickets.c.id == b.c.ticket_id)
        .where(*conds)
    )
    return [
        Occurrence(
            int(cid),
            f"breach:{row_id}",
            {"ticket_id": key, "ticket_topic": topic, "ticket_priority": priority, "breach_kind": kind, "due_at": due},
        )
        for row_id, cid, kind, priority, due, key, topic in conn.execute(stmt)
    ]


def _tier_changes(conn: sa.Connection, trigger: Trigger, clock: Clock) -> list[Occurrence]:
    """Tier changes on a day of the last ``within_days`` days, optionally only those to some tiers (``to``)."""
    from kehu.store.care import loyalty_tier_changes as c

    conds = [c.c.on_day >= clock.day - dt.timedelta(days=int(trigger.get("within_days"))), c.c.on_day <= clock.day]
    if trigger.get("to"):
        conds.append(c.c.to_tier.in_(list(trigger.get("to"))))
    rows = conn.execute(sa.select(c.c.id, c.c.customer_id, c.c.from_tier, c.c.to_tier, c.c.on_day).where(*conds))
    return [
        Occurrence(
            int(r.customer_id), f"tier:{r.id}", {"from_tier": r.from_tier, "to_tier": r.to_tier, "changed_on": r.on_day}
        )
        for r in rows
    ]
