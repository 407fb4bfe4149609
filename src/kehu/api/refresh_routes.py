"""The data refresh part of the REST API (admins): start the analytics run, follow its progress, see the schedule.

``POST /api/refresh`` starts the run in the background (or answers with the one going on: ``started`` false);
``GET /api/refresh`` is the schedule, the run going on, the last one and the recent ones; ``GET
/api/refresh/{id}`` one run, step by step (:mod:`kehu.service.refresh`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam

from kehu.api.routes import ERROR_RESPONSES, MAX_ID, Actor, to_jsonable

__all__ = ["router"]

RunId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="The analytics run's id")]

#: The refresh routes of the REST API.
router = APIRouter(prefix="/api", tags=["refresh"], responses=ERROR_RESPONSES)


@router.post("/refresh", status_code=202)
def start_refresh(actor: Actor) -> Any:
    """Start the analytics run now (admins): ``{"started": bool, "run": {...}}``; a run already going on is
    returned instead of starting a second one."""
    return to_jsonable(actor.refresh.start(trigger="api"))


@router.get("/refresh")
def refresh_status(actor: Actor) -> Any:
    """The daily schedule (time, time zone, on or off, next run), the run going on, the last and the recent runs."""
    return to_jsonable(actor.refresh.status())


@router.get("/refresh/{run_id}")
def refresh_run(actor: Actor, run_id: RunId) -> Any:
    """One analytics run: status, the steps with their state and seconds, the day it published, the kind of
    failure."""
    return to_jsonable(actor.refresh.run(run_id))
