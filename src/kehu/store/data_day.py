"""The newest data day: the day of the newest order in the store, in the workspace's time zone.

It is the day ``kehu run`` computes as of when no ``--as-of`` is given (the pipeline's default, read there from
the extract), the default day of the KPI reports, and the line between the present and the past: a run for a day
before it is a look back (a backtest, a late import), which computes and publishes but does not act
(:mod:`kehu.service.present`). Orders alone set it, not interactions or tickets: the features, the value
models and the segments are computed as of an order day, and a day set by a newer interaction would make the
default run itself a look back.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from kehu.store.schema import orders

__all__ = ["newest_data_day"]


def newest_data_day(conn: sa.Connection, timezone: str) -> dt.date | None:
    """The local day (in ``timezone``) of the newest order of any status; ``None`` when there is no order."""
    newest = conn.execute(sa.select(sa.func.max(orders.c.ordered_at))).scalar()
    if newest is None:
        return None
    if isinstance(newest, str):  # SQLite hands back text where the column type is lost in the aggregate
        newest = dt.datetime.fromisoformat(newest)
    if newest.tzinfo is None:
        newest = newest.replace(tzinfo=dt.UTC)
    return newest.astimezone(ZoneInfo(timezone)).date()
