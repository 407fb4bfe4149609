"""Local wall-clock time inside the engine, for the workspace's time zone.

The store keeps instants in UTC, but a business counts days on its own calendar: an order placed at
01:00 in Shanghai (17:00 UTC the day before) belongs to the Shanghai day. :func:`local_time` turns a naive
UTC timestamp column into naive local wall-clock time with plain Ibis arithmetic, the same on DuckDB and
Spark: the zone's UTC offset is a step function of the instant, taken from the time-zone database once in
Python, and the column gets ``+ offset`` chosen by a balanced tree of comparisons against the instants
where the offset changes. A zone without changes in the covered years (Asia/Shanghai since 1991 has none,
but its 1986-1991 summer time is covered) costs a few comparisons per row; this is several times faster
than DuckDB's ICU ``timezone()`` and needs no engine-specific function.

:func:`to_utc_arrow` goes back at the publishing boundary: local wall-clock timestamps fetched from the
engine become timezone-aware UTC instants (an hour repeated when clocks go back resolves to its first
occurrence).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kehu.errors import ConfigError

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa

__all__ = ["local_time", "offset_changes", "to_utc_arrow"]

#: years whose offset changes are looked up; instants outside use the offset at the nearest end
FIRST_YEAR, LAST_YEAR = 1800, 2100
_UTC = dt.UTC


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"timezone: {name!r} is not a known IANA time zone (e.g. Asia/Shanghai, UTC)") from exc


def _offset(zone: ZoneInfo, instant: dt.datetime) -> int:
    delta = instant.astimezone(zone).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


@lru_cache(maxsize=16)
def offset_changes(name: str) -> tuple[int, tuple[tuple[dt.datetime, int], ...]]:
    """The UTC offset of zone ``name`` as a step function of the (naive UTC) instant.

    Parameters
    ----------
    name
        IANA time-zone name.

    Returns
    -------
    first, changes
        The offset in seconds at the start of :data:`FIRST_YEAR`, and ``(instant, new offset)`` for each
        change up to :data:`LAST_YEAR`, in order; instants are naive UTC, exact to the second.

    Raises
    ------
    ConfigError
        For an unknown zone.
    """
    zone = _zone(name)
    start = dt.datetime(FIRST_YEAR, 1, 1, tzinfo=_UTC)
    first = _offset(zone, start)
    changes: list[tuple[dt.datetime, int]] = []
    day = dt.timedelta(days=1)
    current, before = start, first
    end = dt.datetime(LAST_YEAR, 1, 1, tzinfo=_UTC)
    while current < end:
        following = current + day
        after = _offset(zone, following)
        if after != before:
            # the change lies in (current, following]: bisect to the second
            low, high = current, following
            while high - low > dt.timedelta(seconds=1):
                mid = low + (high - low) / 2
                mid = mid.replace(microsecond=0)
                if mid <= low:
                    break
                if _offset(zone, mid) == before:
                    low = mid
                else:
                    high = mid
            changes.append((high.replace(tzinfo=None), after))
            before = after
        current = following
    return first, tuple(changes)


def local_time(column: ir.TimestampValue, zone: str) -> ir.TimestampValue:
    """Naive UTC timestamps -> naive wall-clock time in ``zone`` (NULL stays NULL).

    Parameters
    ----------
    column
        A naive timestamp column holding UTC instants.
    zone
        IANA time-zone name (the workspace's ``timezone`` setting).

    Returns
    -------
    ibis.expr.types.TimestampValue
        ``column`` plus the zone's offset at each instant.
    """
    import ibis

    first, changes = offset_changes(zone)
    offsets = [first, *(offset for _, offset in changes)]
    instants = [ibis.timestamp(instant) for instant, _ in changes]

    def shifted(seconds: int) -> ir.TimestampValue:
        return column if seconds == 0 else column + ibis.interval(seconds=seconds)

    def tree(low: int, high: int) -> ir.TimestampValue:
        # offsets[i] holds before instants[i] (and from instants[i-1] on)
        if low == high:
            return shifted(offsets[low])
        mid = (low + high) // 2
        return ibis.ifelse(column < instants[mid], tree(low, mid), tree(mid + 1, high))

    return tree(0, len(offsets) - 1)


def to_utc_arrow(table: pa.Table, zone: str) -> pa.Table:
    """Turn the naive (local wall-clock) timestamp columns of an Arrow table into aware UTC instants.

    Parameters
    ----------
    table
        Fetched from the engine, timestamps in ``zone``'s wall-clock time.
    zone
        IANA time-zone name.

    Returns
    -------
    pyarrow.Table
        Same columns; naive timestamp columns become ``timestamp[unit, tz=UTC]``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    _zone(zone)
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type.tz is None:
            aware = pc.assume_timezone(table.column(i), zone, ambiguous="earliest", nonexistent="earliest")
            table = table.set_column(i, field.name, aware.cast(pa.timestamp(field.type.unit, tz="UTC")))
    return table
