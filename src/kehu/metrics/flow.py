"""Segment flow between two runs of a scheme (who moved from which segment to which)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from kehu.errors import NotFoundError
from kehu.segments.history import transitions
from kehu.store.segments import memberships, segment_runs

__all__ = ["segment_flow"]


def segment_flow(
    conn: sa.Connection,
    scheme: str = "lifecycle",
    *,
    from_as_of: dt.date | None = None,
    to_as_of: dt.date | None = None,
) -> dict[str, Any] | None:
    """Moves between two runs of ``scheme`` (default: its two newest runs).

    Returns ``None`` when the scheme has fewer than two runs and no days were given; otherwise the result of
    :func:`kehu.segments.history.transitions` with ``scheme``, ``from`` and ``to``.
    """
    runs = {
        as_of: int(rid)
        for rid, as_of in conn.execute(
            sa.select(segment_runs.c.id, segment_runs.c.as_of).where(segment_runs.c.scheme == scheme)
        )
    }
    days = sorted(runs)
    if from_as_of is None and to_as_of is None:
        if len(days) < 2:
            return None
        from_as_of, to_as_of = days[-2], days[-1]
    for day in (from_as_of, to_as_of):
        if day not in runs:
            raise NotFoundError(
                f"scheme {scheme!r} has no run on {day}: runs are on {', '.join(map(str, days)) or '-'}"
            )
    assert from_as_of is not None and to_as_of is not None
    old = {int(r["customer_id"]): r["segment"] for r in memberships(conn, runs[from_as_of])}
    new = {int(r["customer_id"]): r["segment"] for r in memberships(conn, runs[to_as_of])}
    keys = sorted(set(old.values()) | set(new.values()))
    return {"scheme": scheme, "from": from_as_of.isoformat(), "to": to_as_of.isoformat(), **transitions(old, new, keys)}
