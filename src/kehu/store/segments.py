"""Segment definitions (versioned), segment runs and membership history.

Tables (on :data:`kehu.store.schema.metadata`)::

    segment_definitions   one row per (scheme, version): the scheme's whole definition as JSON + its digest
    segment_runs          one row per (scheme, as_of): the definition version used, population and statistics
    segment_memberships   one row per (run, customer, segment): the segment that placed the customer and the
                          values that decided it

A built-in scheme (``rfm_cn``, ``rfm_en``, ``lifecycle``, ``value``, ``cross``) is one definition; every
user-defined segment is a scheme of its own named ``custom.<name>`` with one segment, ``<name>``. A new
version is written only when the definition's content changes (same digest: same version). Re-running a
scheme for an ``as_of`` keeps that run's row and brings its memberships up to date, writing only the ones that
changed (:func:`record_run`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Date,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Table,
    Text,
    cast,
    func,
    insert,
    select,
    update,
)

from kehu.store.bulk import insert_rows, is_sqlite
from kehu.store.schema import UTCDateTime, customers, metadata, users

__all__ = [
    "customer_history",
    "definition_digest",
    "latest_definition",
    "member_page",
    "member_rows",
    "memberships",
    "placements",
    "recent_runs",
    "record_run",
    "run_ids",
    "save_definition",
    "scoped_sizes",
    "segment_definitions",
    "segment_memberships",
    "segment_runs",
    "sync_memberships",
]

segment_definitions = Table(
    "segment_definitions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("scheme", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("kind", String(20), nullable=False),  # rfm_cn | rfm_en | lifecycle | value | cross | custom
    Column("definition", JSON, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("uq_segment_definitions_scheme_version", "scheme", "version", unique=True),
)

segment_runs = Table(
    "segment_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("scheme", String(100), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("definition_id", Integer, ForeignKey("segment_definitions.id"), nullable=False),
    Column("engine", String(20), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("population", Integer, nullable=False),
    Column("stats", JSON, nullable=True),  # e.g. Pareto statistics of the value tiers
    Index("uq_segment_runs_scheme_as_of", "scheme", "as_of", unique=True),
)

segment_memberships = Table(
    "segment_memberships",
    metadata,
    Column("run_id", Integer, ForeignKey("segment_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    Column("segment", String(100), primary_key=True),
    Column("values", JSON, nullable=True),  # field -> value that decided the placement
    Index("ix_segment_memberships_run_segment", "run_id", "segment"),
    Index("ix_segment_memberships_customer", "customer_id"),
    # a segment's members straight from the index (the customers list's segment and stage filters, their counts)
    Index("ix_segment_memberships_run_segment_customer", "run_id", "segment", "customer_id"),
)


def definition_digest(definition: Mapping[str, Any]) -> str:
    """SHA-256 of a definition's canonical JSON (sorted keys), to tell versions apart."""
    text = json.dumps(definition, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def latest_definition(conn: Connection, scheme: str) -> dict[str, Any] | None:
    """The newest version of ``scheme``'s definition (``None`` when it was never saved)."""
    row = conn.execute(
        select(segment_definitions)
        .where(segment_definitions.c.scheme == scheme)
        .order_by(segment_definitions.c.version.desc())
        .limit(1)
    ).first()
    return None if row is None else dict(row._mapping)


def save_definition(conn: Connection, scheme: str, kind: str, definition: Mapping[str, Any]) -> tuple[int, int]:
    """Store ``definition`` as the next version of ``scheme`` unless the newest version has the same content.

    Returns
    -------
    tuple of int
        ``(definition id, version)`` of the stored (or unchanged newest) definition.
    """
    digest = definition_digest(definition)
    latest = latest_definition(conn, scheme)
    if latest is not None and latest["digest"] == digest:
        return int(latest["id"]), int(latest["version"])
    version = 1 if latest is None else int(latest["version"]) + 1
    new_id = conn.execute(
        insert(segment_definitions)
        .values(
            scheme=scheme,
            version=version,
            kind=kind,
            definition=json.loads(json.dumps(definition, default=str)),
            digest=digest,
            created_at=dt.datetime.now(dt.UTC),
        )
        .returning(segment_definitions.c.id)
    ).scalar_one()
    return int(new_id), version


def record_run(
    conn: Connection,
    *,
    scheme: str,
    as_of: dt.date,
    definition_id: int,
    engine: str,
    rows: Iterable[Mapping[str, Any]],
    population: int,
    stats: Mapping[str, Any] | None = None,
    chunk_rows: int = 50_000,
) -> int:
    """Record ``scheme``'s run for ``as_of`` with its memberships; call inside a transaction.

    A first run of the day is a new ``segment_runs`` row with every membership. A re-run of the day keeps the
    run's row (its definition, engine, time, population and statistics are replaced) and writes only what
    differs from the memberships it holds: new placements are inserted, departed ones deleted, and a placement
    whose deciding values changed gets them updated. Either way the run then holds exactly ``rows``.

    Parameters
    ----------
    rows
        ``{"customer_id", "segment", "values"}`` per membership.
    population
        Customers the scheme looked at (members of no segment included).

    Returns
    -------
    int
        The run's ``segment_runs.id``.
    """
    r = segment_runs
    fields = {
        "definition_id": definition_id,
        "engine": engine,
        "created_at": dt.datetime.now(dt.UTC),
        "population": population,
        "stats": dict(stats) if stats is not None else None,
    }
    old = conn.execute(select(r.c.id).where(r.c.scheme == scheme, r.c.as_of == as_of)).scalars().first()
    if old is not None:
        conn.execute(update(r).where(r.c.id == old).values(**fields))
        sync_memberships(conn, int(old), rows)
        return int(old)
    run_id = int(conn.execute(insert(r).values(scheme=scheme, as_of=as_of, **fields).returning(r.c.id)).scalar_one())
    # driver parameters in bulk; ``values`` serialized as SQLAlchemy's JSON type does (``json.dumps``)
    for chunk in _chunks(rows, chunk_rows):
        columns = {
            "customer_id": [row["customer_id"] for row in chunk],
            "segment": [row["segment"] for row in chunk],
            "values": [json.dumps(row["values"]) for row in chunk],
        }
        insert_rows(conn, segment_memberships, columns, {"run_id": run_id})
    return run_id


def sync_memberships(conn: Connection, run_id: int, rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Make run ``run_id`` hold exactly the memberships ``rows``, writing only the differences.

    The stored deciding values are compared as the JSON text they were written as (``json.dumps``, what
    SQLAlchemy's JSON type writes too), so an unchanged placement costs one row read and no write.

    Returns
    -------
    dict
        ``inserted``, ``updated`` and ``deleted`` membership rows.
    """
    m = segment_memberships
    stored: dict[tuple[int, str], str | None] = {
        (int(cid), str(segment)): text
        for cid, segment, text in conn.execute(
            select(m.c.customer_id, m.c.segment, cast(m.c["values"], Text)).where(m.c.run_id == run_id)
        )
    }
    added: dict[str, list[Any]] = {"customer_id": [], "segment": [], "values": []}
    changed: list[tuple[Any, ...]] = []
    for row in rows:
        key = (int(row["customer_id"]), str(row["segment"]))
        text = json.dumps(row["values"])
        before = stored.pop(key, _ABSENT)
        if before is _ABSENT:
            added["customer_id"].append(key[0])
            added["segment"].append(key[1])
            added["values"].append(text)
        elif before != text:
            changed.append((text, run_id, *key))
    departed = [(run_id, *key) for key in stored]
    quote = conn.dialect.identifier_preparer.quote
    ph = "?" if is_sqlite(conn) else "%s"
    where = f"run_id = {ph} AND customer_id = {ph} AND segment = {ph}"
    if departed:
        conn.exec_driver_sql(f"DELETE FROM {quote(m.name)} WHERE {where}", departed)
    if changed:
        value = ph if is_sqlite(conn) else "%s::json"
        conn.exec_driver_sql(f"UPDATE {quote(m.name)} SET {quote('values')} = {value} WHERE {where}", changed)
    insert_rows(conn, m, added, {"run_id": run_id})
    return {"inserted": len(added["customer_id"]), "updated": len(changed), "deleted": len(departed)}


_ABSENT: Any = object()


def _chunks(rows: Iterable[Mapping[str, Any]], size: int) -> Iterator[list[Mapping[str, Any]]]:
    chunk: list[Mapping[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_ids(conn: Connection, as_of: dt.date | None = None) -> dict[str, dict[str, Any]]:
    """Scheme -> its run (with ``version`` of the definition) for ``as_of`` (default: each scheme's newest)."""
    runs = segment_runs
    stmt = select(runs, segment_definitions.c.version, segment_definitions.c.definition).join(
        segment_definitions, segment_definitions.c.id == runs.c.definition_id
    )
    if as_of is not None:
        stmt = stmt.where(runs.c.as_of == as_of)
    else:
        newest = select(runs.c.scheme, func.max(runs.c.as_of).label("as_of")).group_by(runs.c.scheme).subquery()
        stmt = stmt.join(newest, (newest.c.scheme == runs.c.scheme) & (newest.c.as_of == runs.c.as_of))
    return {row.scheme: dict(row._mapping) for row in conn.execute(stmt)}


def memberships(conn: Connection, run_id: int, segment: str | None = None) -> list[dict[str, Any]]:
    """The memberships of one run (optionally of one segment), ordered by customer."""
    m = segment_memberships
    stmt = select(m.c.customer_id, m.c.segment, m.c["values"]).where(m.c.run_id == run_id)
    if segment is not None:
        stmt = stmt.where(m.c.segment == segment)
    return [dict(r._mapping) for r in conn.execute(stmt.order_by(m.c.customer_id, m.c.segment))]


# -- scoped reads for the app (a rep sees only their own customers) ------------------------------------------
def _in_scope(stmt: Any, owner_ids: Sequence[int] | None) -> Any:
    """``stmt`` (over segment_memberships) limited to customers owned by ``owner_ids`` (``None``: everyone)."""
    if owner_ids is None:
        return stmt
    m = segment_memberships
    owned = select(customers.c.id).where(customers.c.owner_id.in_(list(owner_ids)))
    return stmt.where(m.c.customer_id.in_(owned))


def recent_runs(conn: Connection, scheme: str, *, limit: int = 12) -> list[dict[str, Any]]:
    """The newest ``limit`` runs of ``scheme`` (``id``, ``as_of``, ``population``), newest first."""
    r = segment_runs
    stmt = select(r.c.id, r.c.as_of, r.c.population).where(r.c.scheme == scheme)
    return [dict(row._mapping) for row in conn.execute(stmt.order_by(r.c.as_of.desc()).limit(limit))]


def scoped_sizes(
    conn: Connection, run_ids: Sequence[int], owner_ids: Sequence[int] | None = None
) -> dict[tuple[int, str], int]:
    """``(run id, segment) -> members`` of the given runs, counting only customers in scope."""
    if not run_ids:
        return {}
    m = segment_memberships
    stmt = select(m.c.run_id, m.c.segment, func.count()).where(m.c.run_id.in_(list(run_ids)))
    stmt = _in_scope(stmt, owner_ids).group_by(m.c.run_id, m.c.segment)
    return {(int(run), str(segment)): int(n) for run, segment, n in conn.execute(stmt)}


def placements(conn: Connection, run_id: int, owner_ids: Sequence[int] | None = None) -> dict[int, str]:
    """Customer -> segment of one run, customers in scope only."""
    m = segment_memberships
    stmt = _in_scope(select(m.c.customer_id, m.c.segment).where(m.c.run_id == run_id), owner_ids)
    return {int(cid): str(segment) for cid, segment in conn.execute(stmt)}


def _members(
    run_id: int, segment: str, as_of: dt.date, owner_ids: Sequence[int] | None, *, contact: bool = False
) -> Select[Any]:
    """One segment's members with profile, owner, the published order figures of ``as_of`` and the values that
    placed them; with ``contact``, also phone, email and the owner's team (the export)."""
    from kehu.store.published import customer_score_history as h

    m, c, u = segment_memberships, customers, users
    extra = [c.c.phone, c.c.email, u.c.team] if contact else []
    stmt = (
        select(
            c.c.id,
            c.c.name,
            c.c.company,
            c.c.region,
            c.c.city,
            func.coalesce(u.c.display_name, u.c.name).label("owner"),
            *extra,
            h.c.orders,
            h.c.total_revenue_cents,
            h.c.last_order_date,
            h.c.days_since_last_order,
            m.c["values"],
        )
        .select_from(
            m.join(c, c.c.id == m.c.customer_id)
            .outerjoin(u, u.c.id == c.c.owner_id)
            .outerjoin(h, (h.c.customer_id == m.c.customer_id) & (h.c.as_of == as_of))
        )
        .where(m.c.run_id == run_id, m.c.segment == segment)
    )
    if owner_ids is not None:
        stmt = stmt.where(c.c.owner_id.in_(list(owner_ids)))
    return stmt


def _member_row(row: Any) -> dict[str, Any]:
    item = dict(row)
    cents = item.pop("total_revenue_cents")
    item["revenue"] = None if cents is None else Decimal(int(cents)) / 100
    return item


def member_page(
    conn: Connection,
    run_id: int,
    segment: str,
    as_of: dt.date,
    *,
    owner_ids: Sequence[int] | None = None,
    after: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Members of one segment by customer id (``after`` an id), with profile, owner, published order figures
    of that day and the values that placed them. Returns up to ``limit + 1`` rows (the extra one says that a
    next page exists)."""
    stmt = _members(run_id, segment, as_of, owner_ids)
    if after is not None:
        stmt = stmt.where(segment_memberships.c.customer_id > after)
    rows = conn.execute(stmt.order_by(segment_memberships.c.customer_id).limit(limit + 1)).mappings()
    return [_member_row(row) for row in rows]


def member_rows(
    conn: Connection, run_id: int, segment: str, as_of: dt.date, *, owner_ids: Sequence[int] | None = None
) -> Iterator[dict[str, Any]]:
    """Every member of one segment by customer id, as in :func:`member_page` plus ``phone``, ``email`` and
    ``team`` (for exports; streamed)."""
    stmt = _members(run_id, segment, as_of, owner_ids, contact=True).order_by(segment_memberships.c.customer_id)
    for row in conn.execute(stmt).mappings():
        yield _member_row(row)


def customer_history(conn: Connection, customer_id: int, *, limit: int = 24) -> list[dict[str, Any]]:
    """Where one customer was placed in each run (newest first): ``scheme``, ``as_of``, ``segment``, ``values``."""
    m, r = segment_memberships, segment_runs
    stmt = (
        select(r.c.scheme, r.c.as_of, m.c.segment, m.c["values"])
        .select_from(m.join(r, r.c.id == m.c.run_id))
        .where(m.c.customer_id == customer_id)
        .order_by(r.c.as_of.desc(), r.c.scheme)
        .limit(limit * 8)
    )
    return [dict(row._mapping) for row in conn.execute(stmt)]
