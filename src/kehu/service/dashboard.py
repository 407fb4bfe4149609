"""The dashboard's figures: totals, revenue and new customers by month, KPI cards, cohorts, segment sizes and flows,
the Pareto curve and the churn-risk histogram, within the principal's scope (cached for a minute per scope).

These are the facts; the page (and its JSON twin) shapes them with :func:`kehu.views.dashboard.dashboard_page`."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any
from zoneinfo import ZoneInfo

from kehu.errors import NotFoundError
from kehu.service.access import Principal, owner_scope
from kehu.service.figure_cache import DASHBOARD_TTL, cache, cache_lock, run_stamp, store_key
from kehu.service.principal import Service, Workspace
from kehu.store import dashboard as dashboard_store
from kehu.store.published import published_cohorts

__all__ = [
    "COHORT_MONTHS",
    "COHORT_ROWS",
    "KPI_DAYS",
    "DashboardService",
    "dashboard",
]


def dashboard(ws: Workspace, principal: Principal, *, fresh: bool = False) -> dict[str, Any]:
    """The numbers that exist now: totals, revenue and new customers by month (24 months), top regions.

    Results are cached for a minute per scope and run stamp (these aggregates read every order): a new pipeline
    or segment run (see :func:`~kehu.service.figure_cache.run_stamp`) makes them stale at once.
    """
    scope = owner_scope(ws, principal)
    with ws.engine.connect() as conn:
        stamp = run_stamp(conn)
    key = (store_key(ws), tuple(scope) if scope is not None else None)
    with cache_lock:
        hit = cache.get(key)
    if hit is not None and not fresh and time.monotonic() - hit[0] < DASHBOARD_TTL and hit[1]["stamp"] == stamp:
        return hit[1]["data"]
    tz = ZoneInfo(ws.settings.timezone)
    now = dt.datetime.now(tz)
    offset = now.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    start = dt.datetime(now.year - 2, now.month, 1, tzinfo=tz)
    with ws.engine.connect() as conn:
        totals = dashboard_store.dashboard_totals(conn, scope)
        revenue = dashboard_store.revenue_by_month(conn, scope, since=start, utc_offset_minutes=minutes)
        new = dashboard_store.customers_by_month(conn, scope, since=start, utc_offset_minutes=minutes)
        regions = dashboard_store.customers_by_region(conn, scope)
        published = dashboard_store.published_as_of(conn)
        day = published or _latest_order_day(conn, tz)
        kpis = _period_kpis(conn, scope, day, tz) if day is not None else []
        cohorts = _cohorts(published_cohorts(conn)) if published else None
        distribution = _segment_sizes(conn, scope)
        pareto = _pareto(dashboard_store.revenue_values(conn, scope)) if published else None
        risk = _risk_histogram(dashboard_store.score_values(conn, scope, "churn_risk")) if published else None
        at_risk = dashboard_store.at_risk_customers(conn, scope) if published else []
        winback = dashboard_store.winback_customers(conn, scope) if published else []
        risk_days = dashboard_store.risk_days(conn)
    flows = _rfm_flows(ws, principal)
    data = {
        "currency": ws.settings.currency,
        "as_of": day,
        "totals": totals,
        "kpis": kpis,
        "revenue_by_month": revenue,
        "customers_by_month": new,
        "customers_by_region": regions,
        "cohorts": cohorts,
        "segments": distribution,
        "flows": flows,
        "pareto": pareto,
        "churn_risk": risk,
        "at_risk": at_risk,
        "winback": winback,
        "risk_days": risk_days,
        "scope": "all" if scope is None else ("team" if principal.role == "manager" else "own"),
    }
    with cache_lock:
        cache[key] = (time.monotonic(), {"stamp": stamp, "data": data})
    return data


#: the dashboard's KPI cards: the last KPI_DAYS days up to the newest published day vs the KPI_DAYS before
KPI_DAYS = 30
#: the cohorts the dashboard shows: the newest COHORT_ROWS, each over its first COHORT_MONTHS months
COHORT_ROWS = 12
COHORT_MONTHS = 12


def _latest_order_day(conn: Any, tz: ZoneInfo) -> dt.date | None:
    from sqlalchemy import func, select

    from kehu.store.schema import orders

    last = conn.execute(select(func.max(orders.c.ordered_at))).scalar()
    if last is None:
        return None
    if isinstance(last, str):
        last = dt.datetime.fromisoformat(last)
    when = last if last.tzinfo else last.replace(tzinfo=dt.UTC)
    return when.astimezone(tz).date()


def _period_kpis(conn: Any, scope: list[int] | None, day: dt.date, tz: ZoneInfo) -> list[dict[str, Any]]:
    """Revenue, orders, buying and new customers in the :data:`KPI_DAYS` days up to ``day`` (local calendar),
    each with the period before and the relative change."""
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    mid = end - dt.timedelta(days=KPI_DAYS)
    begin = mid - dt.timedelta(days=KPI_DAYS)
    now = dashboard_store.period_figures(conn, scope, start=mid, end=end)
    before = dashboard_store.period_figures(conn, scope, start=begin, end=mid)
    out = []
    for key in ("revenue", "orders", "buyers", "new_customers"):
        value, previous = now[key], before[key]
        change = None if not previous else float((value - previous) / previous)
        out.append({"key": key, "value": value, "previous": previous, "change": change, "days": KPI_DAYS,
                    "from": mid.date(), "to": day})  # fmt: skip
    return out


def _cohorts(rows: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The newest :data:`COHORT_ROWS` acquisition cohorts, oldest first, each with its size and its retention in
    the first :data:`COHORT_MONTHS` months since acquisition (``None`` where not published; cohorts are a
    company-wide figure)."""
    if not rows:
        return None
    months = sorted({r["cohort_month"] for r in rows})[-COHORT_ROWS:]
    cells = {(r["cohort_month"], r["months_since"]): r for r in rows if r["months_since"] < COHORT_MONTHS}
    out = []
    for m in months:
        retention = []
        for k in range(COHORT_MONTHS):
            cell = cells.get((m, k))
            retention.append(None if cell is None or cell["retention"] is None else float(cell["retention"]))
        size = next((r["cohort_customers"] for r in rows if r["cohort_month"] == m), 0)
        out.append({"month": m, "customers": size, "retention": retention})
    return out


