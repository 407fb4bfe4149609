"""Data functions about customers: look-ups, the numbers shown for one customer and the activity lists of their
360 page.

They take a connection and return plain data (or ``None`` when nothing matches); they never raise HTTP or CLI
errors — front ends decide how to say "not found".
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Table, func, select

from kehu.store.schema import (
    contracts,
    customer_merges,
    customer_records,
    customers,
    feedback,
    interactions,
    orders,
    tickets,
    users,
)
from kehu.vocabulary import NOT_LIVE_STATUSES

__all__ = ["cents", "customer_activity", "customer_detail", "customer_owner_id", "find_customers", "list_merges"]


def cents(value: int | None) -> Decimal | None:
    """Integer cents as a Decimal amount with two places."""
    return None if value is None else (Decimal(int(value)) / 100).quantize(Decimal("0.01"))


def find_customers(conn: Connection, ident: str) -> list[int]:
    """Customers matching ``ident``: ``SOURCE:ID``, a source id in any source, or Kehu's own numeric id."""
    ident = ident.strip()
    stmt = select(customer_records.c.customer_id).distinct()
    if ":" in ident:
        source, sid = ident.split(":", 1)
        found = (
            conn.execute(stmt.where(customer_records.c.source == source, customer_records.c.source_customer_id == sid))
            .scalars()
            .all()
        )
        if found:
            return list(found)
    found = conn.execute(stmt.where(customer_records.c.source_customer_id == ident)).scalars().all()
    if found:
        return sorted(found)
    if ident.isdigit():
        own = conn.execute(select(customers.c.id).where(customers.c.id == int(ident))).scalar()
        if own is not None:
            return [own]
        merged = conn.execute(
            select(customer_merges.c.kept_customer_id)
            .where(customer_merges.c.merged_customer_id == int(ident))
            .order_by(customer_merges.c.id.desc())
        ).scalar()
        if merged is not None:
            return find_customers(conn, str(merged))
    return []


def customer_detail(conn: Connection, customer_id: int) -> dict[str, Any] | None:
    """The profile of one customer with counts and totals of everything stored about them."""
    row = (
        conn.execute(
            select(customers, users.c.name.label("owner"))
            .outerjoin(users, users.c.id == customers.c.owner_id)
            .where(customers.c.id == customer_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    profile = {k: v for k, v in row.items() if k not in ("owner_id",)}
    records = [
        dict(r)
        for r in conn.execute(
            select(
                customer_records.c.source,
                customer_records.c.source_customer_id,
                customer_records.c.updated_at,
                customer_records.c.source_row,
            )
            .where(customer_records.c.customer_id == customer_id)
            .order_by(customer_records.c.source, customer_records.c.source_customer_id)
        ).mappings()
    ]
    # orders per status with their totals, and the counts of everything else, in two look-ups
    by_status = conn.execute(
        select(
            orders.c.status,
            func.count(),
            func.sum(orders.c.amount_cents),
            func.min(orders.c.ordered_at),
            func.max(orders.c.ordered_at),
            func.sum(orders.c.gross_margin_cents),
        )
        .where(orders.c.customer_id == customer_id)
        .group_by(orders.c.status)
    ).all()
    live = [r for r in by_status if r[0] not in NOT_LIVE_STATUSES]
    firsts = [r[3] for r in live if r[3] is not None]
    lasts = [r[4] for r in live if r[4] is not None]
    margins = [r[5] for r in live if r[5] is not None]
    o = (
        sum(r[1] for r in live),
        sum(r[2] or 0 for r in live),
        min(firsts) if firsts else None,
        max(lasts) if lasts else None,
        sum(margins) if margins else None,
    )
    o_all = [(r[0], r[1]) for r in by_status]
    tables = (("contracts", contracts), ("interactions", interactions), ("tickets", tickets), ("feedback", feedback))
    counted = conn.execute(
        select(
            *(
                select(func.count()).where(table.c.customer_id == customer_id).scalar_subquery().label(name)
                for name, table in tables
            )
        )
    ).one()
    counts = {name: int(counted[i]) for i, (name, _table) in enumerate(tables)}
    merges = list_merges(conn, customer_id=customer_id)
    return {
        "id": customer_id,
        "profile": profile,
        "records": records,
        "orders": {
            "count": o[0],
            "revenue": cents(o[1] or 0),
            "gross_margin": cents(o[4]),
            "first_order_at": o[2],
            "last_order_at": o[3],
            "by_status": {s: c for s, c in o_all},
        },
        **{name: {"count": c} for name, c in counts.items()},
        "merges": merges,
    }


def list_merges(conn: Connection, *, customer_id: int | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Logged merges, newest first (optionally only those that kept ``customer_id``)."""
    stmt = select(customer_merges).order_by(customer_merges.c.id.desc())
    if customer_id is not None:
        stmt = stmt.where(customer_merges.c.kept_customer_id == customer_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def customer_owner_id(conn: Connection, customer_id: int) -> tuple[bool, int | None]:
    """``(exists, owner_id)`` of one customer."""
    row = conn.execute(select(customers.c.owner_id).where(customers.c.id == customer_id)).first()
    return (False, None) if row is None else (True, row[0])


_ACTIVITY: dict[str, tuple[Table, str, tuple[str, ...]]] = {
    "orders": (
        orders,
        "ordered_at",
        ("order_id", "ordered_at", "amount_cents", "currency", "status", "product", "category", "channel"),
    ),
    "interactions": (interactions, "occurred_at", ("interaction_id", "occurred_at", "type", "channel", "note")),
    "tickets": (
        tickets,
        "opened_at",
        ("ticket_id", "opened_at", "resolved_at", "topic", "priority", "status", "is_complaint", "satisfaction"),
    ),
    "feedback": (feedback, "responded_at", ("feedback_id", "kind", "score", "responded_at", "comment")),
}


def customer_activity(conn: Connection, customer_id: int, kind: str, *, limit: int = 20) -> list[dict[str, Any]]:
    """The newest ``limit`` orders / interactions / tickets / feedback of one customer (money as Decimal)."""
    table, at, cols = _ACTIVITY[kind]
    stmt = (
        select(table.c.source, *(table.c[c] for c in cols))
        .where(table.c.customer_id == customer_id)
        .order_by(table.c[at].desc(), table.c.id.desc())
        .limit(limit)
    )
    rows = [dict(r) for r in conn.execute(stmt).mappings()]
    if kind == "orders":
        for r in rows:
            r["amount"] = cents(r.pop("amount_cents"))
    return rows
