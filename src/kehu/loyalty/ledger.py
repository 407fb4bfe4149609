"""The points ledger: award for spend and actions, expiry, redemption, tier evaluation — all idempotent.

Every movement is one ``loyalty_ledger`` row with a unique ``idempotency_key``; awarding the same thing again
(re-running a period) inserts nothing. Earn rows keep ``remaining`` — the points not yet expired or spent — and
expiry and redemption take from ``remaining`` oldest first, so the balance (the sum of ``points``) can never go
below zero.

Keys: ``spend:order:<order id>``, ``action:<action>:<reference>``, ``expire:<earn row id>``,
``redeem:<reference>``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from kehu.errors import NotFoundError, ValidationError
from kehu.loyalty.rules import LoyaltyRules
from kehu.store.care import loyalty_ledger, loyalty_tier_changes, loyalty_tiers
from kehu.store.schema import customers, orders

__all__ = ["award_action", "award_spend", "balance", "evaluate_tiers", "expire", "redeem", "statement"]

L = loyalty_ledger


def _bounds(start: dt.date, end: dt.date, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    tz = ZoneInfo(timezone)
    return dt.datetime.combine(start, dt.time(), tzinfo=tz), dt.datetime.combine(end, dt.time(), tzinfo=tz)


def _purchases() -> sa.ColumnElement[bool]:
    from kehu.vocabulary import PURCHASE_STATUSES

    return sa.func.lower(sa.func.trim(orders.c.status)).in_(PURCHASE_STATUSES)


def _known(conn: sa.Connection, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(keys), 500):
        found |= set(
            conn.execute(sa.select(L.c.idempotency_key).where(L.c.idempotency_key.in_(keys[i : i + 500]))).scalars()
        )
    return found


def award_spend(
    conn: sa.Connection, rules: LoyaltyRules, start: dt.date, end: dt.date, *, timezone: str, now: dt.datetime
) -> int:
    """Points for every purchase ordered on days ``start`` … ``end`` (inclusive); returns points awarded now."""
    lo, hi = _bounds(start, end + dt.timedelta(days=1), timezone)
    tz = ZoneInfo(timezone)
    rows = conn.execute(
        sa.select(orders.c.id, orders.c.customer_id, orders.c.amount_cents, orders.c.ordered_at)
        .where(_purchases(), orders.c.ordered_at >= lo, orders.c.ordered_at < hi)
        .order_by(orders.c.ordered_at, orders.c.id)
    ).all()
    keys = [f"spend:order:{r.id}" for r in rows]
    known = _known(conn, keys)
    batch, total = [], 0
    for key, r in zip(keys, rows, strict=True):
        points = rules.points_for_spend(int(r.amount_cents))
        if key in known or points == 0:
            continue
        day = r.ordered_at.astimezone(tz).date()
        batch.append(
            {
                "customer_id": r.customer_id,
                "kind": "earn",
                "points": points,
                "remaining": points,
                "reason": "spend",
                "reference": f"order:{r.id}",
                "spend_cents": int(r.amount_cents),
                "on_day": day,
                "expires_on": day + dt.timedelta(days=rules.expiry_days),
                "idempotency_key": key,
                "created_at": now,
            }
        )
        total += points
    for i in range(0, len(batch), 5000):
        conn.execute(sa.insert(L), batch[i : i + 5000])
    return total


def award_action(
    conn: sa.Connection,
    rules: LoyaltyRules,
    customer_id: int,
    action: str,
    reference: str,
    *,
    day: dt.date,
    now: dt.datetime,
) -> int:
    """Points for an action (e.g. ``review`` of order 12 with reference ``order:12``); 0 when already awarded."""
    points = rules.action_points(action)
    if not reference.strip():
        raise ValidationError("a loyalty action needs a reference (what it was for), so it is awarded once")
    if conn.execute(sa.select(customers.c.id).where(customers.c.id == customer_id)).first() is None:
        raise NotFoundError(f"no customer #{customer_id}")
    key = f"action:{action}:{reference}"
    if _known(conn, [key]):
        return 0
    conn.execute(
        sa.insert(L).values(
            customer_id=customer_id,
            kind="earn",
            points=points,
            remaining=points,
            reason=action,
            reference=reference,
            on_day=day,
            expires_on=day + dt.timedelta(days=rules.expiry_days),
            idempotency_key=key,
            created_at=now,
        )
    )
    return points


def expire(conn: sa.Connection, day: dt.date, *, now: dt.datetime) -> int:
    """Expire what is left of every earn row whose ``expires_on`` is on or before ``day``; returns points expired."""
    lots = conn.execute(
        sa.select(L.c.id, L.c.customer_id, L.c.remaining, L.c.expires_on)
        .where(L.c.kind == "earn", L.c.remaining > 0, L.c.expires_on <= day)
        .order_by(L.c.id)
    ).all()
    known = _known(conn, [f"expire:{lot.id}" for lot in lots])
    todo = [lot for lot in lots if f"expire:{lot.id}" not in known]
    rows = [
        {
            "customer_id": lot.customer_id,
            "kind": "expire",
            "points": -int(lot.remaining),
            "reason": "expiry",
            "reference": f"ledger:{lot.id}",
            "on_day": lot.expires_on,
            "idempotency_key": f"expire:{lot.id}",
            "created_at": now,
        }
        for lot in todo
    ]
    for i in range(0, len(rows), 5000):
        conn.execute(sa.insert(L), rows[i : i + 5000])
        ids = [lot.id for lot in todo[i : i + 5000]]
        conn.execute(sa.update(L).where(L.c.id.in_(ids)).values(remaining=0))
    total = sum(int(lot.remaining) for lot in todo)
    return total


def balance(conn: sa.Connection, customer_id: int) -> int:
    """Points available (sum of the customer's ledger)."""
    return int(
        conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(L.c.points), 0)).where(L.c.customer_id == customer_id)
        ).scalar_one()
    )


