"""Fast, dialect-aware bulk writes for imports (SQLite and PostgreSQL).

The importer hands over typed Arrow columns; :mod:`kehu.store.bulk` (re-exported here) turns them into the
DBAPI's native parameters in bulk (no per-value SQLAlchemy processing) and writes them with ``executemany``
inside the import's transaction. This module also allocates customer ids and looks up existing keys in chunks
(row hashes: :mod:`kehu.ingest.hashing`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, Table, func, select

from kehu.errors import KehuError
from kehu.ingest.hashing import row_hashes
from kehu.store.bulk import db_array, insert_rows, update_rows
from kehu.store.bulk import is_sqlite as _is_sqlite
from kehu.store.bulk import sqlite_variable_limit as _sqlite_variable_limit

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
