"""What happened *after* a day: the outcomes that label the churn, propensity and cross-sell models.

These expressions deliberately read data later than ``as_of``; they are never part of :func:`kehu.pipeline.run`
(whose steps see nothing after ``as_of``) and only label past snapshots for training and backtests.

Definitions (calendar days of the workspace time zone ``KEHU_TIMEZONE``, as the extract gives them; purchases are
``paid``/``completed`` orders as in :mod:`kehu.pipeline.orders`):

- ``ordered_in_horizon``: a purchase dated in (as_of, as_of + horizon_days].
- ``ordered_in_short``: a purchase dated in (as_of, as_of + short_days] (next-purchase propensity).
- contract customers: ``contract_end`` is the latest end day of the non-draft contracts known by as_of (signed,
  or started when the signing day is unknown). A customer is ``up_for_renewal`` when that end falls in
  (as_of - grace_days, as_of + horizon_days]; ``renewed`` when any non-draft contract starting by
  ``contract_end + grace_days`` runs past ``contract_end``.
- ``churned`` (purchase churn): no purchase within the horizon, whatever the contracts.
- ``not_renewed`` (contract non-renewal): up for renewal and not renewed. The two are separate outcomes of
  separate models; a customer up for renewal can be labelled by both.

:func:`category_history` and :func:`categories_bought` give the cross-sell inputs: recency-weighted purchase
counts per (customer, category) up to as_of, and the categories bought in the window after it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING

from kehu.pipeline.orders import clean_category, normalized_status
from kehu.pipeline.step import left_join
from kehu.vocabulary import PURCHASE_STATUSES

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = ["categories_bought", "category_history", "outcomes"]


def _date(day: dt.date) -> ir.DateScalar:
    import ibis

    return ibis.date(day.year, day.month, day.day)


def _purchases(orders: ir.Table) -> ir.Table:
    status = normalized_status(orders.status)
    kept = orders.filter(status.isin(PURCHASE_STATUSES))
    return kept.select(
        customer_id=kept.customer_id.cast("int64"),
        order_date=kept.ordered_at.date(),
        category=clean_category(kept.category),
    )


def outcomes(
    tables: Mapping[str, ir.Table],
    as_of: dt.date,
    *,
    horizon_days: int = 90,
    short_days: int = 30,
    grace_days: int = 30,
) -> ir.Table:
    """One row per customer known by ``as_of``: the outcome flags defined in the module docstring.

    Parameters
    ----------
    tables
        Extracted tables (:func:`kehu.engine.extract` *without* an ``as_of`` cut-off): ``customers``,
        ``orders``, ``contracts``.
    as_of
        The snapshot day.
    horizon_days, short_days, grace_days
        The churn horizon, the propensity horizon and the renewal grace period.

    Returns
    -------
    ibis.Table
        ``customer_id``, ``ordered_in_horizon``, ``ordered_in_short``, ``up_for_renewal``, ``renewed``,
        ``churned``, ``not_renewed`` (booleans).
    """
    import ibis

    cutoff = ibis.timestamp(dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time()))
    customers = tables["customers"]
    known = customers.filter(customers.first_seen_at.isnull() | (customers.first_seen_at < cutoff))
    base = known.select(customer_id=known.id.cast("int64"))

    p = _purchases(tables["orders"])
    after = p.filter((p.order_date > _date(as_of)) & (p.order_date <= _date(as_of + dt.timedelta(days=horizon_days))))
    short_end = _date(as_of + dt.timedelta(days=short_days))
    future = after.group_by("customer_id").aggregate(
        ordered_in_horizon=ibis.literal(True),
        ordered_in_short=(after.order_date <= short_end).any(),
    )

    c = tables["contracts"]
    c = c.filter(c.status.lower() != "draft").select(
        customer_id=c.customer_id.cast("int64"),
        start_date=c.start_date,
        end_date=c.end_date,
        known_on=ibis.coalesce(c.signed_at, c.start_date),
    )
    ends = (
        c.filter(c.known_on <= _date(as_of)).group_by("customer_id").aggregate(contract_end=lambda t: t.end_date.max())
    )
    later = c.join(ends, "customer_id")
    renewal_deadline = later.contract_end.cast("date") + ibis.interval(days=grace_days)
    renewed = (
        later.filter((later.start_date <= renewal_deadline) & (later.end_date > later.contract_end))
        .group_by("customer_id")
        .aggregate(renewed=lambda t: t.customer_id.count() > 0)
    )
    window_start = _date(as_of - dt.timedelta(days=grace_days))
    window_end = _date(as_of + dt.timedelta(days=horizon_days))

    t = left_join(base, future, "customer_id")
    t = left_join(t, ends, "customer_id")
    t = left_join(t, renewed, "customer_id")
    t = t.mutate(
        ordered_in_horizon=t.ordered_in_horizon.fill_null(False),
        ordered_in_short=t.ordered_in_short.fill_null(False),
        up_for_renewal=((t.contract_end > window_start) & (t.contract_end <= window_end)).fill_null(False),
        renewed=t.renewed.fill_null(False),
    )
    return t.mutate(churned=~t.ordered_in_horizon, not_renewed=t.up_for_renewal & ~t.renewed).drop("contract_end")


def category_history(orders: ir.Table, as_of: dt.date, *, half_life_days: float = 180.0) -> ir.Table:
    """Recency-weighted purchases per (customer, category) on or before ``as_of``: weight ``0.5 ** (age / half_life)``.

    Returns ``customer_id``, ``category``, ``weight`` (orders without a category are left out).
    """
    p = _purchases(orders)
    p = p.filter((p.order_date <= _date(as_of)) & p.category.notnull())
    age = _date(as_of).delta(p.order_date, unit="day").cast("float64")
    weighted = p.mutate(w=(age * (-0.6931471805599453 / half_life_days)).exp())
    return weighted.group_by(["customer_id", "category"]).aggregate(weight=weighted.w.sum())


def categories_bought(orders: ir.Table, as_of: dt.date, days: int) -> ir.Table:
    """The distinct (customer, category) pairs purchased in (as_of, as_of + days]."""
    p = _purchases(orders)
    end = _date(as_of + dt.timedelta(days=days))
    p = p.filter((p.order_date > _date(as_of)) & (p.order_date <= end) & p.category.notnull())
    return p.select("customer_id", "category").distinct()
