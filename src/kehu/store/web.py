"""Data functions behind the web app and the REST API: listing and searching customers, the activity lists of a
customer's 360 page, dashboard numbers, and the tables for sign-in (sessions, API tokens, login attempts).

Tables added here (on :data:`kehu.store.schema.metadata`)::

    web_sessions     one row per signed-in browser: hashed session token, CSRF token, expiry
    api_tokens       bearer tokens for /api/ (only a SHA-256 of the token is stored)
    login_attempts   every sign-in attempt (name, client address, time, ok) for throttling and audit

Indexes added to ``customers`` (name, company, region, created_at) make search by prefix, filters and sorting
index look-ups, so that listing stays fast with millions of customers. Pages are fetched with keyset
pagination (``WHERE (sort_key, id) > (last_key, last_id) ORDER BY sort_key, id LIMIT n``) and totals are
counted only up to a bound.

Functions take a connection and return plain data or ``None``; they never raise HTTP errors. Row-level access
is expressed as ``owner_ids``: ``None`` means every customer, a list means customers owned by those users.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Connection,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    delete,
    false,
    func,
    insert,
    literal_column,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.sql import Select, operators
from sqlalchemy.sql.elements import UnaryExpression

from kehu.store.customers import cents
from kehu.store.published import customer_scores
from kehu.store.schema import (
    UTCDateTime,
    customers,
    feedback,
    import_runs,
    interactions,
    metadata,
    orders,
    tickets,
    users,
)
from kehu.store.segments import segment_memberships

__all__ = [
    "RISK_TIERS",
    "SMALL_SET",
    "SORT_KEYS",
    "CustomerFilter",
    "CustomerPage",
    "SegmentPick",
    "add_login_attempt",
    "api_tokens",
    "count_customers",
    "create_api_token",
    "create_session",
    "customer_activity",
    "customer_owner_id",
    "customers_by_month",
    "customers_by_region",
    "dashboard_totals",
    "delete_sessions",
    "get_import_run",
    "list_api_tokens",
    "list_customers",
    "list_import_runs",
    "login_attempts",
    "owners",
    "recent_failures",
    "region_sizes",
    "regions",
    "revenue_by_month",
    "revoke_api_token",
    "risk_tier_sizes",
    "segment_sizes",
    "session_by_hash",
    "session_with_user",
    "tags_in_use",
    "team_member_ids",
    "token_by_hash",
    "touch_session",
    "user_by_id",
    "user_by_name",
    "web_sessions",
]

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # SHA-256 hex of the cookie's token
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(12), nullable=False),  # the first characters, to recognise a token in lists
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=True),
    Column("revoked", Boolean, nullable=False, default=False),
)

login_attempts = Table(
    "login_attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("client", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("ok", Boolean, nullable=False),
    Index("ix_login_attempts_name_at", "name", "at"),
    Index("ix_login_attempts_client_at", "client", "at"),
)

# Search, filters and sorting on the customers list (attached to the customers table, so they live in metadata).
Index("ix_customers_name", customers.c.name)
Index("ix_customers_company", customers.c.company)
Index("ix_customers_region", customers.c.region)
Index("ix_customers_created_at", customers.c.created_at)
# a rep's list and a region's list, sorted, without sorting all their rows
Index("ix_customers_owner_id_name", customers.c.owner_id, customers.c.name)
Index("ix_customers_owner_id_created_at", customers.c.owner_id, customers.c.created_at)
Index("ix_customers_region_name", customers.c.region, customers.c.name)
# a segment's members straight from the index (the list's segment and stage filters, their counts)
Index(
    "ix_segment_memberships_run_segment_customer",
    segment_memberships.c.run_id,
    segment_memberships.c.segment,
    segment_memberships.c.customer_id,
)

#: sort key -> column (each has an index; ``id`` breaks ties). Keys on ``customer_scores`` sort by what the
#: pipeline and the models published; customers without that value come after the others, by id.
SORT_KEYS: dict[str, Any] = {
    "id": customers.c.id,
    "name": customers.c.name,
    "created": customers.c.created_at,
    "region": customers.c.region,
    "value": customer_scores.c.clv_12m,
    "risk": customer_scores.c.churn_risk,
    "last_order": customer_scores.c.last_order_at,
    "revenue": customer_scores.c.total_revenue_cents,
}
#: churn risk tiers a list can be narrowed to (the published score ``churn_tier``)
RISK_TIERS = ("high", "medium", "low")

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
_LIVE = ("refunded", "cancelled")
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
        Published churn tier (``high``, ``medium`` or ``low``).
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
    if flt.risk_tier:
        s = customer_scores
        if scores_joined:
            conds.append((s.c.churn_tier if tier_by_risk else hint(s.c.churn_tier)) == flt.risk_tier)
        elif flt.risk_tier_size is not None and flt.risk_tier_size <= SMALL_SET:
            conds.append(customers.c.id.in_(select(s.c.customer_id).where(s.c.churn_tier == flt.risk_tier)))
        else:
            probe: Select[Any] = select(literal_column("1")).where(
                s.c.customer_id == customers.c.id, s.c.churn_tier == flt.risk_tier
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
        tier_by_risk = by_sort and col is customer_scores.c.churn_risk and bool(flt.risk_tier)
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
        elif flt.risk_tier:
            s = customer_scores
            source = s.join(customers, customers.c.id == s.c.customer_id)
            conds = [s.c.churn_tier == flt.risk_tier, *_where(replace(flt, risk_tier=None, risk_tier_size=None))]
    inner = select(literal_column("1")).select_from(source).where(*conds).limit(bound + 1).subquery()
    n = int(conn.execute(select(func.count()).select_from(inner)).scalar_one())
    return min(n, bound), n > bound


def segment_sizes(conn: Connection, run_id: int) -> dict[str, int]:
    """Members per segment of one segment run (read from its index)."""
    m = segment_memberships
    stmt = select(m.c.segment, func.count()).where(m.c.run_id == run_id).group_by(m.c.segment)
    return {str(segment): int(n) for segment, n in conn.execute(stmt)}


def risk_tier_sizes(conn: Connection) -> dict[str, int]:
    """Customers per published churn tier (read from its index)."""
    s = customer_scores.c
    stmt = select(s.churn_tier, func.count()).where(s.churn_tier.is_not(None)).group_by(s.churn_tier)
    return {str(tier): int(n) for tier, n in conn.execute(stmt)}


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


# -- dashboard -------------------------------------------------------------------------------------------------
def _scope(owner_ids: Sequence[int] | None) -> list[ColumnElement[bool]]:
    if owner_ids is None:
        return []
    ids = list(owner_ids)
    return [customers.c.owner_id.in_(ids)] if ids else [false()]


def dashboard_totals(conn: Connection, owner_ids: Sequence[int] | None) -> dict[str, Any]:
    """Customers, orders (not refunded or cancelled) and their revenue within the scope."""
    n_customers = conn.execute(select(func.count()).select_from(customers).where(*_scope(owner_ids))).scalar_one()
    stmt = select(func.count(), func.sum(orders.c.amount_cents)).where(orders.c.status.notin_(_LIVE))
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
        orders.c.status.notin_(_LIVE), orders.c.ordered_at >= since
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


# -- users, sessions, tokens, attempts ---------------------------------------------------------------------
def user_by_name(conn: Connection, name: str) -> dict[str, Any] | None:
    """One user (including ``password_hash``) by login name."""
    row = conn.execute(select(users).where(users.c.name == name)).mappings().first()
    return None if row is None else dict(row)


def user_by_id(conn: Connection, user_id: int) -> dict[str, Any] | None:
    """One user (including ``password_hash``) by id."""
    row = conn.execute(select(users).where(users.c.id == user_id)).mappings().first()
    return None if row is None else dict(row)


def owners(conn: Connection) -> list[dict[str, Any]]:
    """Active users as owner choices: id and display name."""
    stmt = select(users.c.id, users.c.name, users.c.display_name).where(users.c.active.is_(True)).order_by(users.c.id)
    return [{"id": int(i), "name": d or n} for i, n, d in conn.execute(stmt)]


def team_member_ids(conn: Connection, team: str | None) -> list[int]:
    """Ids of the users in ``team`` (none for no team)."""
    if not team:
        return []
    return [int(i) for i in conn.execute(select(users.c.id).where(users.c.team == team).order_by(users.c.id)).scalars()]


def create_session(
    conn: Connection, *, token_hash: str, user_id: int, csrf_token: str, now: dt.datetime, expires_at: dt.datetime
) -> None:
    """Store a new browser session."""
    conn.execute(
        insert(web_sessions).values(
            id=token_hash, user_id=user_id, csrf_token=csrf_token, created_at=now, last_seen_at=now,
            expires_at=expires_at,
        )
    )  # fmt: skip


def session_by_hash(conn: Connection, token_hash: str) -> dict[str, Any] | None:
    """A session by its token hash (expired ones included; the caller checks ``expires_at``)."""
    row = conn.execute(select(web_sessions).where(web_sessions.c.id == token_hash)).mappings().first()
    return None if row is None else dict(row)


_SESSION_USER_COLUMNS = (
    web_sessions.c.user_id, web_sessions.c.csrf_token, web_sessions.c.last_seen_at, web_sessions.c.expires_at,
    users.c.name, users.c.display_name, users.c.role, users.c.team, users.c.locale, users.c.active,
)  # fmt: skip
_SESSION_USER = (
    select(*_SESSION_USER_COLUMNS)
    .select_from(web_sessions.join(users, users.c.id == web_sessions.c.user_id))
    .where(web_sessions.c.id == bindparam("token_hash"))
)


def session_with_user(conn: Connection, token_hash: str) -> dict[str, Any] | None:
    """A session by its token hash with its user's public fields (``name``, ``display_name``, ``role``, ``team``,
    ``locale``, ``active``), in one look-up by primary keys; expired sessions included (the caller checks
    ``expires_at``)."""
    row = conn.execute(_SESSION_USER, {"token_hash": token_hash}).mappings().first()
    return None if row is None else dict(row)


def touch_session(conn: Connection, token_hash: str, *, now: dt.datetime, expires_at: dt.datetime) -> None:
    """Record activity on a session and slide its expiry."""
    conn.execute(
        update(web_sessions).where(web_sessions.c.id == token_hash).values(last_seen_at=now, expires_at=expires_at)
    )


def delete_sessions(
    conn: Connection, *, token_hash: str | None = None, user_id: int | None = None, keep: str | None = None
) -> int:
    """Delete one session, or every session of a user (except ``keep``); returns how many."""
    stmt = delete(web_sessions)
    if token_hash is not None:
        stmt = stmt.where(web_sessions.c.id == token_hash)
    elif user_id is not None:
        stmt = stmt.where(web_sessions.c.user_id == user_id)
        if keep is not None:
            stmt = stmt.where(web_sessions.c.id != keep)
    else:
        raise ValueError("delete_sessions needs token_hash or user_id")
    return int(conn.execute(stmt).rowcount)


def create_api_token(
    conn: Connection, *, user_id: int, name: str, token_hash: str, prefix: str, now: dt.datetime
) -> int:
    """Store a new API token (its hash only); returns its id."""
    return int(
        conn.execute(
            insert(api_tokens)
            .values(user_id=user_id, name=name, token_hash=token_hash, prefix=prefix, created_at=now, revoked=False)
            .returning(api_tokens.c.id)
        ).scalar_one()
    )


def token_by_hash(conn: Connection, token_hash: str) -> dict[str, Any] | None:
    """A live (not revoked) API token by its hash."""
    row = (
        conn.execute(select(api_tokens).where(api_tokens.c.token_hash == token_hash, api_tokens.c.revoked.is_(False)))
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


def list_api_tokens(conn: Connection, user_id: int) -> list[dict[str, Any]]:
    """A user's tokens (without hashes), newest first."""
    cols = [c for c in api_tokens.c if c.name != "token_hash"]
    stmt = select(*cols).where(api_tokens.c.user_id == user_id).order_by(api_tokens.c.id.desc())
    return [dict(r) for r in conn.execute(stmt).mappings()]


