"""The data of each page of the web app and each resource of the REST API, built once for both.

Every function takes the workspace and the signed-in :class:`~kehu.service.access.Principal` and applies the
row-level rules through :func:`~kehu.service.access.owner_scope` inside the store queries. Results are plain
dicts of JSON-friendly values (``Decimal`` money, timezone-aware datetimes) that a template renders and a JSON
twin serialises unchanged.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from kehu.errors import NotFoundError, ValidationError
from kehu.service import import_jobs
from kehu.service.access import Principal, check_customer, owner_scope, require_role
from kehu.service.customer_actions import assignable_users
from kehu.service.workspace import Workspace
from kehu.store import customer_list
from kehu.store import customers as customers_store
from kehu.store import dashboard as dashboard_store
from kehu.store import imports as import_store
from kehu.store.customers import customer_detail
from kehu.store.notes import customer_actions_summary
from kehu.store.published import published_cohorts, published_features
from kehu.store.segments import customer_history as segment_history

__all__ = [
    "IMPORT_KINDS",
    "PAGE_SIZES",
    "CustomerQuery",
    "customer_360",
    "customers_page",
    "dashboard",
    "decode_cursor",
    "encode_cursor",
    "export_customers",
    "import_runs",
    "quarantine_file",
    "run_import",
]

PAGE_SIZES = (20, 50, 100)
IMPORT_KINDS = import_jobs.KINDS
_DASHBOARD_TTL = 60.0


_cache: dict[tuple[str, tuple[int, ...] | None], tuple[float, dict[str, Any]]] = {}
_cache_lock = threading.Lock()
_store_keys: weakref.WeakKeyDictionary[Workspace, str] = weakref.WeakKeyDictionary()


def _store_key(ws: Workspace) -> str:
    """The store's URL, the key of the caches above (worked out once per workspace: it resolves a path)."""
    key = _store_keys.get(ws)
    if key is None:
        key = _store_keys[ws] = ws.settings.resolved_database_url
    return key


@dataclass(frozen=True)
class CustomerQuery:
    """What the customers list was asked for (validated).

    ``segment`` is ``scheme:segment`` of a scheme's newest run (e.g. ``rfm_cn:champions``), ``stage`` a segment of
    the newest ``lifecycle`` run, ``risk`` a published churn tier (``high``, ``medium``, ``low``).
    """

    q: str = ""
    owner_id: int | None = None
    region: str | None = None
    tag: str | None = None
    segment: str | None = None
    stage: str | None = None
    risk: str | None = None
    sort: str = "id"
    descending: bool = False
    after: str | None = None
    before: str | None = None
    limit: int = 50

    def __post_init__(self) -> None:
        if self.sort not in customer_list.SORT_KEYS:
            raise ValidationError(f"sort {self.sort!r} is not one of {', '.join(customer_list.SORT_KEYS)}")
        if self.limit not in PAGE_SIZES:
            raise ValidationError(f"limit {self.limit} is not one of {', '.join(map(str, PAGE_SIZES))}")
        if self.after and self.before:
            raise ValidationError("give either after or before, not both")
        if len(self.q) > 200:
            raise ValidationError("q: search text is limited to 200 characters")
        if self.risk and self.risk not in customer_list.RISK_TIERS:
            raise ValidationError(f"risk {self.risk[:40]!r} is not one of {', '.join(customer_list.RISK_TIERS)}")
        if self.segment and (":" not in self.segment or len(self.segment) > 200):
            raise ValidationError(f"segment {self.segment[:40]!r}: expected scheme:segment, e.g. rfm_cn:champions")
        if self.stage and len(self.stage) > 100:
            raise ValidationError("stage: a lifecycle stage is at most 100 characters")

    def params(self, **changes: Any) -> dict[str, Any]:
        """Query-string parameters for a link to this list with ``changes`` (empty values left out)."""
        values = {
            "q": self.q,
            "owner": self.owner_id,
            "region": self.region,
            "tag": self.tag,
            "segment": self.segment,
            "stage": self.stage,
            "risk": self.risk,
            "sort": None if self.sort == "id" else self.sort,
            "desc": 1 if self.descending else None,
            "limit": None if self.limit == 50 else self.limit,
            **changes,
        }
        return {k: v for k, v in values.items() if v not in (None, "")}