def redeem(
    conn: sa.Connection, customer_id: int, points: int, reference: str, *, day: dt.date, now: dt.datetime
) -> int:
    """Spend points (oldest first); refuses more than the balance. Returns points redeemed (0: already done)."""
    if points <= 0:
        raise ValidationError(f"points to redeem must be positive, got {points}")
    key = f"redeem:{reference}"
    if _known(conn, [key]):
        return 0
    have = balance(conn, customer_id)
    if points > have:
        raise ValidationError(f"customer #{customer_id} has {have} points, cannot redeem {points}")
    left = points
    lots = conn.execute(
        sa.select(L.c.id, L.c.remaining)
        .where(L.c.customer_id == customer_id, L.c.kind == "earn", L.c.remaining > 0)
        .order_by(L.c.expires_on, L.c.id)
    ).all()
    for lot in lots:
        take = min(left, int(lot.remaining))
        conn.execute(sa.update(L).where(L.c.id == lot.id).values(remaining=int(lot.remaining) - take))
        left -= take
        if left == 0:
            break
    conn.execute(
        sa.insert(L).values(
            customer_id=customer_id,
            kind="redeem",
            points=-points,
            reason="redeem",
            reference=reference,
            on_day=day,
            idempotency_key=key,
            created_at=now,
        )
    )
    return points


def evaluate_tiers(
    conn: sa.Connection, rules: LoyaltyRules, day: dt.date, *, timezone: str, now: dt.datetime
) -> dict[str, Any]:
    """Place every customer with points or spend in the window ending ``day`` (and every customer who has a tier)
    in a tier; record each change once per customer and day. Returns counts per tier and the changes made."""
    since = day - dt.timedelta(days=rules.window_days - 1)
    points: dict[int, int] = dict(
        conn.execute(
            sa.select(L.c.customer_id, sa.func.sum(L.c.points))
            .where(L.c.kind == "earn", L.c.on_day >= since, L.c.on_day <= day)
            .group_by(L.c.customer_id)
        ).all()
    )
    lo, hi = _bounds(since, day + dt.timedelta(days=1), timezone)
    spend: dict[int, int] = dict(
        conn.execute(
            sa.select(orders.c.customer_id, sa.func.sum(orders.c.amount_cents))
            .where(_purchases(), orders.c.ordered_at >= lo, orders.c.ordered_at < hi)
            .group_by(orders.c.customer_id)
        ).all()
    )
    current = {int(c): (t, s) for c, t, s in conn.execute(sa.select(loyalty_tiers))}
    done_today = {
        int(c)
        for c in conn.execute(
            sa.select(loyalty_tier_changes.c.customer_id).where(loyalty_tier_changes.c.on_day == day)
        ).scalars()
    }
    counts: dict[str, int] = {t.key: 0 for t in rules.tiers}
    changes = []
    entry = rules.tiers[0].key
    for cid in sorted({int(c) for c in points} | {int(c) for c in spend} | set(current)):
        p, s = int(points.get(cid, 0) or 0), int(spend.get(cid, 0) or 0)
        tier = rules.tier_for(p, s).key
        counts[tier] += 1
        before = current.get(cid, (None, None))[0]
        if (before or entry) == tier:
            if before is None:
                conn.execute(sa.insert(loyalty_tiers).values(customer_id=cid, tier=tier, since=day))
            continue
        if cid in done_today:
            continue
        if before is None:
            conn.execute(sa.insert(loyalty_tiers).values(customer_id=cid, tier=tier, since=day))
        else:
            conn.execute(
                sa.update(loyalty_tiers).where(loyalty_tiers.c.customer_id == cid).values(tier=tier, since=day)
            )
        change = {
            "customer_id": cid,
            "from_tier": before or entry,
            "to_tier": tier,
            "on_day": day,
            "reason": {"points": p, "spend_cents": s, "window_days": rules.window_days},
            "created_at": now,
        }
        conn.execute(sa.insert(loyalty_tier_changes).values(**change))
        changes.append(change)
    return {"day": day.isoformat(), "tiers": counts, "changes": changes}


def statement(conn: sa.Connection, customer_id: int, *, limit: int = 200) -> dict[str, Any]:
    """A customer's balance, tier and ledger (newest first) and tier changes."""
    rows = conn.execute(
        sa.select(L).where(L.c.customer_id == customer_id).order_by(L.c.on_day.desc(), L.c.id.desc()).limit(limit)
    ).all()
    tier = conn.execute(sa.select(loyalty_tiers).where(loyalty_tiers.c.customer_id == customer_id)).first()
    changes = conn.execute(
        sa.select(loyalty_tier_changes)
        .where(loyalty_tier_changes.c.customer_id == customer_id)
        .order_by(loyalty_tier_changes.c.on_day)
    ).all()
    return {
        "customer_id": customer_id,
        "balance": balance(conn, customer_id),
        "tier": None if tier is None else {"tier": tier.tier, "since": tier.since},
        "ledger": [dict(r._mapping) for r in rows],
        "tier_changes": [dict(r._mapping) for r in changes],
    }
