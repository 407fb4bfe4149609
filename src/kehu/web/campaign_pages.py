"""The campaigns pages (list, create form, launch, results with the uplift chart) and the KPI page (period vs
previous, NPS/CSAT trends, owner leaderboard). Thin routes over :mod:`kehu.service.web_campaigns` and
:mod:`kehu.service.web_kpis`; campaigns are for managers and admins (the service refuses reps)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from kehu.errors import ValidationError
from kehu.service import campaigns as campaign_service
from kehu.service import kpis as kpi_service
from kehu.web.i18n import Translator
from kehu.web.pages import Post, Session
from kehu.web.render import render, translator, workspace

__all__ = ["campaign_router", "uplift_charts"]

_RATES = ("conversion", "retention", "win_back")


def _lang(request: Request) -> str:
    return "zh" if translator(request).locale.startswith("zh") else "en"


def uplift_charts(results: dict[str, Any], t: Translator) -> dict[str, Any]:
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
    if money["difference"] is not None:
        charts["revenue"] = {
            "kind": "interval", "unit": t("campaigns.money_unit"),
            "names": [t("campaigns.metric_revenue_per_customer")],
            "values": [round(money["difference"] / 100, 2)], "lows": [round(money["low"] / 100, 2)],
            "highs": [round(money["high"] / 100, 2)], "series": [t("campaigns.uplift"), t("campaigns.interval")],
        }  # fmt: skip
    return charts


def _kpi_charts(data: dict[str, Any], t: Translator) -> dict[str, Any]:
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


def campaign_router() -> APIRouter:
    """Routes of the campaigns and KPI pages (not part of the OpenAPI schema)."""
    router = APIRouter(include_in_schema=False)

    def _list(request: Request, session: Any, form: dict[str, Any] | None = None, status: int = 200) -> Response:
        data = campaign_service.campaigns_page(workspace(request), session.principal)
        context = {"form": form or {}, "lang": _lang(request)}
        return render(request, "campaigns.html", data, status_code=status, context=context)

    @router.get("/campaigns")
    @router.get("/campaigns.json")
    def campaigns(request: Request, session: Session) -> Response:
        return _list(request, session)

    @router.post("/campaigns")
    def create(request: Request, post: Post) -> Response:
        form = {k: str(post.form.get(k, "")) for k in campaign_service.FIELDS}
        try:
            created = campaign_service.create_from_form(workspace(request), post.session.principal, form)
        except ValidationError as exc:
            return _list(request, post.session, {**form, "error": str(exc)}, status=422)
        return RedirectResponse(f"/campaigns/{quote(created['name'])}", status_code=303)

    @router.get("/campaigns/{name}")
    def campaign(request: Request, session: Session, name: str) -> Response:
        json_twin = name.endswith(".json")
        data = campaign_service.campaign_page(workspace(request), session.principal, name.removesuffix(".json"))
        t = translator(request)
        chart = uplift_charts(data["results"], t) if data["results"] and not json_twin else {}
        return render(request, "campaign.html", data, context={"chart": chart, "lang": _lang(request)})

    @router.post("/campaigns/{name}/launch")
    def launch(request: Request, post: Post, name: str) -> Response:
        campaign_service.launch(workspace(request), post.session.principal, name)
        return RedirectResponse(f"/campaigns/{quote(name)}", status_code=303)

    @router.get("/kpis")
    @router.get("/kpis.json")
    def kpis(request: Request, session: Session, period: str = "month", as_of: str | None = None) -> Response:
        day = None
        if as_of:
            try:
                day = dt.date.fromisoformat(as_of)
            except ValueError:
                raise ValidationError(f"as_of: expected a date like 2026-10-31, got {as_of[:40]!r}") from None
            if not dt.date(1900, 1, 1) <= day <= dt.date(2999, 12, 31):
                raise ValidationError(f"as_of: {as_of} is out of range")
        data = kpi_service.kpis_page(workspace(request), session.principal, period=period, as_of=day)
        t = translator(request)
        return render(request, "kpis.html", data, context={"chart": _kpi_charts(data, t), "lang": _lang(request)})

    return router
