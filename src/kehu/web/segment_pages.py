"""The segments pages: overview with trends, one segment's members, flows between runs (Sankey), exports
and the custom segment editor. Thin routes over the segments service of the facade (:mod:`kehu.service.segments`)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from kehu.errors import KehuError, ValidationError
from kehu.views.charts import sankey, segment_trends
from kehu.views.segments import segment_page, segments_page
from kehu.web.pages import Actor, Post, Session, _optional_int
from kehu.web.render import error_text, render, translator, workspace

__all__ = ["router"]

_MEDIA = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


def _day(value: str | None, field: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{field}: expected a date like 2026-10-31, got {value[:40]!r}") from None


def _lang(request: Request) -> str:
    return "zh" if translator(request).locale.startswith("zh") else "en"


#: Routes of the segments pages (not part of the OpenAPI schema).
router = APIRouter(include_in_schema=False)


def _overview(request: Request, session: Any, editor: dict[str, Any] | None = None, status: int = 200) -> Response:
    actor = workspace(request).as_user(session.principal)
    data = segments_page(actor.segments.overview())
    chart = segment_trends(data, _lang(request))
    context = {"chart": chart, "lang": _lang(request), "editor": editor or {}}
    return render(request, "segments.html", data, context=context, status_code=status)


@router.get("/segments")
@router.get("/segments.json")
def segments(request: Request, session: Session) -> Response:
    return _overview(request, session)


@router.get("/segments/flows")
@router.get("/segments/flows.json")
def flows(request: Request, session: Session, actor: Actor, scheme: str = "rfm_cn") -> Response:
    p = request.query_params
    data = actor.segments.flows(scheme,
        from_as_of=_day(p.get("from"), "from"), to_as_of=_day(p.get("to"), "to"),
    )  # fmt: skip
    lang = _lang(request)
    chart = {"flow": sankey(data, translator(request))}
    return render(request, "segment_flows.html", data, context={"chart": chart, "lang": lang})


@router.get("/segments/preview.json")
def preview(request: Request, session: Session, actor: Actor, rule: str = "") -> Response:
    data = actor.segments.preview_rule(rule)
    return render(request, "segments.html", data)


@router.post("/segments")
def save(request: Request, post: Post, actor: Actor) -> Response:
    form = {k: post.text(k) for k in ("name", "rule", "label_zh", "label_en")}
    form["rule"] = str(post.form.get("rule", ""))  # keep the YAML's indentation
    action = post.text("action") or "preview"
    try:
        if action == "save":
            result = actor.segments.save(**form)
            editor = {**form, "saved": result}
        else:
            editor = {**form, "preview": actor.segments.preview_rule(form["rule"])}
    except KehuError as exc:
        if not isinstance(exc, ValidationError):
            raise
        return _overview(request, post.session, {**form, "error": error_text(request, exc)}, status=422)
    return _overview(request, post.session, editor)


@router.get("/segments/{scheme}/{segment}")
@router.get("/segments/{scheme}/{segment}.json")
def segment(request: Request, session: Session, actor: Actor, scheme: str, segment: str) -> Response:
    p = request.query_params
    found = actor.segments.page(f"{scheme}:{segment.removesuffix('.json')}",
        as_of=_day(p.get("as_of"), "as_of"), after=_optional_int(p.get("after"), "after"),
    )  # fmt: skip
    data = segment_page(found)
    return render(request, "segment.html", data, context={"lang": _lang(request)})


@router.get("/segments/{scheme}/{segment}/export.{fmt}")
def export(request: Request, session: Session, actor: Actor, scheme: str, segment: str, fmt: str) -> FileResponse:
    path = actor.segments.export(f"{scheme}:{segment}", fmt=fmt, locale=_lang(request))
    headers = {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(path.name)}"}
    return FileResponse(path, media_type=_MEDIA[fmt], headers=headers)
