"""Identity resolution: source records -> one customer profile, with every merge logged.

Each source system's view of a customer is a row in ``customer_records`` keyed by (source, source id). Records
from *different* sources that share a normalized phone or email, or that a user links explicitly, belong to one
customer. The customer's profile (``customers``) is derived from its records: for every field the value from the
most recently changed record that has one; tags are the union of all records' tags.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from kehu.errors import NotFoundError, ValidationError
from kehu.store.schema import (
    ACTIVITY_TABLES,
    customer_merges,
    customer_records,
    customers,
    metadata,
    users,
)

__all__ = ["PROFILE_FIELDS", "link_records", "match_and_merge", "merge_customers", "recompute_profiles"]

#: fields of a customer record that make up the profile (the record's ``data`` keys)
PROFILE_FIELDS = (
    "name",
    "phone",
    "email",
    "company",
    "industry",
    "region",
    "city",
    "owner",
    "acquisition_channel",
    "first_contact_at",
    "signup_at",
    "tags",
    "custom",
)
_CHUNK = 2000


def _chunks(items: list[Any], size: int = _CHUNK) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def merge_customers(
    conn: Connection,
    keep: int,
    drop: int,
    *,
    rule: str,
    detail: dict[str, Any],
    run_id: int | None,
    now: dt.datetime,
) -> None:
    """Move everything of customer ``drop`` to ``keep``, delete ``drop`` and log the merge.

    Derived rows (published scores, segment memberships…) of ``drop`` are deleted: the next run recomputes them
    for the merged customer.
    """
    if keep == drop:
        return
    moved = {customer_records.name, *(t.name for t, _ in ACTIVITY_TABLES.values())}
    for table in metadata.sorted_tables:
        if table.name == customers.name or "customer_id" not in table.c:
            continue
        fks = [fk for fk in table.c.customer_id.foreign_keys if fk.column.table.name == customers.name]
        if not fks:
            continue
        if table.name in moved:
            conn.execute(update(table).where(table.c.customer_id == drop).values(customer_id=keep))
        else:
            conn.execute(delete(table).where(table.c.customer_id == drop))
    conn.execute(delete(customers).where(customers.c.id == drop))
    conn.execute(
        insert(customer_merges).values(
            at=now,
            kept_customer_id=keep,
            merged_customer_id=drop,
            rule=rule,
            detail=detail,
            import_run_id=run_id,
        )
    )


def match_and_merge(
    conn: Connection, source: str, touched: dict[int, dict[str, Any]], *, run_id: int | None, now: dt.datetime
) -> tuple[set[int], int]:
    """Merge customers whose new/changed records share a phone or email with a customer from another source.

    Parameters
    ----------
    touched
        customer id -> the record data just written for it (from ``source``).

    Returns
    -------
    (customers whose profile must be recomputed, number of merges)
    """
    phones = sorted({d["phone"] for d in touched.values() if d.get("phone")})
    emails = sorted({d["email"] for d in touched.values() if d.get("email")})
    by_phone: dict[str, set[int]] = defaultdict(set)
    by_email: dict[str, set[int]] = defaultdict(set)
    for column, values, target in (
        (customers.c.phone, phones, by_phone),
        (customers.c.email, emails, by_email),
    ):
        for chunk in _chunks(values):
            stmt = (
                select(column, customers.c.id)
                .join(customer_records, customer_records.c.customer_id == customers.c.id)
                .where(column.in_(chunk), customer_records.c.source != source)
                .distinct()
            )
            for value, cid in conn.execute(stmt):
                target[value].add(cid)
    dirty: set[int] = set(touched)
    merges = 0
    alias: dict[int, int] = {}

    def find(c: int) -> int:
        while c in alias:
            c = alias[c]
        return c

    for cid, data in touched.items():
        matches: list[tuple[int, str, str]] = []
        if data.get("phone"):
            matches += [(m, "phone", data["phone"]) for m in by_phone.get(data["phone"], ())]
        if data.get("email"):
            matches += [(m, "email", data["email"]) for m in by_email.get(data["email"], ())]
        for other, rule, value in matches:
            a, b = find(cid), find(other)
            if a == b:
                continue
            keep, drop = min(a, b), max(a, b)
            merge_customers(
                conn,
                keep,
                drop,
                rule=rule,
                detail={"value": value, "source": source, "record_customer": cid},
                run_id=run_id,
                now=now,
            )
            alias[drop] = keep
            dirty.discard(drop)
            dirty.add(keep)
            merges += 1
    return {find(c) for c in dirty}, merges


def _owner_ids(conn: Connection, names: set[str], now: dt.datetime) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(names)):
        for uid, name in conn.execute(select(users.c.id, users.c.name).where(users.c.name.in_(chunk))):
            found[name] = uid
    for name in sorted(names - set(found)):
        found[name] = conn.execute(
            insert(users)
            .values(name=name, display_name=name, role="rep", active=True, created_at=now)
            .returning(users.c.id)
        ).scalar_one()
    return found


def _parse_time(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    t = dt.datetime.fromisoformat(value)
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def recompute_profiles(conn: Connection, customer_ids: Iterable[int], now: dt.datetime) -> int:
    """Rebuild the profile of each customer from its records; returns how many profiles were written."""
    ids = sorted(set(customer_ids))
    updates: list[dict[str, Any]] = []
    owners_needed: set[str] = set()
    profiles: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(ids):
        stmt = (
            select(customer_records.c.customer_id, customer_records.c.data)
            .where(customer_records.c.customer_id.in_(chunk))
            .order_by(
                customer_records.c.customer_id,
                customer_records.c.updated_at.desc(),
                customer_records.c.id.desc(),
            )
        )
        for cid, data in conn.execute(stmt):
            prof = profiles.setdefault(cid, {"tags": [], "custom": {}})
            if not data:
                continue
            data = data if isinstance(data, dict) else json.loads(data)
            for f in PROFILE_FIELDS:
                v = data.get(f)
                if v in (None, "", [], {}):
                    continue
                if f == "tags":
                    prof["tags"] += [t for t in v if t not in prof["tags"]]
                elif f == "custom":
                    prof["custom"] = {**v, **prof["custom"]}  # newer records come first and win
                elif f not in prof:
                    prof[f] = v
            if prof.get("owner"):
                owners_needed.add(prof["owner"])
    owner_ids = _owner_ids(conn, owners_needed, now) if owners_needed else {}
    for cid in ids:
        prof = profiles.get(cid, {"tags": [], "custom": {}})
        updates.append(
            {
                "b_id": cid,
                "name": prof.get("name"),
                "phone": prof.get("phone"),
                "email": prof.get("email"),
                "company": prof.get("company"),
                "industry": prof.get("industry"),
                "region": prof.get("region"),
                "city": prof.get("city"),
                "owner_id": owner_ids.get(prof.get("owner", "")),
                "acquisition_channel": prof.get("acquisition_channel"),
                "first_contact_at": _parse_time(prof.get("first_contact_at")),
                "signup_at": _parse_time(prof.get("signup_at")),
                "tags": prof["tags"] or None,
                "custom": prof["custom"] or None,
                "updated_at": now,
            }
        )
    if updates:
        from sqlalchemy import bindparam

        conn.execute(update(customers).where(customers.c.id == bindparam("b_id")), updates)
    return len(updates)


def link_records(conn: Connection, a: tuple[str, str], b: tuple[str, str], *, now: dt.datetime) -> int:
    """Explicitly link two source records (``(source, id)`` each) into one customer; returns the kept id."""
    ids = []
    for source, sid in (a, b):
        cid = conn.execute(
            select(customer_records.c.customer_id).where(
                customer_records.c.source == source, customer_records.c.source_customer_id == sid
            )
        ).scalar()
        if cid is None:
            raise NotFoundError(f"no customer record {source}:{sid}")
        ids.append(cid)
    if a == b:
        raise ValidationError("cannot link a record to itself")
    keep, drop = min(ids), max(ids)
    if keep != drop:
        merge_customers(
            conn,
            keep,
            drop,
            rule="link",
            detail={"records": [f"{a[0]}:{a[1]}", f"{b[0]}:{b[1]}"]},
            run_id=None,
            now=now,
        )
        recompute_profiles(conn, [keep], now)
    return keep
