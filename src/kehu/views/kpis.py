"""The KPI page's data (and its JSON twin) from :meth:`kehu.service.kpis.KpiService.summary`: the KPIs with the
periods the page offers and the one chosen, and the task outcomes as the page reads them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kehu.vocabulary import PERIOD_KINDS

__all__ = ["kpis_page"]


def kpis_page(summary: dict[str, Any], *, period: str) -> dict[str, Any]:
    """The page's data: ``summary`` with the periods to choose from, the ``chosen`` one, the instant the task
    figures are seen at (``tasks_seen_at``) and the outcomes' won back vs other shares (``outcome_check``)."""
    out = {**summary, "periods": list(PERIOD_KINDS), "chosen": period}
    seen = summary.get("tasks_as_of")
    out["tasks_seen_at"] = dt.datetime.fromisoformat(seen) if seen else None
    outcomes = summary.get("task_outcomes")
    if outcomes is not None:
        won = next(o for o in outcomes["outcomes"] if o["outcome"] == "won_back")
        out["outcome_check"] = {"verdict": outcomes["verdict"], "window_days": outcomes["window_days"],
                                "won_back": won["ordered_share"], "won_back_judged": won["judged"],
                                "others": outcomes["others"]["ordered_share"],
                                "others_judged": outcomes["others"]["judged"]}  # fmt: skip
    else:
        out["outcome_check"] = None
    return out
