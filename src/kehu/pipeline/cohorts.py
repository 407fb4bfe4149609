"""Cohorts and the repeat-purchase curve, by calendar month (local: the workspace time zone).

- ``cohorts``: acquisition month (month of the first purchase) x months since acquisition -> cohort size,
  active customers (with a purchase that month), retention (active / size), orders and revenue. Every cell
  from the cohort's first month up to as_of's month is present, with zeros where nobody bought.
- ``repeat_curve``: for k = 0, 1, ... months after the first purchase month, among customers whose first
  purchase month is at least k months before as_of's month, how many made a second purchase (on a later
  day) no more than k months after their first purchase month.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from kehu.pipeline.orders import month_index
from kehu.pipeline.step import Context, Step, left_join

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = ["COHORTS", "REPEAT_CURVE"]


def _month_start(index: ir.IntegerValue) -> ir.DateValue:
    import ibis

    zero_based = index - 1
    return ibis.date((zero_based // 12).cast("int32"), (zero_based % 12 + 1).cast("int32"), 1)


def _months_upto(table: ir.Table, start: ir.IntegerValue, ctx: Context, name: str) -> ir.Table:
    """One row per (row of ``table``, k) for k = 0 .. as_of's month - ``start``."""
    import ibis

    return table.mutate(**{name: ibis.range(0, ctx.month_index - start + 1).unnest().cast("int64")})


def _cohorts(tables: Mapping[str, ir.Table], ctx: Context) -> ir.Table:
    import ibis

    facts = tables["order_facts"]
    p = facts.filter(facts.is_purchase)
    month = month_index(p.order_date)
    cohort = month_index(p.first_purchase_date)
    # a customer is active in a month once: count their first purchase of the month (the order facts give
    # each purchase the customer's previous purchase day, so no grouping by customer and month is needed)
    opens_month = p.previous_purchase_date.isnull() | (month_index(p.previous_purchase_date) < month)
    cells = p.group_by(cohort_index=cohort, months_since=(month - cohort).cast("int64")).aggregate(
        active_customers=ibis.ifelse(opens_month, 1, 0).sum().cast("int64"),
        orders=p.count().cast("int64"),
        revenue_cents=p.revenue_cents.sum().cast("int64"),
    )
    # every buyer is active in the first month of their cohort, exactly once
    first = cells.filter(cells.months_since == 0)
    sizes = first.select("cohort_index", cohort_customers=first.active_customers)
    grid = _months_upto(sizes, sizes.cohort_index, ctx, "months_since")
    t = left_join(grid, cells, ["cohort_index", "months_since"])
    active = t.active_customers.fill_null(0)
    return t.select(
        cohort_month=_month_start(t.cohort_index),
        months_since=t.months_since,
        cohort_customers=t.cohort_customers,
        active_customers=active,
        retention=active / t.cohort_customers.nullif(0),
        orders=t.orders.fill_null(0),
        revenue_cents=t.revenue_cents.fill_null(0),
    )


COHORTS = Step(
    name="cohorts",
    inputs=("order_facts",),
    grain=("cohort_month", "months_since"),
    columns={
        "cohort_month": "date",
        "months_since": "int64",
        "cohort_customers": "int64",
        "active_customers": "int64",
        "retention": "float64",
        "orders": "int64",
        "revenue_cents": "int64",
    },
    build=_cohorts,
    description="acquisition month x months since acquisition",
)


def _repeat_curve(tables: Mapping[str, ir.Table], ctx: Context) -> ir.Table:
    import ibis

    summary = tables["purchase_summary"]
    buyers = summary.filter(summary.first_order_date.notnull())
    first_index = month_index(buyers.first_order_date)
    per = buyers.select(
        first_index=first_index, offset=(month_index(buyers.second_order_date) - first_index).cast("int64")
    )
    groups = per.group_by("first_index", "offset").aggregate(n=per.count().cast("int64"))
    span = groups.aggregate(start=groups.first_index.min())
    ks = _months_upto(span, span.start, ctx, "k").select("k")
    grid = groups.cross_join(ks)
    eligible = grid.first_index + grid.k <= ctx.month_index
    repeated = eligible & grid.offset.notnull() & (grid.offset <= grid.k)
    curve = grid.group_by(months_since_first=grid.k).aggregate(
        customers=ibis.ifelse(eligible, grid.n, 0).sum().cast("int64"),
        repeat_customers=ibis.ifelse(repeated, grid.n, 0).sum().cast("int64"),
    )
    return curve.mutate(repeat_rate=curve.repeat_customers / curve.customers.nullif(0))


REPEAT_CURVE = Step(
    name="repeat_curve",
    inputs=("purchase_summary",),
    grain=("months_since_first",),
    columns={
        "months_since_first": "int64",
        "customers": "int64",
        "repeat_customers": "int64",
        "repeat_rate": "float64",
    },
    build=_repeat_curve,
    description="share of customers with a second purchase within k months",
)
