"""KPIs and feedback trends for the front ends: picks the period, reads the store, adds the segment flow."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from kehu.config import Settings
from kehu.errors import NotFoundError, ValidationError
from kehu.metrics.feedback import feedback_trend
from kehu.metrics.flow import segment_flow
from kehu.metrics.periods import Period, last_complete_period
from kehu.metrics.report import DEFAULT_LAPSE_DAYS, kpi_report
from kehu.store.schema import orders
from kehu.store.segments import memberships, run_ids

__all__ = ["default_as_of", "feedback_report", "kpis", "segment_customers"]


def default_as_of(conn: sa.Connection, timezone: str) -> dt.date:
    """The day of the newest order in the workspace's time zone (today when there are no orders)."""
    newest = conn.execute(sa.select(sa.func.max(orders.c.ordered_at))).scalar()
    if newest is None:
        return dt.datetime.now(ZoneInfo(timezone)).date()
    if isinstance(newest, str):
        newest = dt.datetime.fromisoformat(newest)
    if newest.tzinfo is None:
        newest = newest.replace(tzinfo=dt.UTC)
    return newest.astimezone(ZoneInfo(timezone)).date()


def kpis(
    settings: Settings,
    store: sa.Engine,
    *,
    period: str = "month",
    as_of: dt.date | None = None,
    lapse_days: int = DEFAULT_LAPSE_DAYS,
    flow_scheme: str = "lifecycle",
) -> dict[str, Any]:
    """The KPI report for the last complete ``period`` on or before ``as_of`` (default: the newest order's day),
    with the segment flow of ``flow_scheme`` between its two newest runs."""
    if lapse_days < 1:
        raise ValidationError(f"lapse days must be at least 1, got {lapse_days}")
    with store.connect() as conn:
        day = as_of or default_as_of(conn, settings.timezone)
        chosen = last_complete_period(day, period)
        report = kpi_report(conn, chosen, timezone=settings.timezone, lapse_days=lapse_days)
        report["as_of"] = day.isoformat()
        report["segment_flow"] = segment_flow(conn, flow_scheme)
        if report["segment_flow"] is None:
            report["not_available"]["segment_flow"] = f"scheme {flow_scheme!r} has fewer than two runs"
        return report


def segment_customers(conn: sa.Connection, ref: str) -> list[int]:
    """Member ids of ``SCHEME:SEGMENT`` in the scheme's newest run."""
    scheme, sep, segment = ref.partition(":")
    if not sep or not scheme or not segment:
        raise ValidationError(f"segment {ref!r}: write it as SCHEME:SEGMENT (e.g. lifecycle:at_risk)")
    runs = run_ids(conn)
    if scheme not in runs:
        raise NotFoundError(f"scheme {scheme!r} has no run: run `kehu run` (schemes: {', '.join(sorted(runs)) or '-'})")
    return [int(r["customer_id"]) for r in memberships(conn, int(runs[scheme]["id"]), segment)]


def feedback_report(
    settings: Settings,
    store: sa.Engine,
    *,
    period: str = "month",
    periods: int = 6,
    as_of: dt.date | None = None,
    segment: str | None = None,
) -> dict[str, Any]:
    """NPS and CSAT for the last ``periods`` complete periods (oldest first), for everyone or one segment."""
    if periods < 1:
        raise ValidationError(f"periods must be at least 1, got {periods}")
    with store.connect() as conn:
        day = as_of or default_as_of(conn, settings.timezone)
        runs: list[Period] = [last_complete_period(day, period)]
        for _ in range(periods - 1):
            runs.insert(0, runs[0].previous())
        ids = segment_customers(conn, segment) if segment else None
        trend = feedback_trend(conn, runs, timezone=settings.timezone, customer_ids=ids)
    return {"as_of": day.isoformat(), "segment": segment, "customers": None if ids is None else len(ids),
            "trend": trend}  # fmt: skip
