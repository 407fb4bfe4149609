"""Fast, dialect-aware bulk writes for imports (SQLite and PostgreSQL).

The importer hands over typed Arrow columns; this module turns them into the DBAPI's native parameters in bulk
(no per-value SQLAlchemy processing) and writes them with ``executemany`` inside the import's transaction. It
also allocates customer ids and looks up existing keys in chunks (row hashes: :mod:`kehu.ingest.hashing`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Engine, Table, func, select

from kehu.errors import KehuError
from kehu.ingest.hashing import row_hashes

__all__ = [
    "IdAllocator",
    "check_references",
    "db_array",
    "deferred_indexes",
    "import_connection",
    "insert_rows",
    "lookup_keys",
    "row_hashes",
    "tune_for_bulk",
    "update_rows",
    "utc_now_db",
]

_CHUNK = 5000


def _is_sqlite(conn: Connection) -> bool:
    return conn.dialect.name == "sqlite"


def _objects(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def db_array(arr: pa.Array | pa.ChunkedArray, *, sqlite: bool) -> np.ndarray:
    """One typed column as DBAPI parameters (an object array), converted in bulk.

    Integers become Python ints straight from numpy; text is dictionary-encoded first, so that a value repeated
    on many rows (a product, a status) becomes one Python string shared by those rows. On SQLite, times become
    SQLAlchemy's text form ("2024-01-05 13:45:10.000000") in UTC, dates ISO text and booleans 0/1; elsewhere
    they stay ``datetime``, ``date`` and ``bool`` objects.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if sqlite and pa.types.is_timestamp(t):  # SQLAlchemy's SQLite DATETIME text, in UTC
        arr = arr.cast(pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us")).cast(pa.string())
        return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object)
    if sqlite and pa.types.is_date(t):
        return np.asarray(arr.cast(pa.string()).to_numpy(zero_copy_only=False), dtype=object)
    if pa.types.is_integer(t) or (sqlite and pa.types.is_boolean(t)):
        ints = arr.cast(pa.int64()) if pa.types.is_boolean(t) else arr
        out = np.asarray(ints.fill_null(0).to_numpy()).astype(object)
        if arr.null_count:
            out[np.asarray(arr.is_null())] = None
        return out
    if pa.types.is_string(t) and len(arr):
        encoded = pc.dictionary_encode(arr)
        distinct = _objects([*encoded.dictionary.to_pylist(), None])
        return distinct[np.asarray(encoded.indices.fill_null(len(distinct) - 1).to_numpy())]
    return _objects(arr.to_pylist())


def lookup_keys(
    conn: Connection, table: Table, key_col: str, source: str, keys: Iterable[str], extra: Sequence[str] = ()
) -> dict[str, tuple[Any, ...]]:
    """Existing rows of ``source`` with these keys: key -> (id, row_hash, *extra columns).

    Plain driver SQL in chunks (``IN (?, …)`` on SQLite, ``= ANY(%s)`` on PostgreSQL), using the table's
    unique (source, key) index, each chunk fetched whole from the DBAPI cursor (a re-import of a million rows
    looks up a million keys: row-by-row fetching through SQLAlchemy's result took a third of its time).
    """
    cols = ", ".join([key_col, "id", "row_hash", *extra])
    unique = list(dict.fromkeys(keys))
    found: dict[str, tuple[Any, ...]] = {}
    sqlite = _is_sqlite(conn)
    step = max(1, min(_CHUNK, _sqlite_variable_limit(conn) - 1)) if sqlite else _CHUNK
    with contextlib.closing(conn.connection.dbapi_connection.cursor()) as cursor:  # type: ignore[union-attr]
        for start in range(0, len(unique), step):
            chunk = unique[start : start + step]
            if sqlite:
                marks = ", ".join(["?"] * len(chunk))
                sql = f"SELECT {cols} FROM {table.name} WHERE source = ? AND {key_col} IN ({marks})"
                params: tuple[Any, ...] = (source, *chunk)
            else:
                sql = f"SELECT {cols} FROM {table.name} WHERE source = %s AND {key_col} = ANY(%s)"
                params = (source, chunk)
            cursor.execute(sql, params)
            found.update({row[0]: tuple(row[1:]) for row in cursor.fetchall()})
    return found


