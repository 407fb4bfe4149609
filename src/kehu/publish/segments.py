"""Segment placement: every scheme run on the published profile of a day, memberships recorded.

``kehu run`` ends its publish steps with :func:`segment_run` (in the run's store engine and backend);
:func:`compute_custom_segment` places one user-defined segment through the store's SQL. Reading the history
(list, show, explain, transitions, export) is the service's (:mod:`kehu.service.segmentation`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa

from kehu.config import Settings
from kehu.errors import NotFoundError, StoreError
from kehu.publish.run import Run

__all__ = [
    "SegmentRunResult",
    "check_store",
    "compute_custom_segment",
    "json_value",
    "latest_as_of",
    "open_store",
    "segment_run",
]

_TABLES = ("customer_score_history", "segment_definitions", "segment_runs", "segment_memberships")


@dataclass(frozen=True)
class SegmentRunResult:
    """What :func:`segment_run` did.

    Attributes
    ----------
    as_of
        The day of the published profile that was segmented.
    engine
        ``"duckdb"`` or ``"spark"``.
    schemes
        Scheme -> {"version", "population", "sizes": segment -> customers, "stats"}.
    seconds
        Wall seconds.
    """

    as_of: dt.date
    engine: str
    schemes: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["as_of"] = self.as_of.isoformat()
        return data


def check_store(engine: sa.Engine) -> None:
    """Raise :class:`StoreError` when the store lacks the segment tables (not migrated)."""
    from kehu.store import segments as _segments  # noqa: F401  (registers the tables)

    inspector = sa.inspect(engine)
    missing = [name for name in _TABLES if not inspector.has_table(name)]
    if missing:
        raise StoreError(
            f"the store has no table(s) {', '.join(missing)} for segments; run `kehu init` to bring it up to date"
        )


def open_store(settings: Settings) -> sa.Engine:
    """A store engine of its own for the segment functions called outside a run (checked; dispose it)."""
    from kehu.store.db import create_store_engine

    engine = create_store_engine(settings.resolved_database_url)
    try:
        check_store(engine)
    except StoreError:
        engine.dispose()
        raise
    return engine


def json_value(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return None
    return value


def _custom_schemes(conn: sa.Connection) -> list[Any]:
    from kehu.segments.fields import PROFILE_FIELDS
    from kehu.segments.rules import parse_rule
    from kehu.segments.scheme import Scheme, SegmentRule
    from kehu.store.segments import segment_definitions as d

    newest = (
        sa.select(d.c.scheme, sa.func.max(d.c.version).label("version"))
        .where(d.c.kind == "custom")
        .group_by(d.c.scheme)
    ).subquery()
    rows = conn.execute(
        sa.select(d.c.scheme, d.c.definition)
        .join(newest, (newest.c.scheme == d.c.scheme) & (newest.c.version == d.c.version))
        .order_by(d.c.scheme)
    )
    schemes = []
    for name, definition in rows:
        (segment,) = definition["segments"]
        if not definition["config"].get("active", True):
            continue
        rule = parse_rule(segment["rule"], catalog=PROFILE_FIELDS, where=f"segment {name}")
        schemes.append(
            Scheme(name, "custom", (SegmentRule(segment["key"], rule),), config=definition["config"], exclusive=False)
        )
    return schemes


def latest_as_of(conn: sa.Connection) -> dt.date:
    from kehu.store.published import customer_score_history

    as_of = conn.execute(sa.select(sa.func.max(customer_score_history.c.as_of))).scalar()
    if as_of is None:
        raise NotFoundError("nothing to segment: the pipeline has not published any customer features (`kehu run`)")
    return as_of


def segment_run(
    settings: Settings,
    engine: str | None = None,
    as_of: dt.date | None = None,
    *,
    backend: Any = None,
    run: Run | None = None,
) -> SegmentRunResult:
    """Run every built-in scheme and every user-defined segment on the profile published for ``as_of``.

    Reads the published profile from the store, computes the schemes in the analytics engine, and records
    one run per scheme with its memberships and the values that decided them (re-running a day replaces it).
    Built-in schemes use ``segments/defaults/*.yaml`` with ``KEHU_HOME/segments.yaml`` merged on top; a
    changed configuration becomes a new definition version.

    Parameters
    ----------
    settings
        Kehu settings.
    engine
        ``"duckdb"`` or ``"spark"``; default ``settings.engine``.
    as_of
        The published day to segment; default the newest one.
    backend
        An Ibis backend to use instead of connecting (it is left open).
    run
        The run to work in: its store engine and backend are used (and left open), and its day when ``as_of``
        is not given. Without it a store engine of its own is opened and disposed.

    Returns
    -------
    SegmentRunResult

    Raises
    ------
    StoreError
        When the store is not migrated; NotFoundError when nothing was published for ``as_of``.
    ValidationError
        When the configuration or a user-defined segment is invalid.
    """
    from kehu.engine import connect, engine_name, materialize, register_arrow, release, to_arrow
    from kehu.segments.compute import PERSISTED, segment_tables
    from kehu.segments.config import load_config, read_overrides
    from kehu.segments.profile import profile_arrow
    from kehu.store.segments import record_run, save_definition

    started = time.perf_counter()
    config = load_config(read_overrides(settings.home / "segments.yaml"))
    if run is not None:
        check_store(run.store)
        store, backend, as_of = run.store, backend or run.backend, as_of or run.as_of
    else:
        store = open_store(settings)
    own_backend = backend is None
    try:
        with store.connect() as conn:
            day = as_of or latest_as_of(conn)
            profile = profile_arrow(conn, day)
            custom = _custom_schemes(conn)
        if profile.num_rows == 0:
            raise NotFoundError(f"no customer features were published for {day.isoformat()} (`kehu run --as-of`)")
        if backend is None:
            backend = connect(settings, engine=engine)
        name = engine_name(backend)
        table_name = "kehu_segment_profile"
        results: dict[str, dict[str, Any]] = {}
        try:
            registered = register_arrow(backend, table_name, profile)
            tables = segment_tables(
                registered, config, day, custom, persist=lambda key, expr: materialize(backend, key, expr)
            )
            fetched = {}
            for scheme_name, out in tables.items():
                members = to_arrow(backend, out.members)
                stats = {k: to_arrow(backend, t).to_pylist()[0] for k, t in out.stats.items()}
                fetched[scheme_name] = (out.scheme, members, stats)
        finally:
            release(backend, [table_name, *PERSISTED])
            if own_backend and name == "duckdb":
                backend.disconnect()
        with store.begin() as conn:
            for scheme_name, (scheme, members, stats) in fetched.items():
                results[scheme_name] = _record(conn, scheme, members, stats, day, name, profile.num_rows,
                                               save_definition, record_run)  # fmt: skip
        return SegmentRunResult(day, name, results, time.perf_counter() - started)
    finally:
        if run is None:
            store.dispose()


def _record(
    conn: sa.Connection,
    scheme: Any,
    members: Any,
    stats: dict[str, dict[str, Any]],
    day: dt.date,
    engine: str,
    profile_size: int,
    save_definition: Any,
    record_run: Any,
) -> dict[str, Any]:
    """Store one scheme's run: definition version, memberships with deciding values, statistics."""
    definition_id, version = save_definition(conn, scheme.name, scheme.kind, scheme.definition())
    fields = {key: scheme.deciding_fields(key) for key in scheme.keys}
    # column by column, as JSON-ready Python values (see json_value), then one dict of deciding values per member
    needed = list(dict.fromkeys(f for names in fields.values() for f in names))
    columns = {f: _json_column(members.column(f)) for f in needed}
    deciding = {key: [(f, columns[f]) for f in names] for key, names in fields.items()}
    rows = []
    sizes: Counter[str] = Counter()
    unplaced = 0
    ids = members.column("customer_id").to_pylist()
    for i, segment in enumerate(members.column("segment").to_pylist()):
        if segment is None:
            unplaced += 1
            continue
        sizes[segment] += 1
        values = {f: column[i] for f, column in deciding[segment]}
        rows.append({"customer_id": int(ids[i]), "segment": segment, "values": values})
    run_stats: dict[str, Any] = {k: {n: json_value(v) for n, v in s.items()} for k, s in stats.items()}
    if "pareto" in run_stats:
        p = run_stats["pareto"]
        total = p["total_value_cents"] or 0
        p["top_share"] = (p["top_value_cents"] / total) if total else None
        p["tiers"] = _tier_shares(rows, scheme.inputs[0], total)
    if unplaced:
        run_stats["unplaced"] = unplaced
    population = members.num_rows if scheme.exclusive else profile_size
    record_run(conn, scheme=scheme.name, as_of=day, definition_id=definition_id, engine=engine, rows=rows,
               population=population, stats=run_stats)  # fmt: skip
    return {"version": version, "population": population, "sizes": dict(sizes), "stats": run_stats}


def _json_column(column: Any) -> list[Any]:
    """An Arrow column as the values :func:`json_value` makes of its items (dates as ISO text, NaN as None)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_date(kind):
        return list(pc.cast(column, pa.string()).to_pylist())
    if pa.types.is_floating(kind):
        return list(pc.if_else(pc.is_nan(column), None, column).to_pylist())
    if pa.types.is_integer(kind) or pa.types.is_string(kind) or pa.types.is_boolean(kind):
        return list(column.to_pylist())
    return [json_value(v) for v in column.to_pylist()]


def _tier_shares(rows: list[dict[str, Any]], basis: str, total: int) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        tier = out.setdefault(row["segment"], {"customers": 0, "value_cents": 0})
        tier["customers"] += 1
        tier["value_cents"] += max(int(row["values"].get(basis) or 0), 0)
    for tier in out.values():
        tier["value_share"] = tier["value_cents"] / total if total else None
    return out


def compute_custom_segment(settings: Settings, name: str, *, as_of: dt.date | None = None) -> dict[str, Any]:
    """Place customers in the user-defined segment ``name`` for ``as_of`` now (default: the newest published
    day), through the store's SQL (the same members the engine finds; tested), without a whole ``kehu run``.

    Returns
    -------
    dict
        ``scheme``, ``segment``, ``as_of``, ``version`` and ``size``.
    """
    from kehu.segments.fields import PROFILE_FIELDS
    from kehu.segments.profile import profile_columns, store_members
    from kehu.segments.rules import parse_rule
    from kehu.segments.scheme import Scheme, SegmentRule
    from kehu.store.published import customer_score_history as h
    from kehu.store.schema import customers as c
    from kehu.store.segments import latest_definition, record_run

    scheme_name = f"custom.{name}"
    store = open_store(settings)
    try:
        with store.begin() as conn:
            saved = latest_definition(conn, scheme_name)
            if saved is None:
                raise NotFoundError(f"no user-defined segment {name!r}")
            day = as_of or latest_as_of(conn)
            item = saved["definition"]["segments"][0]
            rule = parse_rule(item["rule"], catalog=PROFILE_FIELDS, where=f"segment {name}")
            scheme = Scheme(scheme_name, "custom", (SegmentRule(name, rule),),
                            config=saved["definition"].get("config", {}), exclusive=False)  # fmt: skip
            ids = store_members(conn, rule, day)
            fields = scheme.deciding_fields(name)
            columns = profile_columns()
            values: dict[int, dict[str, Any]] = {}
            for start in range(0, len(ids), 5_000):
                chunk = ids[start : start + 5_000]
                stmt = (
                    sa.select(h.c.customer_id, *(columns[f].label(f) for f in fields))
                    .select_from(h.join(c, c.c.id == h.c.customer_id))
                    .where(h.c.as_of == day, h.c.customer_id.in_(chunk))
                )
                for row in conn.execute(stmt).mappings():
                    values[int(row["customer_id"])] = {f: json_value(row[f]) for f in fields}
            population = conn.execute(sa.select(sa.func.count()).select_from(h).where(h.c.as_of == day)).scalar_one()
            rows = [{"customer_id": cid, "segment": name, "values": values.get(cid, {})} for cid in ids]
            record_run(conn, scheme=scheme_name, as_of=day, definition_id=int(saved["id"]), engine="store",
                       rows=rows, population=int(population), stats={})  # fmt: skip
            return {"scheme": scheme_name, "segment": name, "as_of": day.isoformat(),
                    "version": int(saved["version"]), "size": len(ids)}  # fmt: skip
    finally:
        store.dispose()
