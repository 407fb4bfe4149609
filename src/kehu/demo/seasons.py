"""The demo calendar: a day grid with Chinese retail seasonality, and vectorized event-time sampling.

Seasonality is a multiplier per day (mean 1 over the history): a dip around 春节 when logistics stop, a
pre-holiday gift bump, the 618 and 双11 shopping festivals with their presale weeks, 双12, and a summer
lull. Event times of a Poisson process whose rate follows that multiplier are drawn exactly by inverting
the cumulative intensity, so no candidate events are thrown away.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from kehu.demo.catalog import NEW_YEAR

__all__ = [
    "Timeline",
    "homogeneous_events",
    "promo_days",
    "seasonal_events",
    "seasonal_index",
    "time_of_day",
]

_DAY = 86_400
# Hour-of-day weights (0..23) for consumer orders/logins and for office-hours B2B activity.
_SHOP_HOURS = np.array(
    [3, 1.5, 0.8, 0.4, 0.3, 0.4, 1, 2, 3.5, 4.5, 5, 5.5, 6, 5.5, 5, 5, 5, 5, 5.5, 6.5, 8, 9, 8.5, 6], dtype=float
)
_OFFICE_HOURS = np.array(
    [0, 0, 0, 0, 0, 0, 0, 0.3, 2, 8, 10, 9, 4, 6, 9, 10, 9, 7, 3, 1, 0.5, 0.3, 0.1, 0], dtype=float
)


def _new_year(year: int) -> date:
    month, day = NEW_YEAR.get(year, (2, 5))  # outside the table: a typical date is close enough
    return date(year, month, day)


def seasonal_index(days: np.ndarray) -> np.ndarray:
    """Relative order intensity per calendar day (before normalization).

    Parameters
    ----------
    days
        ``datetime64[D]`` array of calendar days.

    Returns
    -------
    numpy.ndarray
        Positive float multipliers, about 1 on an ordinary day.
    """
    days = np.asarray(days, dtype="datetime64[D]")
    years = days.astype("datetime64[Y]").astype(int) + 1970
    month = days.astype("datetime64[M]").astype(int) % 12 + 1
    mday = (days - days.astype("datetime64[M]")).astype(int) + 1
    weekday = (days.astype(int) + 3) % 7  # 0 = Monday
    s = np.ones(days.shape, dtype=float)
    s *= np.where(weekday >= 5, 1.08, 1.0)
    s *= np.where((month == 7) | (month == 8), 0.88, 1.0)
    # 春节: gift buying in the three weeks before, a deep dip from a week before to ten days after.
    for year in range(int(years.min(initial=2000)), int(years.max(initial=1999)) + 2):
        off = (days - np.datetime64(_new_year(year), "D")).astype(int)
        s = np.where((off >= -24) & (off < -9), s * 1.25, s)
        s = np.where((off >= -9) & (off <= 9), s * 0.4, s)
    # 618: presale in early June, the peak on the 18th.
    s = np.where((month == 6) & (mday >= 1) & (mday <= 17), s * 1.6, s)
    s = np.where((month == 6) & (mday == 18), s * 4.0, s)
    # 双11: presale from 20 Oct, a strong first ten days of November, the peak on the 11th.
    s = np.where((month == 10) & (mday >= 20), s * 1.3, s)
    s = np.where((month == 11) & (mday <= 10), s * 2.2, s)
    s = np.where((month == 11) & (mday == 11), s * 8.0, s)
    s = np.where((month == 11) & (mday >= 12) & (mday <= 15), s * 1.5, s)
    s = np.where((month == 12) & (mday == 12), s * 2.2, s)
    return s


def promo_days(days: np.ndarray) -> np.ndarray:
    """Whether each day is inside a festival discount window (618, 双11 presale to 11.11, 双12)."""
    days = np.asarray(days, dtype="datetime64[D]")
    month = days.astype("datetime64[M]").astype(int) % 12 + 1
    mday = (days - days.astype("datetime64[M]")).astype(int) + 1
    return (
        ((month == 6) & (mday <= 18))
        | ((month == 10) & (mday >= 20))
        | ((month == 11) & (mday <= 11))
        | ((month == 12) & (mday == 12))
    )


@dataclass(frozen=True)
class Timeline:
    """The demo history as a grid of days ``[start, as_of]`` with its seasonal intensity.

    Times inside the generator are float days since ``start``; :meth:`seconds` turns them into naive
    local epoch seconds for writing.
    """

    start: date
    as_of: date
    n_days: int = field(init=False)
    season: np.ndarray = field(init=False, repr=False)
    promo: np.ndarray = field(init=False, repr=False)  # season sharpened for festival-driven buyers
    cum_season: np.ndarray = field(init=False, repr=False)
    cum_promo: np.ndarray = field(init=False, repr=False)
    is_promo: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n = (self.as_of - self.start).days + 1
        days = np.datetime64(self.start, "D") + np.arange(n)
        season = seasonal_index(days)
        season /= season.mean()
        promo = season**1.8
        promo /= promo.mean()
        object.__setattr__(self, "n_days", n)
        object.__setattr__(self, "season", season)
        object.__setattr__(self, "promo", promo)
        object.__setattr__(self, "cum_season", np.concatenate([[0.0], np.cumsum(season)]))
        object.__setattr__(self, "cum_promo", np.concatenate([[0.0], np.cumsum(promo)]))
        object.__setattr__(self, "is_promo", promo_days(days))

    @classmethod
    def ending(cls, as_of: date, years: int = 3) -> Timeline:
        """A timeline of ``years`` whole years ending on ``as_of`` (inclusive)."""
        try:
            first = date(as_of.year - years, as_of.month, as_of.day)
        except ValueError:  # 29 February
            first = date(as_of.year - years, as_of.month, 28)
        return cls(first + timedelta(days=1), as_of)

    @property
    def epoch(self) -> int:
        """Naive epoch seconds of ``start`` at midnight."""
        return int((self.start - date(1970, 1, 1)).days) * _DAY

    def seconds(self, t: np.ndarray) -> np.ndarray:
        """Float days since ``start`` -> int64 naive epoch seconds."""
        return self.epoch + np.floor(np.asarray(t, dtype=float) * _DAY).astype(np.int64)

    def day_of(self, t: np.ndarray) -> np.ndarray:
        """Day index (clipped to the grid) of float times."""
        return np.clip(np.floor(t).astype(np.int64), 0, self.n_days - 1)


def seasonal_events(
    rng: np.random.Generator, rate: np.ndarray, a: np.ndarray, b: np.ndarray, cum: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Events of independent Poisson processes whose rate follows a seasonal curve.

    Parameters
    ----------
    rng
        Random generator.
    rate
        Events per day at multiplier 1, one per process (customer).
    a, b
        Window of each process in float days since the timeline start; empty when ``b <= a``.
    cum
        Cumulative daily intensity (``Timeline.cum_season`` or ``cum_promo``), length ``n_days + 1``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(owner, t)``: the process index and the time of each event, grouped by owner.
    """
    grid = np.arange(cum.size, dtype=float)
    lo, hi = np.interp(a, grid, cum), np.interp(np.maximum(a, b), grid, cum)
    n = rng.poisson(np.asarray(rate, dtype=float) * (hi - lo))
    owner = np.repeat(np.arange(n.size), n)
    u = lo[owner] + rng.random(owner.size) * (hi - lo)[owner]
    return owner, np.interp(u, cum, grid)


def homogeneous_events(
    rng: np.random.Generator, rate: np.ndarray, a: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Events of independent constant-rate Poisson processes on windows ``[a, b)``; see :func:`seasonal_events`."""
    width = np.maximum(np.asarray(b, dtype=float) - a, 0.0)
    n = rng.poisson(np.asarray(rate, dtype=float) * width)
    owner = np.repeat(np.arange(n.size), n)
    return owner, a[owner] + rng.random(owner.size) * width[owner]


def time_of_day(rng: np.random.Generator, t: np.ndarray, *, office: bool = False) -> np.ndarray:
    """Replace the fraction of each float day with a realistic time of day (evenings, or office hours)."""
    weights = _OFFICE_HOURS if office else _SHOP_HOURS
    hours = rng.choice(24, size=np.size(t), p=weights / weights.sum())
    frac = (hours + rng.random(np.size(t))) / 24.0
    return np.floor(t) + frac