@contextlib.contextmanager
def import_connection(engine: Engine, *, bulk: bool = False) -> Iterator[Connection]:
    """A connection for one import's transaction (begin it on the connection); SQLite settings restored after.

    A ``bulk`` import on SQLite gets a connection that checks no foreign keys: the caller guarantees every
    reference it writes (and checks them once per distinct value with :func:`check_references` before
    committing), which spares SQLite two look-ups for each inserted row. It also reads the store through
    SQLite's own page cache instead of the memory map, so that building indexes over a million new rows does not
    map the whole table into the process, and sorts for those indexes in temporary files instead of memory
    (the store's connections otherwise keep temporary data in memory): SQLite then sorts in runs of at most the
    page cache's size and merges them, so the import's memory stays bounded however many rows the file has (in
    memory, the sort for an index over 8 million rows held about 600 MB more). These settings can only change
    outside a transaction, so they change here, before the caller begins; when the connection goes back to the
    pool, they and the page cache size (see :func:`tune_for_bulk`) are as before (a connection where that fails
    is discarded).
    """
    with engine.connect() as conn:
        dbapi: Any = conn.connection.dbapi_connection if _is_sqlite(conn) else None
        saved: list[tuple[str, Any]] = []
        if dbapi is not None:
            names = ("cache_size", "mmap_size", "foreign_keys", "temp_store") if bulk else ("cache_size",)
            saved = [(name, dbapi.execute(f"PRAGMA {name}").fetchone()[0]) for name in names]
            if bulk:
                dbapi.execute("PRAGMA foreign_keys=OFF")
                dbapi.execute("PRAGMA mmap_size=0")
                dbapi.execute("PRAGMA temp_store=FILE")
        try:
            yield conn
        finally:
            try:
                for name, value in saved:
                    dbapi.execute(f"PRAGMA {name}={int(value)}")
            except Exception:
                conn.invalidate()
                raise


def check_references(conn: Connection, table: Table, ids: np.ndarray, what: str) -> None:
    """Raise unless every id (distinct or not) is the primary key of a row of ``table``."""
    unique = np.unique(ids).tolist()
    step = max(1, min(_CHUNK, _sqlite_variable_limit(conn) - 1)) if _is_sqlite(conn) else _CHUNK
    for start in range(0, len(unique), step):
        chunk = unique[start : start + step]
        found = conn.execute(select(func.count()).select_from(table).where(table.c.id.in_(chunk))).scalar_one()
        if found != len(chunk):
            raise KehuError(f"internal error: {what} refer to {table.name} that do not exist; nothing was imported")


def tune_for_bulk(conn: Connection, *, appending: bool = False) -> None:
    """Give a SQLite import connection a page cache big enough that index updates do not spill (256 MB max).

    ``appending``: the rows go to the end of a table whose indexes are built at the end, so few pages are
    touched twice and 64 MB is enough.
    """
    if _is_sqlite(conn):
        conn.exec_driver_sql(f"PRAGMA cache_size=-{65536 if appending else 262144}")


class deferred_indexes:
    """Drop a table's indexes for a bulk insert and build each once at the end, in the same transaction.

    Building an index once from sorted data is several times cheaper than updating it row by row (even when the
    rows arrive in the index's order: each of many small ``INSERT`` statements seeks its place from the root).
    Only used on SQLite, and only when the import cannot need the index for look-ups (the table has no rows of
    the source yet); if the transaction fails, SQLite rolls the drop back with everything else. A unique index
    that cannot be built (a duplicate key) fails the whole import, which then changes nothing.
    """

    def __init__(self, conn: Connection, table: Table, enabled: bool) -> None:
        self.conn, self.table = conn, table
        self.enabled = enabled and _is_sqlite(conn)
        self.dropped: list[Any] = []

    def __enter__(self) -> deferred_indexes:
        if self.enabled:
            for index in sorted(self.table.indexes, key=lambda i: str(i.name)):
                self.conn.exec_driver_sql(f'DROP INDEX IF EXISTS "{index.name}"')
                self.dropped.append(index)
        return self

    def rebuild(self) -> None:
        """Build the dropped indexes again (call before committing)."""
        while self.dropped:
            self.dropped.pop().create(self.conn)

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.rebuild()


def _placeholder(conn: Connection, column: str, json_columns: set[str]) -> str:
    if _is_sqlite(conn):
        return "?"
    return "%s::json" if column in json_columns else "%s"


def _sqlite_variable_limit(conn: Connection) -> int:
    """SQLite's limit on bound parameters per statement (999 before SQLite 3.32, 32766 since)."""
    getlimit = getattr(conn.connection.dbapi_connection, "getlimit", None)
    if getlimit is None:
        return 999
    import sqlite3

    return int(getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))


