"""The first steps: who is a customer as of the day, and one clean row per purchase or refund.

Order statuses (compared in lower case without surrounding spaces): ``paid`` and ``completed`` orders are
purchases; ``refunded`` orders are not purchases but count toward the refund share; ``cancelled``,
``pending`` and any other status count for nothing and are left out of the order facts. Revenue and margin
are integer cents of purchases only; margin stays NULL where the source did not know it.

``order_facts`` is materialised once and shared by every later step that reads orders: only the columns
they need, integer cents, dates as ``date`` (not timestamps), status reduced to ``is_purchase``. One window
per customer (the only sort of the orders in the pipeline) adds, for purchases: ``purchase_day`` (0 for the
customer's first purchase day, 1 for the second distinct day ...), ``previous_purchase_date`` (the day of
the customer's purchase before this one in day order; the same day for a second purchase that day; NULL
for the first) and ``first_purchase_date``. These are NULL on refund rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from kehu.pipeline.step import Context, Step, int64
from kehu.vocabulary import PURCHASE_STATUSES, REFUND_STATUSES

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = [
    "CUSTOMER_BASE",
    "ORDER_FACTS",
    "clean_category",
    "normalized_status",
]

_CANONICAL_STATUSES = (*PURCHASE_STATUSES, *REFUND_STATUSES, "cancelled", "pending")
#: a string that starts or ends with one of the characters Ibis' ``strip()`` removes
_EDGE_SPACE = "^[ \t\n\r\v\f]|[ \t\n\r\v\f]$"


def normalized_status(status: ir.StringValue) -> ir.StringValue:
    """The order status in lower case without surrounding spaces.

    Statuses already in that form (nearly all of them) skip the string functions, which would otherwise
    cost more than the rest of a scan of the orders.
    """
    import ibis

    return ibis.ifelse(status.isin(_CANONICAL_STATUSES), status, status.lower().strip())


def clean_category(category: ir.StringValue) -> ir.StringValue:
    """The category without surrounding white space; NULL when empty.

    Only values with white space at an edge (rare) go through ``strip()``: a strip of every value cost
    DuckDB about 2.5 CPU seconds per 10 million orders (a TRIM with a set of characters), the regular
    expression test about 0.7.
    """
    import ibis

    return ibis.ifelse(category.re_search(_EDGE_SPACE), category.strip(), category).nullif("")


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
    status = normalized_status(orders.status)
    is_purchase = status.isin(PURCHASE_STATUSES)
    kept = orders.filter((orders.ordered_at < ctx.cutoff_value()) & status.isin((*PURCHASE_STATUSES, *REFUND_STATUSES)))
    facts = kept.select(
        order_key=kept.id.cast("int64"),
        customer_id=kept.customer_id.cast("int64"),
        ordered_at=kept.ordered_at,
        order_date=kept.ordered_at.date(),
        is_purchase=is_purchase,
        revenue_cents=ibis.ifelse(is_purchase, kept.amount_cents, 0).cast("int64"),
        margin_cents=ibis.ifelse(is_purchase, kept.gross_margin_cents, ibis.null("int64")).cast("int64"),
        is_discounted=is_purchase & (kept.discount_cents.fill_null(0) > 0),
        category=clean_category(kept.category),
    )
    # one window per customer (purchases first, by day) places each purchase among the customer's purchases;
    # later steps aggregate these columns instead of sorting the orders again
    by_day = ibis.window(group_by=facts.customer_id, order_by=[facts.is_purchase.desc(), facts.order_date])
    purchase_date = ibis.ifelse(facts.is_purchase, facts.order_date, ibis.null("date"))
    no_date = ibis.null("date")
    return facts.mutate(
        purchase_day=ibis.ifelse(facts.is_purchase, int64(ibis.dense_rank().over(by_day)), ibis.null("int64")),
        previous_purchase_date=ibis.ifelse(facts.is_purchase, facts.order_date.lag().over(by_day), no_date),
        first_purchase_date=ibis.ifelse(facts.is_purchase, purchase_date.min().over(by_day), no_date),
    )


ORDER_FACTS = Step(
    name="order_facts",
    inputs=("orders",),
    grain=("order_key",),
    not_null=("customer_id", "ordered_at"),
    columns={
        "order_key": "int64",
        "customer_id": "int64",
        "ordered_at": "timestamp",
        "order_date": "date",
        "is_purchase": "boolean",
        "revenue_cents": "int64",
        "margin_cents": "int64",
        "is_discounted": "boolean",
        "category": "string",
        "purchase_day": "int64",
        "previous_purchase_date": "date",
        "first_purchase_date": "date",
    },
    build=_order_facts,
    description="purchases and refunds dated on or before as_of, each purchase numbered among its customer's",
)
