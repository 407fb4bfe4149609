"""The "what works" page (策略效果, managers and admins, linked from the playbooks page): per playbook rule over a
window of firing days, the customers it acted on against those it held out, with uplift, intervals and a verdict.

A thin route over the playbooks service of the facade (:meth:`kehu.service.playbooks.PlaybookService.effects`,
which refuses reps) and its view (:mod:`kehu.views.effects`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from kehu.errors import ValidationError
from kehu.views.effects import effects_page
from kehu.web.pages import Actor, Session
from kehu.web.render import render
from kehu.web.segment_pages import _day

__all__ = ["router"]

#: Routes of the "what works" page (not part of the OpenAPI schema).
router = APIRouter(include_in_schema=False)


def _horizon(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValidationError(f"horizon: expected a number of days like 60, got {value[:40]!r}") from None


@router.get("/effects")
@router.get("/effects.json")
def effects(
    request: Request,
    session: Session,
    actor: Actor,
    since: str | None = None,
    until: str | None = None,
    horizon: str | None = None,
) -> Response:
    data = actor.playbooks.effects(since=_day(since, "since"), until=_day(until, "until"), horizon=_horizon(horizon))
    form = {"since": since or "", "until": until or "", "horizon": data["horizon_days"]}
    return render(request, "effects.html", effects_page(data, form=form))
