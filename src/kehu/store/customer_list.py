"""The customers list: search, filters, sorting and keyset pages, the sizes that choose a query plan, and the
filter's choices (regions, tags, owners).

The indexes on ``customers`` (name, company, region, created_at, owner + name, …) and on
``segment_memberships`` that these queries read are declared with their tables (:mod:`kehu.store.schema`,
:mod:`kehu.store.segments`), so that search by prefix, filters and sorting are index look-ups and listing stays
fast with millions of customers. Pages are fetched with keyset pagination
(``WHERE (sort_key, id) > (last_key, last_id) ORDER BY sort_key, id LIMIT n``) and totals are counted only up
to a bound.

Functions take a connection and return plain data or ``None``; they never raise HTTP errors. Row-level access
is expressed as ``owner_ids``: ``None`` means every customer, a list means customers owned by those users.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    and_,
    false,
    func,
    literal_column,
    or_,
    select,
    union,
)
from sqlalchemy.sql import Select, operators
from sqlalchemy.sql.elements import UnaryExpression

from kehu.store.customers import cents
from kehu.store.published import customer_scores
from kehu.store.schema import customers, users
from kehu.store.segments import segment_memberships

__all__ = [
    "RISK_KINDS",
    "SMALL_SET",
    "SORT_KEYS",
    "CustomerFilter",
    "CustomerPage",
    "SegmentPick",
    "count_customers",
    "list_customers",
    "owners",
    "region_sizes",
    "regions",
    "risk_tier_sizes",
    "segment_sizes",
    "tags_in_use",
]

#: sort key -> column (each has an index; ``id`` breaks ties). Keys on ``customer_scores`` sort by what the
#: pipeline and the models published; customers without that value come after the others, by id.
SORT_KEYS: dict[str, Any] = {
    "id": customers.c.id,
    "name": customers.c.name,
    "created": customers.c.created_at,
    "region": customers.c.region,
    "value": customer_scores.c.clv_12m,
    "risk": customer_scores.c.churn_risk,
    "renewal_risk": customer_scores.c.renewal_risk,
    "winback": customer_scores.c.winback_expected,
    "last_order": customer_scores.c.last_order_at,
    "revenue": customer_scores.c.total_revenue_cents,
}
#: churn risk tiers a list can be narrowed to (the published score ``churn_tier``)

_LIST_COLUMNS = (
    customers.c.id,
    customers.c.name,
    customers.c.phone,
    customers.c.email,
    customers.c.company,
    customers.c.region,
    customers.c.city,
    customers.c.tags,
    customers.c.owner_id,
    customers.c.created_at,
)
#: a segment with at most this many members is read member by member; a bigger one is checked per customer
#: while the list is read in sort order (a LIMIT then stops early)
SMALL_SET = 20_000


@dataclass(frozen=True)
class SegmentPick:
    """Membership in one segment of one segment run (``size``: its members, for choosing the query plan)."""

    run_id: int
    segment: str
    size: int | None = None


@dataclass(frozen=True)
class CustomerFilter:
    """What the customers list is narrowed to.

    Attributes
    ----------
    owner_ids
        Row-level scope: ``None`` means every customer, a sequence means only those owners' customers.
    q
        Search text: digits search phone numbers (and e-mail addresses) by prefix, text with ``@`` searches
        e-mail addresses by prefix, anything else searches names and company names by prefix.
    owner_id, region, tag
        Filters chosen by the user (combined with ``AND``).
    segments
        Segment memberships required (a segment of a scheme's newest run, a lifecycle stage, …).
    risk_tier
        Published tier (``high``, ``medium`` or ``low``) of the risk named by ``risk_kind``.
    risk_kind
        Which published figure narrows the list: ``purchase`` (the default: purchase churn, ``churn_tier``),
        ``renewal`` (contract non-renewal, ``renewal_tier``) or ``winback`` (the 待挽回 customers: those with a
        published win-back figure; ``risk_tier`` is then not used).
    risk_tier_size, region_size
        How many customers have that tier (from :func:`risk_tier_sizes`) and live in that region (from
        :func:`region_sizes`): for the plan only (a small set is read through its index and sorted).
    """

    owner_ids: Sequence[int] | None = None
    q: str = ""
    owner_id: int | None = None
    region: str | None = None
    tag: str | None = None
    segments: tuple[SegmentPick, ...] = ()
    risk_tier: str | None = None
    risk_tier_size: int | None = None
    region_size: int | None = None
    risk_kind: str | None = None


#: the kinds of published figure a list can be narrowed to (see CustomerFilter.risk_kind)
RISK_KINDS = ("purchase", "renewal", "winback")


def _tier_column(flt: CustomerFilter) -> Any:
    return customer_scores.c.renewal_tier if flt.risk_kind == "renewal" else customer_scores.c.churn_tier


@dataclass
class CustomerPage:
    """One page of customers plus the keys to fetch the neighbouring pages."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    next_key: tuple[Any, int] | None = None
    prev_key: tuple[Any, int] | None = None


def _prefix(column: Any, text: str) -> ColumnElement[bool]:
    """``column`` starts with ``text``, written as an index-friendly range (no LIKE, no escaping needed)."""
    return and_(column >= text, column < text + "\U0010ffff")


def _like_escape(text: str) -> str:
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def _member_of(pick: SegmentPick) -> ColumnElement[bool]:
    m = segment_memberships
    if pick.size is not None and pick.size <= SMALL_SET:  # few members: read them and look the customers up
        members = select(m.c.customer_id).where(m.c.run_id == pick.run_id, m.c.segment == pick.segment)
        return customers.c.id.in_(members)
    # many members: one primary-key probe per customer read in sort order
    return (
        select(literal_column("1"))
        .where(m.c.run_id == pick.run_id, m.c.customer_id == customers.c.id, m.c.segment == pick.segment)
        .exists()
    )


def _plain(column: Any) -> Any:
    """``+column``: the same value, but SQLite will not use an index for it (its documented planner hint)."""
    return UnaryExpression(column, operator=operators.custom_op("+"), type_=column.type)


def _where(
    flt: CustomerFilter, *, scores_joined: bool = False, by_sort: bool = False, tier_by_risk: bool = False
) -> list[ColumnElement[bool]]:
    """The filter's conditions; ``by_sort``: keep the planner off the filters' indexes (SQLite), so it reads the
    sort key's index in order and stops after a page — right when the filters keep many customers.
    ``tier_by_risk``: sorted by risk, the churn tier's condition stays on the ``(churn_tier, churn_risk)`` index,
    which then is the sort key's index."""
    hint = _plain if by_sort else (lambda column: column)
    conds: list[ColumnElement[bool]] = []
    if flt.owner_ids is not None:
        ids = list(flt.owner_ids)
        conds.append(hint(customers.c.owner_id).in_(ids) if ids else false())
    q = flt.q.strip()
    if q:
        compact = q.replace(" ", "").replace("-", "")
        if compact.lstrip("+").isdigit():  # a phone number, or a numeric e-mail name (QQ mail)
            conds.append(_matching(_prefix(customers.c.phone, compact), _prefix(customers.c.email, q)))
        elif "@" in q:
            conds.append(_matching(_prefix(customers.c.email, q), _prefix(customers.c.email, q.lower())))
        elif len(q) == 1:  # one character (a surname) matches many: scanning in sort order finds a page soonest
            conds.append(or_(_prefix(customers.c.name, q), _prefix(customers.c.company, q)))
        else:
            conds.append(_matching(_prefix(customers.c.name, q), _prefix(customers.c.company, q)))
    if flt.owner_id is not None:
        conds.append(hint(customers.c.owner_id) == flt.owner_id)
    if flt.region:
        conds.append(hint(customers.c.region) == flt.region)
    if flt.tag:
        # tags are a JSON list; match the tag's JSON spelling inside it (bound parameter, escaped for LIKE)
        pattern = "%" + _like_escape(json.dumps(flt.tag)) + "%"
        conds.append(func.cast(customers.c.tags, String).like(pattern, escape="!"))
    conds.extend(_member_of(pick) for pick in flt.segments)
    if flt.risk_kind == "winback":
        s = customer_scores
        if scores_joined:
            conds.append(hint(s.c.winback).is_not(None))
        else:
            conds.append(customers.c.id.in_(select(s.c.customer_id).where(s.c.winback.is_not(None))))
    elif flt.risk_tier:
        s, tier = customer_scores, _tier_column(flt)
        if scores_joined:
            conds.append((tier if tier_by_risk else hint(tier)) == flt.risk_tier)
        elif flt.risk_tier_size is not None and flt.risk_tier_size <= SMALL_SET:
            conds.append(customers.c.id.in_(select(s.c.customer_id).where(tier == flt.risk_tier)))
        else:
            probe: Select[Any] = select(literal_column("1")).where(
                s.c.customer_id == customers.c.id, tier == flt.risk_tier
            )
            conds.append(probe.exists())
    return conds


def _matching(*alternatives: ColumnElement[bool]) -> ColumnElement[bool]:
    """``id IN (ids matching the first UNION ids matching the second …)``: each alternative is answered from its
    own index, so a search never scans the table (a plain ``OR`` made SQLite scan in id order)."""
    subqueries = [select(customers.c.id).where(a) for a in alternatives]
    return customers.c.id.in_(union(*subqueries) if len(subqueries) > 1 else subqueries[0])


def _fetch(
    conn: Connection,
    flt: CustomerFilter,
    col: Any,
    *,
    valued: bool,
    descending: bool,
    key: tuple[Any, int] | None,
    limit: int,
    few: bool | None,
) -> list[dict[str, Any]]:
    """Up to ``limit`` ids and sort values of one part of a sorted list, after ``key`` in the direction read.

    ``valued`` rows have a sort value and are ordered by ``(value, id)``; the others (no value) by id. ``few``:
    whether the filters keep few customers (``None``: leave the plan to the database)."""
    on_scores = col.table is customer_scores
    sort_value = col.label("sort_value") if valued else literal_column("NULL").label("sort_value")
    by_sort = few is False
    if on_scores and valued:  # read the scores index in order and join each customer
        ident = customer_scores.c.customer_id
        stmt = select(ident.label("id"), sort_value).select_from(
            customer_scores.join(customers, customers.c.id == customer_scores.c.customer_id)
        )
        # sorted by risk, a tier is read in order from the (churn_tier, churn_risk) index
        tier_by_risk = (
            by_sort
            and col is customer_scores.c.churn_risk
            and bool(flt.risk_tier)
            and flt.risk_kind in (None, "purchase")
        )
        stmt = stmt.where(
            col.is_not(None), *_where(flt, scores_joined=True, by_sort=by_sort, tier_by_risk=tier_by_risk)
        )
    else:
        ident = customers.c.id
        stmt = select(ident, sort_value).where(*_where(flt, by_sort=by_sort))
        if on_scores:  # customers with no such score (no published row, or the score is missing)
            scored: Select[Any] = select(literal_column("1")).where(
                customer_scores.c.customer_id == customers.c.id, col.is_not(None)
            )
            stmt = stmt.where(~scored.exists())
        elif col is not customers.c.id:
            stmt = stmt.where(col.is_not(None) if valued else col.is_(None))
    if key is not None:
        value, last_id = key
        if valued and col is not customers.c.id:
            if descending:
                stmt = stmt.where(or_(col < value, and_(col == value, ident < last_id)))
            else:
                stmt = stmt.where(or_(col > value, and_(col == value, ident > last_id)))
        else:
            stmt = stmt.where(ident < last_id if descending else ident > last_id)
    if valued and col is not customers.c.id:
        key_col = _plain(col) if few is True and on_scores else col
        order = [key_col.desc(), ident.desc()] if descending else [key_col.asc(), ident.asc()]
    else:
        order = [ident.desc() if descending else ident.asc()]
    return [dict(r) for r in conn.execute(stmt.order_by(*order).limit(limit)).mappings()]


def _filtered_few(conn: Connection, flt: CustomerFilter, col: Any, limit: int) -> bool:
    """Whether to read the customers the filters keep through the filters' indexes and sort them (``True``), rather
    than read the sort key's index in order until a page is full (``False``).

    True for a small segment, churn tier or region. A scope or owner with at most :data:`SMALL_SET` customers
    (counted from the owner index, up to the bound) is read through the owner index — unless the list is sorted by
    a key without an index that starts with the owner (a published score, the region) and the known shares of the
    filters (owner, segments, tier, region) say a page is found in order after reading fewer than half as many
    rows as the owner has: a sales rep's customers sorted by value are a page from the top of the value index."""
    if any(p.size is not None and p.size <= SMALL_SET for p in flt.segments):
        return True
    if flt.risk_tier and flt.risk_tier_size is not None and flt.risk_tier_size <= SMALL_SET:
        return True
    if flt.region and flt.region_size is not None and flt.region_size <= SMALL_SET:
        return True
    owners = [flt.owner_id] if flt.owner_id is not None else flt.owner_ids
    if owners is None:
        return False
    ids = list(owners)
    if not ids:
        return True
    inner = select(literal_column("1")).where(customers.c.owner_id.in_(ids)).limit(SMALL_SET + 1).subquery()
    owned = int(conn.execute(select(func.count()).select_from(inner)).scalar_one())
    if owned > SMALL_SET:
        return False
    if col in (customers.c.name, customers.c.created_at) or flt.tag or owned == 0:
        return True  # an (owner, key) index reads them in order anyway; a tag's share is not known
    total = int(conn.execute(select(func.max(customers.c.id))).scalar() or 0)
    sizes = [owned, *(p.size for p in flt.segments)]
    sizes += [flt.risk_tier_size] if flt.risk_tier else []
    sizes += [flt.region_size] if flt.region else []
    rows_in_order = float(limit)
    for size in sizes:
        if size is None:
            return True  # a filter of unknown size: keep to the owner's index
        rows_in_order *= total / max(size, 1)
    return rows_in_order * 2 > owned


def list_customers(
    conn: Connection,
    flt: CustomerFilter,
    *,
    sort: str = "id",
    descending: bool = False,
    after: tuple[Any, int] | None = None,
    before: tuple[Any, int] | None = None,
    limit: int = 50,
) -> CustomerPage:
    """One page of customers by keyset pagination.

    Parameters
    ----------
    conn
        Store connection.
    flt
        Scope, search text and filters.
    sort, descending
        A key of :data:`SORT_KEYS` and its direction; ``id`` breaks ties. Customers without a value of the sort
        key come after all the others in either direction, by id.
    after, before
        ``(sort value, id)`` of the last row of the previous page (next page) or of the first row of the
        following page (previous page); at most one of them. The value is ``None`` for a customer without one.
    limit
        Rows per page.

    Returns
    -------
    CustomerPage
        The rows (with the list's published scores and the owner's name) and the keys for "next" and
        "previous" (``None`` where there is no such page).
    """
    col = SORT_KEYS[sort]
    backwards = before is not None
    key = before if backwards else after
    want = limit + 1
    # SQLite plans without knowing how many customers the filters keep, so it is told (see _filtered_few): few
    # are read by the filters' indexes and sorted; many by the sort key's index in order, stopping after a page
    few = None
    if conn.dialect.name == "sqlite" and col is not customers.c.id and not flt.q:
        few = _filtered_few(conn, flt, col, want)
    if col is customers.c.id:
        rows = _fetch(conn, flt, col, valued=True, descending=descending != backwards, key=key, limit=want, few=few)
        for r in rows:
            r["sort_value"] = r["id"]
    elif not backwards:  # valued rows in the chosen direction, then the rows without a value by id
        rows = []
        if key is None or key[0] is not None:
            rows = _fetch(conn, flt, col, valued=True, descending=descending, key=key, limit=want, few=few)
        if len(rows) < want:
            rest = key if key is not None and key[0] is None else None
            rows += _fetch(conn, flt, col, valued=False, descending=False, key=rest, limit=want - len(rows), few=few)
    else:  # the same sequence read backwards from ``before``
        rows = []
        if key is not None and key[0] is None:
            rows = _fetch(conn, flt, col, valued=False, descending=True, key=key, limit=want, few=few)
            if len(rows) < want:
                more_rows = want - len(rows)
                rows += _fetch(
                    conn, flt, col, valued=True, descending=not descending, key=None, limit=more_rows, few=few
                )
        else:
            rows = _fetch(conn, flt, col, valued=True, descending=not descending, key=key, limit=want, few=few)
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    # the page's keys were found from indexes alone where possible (owner + name, region + name, …); now its rows
    found: dict[int, dict[str, Any]] = {}
    if rows:  # with the owner's name and the published list scores, by primary keys
        stmt = _PAGE_ROWS.where(customers.c.id.in_([r["id"] for r in rows]))
        found = {r["id"]: dict(r) for r in conn.execute(stmt).mappings()}
    rows = [{**found[r["id"]], "sort_value": r["sort_value"]} for r in rows if r["id"] in found]
    _decorate(rows)
    page = CustomerPage(rows=rows)
    if rows:
        first, last = rows[0], rows[-1]
        has_next = more if not backwards else True
        has_prev = more if backwards else key is not None
        if has_next:
            page.next_key = (last["sort_value"], last["id"])
        if has_prev:
            page.prev_key = (first["sort_value"], first["id"])
    for r in rows:
        r.pop("sort_value", None)
    return page


_PAGE_ROWS = select(
    *_LIST_COLUMNS,
    func.coalesce(users.c.display_name, users.c.name).label("owner"),
    customer_scores.c.clv_12m.label("score_clv_12m"),
    customer_scores.c.churn_risk.label("score_churn_risk"),
    customer_scores.c.churn_tier.label("score_churn_tier"),
    customer_scores.c.renewal_risk.label("score_renewal_risk"),
    customer_scores.c.renewal_tier.label("score_renewal_tier"),
    customer_scores.c.winback.label("score_winback"),
    customer_scores.c.winback_value.label("score_winback_value"),
    customer_scores.c.total_revenue_cents.label("score_revenue_cents"),
    customer_scores.c.last_order_at.label("score_last_order_at"),
).select_from(
    customers.outerjoin(users, users.c.id == customers.c.owner_id).outerjoin(
        customer_scores, customer_scores.c.customer_id == customers.c.id
    )
)


def _decorate(rows: list[dict[str, Any]]) -> None:
    """The page's rows as the list shows them: tags as a list of strings, money as ``Decimal``."""
    for r in rows:
        r["tags"] = [t for t in (r.get("tags") or []) if isinstance(t, str)]
        clv, revenue = r.pop("score_clv_12m"), r.pop("score_revenue_cents")
        r["clv_12m"] = None if clv is None else Decimal(str(round(clv, 2)))
        r["churn_risk"] = r.pop("score_churn_risk")
        r["churn_tier"] = r.pop("score_churn_tier")
        for name in ("renewal_risk", "renewal_tier", "winback"):
            r[name] = r.pop(f"score_{name}")
        value = r.pop("score_winback_value")
        r["winback_value"] = None if value is None else Decimal(str(round(value, 2)))
        r["revenue"] = None if revenue is None else cents(revenue)
        r["last_order_at"] = r.pop("score_last_order_at")


def count_customers(conn: Connection, flt: CustomerFilter, *, bound: int = 1_000) -> tuple[int, bool]:
    """How many customers match, counted up to ``bound``; returns ``(count, more_than_bound)``.

    Narrowed by a segment or churn tier only (no scope, owner or search), the members are read from their index
    and joined to the customers, stopping at the bound; otherwise the customers are read and the filters tested.
    """
    source: Any = customers
    conds = _where(flt)
    if flt.owner_ids is None and flt.owner_id is None and not flt.q.strip():
        if flt.segments:
            pick, m = flt.segments[0], segment_memberships
            source = m.join(customers, customers.c.id == m.c.customer_id)
            rest = replace(flt, segments=flt.segments[1:])
            conds = [m.c.run_id == pick.run_id, m.c.segment == pick.segment, *_where(rest)]
        elif flt.risk_tier and flt.risk_kind != "winback":
            s = customer_scores
            source = s.join(customers, customers.c.id == s.c.customer_id)
            rest = replace(flt, risk_tier=None, risk_tier_size=None, risk_kind=None)
            conds = [_tier_column(flt) == flt.risk_tier, *_where(rest)]
    inner = select(literal_column("1")).select_from(source).where(*conds).limit(bound + 1).subquery()
    n = int(conn.execute(select(func.count()).select_from(inner)).scalar_one())
    return min(n, bound), n > bound


def segment_sizes(conn: Connection, run_id: int) -> dict[str, int]:
    """Members per segment of one segment run (read from its index)."""
    m = segment_memberships
    stmt = select(m.c.segment, func.count()).where(m.c.run_id == run_id).group_by(m.c.segment)
    return {str(segment): int(n) for segment, n in conn.execute(stmt)}


def risk_tier_sizes(conn: Connection, kind: str | None = None) -> dict[str, int]:
    """Customers per published tier of the risk ``kind`` (``purchase``, the default, or ``renewal``; read from
    its index)."""
    tier = _tier_column(CustomerFilter(risk_kind=kind))
    stmt = select(tier, func.count()).where(tier.is_not(None)).group_by(tier)
    return {str(tier): int(n) for tier, n in conn.execute(stmt)}


def regions(conn: Connection, *, limit: int = 200) -> list[str]:
    """Distinct regions (read from the region index), for the filter's choices."""
    stmt = select(customers.c.region).where(customers.c.region.is_not(None)).distinct().order_by(customers.c.region)
    return [r for (r,) in conn.execute(stmt.limit(limit))]


def region_sizes(conn: Connection, *, limit: int = 200) -> dict[str, int]:
    """Customers per region (read from the region index) for the first ``limit`` regions by name, in name order:
    the filter's choices, and how many customers a region filter keeps (for the list's plan)."""
    stmt = (
        select(customers.c.region, func.count())
        .where(customers.c.region.is_not(None))
        .group_by(customers.c.region)
        .order_by(customers.c.region)
        .limit(limit)
    )
    return {str(region): int(n) for region, n in conn.execute(stmt)}


def tags_in_use(conn: Connection, *, sample: int = 5_000) -> list[str]:
    """Tags found on the newest ``sample`` customers (a bounded look, for the filter's suggestions)."""
    stmt = select(customers.c.tags).where(customers.c.tags.is_not(None)).order_by(customers.c.id.desc())
    found: set[str] = set()
    for (tags,) in conn.execute(stmt.limit(sample)):
        if isinstance(tags, list):
            found.update(t for t in tags if isinstance(t, str))
    return sorted(found)


def owners(conn: Connection) -> list[dict[str, Any]]:
    """Active users as owner choices: id and display name."""
    stmt = select(users.c.id, users.c.name, users.c.display_name).where(users.c.active.is_(True)).order_by(users.c.id)
    return [{"id": int(i), "name": d or n} for i, n, d in conn.execute(stmt)]
