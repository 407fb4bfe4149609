"""Only the present acts: a run for a past day computes and publishes, but its playbooks do nothing.

A run asked for a day (``kehu run --as-of D``, ``kehu playbooks run --today D``, ``ws.run(as_of=D)``,
``ws.system().playbooks.run(day=D)``) is a *look back* when ``D`` is before the newest data day
(:func:`kehu.store.data_day.newest_data_day`): a backtest, a rerun after a late import. Its pipeline, value
models, churn scores and segments are computed and published as any run's, but the playbooks create no task,
message, coupon, tag or owner change and record no firing, so the next present run still fires. A run that
names no day — ``kehu run`` without ``--as-of`` (it computes as of the newest data day), the scheduler's daily
run, the web app's "run now" — is the present.

Acting on a past day takes ``act_on_past_day=True`` (``kehu run --as-of D --act-on-past-day``): the run first
reports what it will do (the dry run's counts per rule) and then does it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from kehu.config import Settings
from kehu.i18n import text
from kehu.store.data_day import newest_data_day

__all__ = ["Announce", "PastDay", "announcement", "not_acted", "past_day", "past_day_note"]

#: ``announce(plan_summary)``: called with the dry run's counts per rule before a past day is acted on
Announce = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class PastDay:
    """A run's day and the newest data day it lies before."""

    day: dt.date
    newest_data_day: dt.date

    def as_dict(self, locale: str, *, acted: bool) -> dict[str, Any]:
        """JSON-ready, with the sentence (in ``locale``) that says why nothing acted, or that it acted as asked."""
        return {"day": self.day, "newest_data_day": self.newest_data_day, "acted": acted,
                "message": past_day_note(self, locale, acted=acted)}  # fmt: skip


def past_day(engine: sa.Engine, settings: Settings, day: dt.date | None) -> PastDay | None:
    """The look back that ``day`` is, or ``None`` when it is the present (no day named, no order yet, or a day
    on or after the newest data day)."""
    if day is None:
        return None
    with engine.connect() as conn:
        newest = newest_data_day(conn, settings.timezone)
    if newest is None or day >= newest:
        return None
    return PastDay(day, newest)


def past_day_note(past: PastDay, locale: str, *, acted: bool) -> str:
    """In ``locale``: why the playbooks did not act on ``past`` and how to make them, or that they act as asked."""
    key = "asof.acted_on_past_day" if acted else "asof.not_acted"
    return text(key, locale).format(day=past.day.isoformat(), newest=past.newest_data_day.isoformat())


def not_acted(past: PastDay, settings: Settings, playbooks: list[str]) -> dict[str, Any]:
    """The playbooks step of a look back: nothing decided, nothing written, and why."""
    return {
        "day": past.day,
        "as_of": None,
        "acted": False,
        "reason": "past_day",
        "past_day": past.as_dict(settings.locale, acted=False),
        "playbooks": playbooks,
        "rules": [],
    }


def announcement(past: PastDay, summary: dict[str, Any], locale: str) -> dict[str, Any]:
    """What ``announce`` is given before a past day is acted on: the dry run's ``summary`` (counts per rule) and
    the sentences that say so (``past_day.message``, ``past_day.plan``)."""
    said = {**past.as_dict(locale, acted=True), "plan": text("asof.plan", locale).format(day=past.day.isoformat())}
    return {**summary, "past_day": said}
