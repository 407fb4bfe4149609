"""NPS and CSAT over any run of periods and any set of customers (a segment), with the trend."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa

from kehu.metrics import formulas as f
from kehu.metrics.periods import Period
from kehu.store.schema import feedback

__all__ = ["feedback_comments", "feedback_trend"]


def feedback_trend(
    conn: sa.Connection,
    periods: list[Period],
    *,
    timezone: str,
    customer_ids: Collection[int] | None = None,
) -> list[dict[str, Any]]:
    """Per period: NPS (with promoters/passives/detractors), CSAT, mean CSAT and response counts.

    Parameters
    ----------
    periods
        Consecutive periods, oldest first.
    customer_ids
        Only these customers' answers (e.g. a segment's members); ``None``: everyone.

    Returns
    -------
    list of dict
        ``period`` (label, start, end), ``nps`` (breakdown, ``nps`` None with no answers), ``csat``,
        ``csat_mean``, ``csat_responses`` and ``nps_change`` / ``csat_change`` against the period before
        (``None`` when either has no data).
    """
    if not periods:
        return []
    start, _ = periods[0].bounds(timezone)
    _, end = periods[-1].bounds(timezone)
    stmt = sa.select(feedback.c.customer_id, feedback.c.kind, feedback.c.score, feedback.c.responded_at).where(
        feedback.c.responded_at >= start, feedback.c.responded_at < end
    )
    keep = None if customer_ids is None else set(customer_ids)
    bounds = [p.bounds(timezone) for p in periods]
    nps: list[list[int]] = [[] for _ in periods]
    csat: list[list[int]] = [[] for _ in periods]
    for cid, kind, score, at in conn.execute(stmt):
        if keep is not None and int(cid) not in keep:
            continue
        for i, (a, b) in enumerate(bounds):
            if a <= at < b:
                (nps if kind == "nps" else csat)[i].append(int(score))
                break
    out: list[dict[str, Any]] = []
    for i, period in enumerate(periods):
        row: dict[str, Any] = {
            "period": period.as_dict(),
            "nps": f.nps_breakdown(nps[i]),
            "csat": f.csat(csat[i]),
            "csat_mean": f.csat_mean(csat[i]),
            "csat_responses": len(csat[i]),
        }
        prev = out[-1] if out else None
        row["nps_change"] = _change(row["nps"]["nps"], prev["nps"]["nps"] if prev else None)
        row["csat_change"] = _change(row["csat"], prev["csat"] if prev else None)
        out.append(row)
    return out


def _change(now: float | None, before: float | None) -> float | None:
    return None if now is None or before is None else now - before


def feedback_comments(conn: sa.Connection, customer_id: int, *, limit: int = 50) -> list[dict[str, Any]]:
    """One customer's survey answers with comments, newest first (kind, score, comment, responded_at)."""
    stmt = (
        sa.select(feedback.c.kind, feedback.c.score, feedback.c.comment, feedback.c.responded_at, feedback.c.source)
        .where(feedback.c.customer_id == customer_id)
        .order_by(feedback.c.responded_at.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in conn.execute(stmt)]
