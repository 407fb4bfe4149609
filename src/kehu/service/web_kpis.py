"""The KPI page of the web app and its JSON twin: the KPI table of the last complete period against the one
before, NPS/CSAT trends and the owner leaderboard, each over the customers the principal may see.

An admin sees the whole company and every owner; a manager their team's customers and their team's rows of the
leaderboard; a rep their own customers and only their own row. The formulas are those of
:mod:`kehu.metrics.formulas` (docs/kpis.md); nothing is computed here but the scope.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from kehu.metrics.feedback import feedback_trend
from kehu.metrics.labels import kpi_label, label_keys
from kehu.metrics.periods import Period, last_complete_period
from kehu.metrics.report import kpi_report
from kehu.service.access import Principal, owner_scope
from kehu.service.kpis import default_as_of
from kehu.service.workspace import Workspace
from kehu.store.schema import customers

__all__ = ["PERIODS", "TREND_PERIODS", "kpis_page"]

PERIODS = ("week", "month", "quarter", "year")
TREND_PERIODS = 6
#: KPIs where a fall is good news (the page colours changes by this)
LOWER_IS_BETTER = ("churn_rate", "first_response_hours_mean", "resolution_hours_mean", "lapsed_at_start")


def kpis_page(
    ws: Workspace, principal: Principal, *, period: str = "month", as_of: dt.date | None = None
) -> dict[str, Any]:
    """KPIs of the last complete ``period`` on or before ``as_of`` (default: the newest order's day) and the one
    before, the NPS/CSAT trend over :data:`TREND_PERIODS` periods and the leaderboard, within scope."""
    from kehu.errors import ValidationError

    if period not in PERIODS:
        raise ValidationError(f"period: {period[:40]!r} is not one of {', '.join(PERIODS)}")
    scope = owner_scope(ws, principal)
    tz = ws.settings.timezone
    with ws.engine.connect() as conn:
        day = as_of or default_as_of(conn, tz)
        chosen = last_complete_period(day, period)
        if scope is None:
            ids: set[int] | None = None
            report = kpi_report(conn, chosen, timezone=tz)
            now, before = report["kpis"], report["previous"]
        else:  # the scope's KPIs from the same reads of the store as the company's
            mine = sa.select(customers.c.id).where(customers.c.owner_id.in_(scope))
            ids = {int(c) for c in conn.execute(mine).scalars()}
            report = kpi_report(conn, chosen, timezone=tz, keep=ids.__contains__)
            now, before = report["kept"]["kpis"], report["kept"]["previous"]
        runs: list[Period] = [chosen]
        for _ in range(TREND_PERIODS - 1):
            runs.insert(0, runs[0].previous())
        trend = feedback_trend(conn, runs, timezone=tz, customer_ids=ids)
    rows = []
    for key in label_keys():
        value, previous = now.get(key), before.get(key)
        change = value - previous if isinstance(value, int | float) and isinstance(previous, int | float) else None
        rows.append({"kpi": key, "labels": {"zh": kpi_label(key, "zh"), "en": kpi_label(key, "en")}, "value": value,
                     "previous": previous, "change": change, "lower_is_better": key in LOWER_IS_BETTER})  # fmt: skip
    board = report["leaderboard"]
    if principal.role == "rep":
        board = [r for r in board if r["owner_id"] == principal.id]
    elif scope is not None:
        board = [r for r in board if r["owner_id"] in scope]
    return {
        "scope": "all" if scope is None else "own" if principal.role == "rep" else "team",
        "as_of": day.isoformat(),
        "period": report["period"],
        "previous_period": report["previous_period"],
        "periods": list(PERIODS),
        "chosen": period,
        "kpis": rows,
        "customers": None if ids is None else len(ids),
        "clv": report["clv"] if scope is None else None,
        "not_available": report["not_available"],
        "feedback": trend,
        "leaderboard": board,
    }