def _objects_of(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype == object:
        return values
    return _objects(list(values))


def _sqlite_values(n_constants: int, n_columns: int, rows: int) -> str:
    """``(?1, ?2, ?3, ?4), (?1, ?2, ?5, ?6)``: constants bound once per statement, then each row's values."""
    shared = [f"?{i + 1}" for i in range(n_constants)]
    groups = []
    for r in range(rows):
        first = n_constants + r * n_columns + 1
        groups.append("(" + ", ".join(shared + [f"?{first + j}" for j in range(n_columns)]) + ")")
    return ", ".join(groups)


def insert_rows(
    conn: Connection,
    table: Table,
    columns: Mapping[str, Sequence[Any] | np.ndarray],
    constants: Mapping[str, Any] | None = None,
) -> int:
    """INSERT the given columns (sequences or object arrays, all the same length); returns the row count.

    ``constants`` are columns with one value for every row. On SQLite, rows go in groups of up to 64 per
    multi-row ``INSERT … VALUES (…), (…)`` statement, in which each constant is bound once: the same rows with
    a fraction of the per-statement and per-value work, parameters handed to the DBAPI as prepared lists.
    Elsewhere, one ``executemany``.
    """
    names = list(columns)
    n = len(columns[names[0]]) if names else 0
    if not n:
        return 0
    constants = dict(constants or {})
    json_cols = {c.name for c in table.columns if c.type.__class__.__name__ == "JSON"}
    head = f"INSERT INTO {table.name} ({', '.join([*constants, *names])}) VALUES "
    if not _is_sqlite(conn):
        one = f"({', '.join(_placeholder(conn, name, json_cols) for name in [*constants, *names])})"
        shared = tuple(constants.values())
        rows = [shared + row for row in zip(*(columns[name] for name in names), strict=True)]
        conn.exec_driver_sql(head + one, rows)
        return n
    c, v = len(constants), len(names)
    shared_values = _objects(list(constants.values()))
    cols = [_objects_of(columns[name]) for name in names]
    k = max(1, min(64, (_sqlite_variable_limit(conn) - c) // v))
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:  # straight to the DBAPI: lists of parameters, no per-row conversion to tuples
        for start, stop, rows_per in ((0, n // k * k, k), (n // k * k, n, n % k)):
            if stop <= start:
                continue
            m = (stop - start) // rows_per
            block = np.empty((m, c + rows_per * v), dtype=object)
            block[:, :c] = shared_values
            for j, col in enumerate(cols):
                block[:, c + j :: v] = col[start:stop].reshape(m, rows_per)
            cursor.executemany(head + _sqlite_values(c, v, rows_per), block.tolist())
    finally:
        cursor.close()
    return n


def update_rows(conn: Connection, table: Table, ids: list[int], columns: dict[str, list[Any]]) -> int:
    """UPDATE rows by primary key with one executemany."""
    if not ids:
        return 0
    names = list(columns)
    json_cols = {c.name for c in table.columns if c.type.__class__.__name__ == "JSON"}
    sets = ", ".join(f"{n} = {_placeholder(conn, n, json_cols)}" for n in names)
    ph = "?" if _is_sqlite(conn) else "%s"
    sql = f"UPDATE {table.name} SET {sets} WHERE id = {ph}"
    rows = list(zip(*(columns[n] for n in names), ids, strict=True))
    conn.exec_driver_sql(sql, rows)
    return len(rows)


class IdAllocator:
    """Hands out primary keys for bulk inserts of new rows of one table within one transaction.

    PostgreSQL's sequence is moved past the allocated ids by :meth:`finish`. Two imports writing the same table at
    the same moment would collide on a key: the later one fails as a whole and changes nothing (SQLite serializes
    writers anyway).
    """

    def __init__(self, conn: Connection, table: Table) -> None:
        self.conn = conn
        self.table = table
        if not _is_sqlite(conn):
            conn.exec_driver_sql(f"LOCK TABLE {table.name} IN SHARE ROW EXCLUSIVE MODE")
        current = conn.execute(select(func.max(table.c.id))).scalar()
        self.next_id = int(current or 0) + 1
        self.allocated = 0

    def take(self, n: int) -> np.ndarray:
        ids = np.arange(self.next_id, self.next_id + n, dtype=np.int64)
        self.next_id += n
        self.allocated += n
        return ids

    def finish(self) -> None:
        if self.allocated and not _is_sqlite(self.conn):
            self.conn.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{self.table.name}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 1) FROM {self.table.name}))"
            )


def utc_now_db(conn: Connection, n: int, now: dt.datetime) -> list[Any]:
    """``n`` copies of ``now`` in the dialect's parameter form."""
    value: Any = now.astimezone(dt.UTC)
    if _is_sqlite(conn):
        value = value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return [value] * n
