"""Reads behind the dashboard (驾驶舱): totals, monthly series, regions, period figures, published revenue and
scores, risk lists.

Every function takes ``owner_ids`` (``None``: every customer) so that a rep's dashboard counts only their own
customers and a manager's their team's. Money comes back as integer cents or ``Decimal``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Float, String, false, func, select
from sqlalchemy.sql.elements import ColumnElement

from kehu.store.customers import cents
from kehu.store.published import LIST_SCORES, customer_scores
from kehu.store.schema import customers, orders, users
from kehu.vocabulary import NOT_LIVE_STATUSES

__all__ = [
    "DEFAULT_RISK_DAYS",
    "at_risk_customers",
    "customers_by_month",
    "customers_by_region",
    "dashboard_totals",
    "period_figures",
    "published_as_of",
    "revenue_by_month",
    "revenue_values",
    "risk_days",
    "score_values",
    "winback_customers",
]


def _scope(owner_ids: Sequence[int] | None) -> list[ColumnElement[bool]]:
    if owner_ids is None:
        return []
    ids = list(owner_ids)
    return [customers.c.owner_id.in_(ids)] if ids else [false()]


def published_as_of(conn: Connection) -> dt.date | None:
    """The newest day the pipeline published (``None`` before the first run)."""
    day = conn.execute(select(func.max(customer_scores.c.as_of))).scalar()
    return day if isinstance(day, dt.date) else None


def period_figures(
    conn: Connection, owner_ids: Sequence[int] | None, *, start: dt.datetime, end: dt.datetime
) -> dict[str, Any]:
    """Orders, revenue (not refunded or cancelled), buying customers and new customers in ``[start, end)``."""
    stmt = select(func.count(), func.sum(orders.c.amount_cents), func.count(orders.c.customer_id.distinct())).where(
        orders.c.status.notin_(NOT_LIVE_STATUSES), orders.c.ordered_at >= start, orders.c.ordered_at < end
    )
    if owner_ids is not None:
        stmt = stmt.join_from(orders, customers, customers.c.id == orders.c.customer_id).where(*_scope(owner_ids))
    n_orders, revenue, buyers = conn.execute(stmt).one()
    when = func.coalesce(customers.c.signup_at, customers.c.first_contact_at, customers.c.created_at)
    new = conn.execute(
        select(func.count()).select_from(customers).where(when >= start, when < end, *_scope(owner_ids))
    ).scalar_one()
    return {
        "orders": int(n_orders or 0),
        "revenue": Decimal(int(revenue or 0)) / 100,
        "buyers": int(buyers or 0),
        "new_customers": int(new or 0),
    }


def _scored(owner_ids: Sequence[int] | None) -> Any:
    if owner_ids is None:
        return customer_scores
    return customer_scores.join(customers, customers.c.id == customer_scores.c.customer_id)


def revenue_values(conn: Connection, owner_ids: Sequence[int] | None) -> list[int]:
    """Each published customer's total revenue in cents (for the Pareto curve)."""
    revenue = func.coalesce(customer_scores.c.total_revenue_cents, 0)
    stmt = select(revenue).select_from(_scored(owner_ids)).where(*_scope(owner_ids))
    return list(conn.execute(stmt).scalars().all())


def score_values(conn: Connection, owner_ids: Sequence[int] | None, name: str) -> list[float]:
    """Every published value of the numeric score ``name`` (customers without it left out).

    The scores the customers list sorts on are read from their typed copies (:data:`LIST_SCORES`), a fraction of
    the cost of extracting them from every customer's JSON.
    """
    typed = name in LIST_SCORES and isinstance(customer_scores.c[name].type, Float)
    value = customer_scores.c[name] if typed else customer_scores.c.scores[name].as_float()
    stmt = select(value).select_from(_scored(owner_ids)).where(value.is_not(None), *_scope(owner_ids))
    return [float(v) for v in conn.execute(stmt).scalars().all()]


def _owner_join() -> Any:
    return customer_scores.join(customers, customers.c.id == customer_scores.c.customer_id).outerjoin(
        users, users.c.id == customers.c.owner_id
    )


_OWNER = func.coalesce(users.c.display_name, users.c.name).cast(String).label("owner")


def at_risk_customers(conn: Connection, owner_ids: Sequence[int] | None, *, limit: int = 10) -> list[dict[str, Any]]:
    """The most valuable customers at risk: highest 12-month CLV (else revenue) among those whose purchase-churn or
    contract non-renewal tier is high, each with ``kinds`` (``purchase``, ``renewal``: which risk is high); before
    any risk is published, those with a P(alive) under 50 % (``kinds`` ``["p_alive"]``)."""
    s = customer_scores.c
    alive = s.scores["p_alive"].as_float()
    clv = s.scores["clv_12m"].as_float()
    has_tiers = (
        conn.execute(select(s.customer_id).where((s.churn_tier.is_not(None)) | (s.renewal_tier.is_not(None))).limit(1))
    ).first() is not None
    flagged = ((s.churn_tier == "high") | (s.renewal_tier == "high")) if has_tiers else alive < 0.5
    value = func.coalesce(clv, s.total_revenue_cents.cast(Float) / 100)
    stmt = (
        select(
            customers.c.id,
            customers.c.name,
            customers.c.company,
            _OWNER,
            value.label("value"),
            clv.label("clv_12m"),
            s.churn_risk,
            s.churn_tier,
            s.renewal_risk,
            s.renewal_tier,
            alive.label("p_alive"),
            s.days_since_last_order,
            s.total_revenue_cents,
        )
        .select_from(_owner_join())
        .where(flagged, *_scope(owner_ids))
        .order_by(value.desc(), customers.c.id)
        .limit(limit)
    )
    out = []
    for row in conn.execute(stmt).mappings():
        item = dict(row)
        item["revenue"] = Decimal(int(item.pop("total_revenue_cents") or 0)) / 100
        kinds = [
            k for k, tier in (("purchase", item["churn_tier"]), ("renewal", item["renewal_tier"])) if tier == "high"
        ]
        item["kinds"] = kinds if has_tiers else ["p_alive"]
        out.append(item)
    return out


