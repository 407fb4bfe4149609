"""Per-customer purchase features as of a day, from the order facts.

Definitions (``as_of`` included; days are UTC calendar days; money in integer cents):

- ``frequency``: repeat purchases counted by distinct purchase days (``purchase_days - 1``), as in the
  BG/NBD literature; ``recency_days`` = last - first purchase day; ``T_days`` = as_of - first purchase day;
  the ``*_weeks`` columns are the same divided by 7.
- ``monetary_value_cents``: mean revenue per repeat purchase day (the first day excluded); NULL without
  repeats. ``mean_order_value_cents``: revenue / purchase orders.
- ``revenue_Nd_cents`` / ``orders_Nd``: purchases dated in (as_of - N days, as_of]; ``*_prev_90d``: in
  (as_of - 180, as_of - 90]; ``revenue_trend_90d``: relative change of the last 90 days over the 90 before;
  ``order_trend_90d``: the difference in orders.
- ``gap_mean_days`` / ``gap_std_days``: mean and sample standard deviation of the gaps between consecutive
  purchase days; ``overdue_ratio``: days since the last purchase / mean gap.
- ``refund_share``: refunded orders / (purchases + refunded orders); ``discount_share``: purchases with a
  discount / purchases.
- ``top_category``: the category with most purchases (ties: more revenue, then alphabetical);
  ``category_count``: distinct categories purchased.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from kehu.pipeline.step import Context, Step, left_join

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = ["PURCHASE_FEATURES", "TRAILING_WINDOWS"]

TRAILING_WINDOWS = (30, 90, 180, 365)


def _count_if(condition: ir.BooleanValue) -> ir.IntegerScalar:
    import ibis

    return ibis.ifelse(condition, 1, 0).sum().cast("int64")


def _sum_if(condition: ir.BooleanValue, value: ir.IntegerValue) -> ir.IntegerScalar:
    import ibis

    return ibis.ifelse(condition, value, 0).sum().cast("int64")


def _order_level(facts: ir.Table, ctx: Context) -> ir.Table:
    """Counts and sums over all of a customer's orders (any status)."""
    windows: dict[str, ir.Scalar] = {}
    for days in TRAILING_WINDOWS:
        recent = facts.order_date > ctx.days_ago(days)
        windows[f"revenue_{days}d_cents"] = _sum_if(recent, facts.revenue_cents)
        windows[f"orders_{days}d"] = _count_if(recent & facts.is_purchase)
    previous = (facts.order_date > ctx.days_ago(180)) & (facts.order_date <= ctx.days_ago(90))
    return facts.group_by("customer_id").aggregate(
        orders=_count_if(facts.is_purchase),
        refunded_orders=_count_if(facts.is_refund),
        discounted_orders=_count_if(facts.is_discounted),
        total_revenue_cents=facts.revenue_cents.sum().cast("int64"),
        total_margin_cents=facts.margin_cents.sum().cast("int64"),
        first_order_at=facts.ordered_at.min(where=facts.is_purchase),
        last_order_at=facts.ordered_at.max(where=facts.is_purchase),
        revenue_prev_90d_cents=_sum_if(previous, facts.revenue_cents),
        orders_prev_90d=_count_if(previous & facts.is_purchase),
        **windows,
    )


def _day_level(purchases: ir.Table) -> ir.Table:
    """Purchase days: count, first/last, first day's revenue and the spread of gaps between days."""
    import ibis

    days = purchases.group_by("customer_id", "order_date").aggregate(
        day_revenue=purchases.revenue_cents.sum().cast("int64")
    )
    by_time = ibis.window(group_by=days.customer_id, order_by=days.order_date)
    days = days.mutate(
        previous_date=days.order_date.lag().over(by_time),
        first_date=days.order_date.min().over(ibis.window(group_by=days.customer_id)),
    )
    days = days.mutate(gap=days.order_date.delta(days.previous_date, unit="day").cast("int64"))
    return days.group_by("customer_id").aggregate(
        purchase_days=days.count().cast("int64"),
        first_order_date=days.order_date.min(),
        last_order_date=days.order_date.max(),
        first_day_revenue=_sum_if(days.order_date == days.first_date, days.day_revenue),
        gap_std_days=days.gap.std(how="sample").cast("float64"),
    )


