"""Keeping the values a re-import replaces: one version per changed order or contract (:mod:`kehu.store.history`).

The importer finds the rows a file changes by their row hashes; for tables with a history, :func:`keep_versions`
then reads the :data:`~kehu.store.history.TRACKED` columns of just those rows by primary key (a re-import whose
rows are unchanged reads nothing more than before), compares them with the file's values and, for each row whose
tracked values differ, writes the stored values as a version valid until
this import, inside the import's transaction (so an import that fails keeps nothing, and one that succeeds
never overwrites a value without keeping it). Values are compared in the DBAPI's parameter form on both sides:
what the store returned and what :func:`~kehu.ingest.bulk.db_array` made of the file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from kehu.ingest.bulk import insert_rows, utc_now_db
from kehu.store.history import HISTORY_TABLES, TRACKED

__all__ = ["keep_versions", "tracked_columns"]

_CHUNK = 900  # below SQLite's oldest limit on bound parameters


def tracked_columns(table_name: str) -> tuple[str, ...]:
    """The columns whose replaced values ``table_name`` keeps (none for tables without a history)."""
    return TRACKED.get(table_name, ())


def _by_id(conn: Connection, select: str, table: str, id_column: str, ids: list[int], tail: str = "") -> list[Any]:
    """Rows of ``SELECT {select} FROM {table} WHERE {id_column} IN ids {tail}`` (raw driver values), in chunks."""
    rows: list[Any] = []
    sqlite = conn.dialect.name == "sqlite"
    with contextlib.closing(conn.connection.dbapi_connection.cursor()) as cursor:  # type: ignore[union-attr]
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            params: tuple[Any, ...]
            if sqlite:
                where, params = f"{id_column} IN ({', '.join(['?'] * len(chunk))})", tuple(chunk)
            else:
                where, params = f"{id_column} = ANY(%s)", (chunk,)
            cursor.execute(f"SELECT {select} FROM {table} WHERE {where} {tail}", params)
            rows.extend(cursor.fetchall())
    return rows


def keep_versions(
    conn: Connection,
    table_name: str,
    ids: Sequence[int],
    incoming: Sequence[Sequence[Any]],
    *,
    run_id: int,
    now: Any,
) -> int:
    """Write the stored values of the rows whose tracked values change; returns the number of versions written.

    Parameters
    ----------
    conn
        The import's connection, inside its transaction.
    table_name
        ``orders`` or ``contracts``.
    ids
        Primary keys of the rows about to be updated (their row hashes differ from the file's).
    incoming
        Per row, the :func:`tracked_columns` values as the file has them (DBAPI parameter form).
    run_id
        The import run that replaces them.
    now
        The import's time (an aware datetime): the end of each kept version's validity. When a row's newest
        version already ends later (an import told to count as an earlier "now"), the new version ends there
        too and is never the value of any moment, but it is kept.
    """
    names = tracked_columns(table_name)
    if not names or not ids:
        return 0
    found = _by_id(conn, ", ".join(["id", *names]), table_name, "id", [int(i) for i in ids])
    stored = {int(r[0]): tuple(r[1:]) for r in found}
    changed = [j for j, new in enumerate(incoming) if stored[int(ids[j])] != tuple(new)]
    if not changed:
        return 0
    history = HISTORY_TABLES[table_name]
    record_ids = [int(ids[j]) for j in changed]
    latest = _by_id(conn, "record_id, MAX(valid_to)", history.name, "record_id", record_ids, "GROUP BY record_id")
    ends = {int(r[0]): r[1] for r in latest}
    stamp = utc_now_db(conn, 1, now)[0]
    starts = [ends.get(rid) for rid in record_ids]
    columns: dict[str, list[Any]] = {
        "record_id": record_ids,
        "valid_from": starts,
        "valid_to": [stamp if start is None or start < stamp else start for start in starts],
    }
    for k, name in enumerate(names):
        columns[name] = [stored[rid][k] for rid in record_ids]
    return insert_rows(conn, history, columns, constants={"import_run_id": run_id, "updated_at": stamp})
