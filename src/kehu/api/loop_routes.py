"""The closing-the-loop part of the REST API: KPIs, feedback trends, campaigns' results, tickets.

KPIs, feedback and campaigns are for managers and admins (the leaderboard compares people); tickets can be
opened and updated by anyone for the customers they may see.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from kehu.api.routes import ERROR_RESPONSES, MAX_ID, Actor, to_jsonable
from kehu.service import tickets as ticket_service
from kehu.views.tickets import ticket_page, tickets_page

__all__ = ["router"]

_PERIOD = "^(week|month|quarter|year)$"
_PRIORITY = "^(low|normal|high|urgent)$"


class TicketCreate(BaseModel):
    """A ticket to open."""

    customer_id: int = Field(ge=1, le=MAX_ID)
    topic: str | None = Field(default=None, max_length=200)
    priority: str = Field(default="normal", pattern=_PRIORITY)
    complaint: bool = False
    note: str | None = Field(default=None, max_length=5000)
    assignee: str | None = Field(default=None, max_length=100)


class TicketUpdate(BaseModel):
    """Changes to a ticket."""

    respond: bool = False
    resolve: bool = False
    status: str | None = Field(default=None, pattern="^(open|in_progress|resolved|closed)$")
    priority: str | None = Field(default=None, pattern=_PRIORITY)
    assignee: str | None = Field(default=None, max_length=100)
    satisfaction: int | None = Field(default=None, ge=1, le=5)


#: The ``/api`` routes of KPIs, feedback, campaigns and tickets.
router = APIRouter(prefix="/api", tags=["api"], responses=ERROR_RESPONSES)


@router.get("/kpis")
def kpis(
    actor: Actor,
    period: Annotated[str, Query(pattern=_PERIOD)] = "month",
    as_of: dt.date | None = None,
    lapse_days: Annotated[int, Query(ge=1, le=3650)] = 180,
) -> JSONResponse:
    """KPIs of the last complete period, CLV, cohorts, segment flow, owner leaderboard (managers, admins)."""
    return JSONResponse(to_jsonable(actor.kpis.report(period=period, as_of=as_of, lapse_days=lapse_days)))


@router.get("/feedback")
def feedback(
    actor: Actor,
    period: Annotated[str, Query(pattern=_PERIOD)] = "month",
    periods: Annotated[int, Query(ge=1, le=120)] = 6,
    segment: Annotated[str | None, Query(max_length=200)] = None,
    as_of: dt.date | None = None,
) -> JSONResponse:
    """NPS and CSAT per period with the trend (managers, admins)."""
    return JSONResponse(to_jsonable(actor.kpis.feedback(period=period, periods=periods, segment=segment, as_of=as_of)))


@router.get("/campaigns")
def campaigns(actor: Actor) -> JSONResponse:
    """Campaigns with status and arm sizes (managers, admins)."""
    return JSONResponse(to_jsonable(actor.campaigns.all()))


@router.get("/campaigns/{name}/results")
def campaign_results(actor: Actor, name: Annotated[str, PathParam(max_length=100)]) -> JSONResponse:
    """A campaign's outcomes per arm, uplift with 95% intervals and verdicts (managers, admins)."""
    return JSONResponse(to_jsonable(actor.campaigns.results(name)))


@router.get("/tickets")
def tickets(
    actor: Actor,
    status: Annotated[str | None, Query(pattern="^(open|in_progress|resolved|closed)$")] = None,
    priority: Annotated[str | None, Query(pattern=_PRIORITY)] = None,
    topic: Annotated[str | None, Query(max_length=200)] = None,
    owner: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    breached: bool = False,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = ticket_service.PAGE,
) -> JSONResponse:
    """Tickets of the customers the user may see, newest first, with SLA state (pages: ``before`` = the
    previous answer's ``next_before``)."""
    filters = ticket_service.TicketFilter(status=status, priority=priority, topic=topic, owner_id=owner,
                                       breached=breached, before=before, limit=limit)  # fmt: skip
    data = actor.tickets.page(filters, now=dt.datetime.now(dt.UTC))
    return JSONResponse(to_jsonable(tickets_page(data, filters=filters.params(), before=before)))


@router.get("/tickets/{ticket_id}")
def ticket(actor: Actor, ticket_id: Annotated[int, PathParam(ge=1, le=MAX_ID)]) -> JSONResponse:
    """One ticket of a customer the user may see: SLA state, customer, assignments, breaches, follow-up."""
    return JSONResponse(to_jsonable(ticket_page(actor.tickets.view(ticket_id, now=dt.datetime.now(dt.UTC)))))


@router.post("/tickets", status_code=201)
def create_ticket(actor: Actor, body: TicketCreate) -> JSONResponse:
    """Open a ticket for a customer the user may see; it is assigned by the rules unless an assignee is given."""
    fields: dict[str, Any] = body.model_dump(exclude={"customer_id"})
    return JSONResponse(to_jsonable(actor.tickets.create(body.customer_id, **fields)), status_code=201)


@router.patch("/tickets/{ticket_id}")
def update_ticket(
    actor: Actor, ticket_id: Annotated[int, PathParam(ge=1, le=MAX_ID)], body: TicketUpdate
) -> JSONResponse:
    """Respond to, resolve, re-prioritise or re-assign a ticket of a customer the user may see."""
    return JSONResponse(to_jsonable(actor.tickets.update(ticket_id, **body.model_dump())))