def _categories(purchases: ir.Table) -> ir.Table:
    """Top category and number of distinct categories per customer."""
    import ibis

    known = purchases.filter(purchases.category.notnull())
    per = known.group_by("customer_id", "category").aggregate(
        n=known.count().cast("int64"), revenue=known.revenue_cents.sum().cast("int64")
    )
    rank = ibis.row_number().over(
        group_by=per.customer_id, order_by=[per.n.desc(), per.revenue.desc(), per.category.asc()]
    )
    per = per.mutate(rank=rank, category_count=per.count().over(ibis.window(group_by=per.customer_id)))
    top = per.filter(per["rank"] == 0)
    return top.select("customer_id", top_category=top.category, category_count=top.category_count.cast("int64"))


def _purchase_features(tables: Mapping[str, ir.Table], ctx: Context) -> ir.Table:
    facts = tables["order_facts"]
    purchases = facts.filter(facts.is_purchase)
    orders = _order_level(facts, ctx)
    days = _day_level(purchases)
    cats = _categories(purchases)
    t = left_join(left_join(orders, days, "customer_id"), cats, "customer_id")
    frequency = t.purchase_days - 1
    recency = t.last_order_date.delta(t.first_order_date, unit="day").cast("int64")
    since_last = ctx.days_since(t.last_order_date)
    gap_mean = recency.cast("float64") / frequency.nullif(0)
    values = {
        "customer_id": t.customer_id,
        "first_order_at": t.first_order_at,
        "last_order_at": t.last_order_at,
        "first_order_date": t.first_order_date,
        "last_order_date": t.last_order_date,
        "orders": t.orders,
        "purchase_days": t.purchase_days.fill_null(0),
        "frequency": frequency,
        "recency_days": recency,
        "T_days": ctx.days_since(t.first_order_date),
        "recency_weeks": recency.cast("float64") / 7,
        "T_weeks": ctx.days_since(t.first_order_date).cast("float64") / 7,
        "days_since_last_order": since_last,
        "total_revenue_cents": t.total_revenue_cents,
        "mean_order_value_cents": t.total_revenue_cents / t.orders.nullif(0),
        "monetary_value_cents": (t.total_revenue_cents - t.first_day_revenue) / frequency.nullif(0),
        "total_margin_cents": t.total_margin_cents,
    }
    for days_ in TRAILING_WINDOWS:
        values[f"revenue_{days_}d_cents"] = t[f"revenue_{days_}d_cents"]
        values[f"orders_{days_}d"] = t[f"orders_{days_}d"]
    values |= {
        "revenue_prev_90d_cents": t.revenue_prev_90d_cents,
        "orders_prev_90d": t.orders_prev_90d,
        "revenue_trend_90d": (t.revenue_90d_cents - t.revenue_prev_90d_cents) / t.revenue_prev_90d_cents.nullif(0),
        "order_trend_90d": t.orders_90d - t.orders_prev_90d,
        "gap_mean_days": gap_mean,
        "gap_std_days": t.gap_std_days,
        "overdue_ratio": since_last / gap_mean.nullif(0),
        "refunded_orders": t.refunded_orders,
        "refund_share": t.refunded_orders / (t.orders + t.refunded_orders).nullif(0),
        "discount_share": t.discounted_orders / t.orders.nullif(0),
        "top_category": t.top_category,
        "category_count": t.category_count.fill_null(0),
    }
    return t.select(**values)


_COLUMNS: dict[str, str] = {
    "customer_id": "int64",
    "first_order_at": "timestamp",
    "last_order_at": "timestamp",
    "first_order_date": "date",
    "last_order_date": "date",
    "orders": "int64",
    "purchase_days": "int64",
    "frequency": "int64",
    "recency_days": "int64",
    "T_days": "int64",
    "recency_weeks": "float64",
    "T_weeks": "float64",
    "days_since_last_order": "int64",
    "total_revenue_cents": "int64",
    "mean_order_value_cents": "float64",
    "monetary_value_cents": "float64",
    "total_margin_cents": "int64",
    **{
        name: kind
        for days in TRAILING_WINDOWS
        for name, kind in ((f"revenue_{days}d_cents", "int64"), (f"orders_{days}d", "int64"))
    },
    "revenue_prev_90d_cents": "int64",
    "orders_prev_90d": "int64",
    "revenue_trend_90d": "float64",
    "order_trend_90d": "int64",
    "gap_mean_days": "float64",
    "gap_std_days": "float64",
    "overdue_ratio": "float64",
    "refunded_orders": "int64",
    "refund_share": "float64",
    "discount_share": "float64",
    "top_category": "string",
    "category_count": "int64",
}

PURCHASE_FEATURES = Step(
    name="purchase_features",
    inputs=("order_facts",),
    grain=("customer_id",),
    columns=_COLUMNS,
    build=_purchase_features,
    description="RFM, trailing windows, gaps, refunds, discounts and categories per customer",
)
