"""The KPI report: reads the app store for one period and applies the formulas of :mod:`kehu.metrics.formulas`.

Definitions of the inputs (the formulas themselves are in ``formulas`` and ``docs/kpis.md``):

- a *purchase* is an order whose status is ``paid`` or ``completed`` (as in the pipeline); a customer is
  *active in P* with at least one purchase ordered in P;
- periods are calendar periods in the workspace's time zone (:class:`~kehu.metrics.periods.Period`);
- survey responses and tickets count in the period they were answered / opened in;
- CLV is the latest published ``clv_12m`` of every scored customer (not per period);
- tasks come from the ``tasks`` table, as of the end of the as-of day (see :mod:`kehu.metrics.tasks`): task
  completion counts the tasks due in the period, the time to first touch those created in it; an owner's tasks are
  those assigned to them (an unassigned task: its customer's owner's); without the table, the task KPIs are
  reported as not available.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from kehu.metrics import formulas as f
from kehu.metrics.periods import Period
from kehu.metrics.tasks import DEFAULT_ORDER_WINDOW_DAYS, TaskFact, load_task_facts, outcome_summary, task_kpis
from kehu.metrics.tasks import tasks_available as tasks_available
from kehu.store.published import customer_scores, published_cohorts
from kehu.store.schema import customers, feedback, orders, tickets, users

__all__ = [
    "DEFAULT_LAPSE_DAYS",
    "PeriodData",
    "cutoff_of",
    "kpi_report",
    "lapsed_at_starts",
    "load_period",
    "load_periods",
    "merge_parts",
    "scalar_kpis",
    "split_by_owner",
    "tasks_available",
]

DEFAULT_LAPSE_DAYS = 180


@dataclass
class PeriodData:
    """What one period's KPIs are computed from (customer ids are Kehu ids)."""

    period: Period
    previous_buyers: set[int] = field(default_factory=set)
    orders: dict[int, int] = field(default_factory=dict)  # customer -> purchases in P
    revenue: dict[int, int] = field(default_factory=dict)  # customer -> purchase revenue (cents) in P
    lapsed: set[int] = field(default_factory=set)
    nps: list[tuple[int, int]] = field(default_factory=list)  # (customer, score)
    csat: list[tuple[int, int]] = field(default_factory=list)
    first_response: list[tuple[int, float]] = field(default_factory=list)  # (customer, seconds)
    resolution: list[tuple[int, float]] = field(default_factory=list)
    tasks: list[TaskFact] | None = None  # tasks due or created in P; None: no tasks table
    tasks_reason: str | None = None


def _purchase() -> sa.ColumnElement[bool]:
    from kehu.vocabulary import PURCHASE_STATUSES

    return sa.func.lower(sa.func.trim(orders.c.status)).in_(PURCHASE_STATUSES)


def lapsed_at_starts(
    conn: sa.Connection, periods: Sequence[Period], *, timezone: str, lapse_days: int = DEFAULT_LAPSE_DAYS
) -> list[set[int]]:
    """For each period, the customers lapsed at its start: a purchase before, none in the ``lapse_days`` before it.

    One aggregation over the purchases for all the periods (the latest purchase before each start, per customer):
    on a million customers this scan is most of the report's time, so it is not repeated per period.
    """
    starts = [period.bounds(timezone)[0] for period in periods]
    if not starts:
        return []
    purchase = _purchase()
    lasts = [
        sa.func.max(sa.case((orders.c.ordered_at < start, orders.c.ordered_at))) < start - dt.timedelta(days=lapse_days)
        for start in starts
    ]
    stmt = (
        sa.select(orders.c.customer_id, *(sa.case((last, 1), else_=0) for last in lasts))
        .where(purchase, orders.c.ordered_at < max(starts))
        .group_by(orders.c.customer_id)
    )
    out: list[set[int]] = [set() for _ in starts]
    for row in conn.execute(stmt):
        for i, flag in enumerate(row[1:]):
            if flag:
                out[i].add(int(row[0]))
    return out


def cutoff_of(as_of: dt.date | None, timezone: str, now: dt.datetime | None = None) -> dt.datetime:
    """The instant the task KPIs are seen at: the end of ``as_of`` in ``timezone``, or ``now`` if that is earlier
    (``as_of`` ``None``: now)."""
    now = now or dt.datetime.now(dt.UTC)
    if as_of is None:
        return now
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), tzinfo=ZoneInfo(timezone))
    return min(now, end)


