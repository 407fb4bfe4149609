"""Segmentation services: list, show, explain, transitions, export, define.

Placing customers (``kehu run``'s :func:`kehu.publish.segments.segment_run`) is the publish stage's; the
``kehu segments ...`` commands call :func:`list_segments`,
:func:`show_segment`, :func:`segment_transitions` and :func:`export_segment`; :func:`define_segment` saves a
user-defined segment (a new version whenever its rule changes) and :func:`explain_customer` answers "why is
this customer in that segment?".

A segment is named ``SCHEME:SEGMENT`` (``rfm_cn:important_retain``, ``lifecycle:dormant``,
``custom.vip_east:vip_east``; a custom segment may be named by its scheme alone, ``custom.vip_east``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from kehu.config import Settings
from kehu.errors import NotFoundError, ValidationError
from kehu.publish.segments import open_store

__all__ = [
    "define_segment",
    "explain_customer",
    "export_segment",
    "list_segments",
    "segment_labels",
    "segment_transitions",
    "show_segment",
    "split_ref",
]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,59}$")


# -- reading the history -------------------------------------------------------------------------------------
def split_ref(ref: str) -> tuple[str, str | None]:
    """``SCHEME:SEGMENT`` -> ``(scheme, segment)`` (segment ``None`` when only a scheme is named)."""
    scheme, _, segment = ref.partition(":")
    if not scheme:
        raise ValidationError(f"{ref!r}: name a segment as SCHEME:SEGMENT (e.g. rfm_cn:important_retain)")
    return scheme, segment or None


def segment_labels(scheme: str, segment: str, definition: Mapping[str, Any] | None = None) -> dict[str, str]:
    """``{"zh": ..., "en": ...}`` labels of a segment (a custom one's from its definition)."""
    from kehu.segments.labels import segment_label

    custom = (definition or {}).get("config", {}).get("labels") if scheme.startswith("custom.") else None
    if custom:
        return {"zh": custom.get("zh") or segment, "en": custom.get("en") or segment}
    return {"zh": segment_label(scheme, segment, "zh"), "en": segment_label(scheme, segment, "en")}


def _run(conn: sa.Connection, scheme: str, as_of: dt.date | None) -> dict[str, Any]:
    from kehu.store.segments import run_ids

    runs = run_ids(conn, as_of)
    if scheme not in runs:
        when = as_of.isoformat() if as_of else "any day"
        known = ", ".join(sorted(runs)) or "none (run `kehu run` first)"
        raise NotFoundError(f"no run of scheme {scheme!r} for {when}; schemes with runs: {known}")
    return runs[scheme]


def _sizes(conn: sa.Connection, run_id: int) -> dict[str, int]:
    from kehu.store.segments import segment_memberships as m

    stmt = sa.select(m.c.segment, sa.func.count()).where(m.c.run_id == run_id).group_by(m.c.segment)
    return {segment: int(n) for segment, n in conn.execute(stmt)}


def _previous_run(conn: sa.Connection, scheme: str, as_of: dt.date) -> dict[str, Any] | None:
    from kehu.store.segments import segment_runs as r

    row = conn.execute(
        sa.select(r).where(r.c.scheme == scheme, r.c.as_of < as_of).order_by(r.c.as_of.desc()).limit(1)
    ).first()
    return None if row is None else dict(row._mapping)


def list_segments(settings: Settings, as_of: dt.date | None = None) -> list[dict[str, Any]]:
    """Every segment of every scheme run for ``as_of`` (default: each scheme's newest run).

    Returns
    -------
    list of dict
        ``scheme``, ``segment``, ``ref`` (SCHEME:SEGMENT), ``label_zh``, ``label_en``, ``as_of``,
        ``version`` (of the definition), ``size``, ``previous_as_of``, ``previous_size`` and ``change``
        (``None`` without a previous run). Built-in schemes list every segment, empty ones included.
    """
    from kehu.store.segments import run_ids

    store = open_store(settings)
    try:
        with store.connect() as conn:
            out = []
            runs = run_ids(conn, as_of)
            for scheme in _ordered(runs):
                run = runs[scheme]
                sizes = _sizes(conn, run["id"])
                previous = _previous_run(conn, scheme, run["as_of"])
                before = _sizes(conn, previous["id"]) if previous else None
                keys = [s["key"] for s in run["definition"]["segments"]]
                for key in keys:
                    labels = segment_labels(scheme, key, run["definition"])
                    size = sizes.get(key, 0)
                    out.append({
                        "scheme": scheme, "segment": key, "ref": f"{scheme}:{key}", "label_zh": labels["zh"],
                        "label_en": labels["en"], "as_of": run["as_of"].isoformat(), "version": run["version"],
                        "size": size, "previous_as_of": previous["as_of"].isoformat() if previous else None,
                        "previous_size": before.get(key, 0) if before is not None else None,
                        "change": size - before.get(key, 0) if before is not None else None,
                    })  # fmt: skip
            return out
    finally:
        store.dispose()


def _ordered(schemes: Mapping[str, Any]) -> list[str]:
    from kehu.segments.config import BUILTIN_SCHEMES

    return [s for s in BUILTIN_SCHEMES if s in schemes] + sorted(s for s in schemes if s not in BUILTIN_SCHEMES)


def _resolve(run: Mapping[str, Any], scheme: str, segment: str | None) -> dict[str, Any]:
    segments = run["definition"]["segments"]
    if segment is None:
        if len(segments) != 1:
            keys = ", ".join(s["key"] for s in segments)
            raise ValidationError(f"scheme {scheme!r} has several segments; name one as {scheme}:SEGMENT ({keys})")
        return dict(segments[0])
    for item in segments:
        if item["key"] == segment:
            return dict(item)
    keys = ", ".join(s["key"] for s in segments)
    raise NotFoundError(f"scheme {scheme!r} has no segment {segment!r}; its segments: {keys}")


def show_segment(settings: Settings, ref: str, *, as_of: dt.date | None = None, limit: int = 20) -> dict[str, Any]:
    """One segment: labels, the rule, its size and change, and the first ``limit`` members with their reasons.

    Parameters
    ----------
    ref
        ``SCHEME:SEGMENT``.
    as_of
        The run's day (default: the scheme's newest run).
    limit
        Members to include (by customer id); 0 for none.
    """
    from kehu.store.segments import memberships

    scheme, segment = split_ref(ref)
    store = open_store(settings)
    try:
        with store.connect() as conn:
            run = _run(conn, scheme, as_of)
            item = _resolve(run, scheme, segment)
            key = item["key"]
            rows = memberships(conn, run["id"], key)
            previous = _previous_run(conn, scheme, run["as_of"])
            before = _sizes(conn, previous["id"]).get(key, 0) if previous else None
            labels = segment_labels(scheme, key, run["definition"])
            return {
                "scheme": scheme, "segment": key, "ref": f"{scheme}:{key}", "label_zh": labels["zh"],
                "label_en": labels["en"], "as_of": run["as_of"].isoformat(), "version": run["version"],
                "rule": item["rule"], "precedence": [s["key"] for s in run["definition"]["segments"]],
                "config": run["definition"].get("config", {}), "population": run["population"],
                "size": len(rows), "previous_size": before, "change": None if before is None else len(rows) - before,
                "stats": run["stats"] or {}, "members": rows[:limit] if limit else [],
            }  # fmt: skip
    finally:
        store.dispose()


def explain_customer(settings: Settings, customer_id: int, *, as_of: dt.date | None = None) -> list[dict[str, Any]]:
    """Why a customer is where they are: per scheme, the segment, the rule that placed them and the values.

    Returns
    -------
    list of dict
        ``scheme``, ``segment``, ``label_zh``, ``label_en``, ``as_of``, ``version``, ``rule`` (the matched
        rule), ``earlier`` (keys of the segments whose rules were checked first and did not match) and
        ``values`` (field -> the customer's value).
    """
    from kehu.store.segments import run_ids
    from kehu.store.segments import segment_memberships as m

    store = open_store(settings)
    try:
        with store.connect() as conn:
            runs = run_ids(conn, as_of)
            by_run = {run["id"]: scheme for scheme, run in runs.items()}
            stmt = sa.select(m.c.run_id, m.c.segment, m.c["values"]).where(
                m.c.customer_id == customer_id, m.c.run_id.in_(list(by_run) or [-1])
            )
            out = []
            for run_id, segment, values in conn.execute(stmt):
                scheme = by_run[run_id]
                run = runs[scheme]
                keys = [s["key"] for s in run["definition"]["segments"]]
                item = _resolve(run, scheme, segment)
                labels = segment_labels(scheme, segment, run["definition"])
                out.append({
                    "scheme": scheme, "segment": segment, "label_zh": labels["zh"], "label_en": labels["en"],
                    "as_of": run["as_of"].isoformat(), "version": run["version"], "rule": item["rule"],
                    "earlier": keys[: keys.index(segment)], "values": values,
                })  # fmt: skip
            order = _ordered({o["scheme"]: None for o in out})
            return sorted(out, key=lambda o: order.index(o["scheme"]))
    finally:
        store.dispose()


def segment_transitions(
    settings: Settings, from_as_of: dt.date, to_as_of: dt.date, *, scheme: str | None = None, customers: bool = False
) -> list[dict[str, Any]]:
    """Moves between two runs, per scheme: from -> to counts, and per segment what came in and went out.

    A customer in the population of only one of the runs moves from or to ``None`` (new, or gone). For
    every segment ``size_to = size_from - out + in`` where in/out count moves from/to other segments,
    new and gone customers included (``balanced`` says the numbers add up).

    Parameters
    ----------
    from_as_of, to_as_of
        The two runs' days.
    scheme
        Only this scheme (default: every scheme run on both days).
    customers
        Include the customer ids of each move.

    Returns
    -------
    list of dict
        Per scheme: ``scheme``, ``from``, ``to``, ``moves`` (``from_segment``, ``to_segment``, labels,
        ``customers`` count, ``customer_ids`` when asked), ``segments`` (``segment``, ``size_from``,
        ``size_to``, ``stayed``, ``in``, ``out``, ``new``, ``gone``, ``balanced``).
    """
    from kehu.segments.history import transitions
    from kehu.store.segments import memberships, run_ids

    store = open_store(settings)
    try:
        with store.connect() as conn:
            before, after = run_ids(conn, from_as_of), run_ids(conn, to_as_of)
            names = [s for s in _ordered(after) if s in before and (scheme is None or s == scheme)]
            if scheme is not None and not names:
                raise NotFoundError(
                    f"scheme {scheme!r} was not run on both {from_as_of.isoformat()} and {to_as_of.isoformat()}"
                )
            out = []
            for name in names:
                old = _placement(memberships(conn, before[name]["id"]))
                new = _placement(memberships(conn, after[name]["id"]))
                keys = [s["key"] for s in after[name]["definition"]["segments"]]
                keys += [s["key"] for s in before[name]["definition"]["segments"] if s["key"] not in keys]
                moved = transitions(old, new, keys, with_ids=customers)
                for move in moved["moves"]:
                    for end, run in (("from", before[name]), ("to", after[name])):
                        key = move[f"{end}_segment"]
                        move[f"{end}_label_zh"] = segment_labels(name, key, run["definition"])["zh"] if key else None
                        move[f"{end}_label_en"] = segment_labels(name, key, run["definition"])["en"] if key else None
                out.append({"scheme": name, "from": from_as_of.isoformat(), "to": to_as_of.isoformat(), **moved})
            return out
    finally:
        store.dispose()


def _placement(rows: list[dict[str, Any]]) -> dict[int, str]:
    """customer -> segment (a custom segment's members: the one key)."""
    return {int(r["customer_id"]): r["segment"] for r in rows}


# -- definitions ---------------------------------------------------------------------------------------------
def define_segment(
    settings: Settings,
    name: str,
    rule: str | Mapping[str, Any],
    *,
    label_zh: str | None = None,
    label_en: str | None = None,
    active: bool = True,
) -> dict[str, Any]:
    """Save a user-defined segment; a changed rule or label becomes a new version.

    Parameters
    ----------
    name
        Lower-case letters, digits and ``_`` (starting with a letter); the segment is ``custom.NAME:NAME``.
    rule
        The rule as YAML/JSON text or as a parsed tree (see :mod:`kehu.segments.rules`).
    label_zh, label_en
        Labels shown in lists and exports (default: the name).
    active
        False keeps the definition but stops computing it.

    Returns
    -------
    dict
        ``scheme``, ``segment``, ``version`` and the canonical ``rule``.

    Raises
    ------
    ValidationError
        For a bad name or an invalid rule (nothing is stored).
    """
    from kehu.segments.fields import PROFILE_FIELDS
    from kehu.segments.rules import load_rule, parse_rule
    from kehu.segments.scheme import Scheme, SegmentRule
    from kehu.store.segments import save_definition

    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(
            f"segment name {name!r}: use lower-case letters, digits and _ (start with a letter, at most 60)"
        )
    where = f"segment {name}"
    parsed = (
        load_rule(rule, catalog=PROFILE_FIELDS)
        if isinstance(rule, str)
        else parse_rule(rule, catalog=PROFILE_FIELDS, where=where)
    )
    config = {"labels": {"zh": label_zh or name, "en": label_en or name}, "active": active}
    scheme = Scheme(f"custom.{name}", "custom", (SegmentRule(name, parsed),), config=config, exclusive=False)
    store = open_store(settings)
    try:
        with store.begin() as conn:
            _, version = save_definition(conn, scheme.name, "custom", scheme.definition())
        return {"scheme": scheme.name, "segment": name, "version": version,
                "rule": scheme.definition()["segments"][0]["rule"]}  # fmt: skip
    finally:
        store.dispose()


# -- export --------------------------------------------------------------------------------------------------
def export_segment(
    settings: Settings,
    ref: str,
    *,
    fmt: str = "xlsx",
    out: str | Path,
    as_of: dt.date | None = None,
    locale: str = "zh",
    owner_ids: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Write a segment's members with owner and contact columns to an XLSX or CSV file.

    Headers come from the label catalog (Chinese by default). CSV is written as UTF-8 with a BOM so that
    Excel and WPS show the Chinese text; XLSX opens in both without further steps.

    Parameters
    ----------
    ref
        ``SCHEME:SEGMENT``.
    fmt
        ``"xlsx"`` or ``"csv"``.
    out
        The file to write (its folder is created).
    as_of
        The run's day (default: the scheme's newest run).
    locale
        ``"zh"`` or ``"en"`` for headers and labels.
    owner_ids
        Only customers owned by these users (the web app's row-level scope); ``None`` for everyone.

    Returns
    -------
    dict
        ``path``, ``rows``, ``scheme``, ``segment``, ``as_of``.
    """
    from kehu.segments.export import EXPORT_COLUMNS, write_table
    from kehu.segments.labels import LOCALES, export_header
    from kehu.store.segments import member_rows

    if fmt not in ("xlsx", "csv"):
        raise ValidationError(f"export format {fmt!r}: use xlsx or csv")
    if locale not in LOCALES:
        raise ValidationError(f"locale {locale!r}: use one of {', '.join(LOCALES)}")
    scheme, segment = split_ref(ref)
    store = open_store(settings)
    try:
        with store.connect() as conn:
            run = _run(conn, scheme, as_of)
            key = _resolve(run, scheme, segment)["key"]
            label = segment_labels(scheme, key, run["definition"])[locale]
            day = run["as_of"]
            rows = []
            for r in member_rows(conn, run["id"], key, day, owner_ids=owner_ids):
                revenue = None if r["revenue"] is None else round(float(r["revenue"]), 2)
                reason = json.dumps(r["values"] or {}, ensure_ascii=False, sort_keys=True)
                rows.append([r["id"], r["name"], r["company"], r["phone"], r["email"], r["region"], r["city"],
                             r["owner"], r["team"], scheme, label, day, r["orders"], revenue, r["last_order_date"],
                             r["days_since_last_order"], reason])  # fmt: skip
    finally:
        store.dispose()
    headers = [export_header(col, locale) for col in EXPORT_COLUMNS]
    path = Path(out)
    write_table(path, fmt, headers, rows, title=f"{scheme}-{key}")
    return {"path": str(path), "rows": len(rows), "scheme": scheme, "segment": key, "as_of": day.isoformat()}
