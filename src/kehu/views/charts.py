"""Chart specifications for the pages: plain dicts the page carries as JSON and ``static/app.js`` draws with
ECharts (``kind`` picks the drawing). Labels are already translated here."""

from __future__ import annotations

from typing import Any

from kehu.views.text import Translate

__all__ = ["dashboard_charts", "kpi_charts", "sankey", "segment_trends", "uplift_charts"]

_RATES = ("conversion", "retention", "win_back")


def sankey(flows: dict[str, Any], t: Translate) -> dict[str, Any]:
    """Moves between two runs of a scheme as a Sankey: ``label · day`` nodes on each side, plus the new and
    the gone customers."""
    lang = t.lang
    nodes: list[str] = []
    links = []
    for move in flows["moves"]:
        source = f"{move['from_labels'][lang]} · {flows['from']}" if move["from_labels"] else t("segments.new")
        target = f"{move['to_labels'][lang]} · {flows['to']}" if move["to_labels"] else t("segments.gone")
        for n in (source, target):
            if n not in nodes:
                nodes.append(n)
        links.append({"source": source, "target": target, "value": move["customers"]})
    return {"kind": "sankey", "nodes": nodes, "links": links, "values": [x["value"] for x in links]}


def dashboard_charts(data: dict[str, Any], t: Translate) -> dict[str, Any]:
    """Every chart of the dashboard that has data."""
    lang = t.lang
    charts: dict[str, Any] = {
        "revenue": {
            "kind": "revenue",
            "months": [t.month(r["month"]) for r in data["revenue_by_month"]],
            "values": [float(r["revenue"]) for r in data["revenue_by_month"]],
            "orders": [r["orders"] for r in data["revenue_by_month"]],
            "series": [t("dashboard.revenue"), t("dashboard.orders")],
        },
        "customers": {
            "kind": "line",
            "months": [t.month(r["month"]) for r in data["customers_by_month"]],
            "values": [r["customers"] for r in data["customers_by_month"]],
            "series": [t("dashboard.customers")],
        },
        "regions": {
            "kind": "regions",
            "names": [r["region"] for r in data["customers_by_region"]],
            "values": [r["customers"] for r in data["customers_by_region"]],
            "series": [t("dashboard.customers")],
        },
    }
    if data.get("cohorts"):
        c = data["cohorts"]
        charts["cohorts"] = {
            "kind": "heatmap", "x": [t("dashboard.month_n", n=k) for k in c["months_since"]],
            "y": [t.month(m) for m in c["cohorts"]], "cells": c["cells"], "values": c["cells"],
            "series": [t("dashboard.retention")],
        }  # fmt: skip
    segments = data.get("segments") or {}
    if "rfm_cn" in segments:
        items = segments["rfm_cn"]["segments"]
        charts["rfm"] = {"kind": "pie", "names": [s["labels"][lang] for s in items],
                         "values": [s["size"] for s in items], "series": [t("dashboard.customers")]}  # fmt: skip
    if "lifecycle" in segments:
        items = segments["lifecycle"]["segments"]
        charts["funnel"] = {"kind": "funnel", "names": [s["labels"][lang] for s in items],
                            "values": [s["size"] for s in items], "series": [t("dashboard.customers")]}  # fmt: skip
    if data.get("flows"):
        charts["flows"] = sankey(data["flows"], t)
    if data.get("pareto"):
        p = data["pareto"]
        charts["pareto"] = {"kind": "pareto", "months": [f"{i}%" for i in range(101)],
                            "values": [round(100 * v, 2) for v in p["share"]],
                            "series": [t("dashboard.revenue_share")]}  # fmt: skip
    if data.get("churn_risk"):
        r = data["churn_risk"]
        charts["risk"] = {"kind": "bars", "names": r["bands"], "values": r["customers"],
                          "series": [t("dashboard.customers")]}  # fmt: skip
    return charts


def uplift_charts(results: dict[str, Any], t: Translate) -> dict[str, Any]:
    """Two interval charts (rates in percentage points; revenue per customer in money): the point difference
    treatment − holdout with its 95% interval, and a zero line; plus the per-arm rates as bars."""
    up = results["uplift"]
    rates = [m for m in _RATES if up[m]["difference"] is not None]
    charts: dict[str, Any] = {
        "rates": {
            "kind": "interval", "unit": t("campaigns.points"), "names": [t("campaigns.metric_" + m) for m in rates],
            "values": [round(100 * up[m]["difference"], 2) for m in rates],
            "lows": [round(100 * up[m]["low"], 2) for m in rates],
            "highs": [round(100 * up[m]["high"], 2) for m in rates],
            "series": [t("campaigns.uplift"), t("campaigns.interval")],
        },
        "arms": {
            "kind": "arms", "names": [t("campaigns.metric_" + m) for m in rates],
            "values": [round(100 * (up[m]["treatment"] or 0), 2) for m in rates],
            "holdout": [round(100 * (up[m]["holdout"] or 0), 2) for m in rates],
            "series": [t("campaigns.arm_treatment"), t("campaigns.arm_holdout")],
        },
    }  # fmt: skip
    money = up["revenue_per_customer"]
    if money["low"] is not None:  # no chart without a trustworthy interval (the verdict says why)
        charts["revenue"] = {
            "kind": "interval", "unit": t("campaigns.money_unit"),
            "names": [t("campaigns.metric_revenue_per_customer")],
            "values": [round(money["difference"] / 100, 2)], "lows": [round(money["low"] / 100, 2)],
            "highs": [round(money["high"] / 100, 2)], "series": [t("campaigns.uplift"), t("campaigns.interval")],
        }  # fmt: skip
    return charts


def kpi_charts(data: dict[str, Any], t: Translate) -> dict[str, Any]:
    """The KPI page's NPS/CSAT trend chart (empty without feedback)."""
    trend = data["feedback"]
    if not trend:
        return {}
    return {
        "feedback": {
            "kind": "trend", "months": [p["period"]["label"] for p in trend],
            "names": ["NPS", "CSAT (%)"],
            "series": [[p["nps"]["nps"] for p in trend],
                       [None if p["csat"] is None else round(p["csat"], 1) for p in trend]],
            "values": [p["csat_responses"] for p in trend],
        }
    }  # fmt: skip


def segment_trends(data: dict[str, Any], lang: str) -> dict[str, Any]:
    """Per scheme, the segment sizes over the runs as a trend chart."""
    charts = {}
    for s in data["schemes"]:
        charts[s["scheme"]] = {
            "kind": "trend",
            "months": [d.isoformat() for d in s["runs"]],
            "names": [seg["labels"][lang] for seg in s["segments"]],
            "series": [seg["trend"] for seg in s["segments"]],
            "values": [seg["size"] for seg in s["segments"]],
        }
    return charts
