"""The RFM summary alone: frequency, recency, T and monetary value straight from the orders table.

The value models (BG/NBD, Pareto/NBD, Gamma-Gamma) need only these four numbers per customer. They are the
same numbers as the ``purchase_features`` columns of the same names, computed without the rest of the
pipeline: purchases (``paid``/``completed``) dated on or before ``as_of`` are summed per customer and
calendar day of the given timestamps (local days for the extracted table), then per customer:

- ``frequency``: purchase days - 1 (repeat purchases by distinct days, as in the BG/NBD literature);
- ``recency_days``: last - first purchase day; ``T_days``: as_of - first purchase day; ``*_weeks`` / 7;
- ``monetary_value_cents``: mean revenue of the repeat purchase days (the first day excluded); NULL when
  there are no repeats (``lifetimes`` writes 0 there).

Customers without a purchase have no row. This is ``lifetimes.utils.summary_data_from_transaction_data``
with ``freq="D"`` on the purchases, computed in the engine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING

from kehu.pipeline.orders import normalized_status
from kehu.pipeline.run import PipelineOutput, run
from kehu.pipeline.step import Context, Step, int64
from kehu.vocabulary import PURCHASE_STATUSES

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

__all__ = ["RFM_COLUMNS", "RFM_SUMMARY", "rfm_summary"]

RFM_COLUMNS: dict[str, str] = {
    "customer_id": "int64",
    "frequency": "int64",
    "recency_days": "int64",
    "T_days": "int64",
    "recency_weeks": "float64",
    "T_weeks": "float64",
    "monetary_value_cents": "float64",
}


def _rfm(tables: Mapping[str, ir.Table], ctx: Context) -> ir.Table:
    import ibis

    orders = tables["orders"]
    bought = orders.filter(
        (orders.ordered_at < ctx.cutoff_value()) & normalized_status(orders.status).isin(PURCHASE_STATUSES)
    )
    bought = bought.select(
        customer_id=bought.customer_id.cast("int64"), day=bought.ordered_at.date(), amount=bought.amount_cents
    )
    # one window numbers each customer's purchase days; one aggregation over its output does the rest
    # (cheaper than summing per day first, and free of order-sensitive aggregates)
    numbered = bought.mutate(
        day_number=ibis.dense_rank().over(ibis.window(group_by=bought.customer_id, order_by=bought.day))
    )
    per = numbered.group_by("customer_id").aggregate(
        purchase_days=int64(numbered.day_number.max()) + 1,
        first_day=numbered.day.min(),
        last_day=numbered.day.max(),
        revenue=numbered.amount.sum().cast("int64"),
        first_day_revenue=numbered.amount.sum(where=numbered.day_number == 0).cast("int64"),
    )
    frequency = per.purchase_days - 1
    recency = per.last_day.delta(per.first_day, unit="day").cast("int64")
    age = ctx.days_since(per.first_day)
    return per.select(
        customer_id=per.customer_id,
        frequency=frequency,
        recency_days=recency,
        T_days=age,
        recency_weeks=recency.cast("float64") / 7,
        T_weeks=age.cast("float64") / 7,
        monetary_value_cents=(per.revenue - per.first_day_revenue) / frequency.nullif(0),
    )


RFM_SUMMARY = Step(
    name="rfm_summary",
    inputs=("orders",),
    grain=("customer_id",),
    columns=RFM_COLUMNS,
    build=_rfm,
    description="frequency, recency, T and monetary value per buyer, from the orders alone",
)


def rfm_summary(backend: BaseBackend, orders: ir.Table, as_of: dt.date | None = None) -> PipelineOutput:
    """Compute only the RFM summary (see the module docstring) from an engine table of orders.

    Parameters
    ----------
    backend
        The Ibis backend ``orders`` lives in.
    orders
        Orders with at least ``customer_id``, ``ordered_at`` (naive; days are its calendar days), ``status``
        and ``amount_cents`` (the extracted ``orders`` table, or a data-lake Parquet read).
    as_of
        Summarise as of this day (inclusive); default: the latest order's day.

    Returns
    -------
    PipelineOutput
        With the one audited table ``rfm_summary`` (grain ``customer_id``, columns :data:`RFM_COLUMNS`);
        ``output.to_arrow("rfm_summary")`` fetches it.
    """
    return run(backend, {"orders": orders}, as_of, steps=(RFM_SUMMARY,))