#: the days the figures' definitions name before any scoring published them (the training defaults)
DEFAULT_RISK_DAYS = {"horizon": 90, "grace": 30, "lapsed": 180}


def risk_days(conn: Connection) -> dict[str, int]:
    """The days the published figures' definitions name (``horizon``, ``grace``, ``lapsed``: the ``risk_days`` the
    churn scoring published with them), else :data:`DEFAULT_RISK_DAYS`."""
    days = customer_scores.c.scores["risk_days"]
    found = conn.execute(select(days).where(customer_scores.c.churn_tier.is_not(None)).limit(1)).scalar()
    if found is None:
        found = conn.execute(select(days).where(customer_scores.c.winback.is_not(None)).limit(1)).scalar()
    if isinstance(found, str):
        found = json.loads(found)
    if not isinstance(found, dict):
        return dict(DEFAULT_RISK_DAYS)
    return {k: int(found.get(k, v)) for k, v in DEFAULT_RISK_DAYS.items()}


def winback_customers(conn: Connection, owner_ids: Sequence[int] | None, *, limit: int = 10) -> list[dict[str, Any]]:
    """The lapsed customers most worth winning back (待挽回): highest value at stake × probability of returning
    (``expected``, currency units) among those with a published win-back figure."""
    s = customer_scores.c
    stmt = (
        select(
            customers.c.id,
            customers.c.name,
            customers.c.company,
            _OWNER,
            s.winback,
            s.winback_value,
            s.winback_expected,
            s.days_since_last_order,
            s.total_revenue_cents,
        )
        .select_from(_owner_join())
        .where(s.winback_expected.is_not(None), *_scope(owner_ids))
        .order_by(s.winback_expected.desc(), customers.c.id)
        .limit(limit)
    )
    out = []
    for row in conn.execute(stmt).mappings():
        item = dict(row)
        item["revenue"] = Decimal(int(item.pop("total_revenue_cents") or 0)) / 100
        for key in ("winback_value", "winback_expected"):
            item[key] = Decimal(str(round(item[key], 2)))
        out.append(item)
    return out


def dashboard_totals(conn: Connection, owner_ids: Sequence[int] | None) -> dict[str, Any]:
    """Customers, orders (not refunded or cancelled) and their revenue within the scope."""
    n_customers = conn.execute(select(func.count()).select_from(customers).where(*_scope(owner_ids))).scalar_one()
    stmt = select(func.count(), func.sum(orders.c.amount_cents)).where(orders.c.status.notin_(NOT_LIVE_STATUSES))
    if owner_ids is not None:
        stmt = stmt.join_from(orders, customers, customers.c.id == orders.c.customer_id).where(*_scope(owner_ids))
    n_orders, revenue = conn.execute(stmt).one()
    return {
        "customers": int(n_customers),
        "orders": int(n_orders or 0),
        "revenue": cents(revenue or 0) or Decimal("0.00"),
    }


def _month(conn: Connection, column: Any, utc_offset_minutes: int) -> Any:
    if conn.dialect.name == "sqlite":
        return func.strftime("%Y-%m", column, f"{utc_offset_minutes:+d} minutes")
    shifted = column + func.make_interval(0, 0, 0, 0, 0, utc_offset_minutes)
    return func.to_char(func.timezone("UTC", shifted), "YYYY-MM")


def revenue_by_month(
    conn: Connection, owner_ids: Sequence[int] | None, *, since: dt.datetime, utc_offset_minutes: int = 0
) -> list[dict[str, Any]]:
    """Orders and revenue per calendar month (in the given UTC offset) from ``since`` on, oldest first."""
    month = _month(conn, orders.c.ordered_at, utc_offset_minutes).label("month")
    stmt = select(month, func.count(), func.sum(orders.c.amount_cents)).where(
        orders.c.status.notin_(NOT_LIVE_STATUSES), orders.c.ordered_at >= since
    )
    if owner_ids is not None:
        stmt = stmt.join_from(orders, customers, customers.c.id == orders.c.customer_id).where(*_scope(owner_ids))
    rows = conn.execute(stmt.group_by(month).order_by(month)).all()
    return [{"month": m, "orders": int(n), "revenue": cents(s or 0)} for m, n, s in rows]


def customers_by_month(
    conn: Connection, owner_ids: Sequence[int] | None, *, since: dt.datetime, utc_offset_minutes: int = 0
) -> list[dict[str, Any]]:
    """New customers per month (by sign-up, else first contact, else creation), oldest first."""
    when = func.coalesce(customers.c.signup_at, customers.c.first_contact_at, customers.c.created_at)
    month = _month(conn, when, utc_offset_minutes).label("month")
    stmt = select(month, func.count()).where(when >= since, *_scope(owner_ids)).group_by(month).order_by(month)
    return [{"month": m, "customers": int(n)} for m, n in conn.execute(stmt).all()]


def customers_by_region(conn: Connection, owner_ids: Sequence[int] | None, *, top: int = 10) -> list[dict[str, Any]]:
    """The ``top`` regions by number of customers."""
    n = func.count().label("n")
    stmt = (
        select(customers.c.region, n)
        .where(customers.c.region.is_not(None), *_scope(owner_ids))
        .group_by(customers.c.region)
        .order_by(n.desc(), customers.c.region)
        .limit(top)
    )
    return [{"region": r, "customers": int(c)} for r, c in conn.execute(stmt).all()]
