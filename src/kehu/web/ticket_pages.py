"""The tickets pages: the list with filters and SLA state, one ticket, opening and changing tickets (CSRF forms).
Thin routes over the tickets service of the facade (:mod:`kehu.service.tickets`, which enforces the row-level
scope)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException

from kehu.errors import ValidationError
from kehu.service import tickets as ticket_service
from kehu.views.tickets import ticket_page, tickets_page
from kehu.web.pages import Actor, Post, Session, _optional_int
from kehu.web.render import render, translator, workspace

__all__ = ["router"]

_TRUE = ("1", "true", "on", "yes")


def _filters(request: Request) -> ticket_service.TicketFilter:
    p = request.query_params
    return ticket_service.TicketFilter(
        status=p.get("status") or None,
        priority=p.get("priority") or None,
        topic=p.get("topic") or None,
        owner_id=_optional_int(p.get("owner"), "owner"),
        breached=p.get("breached", "") in _TRUE,
        before=_optional_int(p.get("before"), "before"),
        limit=_optional_int(p.get("limit"), "limit") or ticket_service.PAGE,
    )


def _ticket_id(request: Request, value: int) -> int:
    if value < 1 or value > 2**62:
        raise HTTPException(404, translator(request)("errors.not_found"))
    return value


#: Routes of the tickets pages (not part of the OpenAPI schema).
router = APIRouter(include_in_schema=False)


def _list(request: Request, session: Any, form: dict[str, Any] | None = None, status: int = 200) -> Response:
    actor = workspace(request).as_user(session.principal)
    filters = _filters(request)
    now = dt.datetime.now(dt.UTC)
    data = tickets_page(actor.tickets.page(filters, now=now), filters=filters.params(), before=filters.before)

    def link(**changes: Any) -> str:
        params = {**filters.params(), **{k: v for k, v in changes.items() if v is not None}}
        return "/tickets?" + urlencode({k: v for k, v in params.items() if v != ""})

    context = {"link": link, "form": form or {}}
    return render(request, "tickets.html", data, status_code=status, context=context)


@router.get("/tickets")
@router.get("/tickets.json")
def tickets(request: Request, session: Session) -> Response:
    return _list(request, session)


@router.post("/tickets")
def create(request: Request, post: Post, actor: Actor) -> Response:
    form: dict[str, Any] = {k: post.text(k) for k in ("customer_id", "topic", "priority", "note")}
    form["complaint"] = post.text("complaint") in _TRUE
    try:
        customer_id = _optional_int(form["customer_id"], "customer_id")
        if customer_id is None:
            raise ValidationError("customer_id: give the customer's number (Kehu id)")
        ticket = actor.tickets.open(
            customer_id,
            topic=form["topic"] or None,
            priority=form["priority"] or "normal",
            complaint=form["complaint"],
            note=form["note"] or None,
        )
    except ValidationError as exc:
        return _list(request, post.session, {**form, "error": str(exc)}, status=422)
    return RedirectResponse(f"/tickets/{ticket['id']}", status_code=303)


@router.get("/tickets/{ticket_id:id}")
@router.get("/tickets/{ticket_id:id}.json")
def ticket(request: Request, session: Session, actor: Actor, ticket_id: int) -> Response:
    now = dt.datetime.now(dt.UTC)
    data = ticket_page(actor.tickets.view(_ticket_id(request, ticket_id), now=now))
    return render(request, "ticket.html", data)


@router.post("/tickets/{ticket_id:id}")
def update(request: Request, post: Post, actor: Actor, ticket_id: int) -> Response:
    tid = _ticket_id(request, ticket_id)
    action = post.text("action")
    changes: dict[str, Any] = {}
    satisfaction = _optional_int(post.text("satisfaction"), "satisfaction")
    if action == "respond":
        changes["respond"] = True
    elif action == "resolve":
        changes["resolve"] = True
    elif action == "save":
        changes = {"status": post.text("status") or None, "priority": post.text("priority") or None,
                   "assignee": post.text("assignee") or None, "satisfaction": satisfaction}  # fmt: skip
    else:
        raise ValidationError(f"action: {action[:40]!r} is not respond, resolve or save")
    try:
        actor.tickets.change(tid, **changes)
    except ValidationError as exc:
        data = ticket_page(actor.tickets.view(tid, now=dt.datetime.now(dt.UTC)))
        return render(request, "ticket.html", data, status_code=422, context={"error": str(exc)})
    return RedirectResponse(f"/tickets/{tid}?saved=1", status_code=303)
