"""The first steps: who is a customer as of the day, and one clean row per order.

Order statuses: ``paid`` and ``completed`` orders are purchases; ``refunded`` orders are not purchases but
count toward the refund share; ``cancelled`` and ``pending`` orders count for nothing. Revenue and margin
are integer cents of purchases only; margin stays NULL where the source did not know it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from kehu.pipeline.step import Context, Step

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = ["CUSTOMER_BASE", "ORDER_FACTS", "PURCHASE_STATUSES", "REFUND_STATUSES"]

PURCHASE_STATUSES = ("paid", "completed")
REFUND_STATUSES = ("refunded",)


def month_index(value: ir.DateValue | ir.TimestampValue) -> ir.IntegerValue:
    """``year * 12 + month``: whole months are differences of this (the engines disagree on month deltas)."""
    # cast the parts: Ibis types the sum as int64 and would drop a cast of it, Spark computes it as int32
    return value.year().cast("int64") * 12 + value.month().cast("int64")


def _customer_base(tables: Mapping[str, ir.Table], ctx: Context) -> ir.Table:
    customers = tables["customers"]
    known = customers.filter(customers.first_seen_at.isnull() | (customers.first_seen_at < ctx.cutoff_value()))
    return known.select(
        customer_id=known.id.cast("int64"),
        first_seen_date=known.first_seen_at.date(),
    )


CUSTOMER_BASE = Step(
    name="customer_base",
    inputs=("customers",),
    grain=("customer_id",),
    columns={"customer_id": "int64", "first_seen_date": "date"},
    build=_customer_base,
    description="customers known on or before as_of",
)


def _order_facts(tables: Mapping[str, ir.Table], ctx: Context) -> ir.Table:
    import ibis

    orders = tables["orders"]
    orders = orders.filter(orders.ordered_at < ctx.cutoff_value())
    status = orders.status.lower().strip()
    is_purchase = status.isin(PURCHASE_STATUSES)
    is_refund = status.isin(REFUND_STATUSES)
    discount = orders.discount_cents.fill_null(0).cast("int64")
    order_date = orders.ordered_at.date()
    return orders.select(
        order_key=orders.id.cast("int64"),
        customer_id=orders.customer_id.cast("int64"),
        ordered_at=orders.ordered_at,
        order_date=order_date,
        month_index=month_index(order_date),
        status=status,
        is_purchase=is_purchase,
        is_refund=is_refund,
        amount_cents=orders.amount_cents.cast("int64"),
        revenue_cents=ibis.ifelse(is_purchase, orders.amount_cents, 0).cast("int64"),
        margin_cents=ibis.ifelse(is_purchase, orders.gross_margin_cents, ibis.null("int64")).cast("int64"),
        discount_cents=discount,
        is_discounted=is_purchase & (discount > 0),
        category=orders.category.strip().nullif(""),
    )


ORDER_FACTS = Step(
    name="order_facts",
    inputs=("orders",),
    grain=("order_key",),
    not_null=("customer_id", "ordered_at", "status"),
    columns={
        "order_key": "int64",
        "customer_id": "int64",
        "ordered_at": "timestamp",
        "order_date": "date",
        "month_index": "int64",
        "status": "string",
        "is_purchase": "boolean",
        "is_refund": "boolean",
        "amount_cents": "int64",
        "revenue_cents": "int64",
        "margin_cents": "int64",
        "discount_cents": "int64",
        "is_discounted": "boolean",
        "category": "string",
    },
    build=_order_facts,
    description="one row per order dated on or before as_of, with purchase/refund flags",
    persist=False,  # a row-level projection of orders: recomputing it is cheaper than a copy
)
