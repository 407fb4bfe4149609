"""The dashboard page's data (and its JSON twin) from the dashboard's figures
(:meth:`kehu.service.dashboard.DashboardService.figures`): the cohorts as heatmap cells, the lifecycle stages in
funnel order and the churn-risk bands named. Everything else is passed on as the service gives it."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

__all__ = ["FUNNEL", "dashboard_page"]

#: the lifecycle stages in the order the funnel draws them (stages of other definitions follow in their order)
FUNNEL = ("prospect", "new", "growing", "mature", "at_risk", "dormant", "lost")


def dashboard_page(figures: dict[str, Any]) -> dict[str, Any]:
    """The page's data: ``figures`` with ``cohorts``, ``segments`` and ``churn_risk`` shaped for the charts."""
    return {
        **figures,
        "cohorts": _cohort_cells(figures.get("cohorts")),
        "segments": _funnel_order(figures.get("segments") or {}),
        "churn_risk": _risk_bands(figures.get("churn_risk")),
    }


def _cohort_cells(cohorts: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """Cohorts x months since acquisition as heatmap cells ``[month, cohort, retention]`` (retention to 4
    places), with the cohorts' month keys and sizes."""
    if not cohorts:
        return None
    months = len(cohorts[0]["retention"])
    cells = [
        [k, i, round(value, 4)]
        for i, cohort in enumerate(cohorts)
        for k, value in enumerate(cohort["retention"])
        if value is not None
    ]
    return {
        "cohorts": [c["month"].strftime("%Y-%m") for c in cohorts],
        "sizes": [c["customers"] for c in cohorts],
        "cells": cells,
        "months_since": list(range(months)),
    }


def _funnel_order(segments: dict[str, Any]) -> dict[str, Any]:
    """The schemes' segment sizes, the lifecycle stages in :data:`FUNNEL` order."""
    out = dict(segments)
    if "lifecycle" in segments:
        stages = segments["lifecycle"]["segments"]
        ordered = [s for key in FUNNEL for s in stages if s["segment"] == key]
        ordered += [s for s in stages if s["segment"] not in FUNNEL]
        out["lifecycle"] = {**segments["lifecycle"], "segments": ordered}
    return out


def _risk_bands(histogram: dict[str, Any] | None) -> dict[str, Any] | None:
    """The churn-risk histogram with each band named by its percent range (``0–10%`` ...)."""
    if histogram is None:
        return None
    edges = histogram["edges"]
    bands = [f"{round(100 * lo)}–{round(100 * hi)}%" for lo, hi in pairwise(edges)]
    return {"bands": bands, "customers": histogram["customers"], "scored": histogram["scored"]}