def revoke_api_token(conn: Connection, *, token_id: int, user_id: int) -> bool:
    """Revoke one of a user's tokens; ``False`` when the user has no such token."""
    stmt = update(api_tokens).where(api_tokens.c.id == token_id, api_tokens.c.user_id == user_id).values(revoked=True)
    return bool(conn.execute(stmt).rowcount)


def add_login_attempt(conn: Connection, *, name: str, client: str, ok: bool, now: dt.datetime) -> None:
    """Record one sign-in attempt."""
    conn.execute(insert(login_attempts).values(name=name[:100], client=client[:64], ok=ok, at=now))


def recent_failures(conn: Connection, *, name: str | None = None, client: str | None = None, since: dt.datetime) -> int:
    """Failed sign-ins since ``since`` for a login name (counted after its last success) or a client address."""
    conds: list[ColumnElement[bool]] = [login_attempts.c.at >= since]
    if name is not None:
        conds.append(login_attempts.c.name == name[:100])
    if client is not None:
        conds.append(login_attempts.c.client == client[:64])
    fail = [*conds, login_attempts.c.ok.is_(False)]
    if name is not None:
        last_ok = conn.execute(
            select(func.max(login_attempts.c.at)).where(*conds, login_attempts.c.ok.is_(True))
        ).scalar()
        if last_ok is not None:
            fail.append(login_attempts.c.at > last_ok)
    return int(conn.execute(select(func.count()).select_from(login_attempts).where(*fail)).scalar_one())


# -- imports ---------------------------------------------------------------------------------------------------
def list_import_runs(conn: Connection, *, limit: int = 50) -> list[dict[str, Any]]:
    """The newest import runs."""
    stmt = select(import_runs).order_by(import_runs.c.id.desc()).limit(limit)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def get_import_run(conn: Connection, run_id: int) -> dict[str, Any] | None:
    """One import run by id."""
    row = conn.execute(select(import_runs).where(import_runs.c.id == run_id)).mappings().first()
    return None if row is None else dict(row)
