"""Per-customer purchase features as of a day, from the order facts, in two steps.

``purchase_summary`` reads the order facts once: a single aggregation computes every count, sum, trailing
window, date and gap statistic (the order facts already number each customer's purchase days and pair each
purchase with the previous purchase day), joined with the top category (one aggregation per customer and
category, one ranking window). ``purchase_features`` derives the published columns row by row; it is a view,
computed when the feature table is read, not a copy. Conditional aggregates over one scan replace one scan
per trailing window.

Definitions (``as_of`` included; days are local calendar days, in the workspace time zone; money in
integer cents):

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

from kehu.pipeline.step import Context, Step, int64, left_join

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = ["PURCHASE_FEATURES", "PURCHASE_SUMMARY", "TRAILING_WINDOWS"]

TRAILING_WINDOWS = (30, 90, 180, 365)


def _count_if(condition: ir.BooleanValue) -> ir.IntegerScalar:
    import ibis

    return ibis.ifelse(condition, 1, 0).sum().cast("int64")


def _sum_if(condition: ir.BooleanValue, value: ir.IntegerValue) -> ir.IntegerScalar:
    import ibis

    return ibis.ifelse(condition, value, 0).sum().cast("int64")


def _categories(facts: ir.Table) -> ir.Table:
    """Top category and number of distinct categories per customer."""
    import ibis

    known = facts.filter(facts.is_purchase & facts.category.notnull())
    per = known.group_by("customer_id", "category").aggregate(
        n=known.count().cast("int64"), revenue=known.revenue_cents.sum().cast("int64")
    )
    rank = ibis.row_number().over(
        group_by=per.customer_id, order_by=[per.n.desc(), per.revenue.desc(), per.category.asc()]
    )
    per = per.mutate(rank=rank, category_count=per.count().over(ibis.window(group_by=per.customer_id)))
    top = per.filter(per["rank"] == 0)
    return top.select("customer_id", top_category=top.category, category_count=top.category_count.cast("int64"))


def _summary(tables: Mapping[str, ir.Table], ctx: Context) -> ir.Table:
    """Everything per customer that needs only one pass over the order facts: one aggregation.

    The order facts already number each purchase's day among the customer's (``purchase_day``) and carry
    the previous purchase's day, so counts, sums, trailing windows, dates and gap statistics are plain
    aggregates.
    """
    import ibis

    t = tables["order_facts"]
    purchase = t.is_purchase
    new_day = purchase & (t.previous_purchase_date < t.order_date)
    gap = ibis.ifelse(new_day, t.order_date.delta(t.previous_purchase_date, unit="day"), ibis.null("int64"))
    windows: dict[str, ir.Scalar] = {}
    for days in TRAILING_WINDOWS:
        recent = t.order_date > ctx.days_ago(days)
        windows[f"revenue_{days}d_cents"] = _sum_if(recent, t.revenue_cents)
        windows[f"orders_{days}d"] = _count_if(recent & purchase)
    previous = (t.order_date > ctx.days_ago(180)) & (t.order_date <= ctx.days_ago(90))
    summary = t.group_by("customer_id").aggregate(
        orders=_count_if(purchase),
        refunded_orders=_count_if(~purchase),
        discounted_orders=_count_if(t.is_discounted),
        total_revenue_cents=t.revenue_cents.sum().cast("int64"),
        total_margin_cents=t.margin_cents.sum().cast("int64"),
        first_order_at=t.ordered_at.min(where=purchase),
        last_order_at=t.ordered_at.max(where=purchase),
        first_order_date=t.first_purchase_date.min(),
        second_order_date=t.order_date.min(where=t.purchase_day == 1),
        last_order_date=t.order_date.max(where=purchase),
        purchase_days=int64(t.purchase_day.max()) + 1,
        first_day_revenue_cents=_sum_if(t.purchase_day == 0, t.revenue_cents),
        gap_std_days=gap.cast("int64").std(how="sample").cast("float64"),
        revenue_prev_90d_cents=_sum_if(previous, t.revenue_cents),
        orders_prev_90d=_count_if(previous & purchase),
        **windows,
    )
    return left_join(summary, _categories(t), "customer_id")


_SUMMARY_COLUMNS: dict[str, str] = {
    "customer_id": "int64",
    "orders": "int64",
    "refunded_orders": "int64",
    "discounted_orders": "int64",
    "total_revenue_cents": "int64",
    "total_margin_cents": "int64",
    "first_order_at": "timestamp",
    "last_order_at": "timestamp",
    "first_order_date": "date",
    "second_order_date": "date",
    "last_order_date": "date",
    "purchase_days": "int64",
    "first_day_revenue_cents": "int64",
    "gap_std_days": "float64",
    "revenue_prev_90d_cents": "int64",
    "orders_prev_90d": "int64",
    **{name: "int64" for days in TRAILING_WINDOWS for name in (f"revenue_{days}d_cents", f"orders_{days}d")},
    "top_category": "string",
    "category_count": "int64",
}

PURCHASE_SUMMARY = Step(
    name="purchase_summary",
    inputs=("order_facts",),
    grain=("customer_id",),
    columns=_SUMMARY_COLUMNS,
    build=_summary,
    description="counts, sums, trailing windows, purchase days, gaps and categories per customer",
)


def _purchase_features(tables: Mapping[str, ir.Table], ctx: Context) -> ir.Table:
    t = tables["purchase_summary"]
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
        "monetary_value_cents": (t.total_revenue_cents - t.first_day_revenue_cents) / frequency.nullif(0),
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
    inputs=("purchase_summary",),
    grain=("customer_id",),
    columns=_COLUMNS,
    build=_purchase_features,
    description="RFM, trailing windows, gaps, refunds, discounts and categories per customer",
    persist=False,  # derived row by row from purchase_summary: a view, computed when customer_features is read
)
