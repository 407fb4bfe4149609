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
from kehu.metrics.labels import kpi_label, label_keys
from kehu.metrics.periods import Period, last_complete_period
from kehu.metrics.report import DEFAULT_LAPSE_DAYS, kpi_report
from kehu.service.access import owner_scope, require_role
from kehu.service.principal import Service
from kehu.store.data_day import newest_data_day
from kehu.store.db import ensure_current
from kehu.store.schema import customers
from kehu.store.segments import memberships, run_ids
from kehu.vocabulary import PERIOD_KINDS

__all__ = [
    "PERIODS",
    "TREND_PERIODS",
    "KpiService",
    "default_as_of",
    "feedback_report",
    "kpis",
    "segment_customers",
]


def default_as_of(conn: sa.Connection, timezone: str) -> dt.date:
    """The newest data day (:func:`kehu.store.data_day.newest_data_day`), today when there are no orders."""
    return newest_data_day(conn, timezone) or dt.datetime.now(ZoneInfo(timezone)).date()


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
        report = kpi_report(conn, chosen, timezone=settings.timezone, lapse_days=lapse_days, as_of=day)
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


# -- The KPI page of the web app and its JSON twin: the KPI table of the last complete period against the ----------


PERIODS = PERIOD_KINDS
TREND_PERIODS = 6
#: KPIs where a fall is good news (the page colours changes by this)
LOWER_IS_BETTER = (
    "churn_rate",
    "first_response_hours_mean",
    "resolution_hours_mean",
    "lapsed_at_start",
    "task_first_touch_hours_median",
)


class KpiService(Service):
    """KPIs over the customers the actor may see."""

    def feedback(
        self, *, period: str = "month", periods: int = 6, as_of: dt.date | None = None, segment: str | None = None
    ) -> dict[str, Any]:
        """NPS and CSAT per period with the trend, for everyone or one segment (managers and admins)."""
        require_role(self.principal, "admin", "manager")
        ensure_current(self.ws.engine)
        return feedback_report(
            self.ws.settings, self.ws.engine, period=period, periods=periods, as_of=as_of, segment=segment
        )

    def report(
        self, *, period: str = "month", as_of: dt.date | None = None, lapse_days: int = DEFAULT_LAPSE_DAYS
    ) -> dict[str, Any]:
        """The KPI report of the whole store for the last complete period (managers and admins; :func:`kpis`)."""
        require_role(self.principal, "admin", "manager")
        ensure_current(self.ws.engine)
        return kpis(self.ws.settings, self.ws.engine, period=period, as_of=as_of, lapse_days=lapse_days)

    def summary(self, *, period: str = "month", as_of: dt.date | None = None) -> dict[str, Any]:
        """KPIs of the last complete ``period`` on or before ``as_of`` (default: the newest order's day) and the one
        before, the NPS/CSAT trend over :data:`TREND_PERIODS` periods and the leaderboard, within scope (the KPI
        page shapes them with :func:`kehu.views.kpis.kpis_page`)."""
        from kehu.errors import ValidationError

        if period not in PERIODS:
            raise ValidationError(f"period: {period[:40]!r} is not one of {', '.join(PERIODS)}")
        scope = owner_scope(self.ws, self.principal)
        tz = self.ws.settings.timezone
        with self.ws.engine.connect() as conn:
            day = as_of or default_as_of(conn, tz)
            chosen = last_complete_period(day, period)
            if scope is None:
                ids: set[int] | None = None
                report = kpi_report(conn, chosen, timezone=tz, as_of=day)
                now, before, outcomes = report["kpis"], report["previous"], report["task_outcomes"]
            else:  # the scope's KPIs from the same reads of the store as the company's
                mine = sa.select(customers.c.id).where(customers.c.owner_id.in_(scope))
                ids = {int(c) for c in conn.execute(mine).scalars()}
                report = kpi_report(conn, chosen, timezone=tz, keep=ids.__contains__, as_of=day)
                kept = report["kept"]
                now, before, outcomes = kept["kpis"], kept["previous"], kept["task_outcomes"]
            runs: list[Period] = [chosen]
            for _ in range(TREND_PERIODS - 1):
                runs.insert(0, runs[0].previous())
            trend = feedback_trend(conn, runs, timezone=tz, customer_ids=ids)
        rows = []
        for key in label_keys():
            value, previous = now.get(key), before.get(key)
            change = value - previous if isinstance(value, int | float) and isinstance(previous, int | float) else None
            rows.append({"kpi": key, "labels": {"zh": kpi_label(key, "zh"), "en": kpi_label(key, "en")},
                         "value": value, "previous": previous, "change": change,
                         "lower_is_better": key in LOWER_IS_BETTER})  # fmt: skip
        board, teams = report["leaderboard"], report["teams"]
        if self.principal.role == "rep":
            board, teams = [r for r in board if r["owner_id"] == self.principal.id], []
        elif scope is not None:
            board = [r for r in board if r["owner_id"] in scope]
            shown = {r["team"] for r in board if r["team"]}
            teams = [r for r in teams if r["team"] in shown]
        return {
            "scope": "all" if scope is None else "own" if self.principal.role == "rep" else "team",
            "as_of": day.isoformat(),
            "period": report["period"],
            "previous_period": report["previous_period"],
            "kpis": rows,
            "customers": None if ids is None else len(ids),
            "clv": report["clv"] if scope is None else None,
            "not_available": report["not_available"],
            "feedback": trend,
            "leaderboard": board,
            "teams": teams,
            "tasks_as_of": report["tasks_as_of"],
            "task_outcomes": outcomes,
        }
