"""The campaigns pages (list, create form, launch, results with the uplift chart) and the KPI page (period vs previous,
NPS/CSAT trends, owner leaderboard). Thin routes over the campaigns and KPI services of the facade
(:mod:`kehu.service.campaigns`, :mod:`kehu.service.kpis`); campaigns are for managers and admins (the service
refuses reps)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from kehu.errors import ValidationError
from kehu.service import campaigns as campaign_service
from kehu.views.campaigns import campaign_page, campaigns_page
from kehu.views.charts import kpi_charts, uplift_charts
from kehu.views.kpis import kpis_page
from kehu.web.pages import Actor, Post, Session
from kehu.web.render import error_text, render, translator, workspace

__all__ = ["router"]


def _lang(request: Request) -> str:
    return "zh" if translator(request).locale.startswith("zh") else "en"


#: Routes of the campaigns and KPI pages (not part of the OpenAPI schema).
router = APIRouter(include_in_schema=False)


def _list(request: Request, session: Any, form: dict[str, Any] | None = None, status: int = 200) -> Response:
    actor = workspace(request).as_user(session.principal)
    data = campaigns_page(actor.campaigns.all(), actor.campaigns.targets())
    context = {"form": form or {}, "lang": _lang(request)}
    return render(request, "campaigns.html", data, status_code=status, context=context)


@router.get("/campaigns")
@router.get("/campaigns.json")
def campaigns(request: Request, session: Session) -> Response:
    return _list(request, session)


@router.post("/campaigns")
def create(request: Request, post: Post, actor: Actor) -> Response:
    form = {k: str(post.form.get(k, "")) for k in campaign_service.FIELDS}
    try:
        created = actor.campaigns.create_from_form(form)
    except ValidationError as exc:
        return _list(request, post.session, {**form, "error": error_text(request, exc)}, status=422)
    return RedirectResponse(f"/campaigns/{quote(created['name'])}", status_code=303)


@router.get("/campaigns/{name}")
def campaign(request: Request, session: Session, actor: Actor, name: str) -> Response:
    json_twin = name.endswith(".json")
    data = campaign_page(actor.campaigns.view(name.removesuffix(".json")))
    t = translator(request)
    chart = uplift_charts(data["results"], t) if data["results"] and not json_twin else {}
    today = dt.datetime.now(ZoneInfo(workspace(request).settings.timezone)).date()  # an open window counts to now
    context = {"chart": chart, "lang": _lang(request), "today": today}
    return render(request, "campaign.html", data, context=context)


@router.post("/campaigns/{name}/launch")
def launch(request: Request, post: Post, actor: Actor, name: str) -> Response:
    actor.campaigns.launch(name)
    return RedirectResponse(f"/campaigns/{quote(name)}", status_code=303)


@router.get("/kpis")
@router.get("/kpis.json")
def kpis(request: Request, session: Session, actor: Actor, period: str = "month", as_of: str | None = None) -> Response:
    day = None
    if as_of:
        try:
            day = dt.date.fromisoformat(as_of)
        except ValueError:
            raise ValidationError(f"as_of: expected a date like 2026-10-31, got {as_of[:40]!r}") from None
        if not dt.date(1900, 1, 1) <= day <= dt.date(2999, 12, 31):
            raise ValidationError(f"as_of: {as_of} is out of range")
    data = kpis_page(actor.kpis.summary(period=period, as_of=day), period=period)
    t = translator(request)
    return render(request, "kpis.html", data, context={"chart": kpi_charts(data, t), "lang": _lang(request)})
