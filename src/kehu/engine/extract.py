"""Extract the app store's tables into the analytics engine, through Arrow and a Parquet cache.

SQLite cannot be scanned by DuckDB without a network extension, and Spark cannot read it at all, so rows are
read through SQLAlchemy in chunks, turned into Arrow and cached as Parquet in ``KEHU_HOME/cache/extract``.
Later extracts are incremental: only rows whose ``updated_at`` is at or after the last watermark (less a
safety look-back) are read in full; a narrow scan of ``(id, customer_id)`` drops deleted rows and follows
customers merged by identity resolution. Orders and interactions can instead come straight from Parquet
files in a data lake (``settings.orders_path`` / ``settings.interactions_path``).

Inside the engine, times are naive wall-clock timestamps in the workspace's time zone
(``settings.timezone``, converted by :func:`kehu.engine.zones.local_time`), so calendar days, ``as_of``
and trailing windows are the business's local days; ``updated_at`` alone stays UTC, for the incremental
extract. Money is integer cents.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

from kehu.engine.backends import read_parquet, register_arrow
from kehu.engine.lake import LAKE_TABLES, normalize_lake_table
from kehu.engine.point_in_time import HISTORY_OF, values_as_of
from kehu.engine.zones import local_time
from kehu.store import schema

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

    from kehu.config import Settings

__all__ = ["EVENT_TIME", "EXTRACT_COLUMNS", "arrow_schema", "event_time", "extract", "read_store_table"]

log = logging.getLogger(__name__)

#: store table -> columns the pipeline reads (free text, lineage and JSON stay in the store)
EXTRACT_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": (
        "id", "signup_at", "first_contact_at", "acquisition_channel", "region", "city", "industry",
        "owner_id", "updated_at",
    ),
    "orders": (
        "id", "customer_id", "ordered_at", "amount_cents", "gross_margin_cents", "discount_cents",
        "quantity", "category", "channel", "status", "updated_at",
    ),
    "interactions": ("id", "customer_id", "occurred_at", "type", "channel", "updated_at"),
    "tickets": (
        "id", "customer_id", "opened_at", "first_response_at", "resolved_at", "priority", "status",
        "is_complaint", "satisfaction", "updated_at",
    ),
    "feedback": ("id", "customer_id", "kind", "score", "responded_at", "updated_at"),
    "contracts": (
        "id", "customer_id", "start_date", "end_date", "value_cents", "status", "renewal_of", "signed_at",
        "updated_at",
    ),
    # the versions re-imports replaced (kehu.engine.point_in_time)
    "order_history": (
        "id", "record_id", "status", "amount_cents", "gross_margin_cents", "discount_cents", "quantity",
        "valid_from", "valid_to", "updated_at",
    ),
    "contract_history": (
        "id", "record_id", "end_date", "status", "value_cents", "valid_from", "valid_to", "updated_at",
    ),
}  # fmt: skip

#: activity table -> the column that dates a row (point-in-time filtering and first-seen dates)
EVENT_TIME: dict[str, str] = {
    "orders": "ordered_at",
    "interactions": "occurred_at",
    "tickets": "opened_at",
    "feedback": "responded_at",
    "contracts": "start_date",
}

_HISTORIES = frozenset(HISTORY_OF.values())

CACHE_FORMAT = 1
#: rows updated this long before the watermark are read again (clock skew, long transactions)
LOOKBACK = dt.timedelta(hours=1)


def _arrow_type(column: sa.Column[Any]) -> pa.DataType:
    kind = column.type
    if isinstance(kind, schema.UTCDateTime | sa.DateTime):
        return pa.timestamp("us")
    if isinstance(kind, sa.Date):
        return pa.date32()
    if isinstance(kind, sa.Boolean):
        return pa.bool_()
    if isinstance(kind, sa.Integer):  # BigInteger is an Integer
        return pa.int64()
    return pa.string()


def arrow_schema(table_name: str) -> pa.Schema:
    """The Arrow schema of an extracted store table (timestamps are naive UTC microseconds)."""
    table = schema.metadata.tables[table_name]
    return pa.schema([pa.field(c, _arrow_type(table.c[c])) for c in EXTRACT_COLUMNS[table_name]])


def _to_arrow(values: list[Any], target: pa.DataType) -> pa.Array:
    """Raw DBAPI values (SQLite text or PostgreSQL objects) -> an Arrow array of ``target``."""
    sample = next((v for v in values if v is not None), None)
    if isinstance(sample, str) and not pa.types.is_string(target):
        array = pa.array(values, pa.string())
        if pa.types.is_timestamp(target):
            array = pc.replace_substring_regex(array, r"([+-]00:?00|Z)$", "")
        return array.cast(target)
    if isinstance(sample, dt.datetime) and sample.tzinfo is not None:
        aware = pa.array(values, pa.timestamp("us", tz="UTC"))
        return aware.cast(pa.int64()).cast(target)
    if pa.types.is_boolean(target) and isinstance(sample, int) and not isinstance(sample, bool):  # SQLite 0/1
        return pa.array(values, pa.int64()).cast(target)
    return pa.array(values, target)


def read_store_table(
    conn: sa.Connection,
    table_name: str,
    *,
    where: sa.ColumnElement[bool] | None = None,
    columns: tuple[str, ...] | None = None,
    chunk_rows: int = 100_000,
) -> pa.Table:
    """Read a store table (or some of its rows and columns) into Arrow, ``chunk_rows`` at a time.

    Parameters
    ----------
    conn
        An open SQLAlchemy connection to the store.
    table_name
        A key of :data:`EXTRACT_COLUMNS`.
    where
        Optional row filter on the store table.
    columns
        Columns to read (default: all of :data:`EXTRACT_COLUMNS` for the table).
    chunk_rows
        Rows fetched per round trip.

    Returns
    -------
    pyarrow.Table
        With :func:`arrow_schema` types (restricted to ``columns``).
    """
    table = schema.metadata.tables[table_name]
    names = columns or EXTRACT_COLUMNS[table_name]
    target = arrow_schema(table_name)
    fields = [target.field(n) for n in names]
    # untyped columns: raw driver values, without SQLAlchemy's per-value result processing
    stmt = sa.select(*[sa.column(n) for n in names]).select_from(table)  # type: ignore[var-annotated]
    if where is not None:
        stmt = stmt.where(where)
    batches: list[pa.RecordBatch] = []
    result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(stmt)
    for rows in result.partitions():
        cols = list(zip(*rows, strict=True)) if rows else [() for _ in names]
        arrays = [_to_arrow(list(col), f.type) for col, f in zip(cols, fields, strict=True)]
        batches.append(pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields)))
    if not batches:
        return pa.schema(fields).empty_table()
    return pa.Table.from_batches(batches, schema=pa.schema(fields))


class _Cache:
    """Parquet copies of store tables plus a JSON state file of watermarks."""

    def __init__(self, folder: Path, store_url: str) -> None:
        self.folder = folder
        self.fingerprint = hashlib.sha256(f"{CACHE_FORMAT}|{store_url}".encode()).hexdigest()[:16]
        self.state_path = folder / "state.json"
        self.state: dict[str, Any] = {"fingerprint": self.fingerprint, "tables": {}}
        if self.state_path.exists():
            loaded = json.loads(self.state_path.read_text(encoding="utf-8"))
            if loaded.get("fingerprint") == self.fingerprint:
                self.state = loaded

    def path(self, table_name: str) -> Path:
        return self.folder / f"{table_name}.parquet"

    def watermark(self, table_name: str) -> dt.datetime | None:
        entry = self.state["tables"].get(table_name)
        if not entry or not self.path(table_name).exists():
            return None
        columns = entry.get("columns")
        if columns != list(EXTRACT_COLUMNS[table_name]):
            return None
        return dt.datetime.fromisoformat(entry["watermark"]) if entry.get("watermark") else None

    def save(self, table_name: str, data: pa.Table) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.path(table_name).with_suffix(".parquet.tmp")
        pq.write_table(data, tmp)
        tmp.replace(self.path(table_name))
        latest = pc.max(data["updated_at"]).as_py() if data.num_rows else None
        self.state["tables"][table_name] = {
            "watermark": latest.isoformat() if latest else None,
            "columns": list(EXTRACT_COLUMNS[table_name]),
            "rows": data.num_rows,
        }
        self.state_path.write_text(json.dumps(self.state, indent=2), encoding="utf-8")


def _sync_table(conn: sa.Connection, cache: _Cache, table_name: str, chunk_rows: int) -> tuple[Path, int]:
    """Bring the cached copy of one table up to date; returns its path and the rows read in full."""
    table = schema.metadata.tables[table_name]
    watermark = cache.watermark(table_name)
    if watermark is None:
        data = read_store_table(conn, table_name, chunk_rows=chunk_rows)
        cache.save(table_name, data)
        return cache.path(table_name), data.num_rows
    since = (watermark - LOOKBACK).replace(tzinfo=dt.UTC)
    changed = read_store_table(conn, table_name, where=table.c.updated_at >= since, chunk_rows=chunk_rows)
    key_columns = ("id", "customer_id") if "customer_id" in table.c else ("id",)
    keys = read_store_table(conn, table_name, columns=key_columns, chunk_rows=max(chunk_rows, 500_000))
    cached = pq.read_table(cache.path(table_name))
    kept = cached.filter(pc.invert(pc.is_in(cached["id"], value_set=changed["id"])))
    # inner join on the live keys: drops deleted rows and picks up merged customers' new ids
    kept = kept.drop_columns([c for c in key_columns if c != "id"]).join(keys, "id", join_type="inner")
    merged = pa.concat_tables([kept.select(changed.column_names), changed]).sort_by("id")
    cache.save(table_name, merged)
    return cache.path(table_name), changed.num_rows


def _plain_timestamps(table: ir.Table) -> ir.Table:
    """Cast ``timestamp(6)`` (DuckDB's Parquet reader) to plain ``timestamp``, as Spark reports it."""
    casts = {
        name: table[name].cast("timestamp")
        for name, dtype in table.schema().items()
        if dtype.is_timestamp() and (dtype.scale is not None or dtype.timezone is not None)
    }
    return table.mutate(**casts) if casts else table


def _local_timestamps(table: ir.Table, zone: str) -> ir.Table:
    """Every timestamp column but ``updated_at`` from naive UTC to naive wall-clock time in ``zone``."""
    casts = {
        name: local_time(table[name], zone)
        for name, dtype in table.schema().items()
        if dtype.is_timestamp() and name != "updated_at"
    }
    return table.mutate(**casts) if casts else table


def event_time(table_name: str, table: ir.Table) -> ir.TimestampValue:
    """When a row of an activity table became known, as a naive local (workspace time zone) timestamp.

    Contracts count from signing (a renewal signed today is known today), else from their start date.
    """
    import ibis

    if table_name == "contracts":
        return ibis.coalesce(table.signed_at, table.start_date).cast("timestamp")
    return table[EVENT_TIME[table_name]].cast("timestamp")


def _first_seen(tables: dict[str, ir.Table]) -> ir.Table:
    """Per customer: the earliest date anything is known about them (signup, first contact, any activity)."""
    import ibis

    customers = tables["customers"]
    firsts = []
    for name in EVENT_TIME:
        events = tables[name]
        firsts.append(events.group_by(customer_id=events.customer_id).aggregate(seen=event_time(name, events).min()))
    union = ibis.union(*firsts, distinct=False)
    per_customer = union.group_by("customer_id").aggregate(seen=union.seen.min())
    joined = customers.left_join(per_customer, customers.id == per_customer.customer_id)
    first = ibis.least(joined.signup_at, joined.first_contact_at, joined.seen)
    return joined.select(*customers.columns, first_seen_at=first)


def extract(
    store_engine: sa.Engine,
    backend: BaseBackend,
    as_of: dt.date | None = None,
    *,
    settings: Settings | None = None,
    cache_dir: Path | None = None,
    chunk_rows: int = 100_000,
    timezone: str | None = None,
) -> dict[str, ir.Table]:
    """Make the store's tables available in the engine.

    Parameters
    ----------
    store_engine
        SQLAlchemy engine of the app store.
    backend
        Ibis backend from :func:`kehu.engine.connect`.
    as_of
        When given, activity rows dated after this (local) day are filtered out, customers first seen
        after it are left out, and orders and contracts carry the values they had at the end of that day
        (:func:`kehu.engine.point_in_time.values_as_of`), so nothing later than ``as_of`` reaches the pipeline.
    settings
        Supplies the cache folder (``KEHU_HOME/cache/extract``), the optional data-lake paths
        ``orders_path`` / ``interactions_path`` and the ``timezone`` of local days.
    timezone
        IANA zone of the engine's wall-clock times (overrides ``settings.timezone``); default UTC when
        neither is given.
    cache_dir
        Cache folder (overrides the one from ``settings``); without either, tables are read in full each time.
    chunk_rows
        Rows fetched from the store per round trip.

    Returns
    -------
    dict[str, ibis.Table]
        ``customers`` (with ``first_seen_at``), ``orders``, ``interactions``, ``tickets``, ``feedback``,
        ``contracts``, and ``order_history`` / ``contract_history`` when they hold versions; columns as in
        :data:`EXTRACT_COLUMNS`, timestamps (but ``updated_at``) in local wall-clock time.
    """
    import ibis

    if cache_dir is None and settings is not None:
        cache_dir = settings.home / "cache" / "extract"
    lake = {name: getattr(settings, f"{name}_path", None) for name in LAKE_TABLES} if settings else {}
    cache = _Cache(cache_dir, store_engine.url.render_as_string(hide_password=True)) if cache_dir else None
    tables: dict[str, ir.Table] = {}
    lake_records = {HISTORY_OF[name] for name, path in lake.items() if path and name in HISTORY_OF}
    with store_engine.connect() as conn:
        for name in EXTRACT_COLUMNS:
            engine_name = f"kehu_{name}"
            lake_path = lake.get(name)
            if name in lake_records:  # versions of the store's rows, not of the lake's
                continue
            if lake_path:
                raw = read_parquet(backend, f"{engine_name}_lake", lake_path)
                tables[name] = normalize_lake_table(name, raw)
                log.info("extract %s: from Parquet at %s", name, lake_path)
            elif cache is not None:
                path, read = _sync_table(conn, cache, name, chunk_rows)
                if name in _HISTORIES and not cache.state["tables"][name]["rows"]:
                    continue  # no versions: the current values hold on every day
                tables[name] = read_parquet(backend, engine_name, path)
                log.info("extract %s: %d rows read from the store", name, read)
            else:
                data = read_store_table(conn, name, chunk_rows=chunk_rows)
                if name in _HISTORIES and not data.num_rows:
                    continue
                tables[name] = register_arrow(backend, engine_name, data)
                log.info("extract %s: %d rows read from the store", name, data.num_rows)
    zone = timezone or getattr(settings, "timezone", None) or "UTC"
    tables = {name: _local_timestamps(_plain_timestamps(t), zone) for name, t in tables.items()}
    tables["customers"] = _first_seen(tables)
    if as_of is not None:
        cutoff = ibis.timestamp(dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time()))
        for name in EVENT_TIME:
            t = tables[name]
            tables[name] = t.filter(event_time(name, t) < cutoff)
        c = tables["customers"]
        tables["customers"] = c.filter(c.first_seen_at.isnull() | (c.first_seen_at < cutoff))
        tables = values_as_of(tables, as_of)
    return tables
