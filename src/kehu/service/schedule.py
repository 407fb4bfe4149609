"""The daily run's time: ``KEHU_SCHEDULE_DAILY_AT`` (``HH:MM`` in ``KEHU_TIMEZONE``, or ``off``) read and turned
into instants — the last scheduled time before now (what a catch-up compares with) and the next one (what the
pages show). Clock changes are handled here, once, for the scheduler and the pages alike."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from kehu.config import Settings
from kehu.errors import ConfigError

__all__ = ["DailySchedule", "parse_daily_at"]

_OFF = ("", "off", "none", "never")


def parse_daily_at(text: str | None) -> dt.time | None:
    """``HH:MM`` -> time (None when unset or ``off``); raises :class:`ConfigError` naming the setting."""
    if text is None or text.strip().lower() in _OFF:
        return None
    try:
        return dt.time.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"KEHU_SCHEDULE_DAILY_AT={text!r} is not a time of day (HH:MM, or off)") from None


@dataclass(frozen=True)
class DailySchedule:
    """The daily run's time of day ``at`` (None: off) in the time zone ``tz``."""

    at: dt.time | None
    tz: ZoneInfo

    @classmethod
    def from_settings(cls, settings: Settings) -> DailySchedule:
        """The schedule of ``KEHU_SCHEDULE_DAILY_AT`` in ``KEHU_TIMEZONE``."""
        return cls(parse_daily_at(settings.schedule_daily_at), ZoneInfo(settings.timezone))

    def _on(self, day: dt.date) -> dt.datetime:
        assert self.at is not None
        # an instant (UTC): a time that a clock change skips is read as the clock before the change shows it (02:30
        # on a night that jumps from 02:00 to 03:00 is 03:30), a time it repeats is its first occurrence
        return dt.datetime.combine(day, self.at, self.tz).astimezone(dt.UTC)

    def last_scheduled(self, now: dt.datetime) -> dt.datetime | None:
        """The newest scheduled time at or before ``now``, in UTC (None when off)."""
        if self.at is None:
            return None
        utc = now.astimezone(dt.UTC)  # compared as instants: a wall time can happen twice when clocks go back
        day = utc.astimezone(self.tz).date()
        today = self._on(day)
        return today if today <= utc else self._on(day - dt.timedelta(days=1))

    def next_run(self, now: dt.datetime) -> dt.datetime | None:
        """The first scheduled time after ``now``, in UTC (None when off)."""
        if self.at is None:
            return None
        utc = now.astimezone(dt.UTC)
        day = utc.astimezone(self.tz).date()
        today = self._on(day)
        return today if today > utc else self._on(day + dt.timedelta(days=1))