def load_period(
    conn: sa.Connection,
    period: Period,
    *,
    timezone: str,
    lapse_days: int = DEFAULT_LAPSE_DAYS,
    cutoff: dt.datetime | None = None,
) -> PeriodData:
    """Read everything the KPIs of ``period`` need from the store (tasks as of ``cutoff``, default now)."""
    (lapsed,) = lapsed_at_starts(conn, [period], timezone=timezone, lapse_days=lapse_days)
    return _read_period(conn, period, timezone=timezone, lapsed=lapsed, lapse_days=lapse_days, cutoff=cutoff)


def load_periods(
    conn: sa.Connection,
    period: Period,
    *,
    timezone: str,
    lapse_days: int = DEFAULT_LAPSE_DAYS,
    cutoff: dt.datetime | None = None,
) -> tuple[PeriodData, PeriodData]:
    """:func:`load_period` of ``period`` and of the one before, sharing their reads: one aggregation finds the
    customers lapsed at both starts, and ``period``'s previous buyers are the buyers of the period before."""
    previous = period.previous()
    lapsed, lapsed_before = lapsed_at_starts(conn, [period, previous], timezone=timezone, lapse_days=lapse_days)
    before = _read_period(conn, previous, timezone=timezone, lapsed=lapsed_before, lapse_days=lapse_days, cutoff=cutoff)
    data = _read_period(conn, period, timezone=timezone, lapsed=lapsed, lapse_days=lapse_days, cutoff=cutoff,
                        previous_buyers=set(before.orders))  # fmt: skip
    return data, before


def _read_period(
    conn: sa.Connection,
    period: Period,
    *,
    timezone: str,
    lapsed: set[int],
    lapse_days: int = DEFAULT_LAPSE_DAYS,
    cutoff: dt.datetime | None = None,
    previous_buyers: set[int] | None = None,
) -> PeriodData:
    """The period's data, with the customers lapsed at its start (and its previous buyers, if known) given."""
    start, end = period.bounds(timezone)
    prev_start, _ = period.previous().bounds(timezone)
    data = PeriodData(period, lapsed=lapsed)
    purchase = _purchase()
    if previous_buyers is None:
        previous_buyers = {
            int(c)
            for c in conn.execute(
                sa.select(orders.c.customer_id)
                .distinct()
                .where(purchase, orders.c.ordered_at >= prev_start, orders.c.ordered_at < start)
            ).scalars()
        }
    data.previous_buyers = previous_buyers
    stmt = (
        sa.select(orders.c.customer_id, sa.func.count(), sa.func.sum(orders.c.amount_cents))
        .where(purchase, orders.c.ordered_at >= start, orders.c.ordered_at < end)
        .group_by(orders.c.customer_id)
    )
    for cid, n, revenue in conn.execute(stmt):
        data.orders[int(cid)] = int(n)
        data.revenue[int(cid)] = int(revenue or 0)
    answers = sa.select(feedback.c.customer_id, feedback.c.kind, feedback.c.score).where(
        feedback.c.responded_at >= start, feedback.c.responded_at < end
    )
    for cid, kind, score in conn.execute(answers):
        (data.nps if kind == "nps" else data.csat).append((int(cid), int(score)))
    opened = sa.select(tickets.c.customer_id, tickets.c.opened_at, tickets.c.first_response_at, tickets.c.resolved_at)
    for cid, at, first, resolved in conn.execute(opened.where(tickets.c.opened_at >= start, tickets.c.opened_at < end)):
        if first is not None:
            data.first_response.append((int(cid), (first - at).total_seconds()))
        if resolved is not None:
            data.resolution.append((int(cid), (resolved - at).total_seconds()))
    data.tasks_reason = tasks_available(conn)
    if data.tasks_reason is None:
        data.tasks = load_task_facts(
            conn, period, timezone=timezone, cutoff=cutoff or dt.datetime.now(dt.UTC), lapse_days=lapse_days
        )
    return data