def encode_cursor(sort: str, key: tuple[Any, int]) -> str:
    """An opaque page cursor for ``(sort value, id)``."""
    value, ident = key
    if isinstance(value, dt.datetime):
        value = {"t": value.isoformat()}
    raw = json.dumps([sort, value, ident], ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(sort: str, cursor: str) -> tuple[Any, int]:
    """The ``(sort value, id)`` in a cursor made by :func:`encode_cursor` for the same sort key."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        s, value, ident = json.loads(raw.decode("utf-8"))
        if isinstance(value, dict):
            value = dt.datetime.fromisoformat(value["t"])
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise ValidationError("cursor: not a page cursor from this list (start again from the first page)") from exc
    plain = value is None or isinstance(value, str | int | float | dt.datetime)
    if s != sort or not isinstance(ident, int) or not plain:
        raise ValidationError("cursor: it belongs to a different sort order (start again from the first page)")
    return value, ident


def _filter(
    ws: Workspace, principal: Principal, query: CustomerQuery, runs: dict[str, Any] | None = None
) -> customer_list.CustomerFilter:
    picks: list[customer_list.SegmentPick] = []
    runs = runs or _segment_runs(ws)
    wanted = []
    if query.segment:
        scheme, _, segment = query.segment.partition(":")
        wanted.append(("segment", scheme, segment))
    if query.stage:
        wanted.append(("stage", "lifecycle", query.stage))
    for field, scheme, segment in wanted:
        run = runs["schemes"].get(scheme)
        if run is None:  # no run yet, or an unknown scheme: nothing can be a member
            known = ", ".join(sorted(runs["schemes"])) or "none (run `kehu run` first)"
            raise ValidationError(f"{field}: no segment run of scheme {scheme!r}; schemes with runs: {known}")
        if segment not in run["keys"]:
            raise ValidationError(f"{field}: {segment[:60]!r} is not a segment of {scheme} ({', '.join(run['keys'])})")
        picks.append(customer_list.SegmentPick(run["id"], segment, run["sizes"].get(segment, 0)))
    return customer_list.CustomerFilter(
        owner_ids=owner_scope(ws, principal),
        q=query.q,
        owner_id=query.owner_id,
        region=query.region or None,
        tag=query.tag or None,
        segments=tuple(picks),
        risk_tier=query.risk or None,
        risk_tier_size=runs["tiers"].get(query.risk or "", 0) if query.risk else None,
    )


def _segment_runs(ws: Workspace) -> dict[str, Any]:
    """Each scheme's newest run (id, as_of, segment keys and labels, member counts) and the churn tiers' sizes,
    recomputed only when a segment run or a pipeline run was added or replaced."""
    from sqlalchemy import func, select

    from kehu.service.segmentation import segment_labels
    from kehu.store.published import pipeline_runs
    from kehu.store.segments import run_ids, segment_runs

    with ws.engine.connect() as conn:
        stamp = conn.execute(
            select(func.max(segment_runs.c.id), func.count(segment_runs.c.id), select(func.max(pipeline_runs.c.id))
                   .scalar_subquery())
        ).one()  # fmt: skip
        key = ("segment-runs:" + _store_key(ws), None)
        with _cache_lock:
            hit = _cache.get(key)
        if hit is not None and hit[1]["stamp"] == tuple(stamp):
            return hit[1]
        schemes = {}
        for scheme, run in sorted(run_ids(conn).items()):
            keys = [str(seg["key"]) for seg in run["definition"].get("segments", [])]
            sizes = customer_list.segment_sizes(conn, int(run["id"]))
            keys += sorted(k for k in sizes if k not in keys)
            schemes[scheme] = {
                "id": int(run["id"]), "as_of": run["as_of"], "keys": keys, "sizes": sizes,
                "labels": {k: segment_labels(scheme, k, run["definition"]) for k in keys},
            }  # fmt: skip
        found = {
            "stamp": tuple(stamp),
            "schemes": schemes,
            "tiers": customer_list.risk_tier_sizes(conn),
        }
    with _cache_lock:
        _cache[key] = (time.monotonic(), found)
    return found


def customers_page(ws: Workspace, principal: Principal, query: CustomerQuery) -> dict[str, Any]:
    """One page of the customers list with cursors, a bounded count and the filters' choices."""
    runs = _segment_runs(ws)
    region_choices, tag_choices, all_owners, region_sizes = _choices(ws)
    flt = _filter(ws, principal, query, runs)
    if flt.region:
        flt = replace(flt, region_size=region_sizes.get(flt.region))  # unknown: no hint
    after = decode_cursor(query.sort, query.after) if query.after else None
    before = decode_cursor(query.sort, query.before) if query.before else None
    with ws.engine.connect() as conn:
        page = customer_list.list_customers(
            conn, flt, sort=query.sort, descending=query.descending, after=after, before=before, limit=query.limit
        )
        count, more = customer_list.count_customers(conn, flt)
    scope = flt.owner_ids
    owners = [o for o in all_owners if scope is None or o["id"] in scope]
    return {
        "query": {
            "q": query.q,
            "owner": query.owner_id,
            "region": query.region,
            "tag": query.tag,
            "segment": query.segment,
            "stage": query.stage,
            "risk": query.risk,
            "sort": query.sort,
            "desc": query.descending,
            "limit": query.limit,
        },
        "customers": page.rows,
        "currency": ws.settings.currency,
        "count": count,
        "count_is_lower_bound": more,
        "next": encode_cursor(query.sort, page.next_key) if page.next_key else None,
        "prev": encode_cursor(query.sort, page.prev_key) if page.prev_key else None,
        "choices": {
            "owners": owners if principal.role != "rep" else [],
            "regions": region_choices,
            "tags": tag_choices,
            "sorts": list(customer_list.SORT_KEYS),
            "risks": list(customer_list.RISK_TIERS),
            **_segment_choices(runs),
        },
    }


def _segment_choices(runs: dict[str, Any]) -> dict[str, Any]:
    """The segment filter's choices (every scheme's newest run but lifecycle) and the lifecycle stages."""
    from kehu.segments.labels import scheme_label

    schemes = runs["schemes"]
    segments = [
        {"scheme": scheme, "as_of": run["as_of"],
         "labels": {"zh": scheme_label(scheme, "zh"), "en": scheme_label(scheme, "en")},
         "segments": [{"value": f"{scheme}:{k}", "labels": run["labels"][k]} for k in run["keys"]]}
        for scheme, run in schemes.items() if scheme != "lifecycle"
    ]  # fmt: skip
    life = schemes.get("lifecycle")
    stages = [{"value": k, "labels": life["labels"][k]} for k in life["keys"]] if life else []
    return {"segments": segments, "stages": stages}


def _choices(ws: Workspace) -> tuple[list[str], list[str], list[dict[str, Any]], dict[str, int]]:
    """Regions, tags and owners for the filters, and the regions' sizes (for the list's plan), cached for a minute
    (they read indexes and a sample of rows)."""
    key = ("choices:" + _store_key(ws), None)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < _DASHBOARD_TTL:
        return hit[1]["regions"], hit[1]["tags"], hit[1]["owners"], hit[1]["region_sizes"]
    with ws.engine.connect() as conn:
        sizes = customer_list.region_sizes(conn)
        found: dict[str, Any] = {
            "regions": list(sizes),
            "region_sizes": sizes,
            "tags": customer_list.tags_in_use(conn),
            "owners": customer_list.owners(conn),
        }
    with _cache_lock:
        _cache[key] = (time.monotonic(), found)
    return found["regions"], found["tags"], found["owners"], found["region_sizes"]


def export_customers(ws: Workspace, principal: Principal, query: CustomerQuery) -> Iterator[dict[str, Any]]:
    """Every customer matching ``query`` within the principal's scope, page by page (for CSV export)."""
    flt = _filter(ws, principal, query)
    key: tuple[Any, int] | None = None
    while True:
        with ws.engine.connect() as conn:
            page = customer_list.list_customers(conn, flt, sort="id", after=key, limit=1000)
        yield from page.rows
        if page.next_key is None:
            return
        key = page.next_key


def customer_360(ws: Workspace, principal: Principal, customer_id: int) -> dict[str, Any]:
    """Everything about one customer the principal may see: profile, records, owner, tags, activity, merges and
    published features.

    Raises
    ------
    NotFoundError, AccessDeniedError
        See :func:`~kehu.service.access.check_customer`.
    """
    check_customer(ws, principal, customer_id)
    # straight to the data functions: Workspace.customer resolves source ids and re-checks the migration
    # revision on every call, which a page served many times a second cannot afford
    with ws.engine.connect() as conn:
        detail = customer_detail(conn, customer_id)
        if detail is None:
            raise NotFoundError(f"no customer with id {customer_id}")
        detail["features"] = published_features(conn, customer_id)
        for kind in ("orders", "interactions", "tickets", "feedback"):
            detail.setdefault(kind, {})["recent"] = customers_store.customer_activity(conn, customer_id, kind)
        history = segment_history(conn, customer_id)
        detail["actions"] = customer_actions_summary(conn, customer_id)
    profile = detail["profile"]
    profile["tags"] = [t for t in (profile.get("tags") or []) if isinstance(t, str)]
    detail["scores"] = (detail["features"] or {}).get("scores") or {}
    detail["segments"] = _segment_timeline(history)
    detail["may"] = {"change_owner": principal.role in ("manager", "admin")}
    detail["assignable"] = assignable_users(ws, principal)
    return detail


def _segment_timeline(history: list[dict[str, Any]]) -> dict[str, Any]:
    """The customer's placements: the newest per scheme (``current``) and, per run day, every scheme's
    segment with a ``changed`` flag where it differs from the run before (``timeline``, newest first)."""
    from kehu.service.segmentation import segment_labels

    days: dict[dt.date, dict[str, dict[str, Any]]] = {}
    for row in history:
        labels = segment_labels(row["scheme"], row["segment"])
        days.setdefault(row["as_of"], {})[row["scheme"]] = {"segment": row["segment"], "labels": labels,
                                                            "values": row["values"] or {}}  # fmt: skip
    ordered = sorted(days, reverse=True)
    timeline = []
    for i, day in enumerate(ordered):
        before = days[ordered[i + 1]] if i + 1 < len(ordered) else {}
        placed = {
            scheme: {**item, "changed": bool(before) and before.get(scheme, {}).get("segment") != item["segment"]}
            for scheme, item in sorted(days[day].items())
        }
        timeline.append({"as_of": day, "schemes": placed})
    return {"current": timeline[0]["schemes"] if timeline else {}, "timeline": timeline}


def dashboard(ws: Workspace, principal: Principal, *, fresh: bool = False) -> dict[str, Any]:
    """The numbers that exist now: totals, revenue and new customers by month (24 months), top regions.

    Results are cached for a minute per scope (these aggregates read every order).
    """
    scope = owner_scope(ws, principal)
    key = (_store_key(ws), tuple(scope) if scope is not None else None)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and not fresh and time.monotonic() - hit[0] < _DASHBOARD_TTL:
        return hit[1]
    tz = ZoneInfo(ws.settings.timezone)
    now = dt.datetime.now(tz)
    offset = now.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    start = dt.datetime(now.year - 2, now.month, 1, tzinfo=tz)
    with ws.engine.connect() as conn:
        totals = dashboard_store.dashboard_totals(conn, scope)
        revenue = dashboard_store.revenue_by_month(conn, scope, since=start, utc_offset_minutes=minutes)
        new = dashboard_store.customers_by_month(conn, scope, since=start, utc_offset_minutes=minutes)
        regions = dashboard_store.customers_by_region(conn, scope)
        published = dashboard_store.published_as_of(conn)
        day = published or _latest_order_day(conn, tz)
        kpis = _period_kpis(conn, scope, day, tz) if day is not None else []
        cohorts = _cohort_matrix(published_cohorts(conn)) if published else None
        distribution = _segment_sizes(conn, scope)
        pareto = _pareto(dashboard_store.revenue_values(conn, scope)) if published else None
        risk = _risk_histogram(dashboard_store.score_values(conn, scope, "churn_risk")) if published else None
        at_risk = dashboard_store.at_risk_customers(conn, scope) if published else []
    flows = _rfm_flows(ws, principal)
    data = {
        "currency": ws.settings.currency,
        "as_of": day,
        "totals": totals,
        "kpis": kpis,
        "revenue_by_month": revenue,
        "customers_by_month": new,
        "customers_by_region": regions,
        "cohorts": cohorts,
        "segments": distribution,
        "flows": flows,
        "pareto": pareto,
        "churn_risk": risk,
        "at_risk": at_risk,
        "scope": "all" if scope is None else ("team" if principal.role == "manager" else "own"),
    }
    with _cache_lock:
        _cache[key] = (time.monotonic(), data)
    return data


#: the dashboard's KPI cards: the last KPI_DAYS days up to the newest published day vs the KPI_DAYS before
KPI_DAYS = 30
_COHORT_ROWS = 12
_COHORT_MONTHS = 12
_FUNNEL = ("prospect", "new", "growing", "mature", "at_risk", "dormant", "lost")


def _latest_order_day(conn: Any, tz: ZoneInfo) -> dt.date | None:
    from sqlalchemy import func, select

    from kehu.store.schema import orders

    last = conn.execute(select(func.max(orders.c.ordered_at))).scalar()
    if last is None:
        return None
    if isinstance(last, str):
        last = dt.datetime.fromisoformat(last)
    when = last if last.tzinfo else last.replace(tzinfo=dt.UTC)
    return when.astimezone(tz).date()


def _period_kpis(conn: Any, scope: list[int] | None, day: dt.date, tz: ZoneInfo) -> list[dict[str, Any]]:
    """Revenue, orders, buying and new customers in the :data:`KPI_DAYS` days up to ``day`` (local calendar),
    each with the period before and the relative change."""
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    mid = end - dt.timedelta(days=KPI_DAYS)
    begin = mid - dt.timedelta(days=KPI_DAYS)
    now = dashboard_store.period_figures(conn, scope, start=mid, end=end)
    before = dashboard_store.period_figures(conn, scope, start=begin, end=mid)
    out = []
    for key in ("revenue", "orders", "buyers", "new_customers"):
        value, previous = now[key], before[key]
        change = None if not previous else float((value - previous) / previous)
        out.append({"key": key, "value": value, "previous": previous, "change": change, "days": KPI_DAYS,
                    "from": mid.date(), "to": day})  # fmt: skip
    return out


def _cohort_matrix(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest :data:`_COHORT_ROWS` acquisition cohorts x months since acquisition -> retention (published
    for every customer: cohorts are a company-wide figure)."""
    if not rows:
        return None
    months = sorted({r["cohort_month"] for r in rows})[-_COHORT_ROWS:]
    cells = {(r["cohort_month"], r["months_since"]): r for r in rows if r["months_since"] < _COHORT_MONTHS}
    matrix = []
    for i, m in enumerate(months):
        for k in range(_COHORT_MONTHS):
            cell = cells.get((m, k))
            if cell is not None and cell["retention"] is not None:
                matrix.append([k, i, round(float(cell["retention"]), 4)])
    sizes = [next((r["cohort_customers"] for r in rows if r["cohort_month"] == m), 0) for m in months]
    return {"cohorts": [m.strftime("%Y-%m") for m in months], "sizes": sizes, "cells": matrix,
            "months_since": list(range(_COHORT_MONTHS))}  # fmt: skip


def _segment_sizes(conn: Any, scope: list[int] | None) -> dict[str, Any]:
    """Sizes (in scope) of the newest 8-class RFM run and the lifecycle stages in funnel order."""
    from kehu.service.segmentation import segment_labels
    from kehu.store import segments as seg_store

    runs = seg_store.run_ids(conn)
    out: dict[str, Any] = {}
    for scheme in ("rfm_cn", "lifecycle"):
        run = runs.get(scheme)
        if run is None:
            continue
        sizes = seg_store.scoped_sizes(conn, [run["id"]], scope)
        keys = [s["key"] for s in run["definition"]["segments"]]
        if scheme == "lifecycle":
            keys = [k for k in _FUNNEL if k in keys] + [k for k in keys if k not in _FUNNEL]
        out[scheme] = {
            "as_of": run["as_of"],
            "segments": [{"segment": k, "labels": segment_labels(scheme, k, run["definition"]),
                          "size": sizes.get((run["id"], k), 0)} for k in keys],
        }  # fmt: skip
    return out


def _rfm_flows(ws: Workspace, principal: Principal) -> dict[str, Any] | None:
    """Moves between the two newest runs of the 8-class RFM scheme (``None`` without two runs)."""
    from kehu.service.web_segments import segment_flows

    try:
        flows = segment_flows(ws, principal, "rfm_cn")
    except NotFoundError:
        return None
    return flows if flows["moves"] else None


def _pareto(values: list[int]) -> dict[str, Any] | None:
    """The revenue Pareto curve: share of revenue held by the top x % of customers (x = 0, 1, ..., 100)."""
    import numpy as np

    if not values:
        return None
    v = np.sort(np.asarray(values, dtype=np.float64))[::-1]
    total = float(v.sum())
    if total <= 0:
        return None
    cum = np.concatenate([[0.0], np.cumsum(v) / total])
    idx = np.round(np.linspace(0, len(v), 101)).astype(int)
    top20 = float(cum[round(0.2 * len(v))])
    return {"customers": len(v), "share": [round(float(x), 4) for x in cum[idx]], "top20_share": round(top20, 4)}


def _risk_histogram(values: list[float]) -> dict[str, Any] | None:
    """Customers per 10-point churn-risk band (``None`` before churn scores exist)."""
    import numpy as np

    if not values:
        return None
    counts, _ = np.histogram(np.clip(values, 0.0, 1.0), bins=10, range=(0.0, 1.0))
    return {"bands": [f"{10 * i}–{10 * (i + 1)}%" for i in range(10)], "customers": [int(c) for c in counts],
            "scored": len(values)}  # fmt: skip


# -- imports -----------------------------------------------------------------------------------------------------
def forget_cached_figures() -> None:
    """Drop the cached dashboard figures (after an import changed the data)."""
    with _cache_lock:
        _cache.clear()


def import_runs(ws: Workspace, principal: Principal, *, limit: int = 50) -> list[dict[str, Any]]:
    """The newest imports (admins and managers)."""
    require_role(principal, "admin", "manager")
    with ws.engine.connect() as conn:
        runs = import_store.list_import_runs(conn, limit=limit)
    for r in runs:
        r["path"] = Path(r["path"]).name
        r["has_quarantine"] = bool(r.pop("quarantine_file"))
    return runs


def run_import(
    ws: Workspace, principal: Principal, *, kind: str, source: str, filename: str, content: bytes
) -> dict[str, Any]:
    """Save an uploaded file under ``KEHU_HOME/uploads`` and import it; returns the summary and its run id.

    Raises
    ------
    ValidationError
        Unknown kind, a source name that is not a short identifier, an empty file or an unsupported type.
    """
    require_role(principal, "admin", "manager")
    import_jobs.check_kind_and_source(kind, source)
    staged = import_jobs.stage_upload(ws, principal, filename=filename, content=content)
    path = import_jobs.staged_path(ws, staged["upload_id"])
    summary = ws.import_file(kind, path, source=source)
    data = import_jobs.summary_data(ws, path, summary, staged["filename"])
    _cache.clear()
    return data


def quarantine_file(ws: Workspace, principal: Principal, run_id: int) -> Path:
    """The quarantine CSV of one import run (admins and managers).

    Raises
    ------
    NotFoundError
        No such run, or the run quarantined nothing.
    """
    require_role(principal, "admin", "manager")
    with ws.engine.connect() as conn:
        run = import_store.get_import_run(conn, run_id)
    if run is None or not run["quarantine_file"]:
        raise NotFoundError(f"import {run_id} has no quarantine file")
    path = Path(run["quarantine_file"])
    if not path.is_file():
        raise NotFoundError(f"the quarantine file of import {run_id} is no longer on disk")
    return path


# -- settings ----------------------------------------------------------------------------------------------------
_SECRET_WORDS = ("password", "secret", "token", "key")


def _shown_setting(name: str, value: Any) -> Any:
    """A setting's value fit for a page: secrets masked, passwords in URLs hidden, webhook URLs cut to the host."""
    from urllib.parse import urlsplit

    from sqlalchemy.engine import make_url

    if value is None or value == "" or value == {}:
        return None
    if any(w in name for w in _SECRET_WORDS):
        return "••••••"
    if name == "database_url":
        return make_url(str(value)).render_as_string(hide_password=True)
    if name == "webhooks" and isinstance(value, dict):
        return {k: f"{urlsplit(str(v)).scheme}://{urlsplit(str(v)).hostname or ''}/…" for k, v in sorted(value.items())}
    if isinstance(value, Path):
        return str(value)
    return value


def settings_page(ws: Workspace, principal: Principal) -> dict[str, Any]:
    """Admins: every setting with its environment variable, effective value (secrets masked), default and
    description; and the state of the system (version, store, revision, engine, data counts, latest run)."""
    from importlib.metadata import PackageNotFoundError, version

    from kehu.store.db import current_revision, head_revision

    require_role(principal, "admin")
    s = ws.settings
    rows = []
    for name, info in type(s).model_fields.items():
        value = getattr(s, name)
        default = info.get_default(call_default_factory=True)
        rows.append({
            "name": name,
            "env": f"KEHU_{name.upper()}",
            "value": _shown_setting(name, value),
            "default": _shown_setting(name, default),
            "changed": value != default,
            "description": info.description or "",
        })  # fmt: skip
    try:
        kehu_version = version("kehu")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without installing
        kehu_version = "dev"
    with ws.engine.connect() as conn:
        totals = dashboard_store.dashboard_totals(conn, None)
        as_of = dashboard_store.published_as_of(conn)
    system = {
        "version": kehu_version,
        "store": ws.engine.dialect.name,
        "database_url": _shown_setting("database_url", s.resolved_database_url),
        "revision": current_revision(ws.engine),
        "head": head_revision(),
        "engine": s.engine,
        "home": str(s.home),
        "customers": totals["customers"],
        "orders": totals["orders"],
        "published_as_of": as_of,
    }
    return {"settings": rows, "system": system}
