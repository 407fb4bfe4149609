"""Loyalty through the service: run a period (award spend, expire, evaluate tiers) in one transaction, award
actions, redeem, show a customer's statement, summarise tiers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from kehu.errors import ValidationError
from kehu.loyalty.ledger import award_action, award_spend, evaluate_tiers, expire, redeem, statement
from kehu.loyalty.rules import LoyaltyRules
from kehu.store.care import loyalty_tier_changes, loyalty_tiers
from kehu.store.schema import orders

__all__ = ["action", "run_period", "spend_points", "tier_summary"]


def _first_order_day(conn: sa.Connection, timezone: str) -> dt.date | None:
    from zoneinfo import ZoneInfo

    first = conn.execute(sa.select(sa.func.min(orders.c.ordered_at))).scalar()
    if first is None:
        return None
    if isinstance(first, str):
        first = dt.datetime.fromisoformat(first)
    if first.tzinfo is None:
        first = first.replace(tzinfo=dt.UTC)
    return first.astimezone(ZoneInfo(timezone)).date()


def run_period(
    store: sa.Engine, rules: LoyaltyRules, *, timezone: str, start: dt.date | None, end: dt.date, now: dt.datetime
) -> dict[str, Any]:
    """Award points for purchases on ``start`` … ``end`` (default start: the first order), expire what expires by
    ``end``, and place customers in tiers as of ``end``. Re-running a period changes nothing."""
    with store.begin() as conn:
        start = start or _first_order_day(conn, timezone) or end
        if start > end:
            raise ValidationError(f"--from {start} is after --to {end}")
        awarded = award_spend(conn, rules, start, end, timezone=timezone, now=now)
        expired = expire(conn, end, now=now)
        tiers = evaluate_tiers(conn, rules, end, timezone=timezone, now=now)
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "points_awarded": awarded,
        "points_expired": expired,
        "tiers": tiers["tiers"],
        "tier_changes": len(tiers["changes"]),
        "changes": tiers["changes"][:20],
    }


def action(
    store: sa.Engine,
    rules: LoyaltyRules,
    customer_id: int,
    name: str,
    reference: str,
    *,
    day: dt.date,
    now: dt.datetime,
) -> dict[str, Any]:
    """Award an action's points once; returns the points given now and the balance."""
    with store.begin() as conn:
        points = award_action(conn, rules, customer_id, name, reference, day=day, now=now)
        return {
            "customer_id": customer_id,
            "points": points,
            "already_awarded": points == 0,
            "balance": statement(conn, customer_id, limit=0)["balance"],
        }


def spend_points(
    store: sa.Engine, customer_id: int, points: int, reference: str, *, day: dt.date, now: dt.datetime
) -> dict[str, Any]:
    """Redeem points (never more than the balance)."""
    with store.begin() as conn:
        done = redeem(conn, customer_id, points, reference, day=day, now=now)
        return {
            "customer_id": customer_id,
            "redeemed": done,
            "balance": statement(conn, customer_id, limit=0)["balance"],
        }


def tier_summary(store: sa.Engine, rules: LoyaltyRules, *, changes: int = 20) -> dict[str, Any]:
    """Customers per tier (with labels) and the latest tier changes."""
    with store.connect() as conn:
        counts: dict[str, int] = dict(
            conn.execute(sa.select(loyalty_tiers.c.tier, sa.func.count()).group_by(loyalty_tiers.c.tier)).all()
        )
        recent = conn.execute(
            sa.select(loyalty_tier_changes)
            .order_by(loyalty_tier_changes.c.on_day.desc(), loyalty_tier_changes.c.id.desc())
            .limit(changes)
        ).all()
    return {
        "tiers": [
            {
                "tier": t.key,
                "label_zh": t.zh,
                "label_en": t.en,
                "threshold": t.threshold,
                "min_spend": t.min_spend,
                "customers": int(counts.get(t.key, 0)),
            }
            for t in rules.tiers
        ],
        "basis": rules.basis,
        "window_days": rules.window_days,
        "recent_changes": [dict(r._mapping) for r in recent],
    }