def scalar_kpis(data: PeriodData, keep: Callable[[int], bool] | None = None) -> dict[str, Any]:
    """The period's KPIs over all customers, or over those ``keep`` accepts (e.g. one owner's)."""

    def ids(values: Iterable[int]) -> set[int]:
        return {c for c in values if keep is None or keep(c)}

    def pairs(values: Iterable[tuple[int, Any]]) -> list[Any]:
        return [v for c, v in values if keep is None or keep(c)]

    buyers = ids(data.orders)
    orders_n = sum(data.orders[c] for c in buyers)
    revenue = {c: data.revenue[c] for c in buyers}
    nps_scores, csat_scores = pairs(data.nps), pairs(data.csat)
    out: dict[str, Any] = {
        "active_customers": len(buyers),
        "purchases": orders_n,
        "revenue_cents": sum(revenue.values()),
        "retention_rate": f.retention_rate(ids(data.previous_buyers), buyers),
        "churn_rate": f.churn_rate(ids(data.previous_buyers), buyers),
        "repurchase_rate": f.repurchase_rate({c: data.orders[c] for c in buyers}),
        "average_order_value_cents": f.average_order_value(sum(revenue.values()), orders_n),
        "revenue_top20_share": f.revenue_concentration(revenue),
        "nps": f.nps(nps_scores),
        "nps_responses": len(nps_scores),
        "csat": f.csat(csat_scores),
        "csat_mean": f.csat_mean(csat_scores),
        "csat_responses": len(csat_scores),
        "first_response_hours_mean": f.mean_hours(pairs(data.first_response)),
        "resolution_hours_mean": f.mean_hours(pairs(data.resolution)),
        "lapsed_at_start": len(ids(data.lapsed)),
        "win_back_rate": f.win_back_rate(ids(data.lapsed), buyers),
    }
    mine = None if data.tasks is None else [x for x in data.tasks if keep is None or _kept(x.customer, keep)]
    out.update(task_kpis(mine))
    return out


def _kept(customer: int | None, keep: Callable[[int], bool]) -> bool:
    return customer is not None and keep(customer)


def _clv(conn: sa.Connection) -> dict[str, Any]:
    """CLV over the scored customers, from the typed copy of ``clv_12m`` the customers list sorts on (kept equal
    to the ``scores`` JSON by :func:`~kehu.store.published.sync_list_scores`; reading it costs a fifth of parsing
    every customer's JSON)."""
    return f.clv_summary(conn.execute(sa.select(customer_scores.c.clv_12m)).scalars())


def split_by_owner(data: PeriodData, owner_of: Mapping[int, int]) -> dict[int, PeriodData]:
    """The period's data of each owner's customers (``owner_of``: customer -> owner), in one pass over ``data``.

    ``scalar_kpis(split[owner])`` equals ``scalar_kpis(data, keep=<that owner's customers>)``, without walking the
    whole period once per owner, except for tasks: an owner's tasks are the ones assigned to them (an unassigned
    task goes to its customer's owner). Every owner in ``owner_of`` gets an entry (empty when their customers did
    nothing in the period).
    """
    parts = {
        owner: PeriodData(data.period, tasks=None if data.tasks is None else [], tasks_reason=data.tasks_reason)
        for owner in {*owner_of.values(), *(t.assignee for t in data.tasks or () if t.assignee is not None)}
    }

    def part(customer: int | None) -> PeriodData | None:
        owner = None if customer is None else owner_of.get(customer)
        return None if owner is None else parts[owner]

    for c in data.previous_buyers:
        if (p := part(c)) is not None:
            p.previous_buyers.add(c)
    for c, n in data.orders.items():
        if (p := part(c)) is not None:
            p.orders[c], p.revenue[c] = n, data.revenue[c]
    for c in data.lapsed:
        if (p := part(c)) is not None:
            p.lapsed.add(c)
    for name in ("nps", "csat", "first_response", "resolution"):
        for c, value in getattr(data, name):
            if (p := part(c)) is not None:
                getattr(p, name).append((c, value))
    for task in data.tasks or ():
        p = parts.get(task.assignee) if task.assignee is not None else part(task.customer)
        if p is not None and p.tasks is not None:
            p.tasks.append(task)
    return parts


def merge_parts(period: Period, parts: Iterable[PeriodData]) -> PeriodData:
    """One period's data of several owners together (e.g. a team's), from their parts of :func:`split_by_owner`."""
    merged = PeriodData(period)
    for p in parts:
        merged.previous_buyers |= p.previous_buyers
        merged.orders.update(p.orders)
        merged.revenue.update(p.revenue)
        merged.lapsed |= p.lapsed
        for name in ("nps", "csat", "first_response", "resolution"):
            getattr(merged, name).extend(getattr(p, name))
        if p.tasks is not None:
            merged.tasks = [*(merged.tasks or []), *p.tasks]
        merged.tasks_reason = p.tasks_reason
    return merged


