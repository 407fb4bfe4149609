"""The data refresh page (admins): the daily schedule, "refresh now" and the progress of the run going on, and
its ``.json`` twin, which the page's script polls while the run goes on (:mod:`kehu.service.refresh`)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from kehu.api.routes import MAX_ID
from kehu.views.refresh import refresh_page
from kehu.web.pages import Actor, Post, Session
from kehu.web.render import render, workspace

__all__ = ["router"]

#: The routes of the refresh page (not part of the OpenAPI schema).
router = APIRouter(include_in_schema=False)


@router.get("/refresh")
@router.get("/refresh.json")
def refresh(
    request: Request, session: Session, actor: Actor, run: int | None = Query(None, ge=1, le=MAX_ID)
) -> Response:
    status = actor.refresh.status()
    shown = actor.refresh.run(run) if run is not None else None
    started = request.query_params.get("started")
    return render(request, "refresh.html", refresh_page(status, shown, started=started))


@router.post("/refresh")
def refresh_now(request: Request, post: Post) -> Response:
    out = workspace(request).as_user(post.session.principal).refresh.start(trigger="web")
    if out["run"] is None:  # the run holding the lock has just ended: the page shows how
        return RedirectResponse("/refresh", status_code=303)
    flag = "1" if out["started"] else "0"
    return RedirectResponse(f"/refresh?run={out['run']['id']}&started={flag}", status_code=303)
