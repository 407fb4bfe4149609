"""Loyalty through the service: run a period (award spend, expire, evaluate tiers) in one transaction, award
actions, redeem, show a customer's statement, summarise tiers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from kehu.errors import ValidationError
from kehu.loyalty.ledger import award_action, award_spend, evaluate_tiers, expire, redeem, statement
from kehu.loyalty.rules import LoyaltyRules
from kehu.service.access import require_role
from kehu.service.loop_config import load_loop_config
from kehu.service.principal import Service
from kehu.store.care import loyalty_tier_changes, loyalty_tiers
from kehu.store.db import ensure_current
from kehu.store.schema import orders

__all__ = ["LoyaltyService", "action", "run_period", "spend_points", "tier_summary"]


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


class LoyaltyService(Service):
    """Points and tiers (managers and admins): the rules come from the loop configuration."""

    def rules(self) -> LoyaltyRules:
        """Points rules, expiry and tiers from the loop configuration."""
        return LoyaltyRules.from_config(load_loop_config(self.ws.settings).get("loyalty"))

    def _ready(self) -> sa.Engine:
        require_role(self.principal, "admin", "manager")
        ensure_current(self.ws.engine)
        return self.ws.engine

    def _customer_id(self, customer: str) -> int:
        from kehu.service.customers import CustomerService

        return int(CustomerService(self.ws, self.principal).find(customer)["id"])

    def run_period(
        self, *, start: dt.date | None = None, end: dt.date | None = None, now: dt.datetime | None = None
    ) -> dict[str, Any]:
        """Award points for a period's purchases, expire, evaluate tiers (idempotent; see :func:`run_period`);
        ``end`` defaults to the newest day of the data."""
        from kehu.service.kpis import default_as_of

        store = self._ready()
        if end is None:
            with store.connect() as conn:
                end = default_as_of(conn, self.ws.settings.timezone)
        return run_period(
            store,
            self.rules(),
            timezone=self.ws.settings.timezone,
            start=start,
            end=end,
            now=now or dt.datetime.now(dt.UTC),
        )

    def action(
        self, customer: str, name: str, reference: str, *, day: dt.date | None = None, now: dt.datetime | None = None
    ) -> dict[str, Any]:
        """Award the points of an action (review, referral, …) once per reference (see :func:`action`)."""
        store = self._ready()
        now = now or dt.datetime.now(dt.UTC)
        cid = self._customer_id(customer)
        return action(store, self.rules(), cid, name, reference, day=day or now.date(), now=now)

    def redeem(
        self, customer: str, points: int, reference: str, *, day: dt.date | None = None, now: dt.datetime | None = None
    ) -> dict[str, Any]:
        """Redeem points, oldest first, never more than the balance (see :func:`spend_points`)."""
        store = self._ready()
        now = now or dt.datetime.now(dt.UTC)
        cid = self._customer_id(customer)
        return spend_points(store, cid, points, reference, day=day or now.date(), now=now)

    def statement(self, customer: str) -> dict[str, Any]:
        """A customer's balance, tier, ledger and tier changes."""
        store = self._ready()
        cid = self._customer_id(customer)
        with store.connect() as conn:
            return statement(conn, cid)

    def tiers(self) -> dict[str, Any]:
        """Customers per tier and the latest tier changes (see :func:`tier_summary`)."""
        return tier_summary(self._ready(), self.rules())