def _leaderboard(conn: sa.Connection, data: PeriodData) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every owner's KPIs over their own customers and tasks, ranked by the 95 % lower bound of the retention rate
    (then revenue), so that an owner whose rate rests on a handful of customers does not top the board by luck;
    and each team's KPIs over its members' customers and tasks (by team name)."""
    owner_of = {
        int(c): int(o)
        for c, o in conn.execute(
            sa.select(customers.c.id, customers.c.owner_id).where(customers.c.owner_id.is_not(None))
        )
    }
    count = Counter(owner_of.values())
    parts = split_by_owner(data, owner_of)
    rows = []
    members: dict[str, list[PeriodData]] = {}
    for uid, name, display, team in conn.execute(
        sa.select(users.c.id, users.c.name, users.c.display_name, users.c.team).order_by(users.c.id)
    ):
        mine = parts.get(int(uid))
        if mine is None:
            continue
        k = scalar_kpis(mine)
        if team:
            members.setdefault(team, []).append(mine)
        base = mine.previous_buyers
        kept = len(base & mine.orders.keys())
        rows.append({"owner_id": uid, "owner": name, "display_name": display, "team": team,
                     "customers": count[int(uid)], "retention_base": len(base),
                     "retention_lower_bound": f.wilson_lower_bound(kept, len(base)), **k})  # fmt: skip
    rows.sort(key=lambda r: (-(r["retention_lower_bound"] if r["retention_base"] else -1.0), -r["revenue_cents"],
                             r["owner"]))  # fmt: skip
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    teams = []
    for team in sorted(members):
        merged = merge_parts(data.period, members[team])
        base, kept = merged.previous_buyers, len(merged.previous_buyers & merged.orders.keys())
        teams.append({"team": team, "owners": len(members[team]),
                      "customers": sum(count[r["owner_id"]] for r in rows if r["team"] == team),
                      "retention_base": len(base), "retention_lower_bound": f.wilson_lower_bound(kept, len(base)),
                      **scalar_kpis(merged)})  # fmt: skip
    return rows, teams


def kpi_report(
    conn: sa.Connection,
    period: Period,
    *,
    timezone: str,
    lapse_days: int = DEFAULT_LAPSE_DAYS,
    owners: bool = True,
    keep: Callable[[int], bool] | None = None,
    as_of: dt.date | None = None,
    now: dt.datetime | None = None,
    window_days: int = DEFAULT_ORDER_WINDOW_DAYS,
) -> dict[str, Any]:
    """Every KPI for ``period`` with the previous period's values, CLV, the cohort matrix and the leaderboard.

    With ``keep`` (e.g. a team's customers), ``kept`` holds the same ``kpis`` and ``previous`` over the customers it
    accepts, from the same reads of the store. Tasks are seen as of the end of ``as_of`` (or ``now``, if earlier;
    see :func:`cutoff_of`).

    Returns
    -------
    dict
        ``period`` and ``previous_period`` (kind, label, start, end), ``kpis`` and ``previous`` (name ->
        value; ``None`` = no data), ``clv`` (customers, total, mean), ``cohorts`` (the matrix of the latest
        pipeline run, or ``None`` before the first), ``not_available`` (KPI -> why), ``leaderboard``
        (per owner: the same KPIs over the owner's customers and tasks, ranked by retention then revenue),
        ``teams`` (the same per team), ``tasks_as_of`` (the instant tasks are seen at) and ``task_outcomes`` (the
        done tasks due in the period by outcome, with the orders after them: :func:`outcome_summary`; ``None``
        without a tasks table).
    """
    cutoff = cutoff_of(as_of, timezone, now)
    data, before = load_periods(conn, period, timezone=timezone, lapse_days=lapse_days, cutoff=cutoff)
    cohorts = published_cohorts(conn)
    not_available: dict[str, Any] = {}
    if data.tasks is None:
        not_available.update(dict.fromkeys(task_kpis(None), data.tasks_reason))
    if not cohorts:
        not_available["cohort_retention"] = "no pipeline run yet: run `kehu run`"
    report = {
        "period": period.as_dict(),
        "previous_period": period.previous().as_dict(),
        "lapse_days": lapse_days,
        "kpis": scalar_kpis(data),
        "previous": scalar_kpis(before),
        "clv": _clv(conn),
        "cohorts": f.cohort_matrix(cohorts) if cohorts else None,
        "not_available": not_available,
        "tasks_as_of": cutoff.isoformat(),
        "task_outcomes": _outcomes(data, window_days),
    }
    report["leaderboard"], report["teams"] = _leaderboard(conn, data) if owners else ([], [])
    if keep is not None:
        report["kept"] = {"kpis": scalar_kpis(data, keep=keep), "previous": scalar_kpis(before, keep=keep),
                          "task_outcomes": _outcomes(data, window_days, keep)}  # fmt: skip
    return report


def _outcomes(data: PeriodData, window_days: int, keep: Callable[[int], bool] | None = None) -> dict[str, Any] | None:
    if data.tasks is None:
        return None
    facts = [x for x in data.tasks if keep is None or _kept(x.customer, keep)]
    return outcome_summary(facts, window_days=window_days)
