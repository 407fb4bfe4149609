"""RFM scores 1..5 in the engine: tie-aware quantile binning or fixed cut points.

Quantile binning uses the mid-rank percentile of each value::

    p = (customers with a worse value + customers with a worse or equal value) / (2 n)
    score = min(5, 1 + floor(5 p))

so equal values always get the same score (they share p), the best value of a large population gets 5
and the worst 1, and a one-customer population (or one where everybody is equal) sits in the middle, 3.
Recency is a number of days, so "worse" means more days: 5 = most recent. Everything is integer counting
over the distinct values (one cumulative window over a grouped table, ordered by a unique key), so DuckDB
and Spark give the same scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = ["BINS", "cut_scores", "midrank_percentile", "quantile_scores"]

BINS = 5


def midrank_percentile(table: ir.Table, column: str, *, lower_is_better: bool = False) -> ir.Table:
    """Per distinct non-NULL value of ``column``: ``value``, ``n`` customers and mid-rank percentile ``p``.

    ``p`` is in (0, 1): the share of customers with a worse value plus half the share with the same value.
    The integers behind it are kept as ``twice`` (worse + worse-or-equal) and ``total`` (``p = twice / 2
    total``).
    """
    import ibis

    values = table.filter(table[column].notnull()).select(value=table[column])
    counts = values.group_by("value").aggregate(n=ibis._.count())
    order = ibis.desc(counts.value) if lower_is_better else ibis.asc(counts.value)
    counts = counts.mutate(
        le=counts.n.sum().over(ibis.cumulative_window(order_by=order)),
        total=counts.n.sum().over(ibis.window()),
    )
    twice = counts.le * 2 - counts.n  # (worse) + (worse or equal)
    return counts.select(
        "value", "n", "total", twice=twice, p=twice.cast("float64") / (counts.total * 2).cast("float64")
    )


def quantile_scores(
    table: ir.Table, column: str, *, lower_is_better: bool = False, key: str = "customer_id"
) -> ir.Table:
    """``key`` and ``score`` (1..5) of every row of ``table`` whose ``column`` is not NULL."""
    import ibis

    ranks = midrank_percentile(table, column, lower_is_better=lower_is_better)
    # score - 1 = floor(5p) = floor(5 twice / 2 total): one rounding of an exact ratio of integers, so a value
    # exactly on a bin boundary is never pushed below it
    ratio = (ranks.twice * BINS).cast("float64") / (ranks.total * 2).cast("float64")
    ranks = ranks.mutate(score=ibis.least(ratio.floor().cast("int64") + 1, BINS))
    rows = table.filter(table[column].notnull()).select(key, value=table[column])
    joined = rows.join(ranks, rows.value == ranks.value)
    return joined.select(key, score=joined.score.cast("int64"))


def cut_scores(
    table: ir.Table, column: str, cuts: Sequence[float], *, lower_is_better: bool = False, key: str = "customer_id"
) -> ir.Table:
    """``key`` and ``score`` from four ascending cut points.

    Higher is better: the score is 1 plus the number of cut points the value reaches (``value >= cut``).
    Lower is better (recency in days): 1 plus the number of cut points the value stays within
    (``value <= cut``), so with cuts ``[30, 90, 180, 365]`` a purchase 10 days ago scores 5 and one 400 days
    ago scores 1.
    """
    import ibis

    col = table[column]
    hits = [ibis.ifelse(col <= c if lower_is_better else col >= c, 1, 0) for c in cuts]
    total = hits[0]
    for hit in hits[1:]:
        total = total + hit
    rows = table.filter(col.notnull())
    return rows.select(key, score=(total + 1).cast("int64"))