def _segment_sizes(conn: Any, scope: list[int] | None) -> dict[str, Any]:
    """Sizes (in scope) of the newest 8-class RFM run and of the lifecycle stages, in the runs' order."""
    from kehu.service.segmentation import segment_labels
    from kehu.store import segments as seg_store

    runs = seg_store.run_ids(conn)
    out: dict[str, Any] = {}
    for scheme in ("rfm_cn", "lifecycle"):
        run = runs.get(scheme)
        if run is None:
            continue
        sizes = seg_store.scoped_sizes(conn, [run["id"]], scope)
        keys = [s["key"] for s in run["definition"]["segments"]]
        out[scheme] = {
            "as_of": run["as_of"],
            "segments": [{"segment": k, "labels": segment_labels(scheme, k, run["definition"]),
                          "size": sizes.get((run["id"], k), 0)} for k in keys],
        }  # fmt: skip
    return out


def _rfm_flows(ws: Workspace, principal: Principal) -> dict[str, Any] | None:
    """Moves between the two newest runs of the 8-class RFM scheme (``None`` without two runs)."""
    from kehu.service.segments import segment_flows

    try:
        flows = segment_flows(ws, principal, "rfm_cn")
    except NotFoundError:
        return None
    return flows if flows["moves"] else None


def _pareto(values: list[int]) -> dict[str, Any] | None:
    """The revenue Pareto curve: share of revenue held by the top x % of customers (x = 0, 1, ..., 100)."""
    import numpy as np

    if not values:
        return None
    v = np.sort(np.asarray(values, dtype=np.float64))[::-1]
    total = float(v.sum())
    if total <= 0:
        return None
    cum = np.concatenate([[0.0], np.cumsum(v) / total])
    idx = np.round(np.linspace(0, len(v), 101)).astype(int)
    top20 = float(cum[round(0.2 * len(v))])
    return {"customers": len(v), "share": [round(float(x), 4) for x in cum[idx]], "top20_share": round(top20, 4)}


def _risk_histogram(values: list[float]) -> dict[str, Any] | None:
    """Customers per 10-point churn-risk band: the bands' ``edges`` (0, 0.1, ..., 1), the ``customers`` in each
    and the ``scored`` customers (``None`` before churn scores exist)."""
    import numpy as np

    if not values:
        return None
    counts, edges = np.histogram(np.clip(values, 0.0, 1.0), bins=10, range=(0.0, 1.0))
    return {"edges": [round(float(e), 1) for e in edges], "customers": [int(c) for c in counts],
            "scored": len(values)}  # fmt: skip


class DashboardService(Service):
    """The dashboard within the actor's scope."""

    def figures(self, *, fresh: bool = False) -> dict[str, Any]:
        """See :func:`dashboard` (the page shapes them with :func:`kehu.views.dashboard.dashboard_page`)."""
        return dashboard(self.ws, self.principal, fresh=fresh)
