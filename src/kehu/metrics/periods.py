"""Reporting periods: calendar weeks, months, quarters and years in the workspace's time zone."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from kehu.errors import ValidationError
from kehu.vocabulary import PERIOD_KINDS

__all__ = ["Period", "last_complete_period", "period_containing"]


@dataclass(frozen=True)
class Period:
    """Days ``start`` (inclusive) to ``end`` (exclusive) of one calendar period."""

    kind: str
    start: dt.date
    end: dt.date

    @property
    def label(self) -> str:
        """``2025-06``, ``2025-Q2``, ``2025``, or ``2025-W23`` (ISO week)."""
        if self.kind == "month":
            return f"{self.start:%Y-%m}"
        if self.kind == "quarter":
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        if self.kind == "year":
            return str(self.start.year)
        year, week, _ = self.start.isocalendar()
        return f"{year}-W{week:02d}"

    @property
    def last_day(self) -> dt.date:
        """The period's last day."""
        return self.end - dt.timedelta(days=1)

    def previous(self) -> Period:
        """The period of the same kind just before this one."""
        return period_containing(self.start - dt.timedelta(days=1), self.kind)

    def bounds(self, timezone: str) -> tuple[dt.datetime, dt.datetime]:
        """Start and end as timezone-aware instants (midnight in ``timezone``)."""
        tz = ZoneInfo(timezone)
        return (
            dt.datetime.combine(self.start, dt.time(), tzinfo=tz),
            dt.datetime.combine(self.end, dt.time(), tzinfo=tz),
        )

    def as_dict(self) -> dict[str, str]:
        """Kind, label, first and last day (ISO)."""
        return {
            "kind": self.kind,
            "label": self.label,
            "start": self.start.isoformat(),
            "end": self.last_day.isoformat(),
        }


def _check(kind: str) -> None:
    if kind not in PERIOD_KINDS:
        raise ValidationError(f"period {kind!r} is not one of {', '.join(PERIOD_KINDS)}")


def period_containing(day: dt.date, kind: str) -> Period:
    """The period of ``kind`` that contains ``day`` (years 2 to 9998)."""
    _check(kind)
    if not 2 <= day.year <= 9998:
        raise ValidationError(f"date {day.isoformat()} is out of range (years 2 to 9998)")
    if kind == "week":
        start = day - dt.timedelta(days=day.weekday())
        return Period(kind, start, start + dt.timedelta(days=7))
    if kind == "year":
        return Period(kind, dt.date(day.year, 1, 1), dt.date(day.year + 1, 1, 1))
    months = 1 if kind == "month" else 3
    first_month = day.month if kind == "month" else (day.month - 1) // 3 * 3 + 1
    start = dt.date(day.year, first_month, 1)
    index = start.year * 12 + start.month - 1 + months
    return Period(kind, start, dt.date(index // 12, index % 12 + 1, 1))


def last_complete_period(as_of: dt.date, kind: str) -> Period:
    """The newest period of ``kind`` whose last day is on or before ``as_of``."""
    current = period_containing(as_of, kind)
    return current if current.last_day == as_of else current.previous()
