"""Fast, dialect-aware bulk writes (SQLite and PostgreSQL): typed Arrow columns in, driver parameters out.

Columns are turned into the DBAPI's native parameters in bulk (no per-value SQLAlchemy processing) and written
with ``executemany`` inside the caller's transaction: the imports (:mod:`kehu.ingest.bulk`) and the publish
stage (the pipeline's features, model scores, segment memberships) write a million rows at a time through here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Table

__all__ = ["db_array", "insert_rows", "is_sqlite", "sqlite_variable_limit", "update_rows"]


def is_sqlite(conn: Connection) -> bool:
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


def _placeholder(conn: Connection, column: str, json_columns: set[str]) -> str:
    if is_sqlite(conn):
        return "?"
    return "%s::json" if column in json_columns else "%s"


def sqlite_variable_limit(conn: Connection) -> int:
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
    quote = conn.dialect.identifier_preparer.quote
    head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in [*constants, *names])}) VALUES "
    if not is_sqlite(conn):
        one = f"({', '.join(_placeholder(conn, name, json_cols) for name in [*constants, *names])})"
        shared = tuple(constants.values())
        rows = [shared + row for row in zip(*(columns[name] for name in names), strict=True)]
        conn.exec_driver_sql(head + one, rows)
        return n
    c, v = len(constants), len(names)
    shared_values = _objects(list(constants.values()))
    cols = [_objects_of(columns[name]) for name in names]
    k = max(1, min(64, (sqlite_variable_limit(conn) - c) // v))
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
    ph = "?" if is_sqlite(conn) else "%s"
    sql = f"UPDATE {table.name} SET {sets} WHERE id = {ph}"
    rows = list(zip(*(columns[n] for n in names), ids, strict=True))
    conn.exec_driver_sql(sql, rows)
    return len(rows)
