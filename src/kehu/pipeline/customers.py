"""The customer feature table: one wide row per customer known as of the day.

It joins ``customer_base`` (who), ``purchase_features`` and ``engagement_features`` and adds
``tenure_days`` (as_of - the first day anything was known about the customer: signup, first contact or any
activity). Customers without orders keep 0 in every count and sum and NULL in everything that needs a
purchase (dates, frequency, recency, T, means, shares).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from kehu.pipeline.engagement import ENGAGEMENT_FEATURES
from kehu.pipeline.purchases import PURCHASE_FEATURES, TRAILING_WINDOWS
from kehu.pipeline.step import Context, Step, left_join

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = ["CUSTOMER_FEATURES", "FEATURE_COLUMNS"]

#: purchase columns that are 0 (not NULL) for a customer without orders
_ZERO_WITHOUT_ORDERS = (
    "orders",
    "purchase_days",
    "total_revenue_cents",
    *(f"revenue_{d}d_cents" for d in TRAILING_WINDOWS),
    *(f"orders_{d}d" for d in TRAILING_WINDOWS),
    "revenue_prev_90d_cents",
    "orders_prev_90d",
    "order_trend_90d",
    "refunded_orders",
    "category_count",
)

FEATURE_COLUMNS: dict[str, str] = {
    "customer_id": "int64",
    "first_seen_date": "date",
    "tenure_days": "int64",
    **{k: v for k, v in PURCHASE_FEATURES.columns.items() if k != "customer_id"},
    **{k: v for k, v in ENGAGEMENT_FEATURES.columns.items() if k != "customer_id"},
}


def _customer_features(tables: Mapping[str, ir.Table], ctx: Context) -> ir.Table:
    base = tables["customer_base"]
    t = left_join(base, tables["purchase_features"], "customer_id")
    t = left_join(t, tables["engagement_features"], "customer_id")
    t = t.mutate(
        tenure_days=ctx.days_since(t.first_seen_date),
        **{name: t[name].fill_null(0) for name in _ZERO_WITHOUT_ORDERS},
    )
    return t.select(*FEATURE_COLUMNS)


CUSTOMER_FEATURES = Step(
    name="customer_features",
    inputs=("customer_base", "purchase_features", "engagement_features"),
    grain=("customer_id",),
    columns=FEATURE_COLUMNS,
    build=_customer_features,
    description="the wide per-customer feature table",
    # a view: read once (fetched to publish), so writing a copy of the wide table would cost more than the joins
    persist=False,
)
