"""Score writing: the one routine that merges model scores into the published ``scores`` JSON.

The value models and the churn, propensity and cross-sell models publish through :func:`write_scores`. It
changes no pipeline or segment run, so it records the write in ``score_writes``: the pages' cached figures are
checked against a stamp of the newest runs and the newest score write, so nothing here needs to tell the web
about it (``kehu models train`` re-scores the newest day without any run).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from kehu.store.bulk import is_sqlite
from kehu.store.published import customer_score_history, customer_scores, score_writes, sync_list_scores

__all__ = ["write_scores"]

_CHUNK = 50_000


def write_scores(conn: Connection, as_of: dt.date, new: dict[int, dict[str, float | None]]) -> None:
    """Merge ``new`` into the ``scores`` JSON of the history rows of ``as_of`` (and of the latest rows).

    The merged documents are serialized as SQLAlchemy's JSON type does (``json.dumps``) and written with one
    ``executemany`` of driver parameters per chunk and table, keyed by the primary key (see :func:`merged_json`).
    """
    latest = conn.execute(sa.select(sa.func.max(customer_scores.c.as_of))).scalar()
    tables = [customer_score_history]
    if latest is not None and str(latest) == as_of.isoformat():
        tables.append(customer_scores)
    sqlite = is_sqlite(conn)
    mark, cast = ("?", "") if sqlite else ("%s", "::json")
    day = as_of.isoformat() if sqlite else as_of
    done: dict[int, tuple[str | None, str]] = {}  # customer -> (old text, merged text) of the table before
    for table in tables:
        text = sa.cast(table.c.scores, sa.Text)
        found = conn.execute(sa.select(table.c.customer_id, text).where(table.c.as_of == as_of))
        old: dict[int, str | None] = {cid: scores for cid, scores in found}
        rows = []
        for cid, values in new.items():
            if cid not in old:
                continue
            before = done.get(cid)
            merged = before[1] if before is not None and before[0] == old[cid] else merged_json(old[cid], values)
            done[cid] = (old[cid], merged)
            rows.append((merged, cid, day))
        sql = f"UPDATE {table.name} SET scores = {mark}{cast} WHERE customer_id = {mark} AND as_of = {mark}"
        for start in range(0, len(rows), _CHUNK):
            conn.exec_driver_sql(sql, rows[start : start + _CHUNK])
    if customer_scores in tables:  # the typed copies the customers list sorts and filters on
        sync_list_scores(conn)
    conn.execute(sa.insert(score_writes).values(as_of=as_of, customers=len(new), written_at=dt.datetime.now(dt.UTC)))


def merged_json(old: str | None, values: dict[str, Any]) -> str:
    """The JSON text of ``{**json.loads(old), **values}`` (``old`` NULL or JSON null: ``values``).

    When ``old`` is a non-empty object that names none of the keys of ``values``, the merged object is ``old``
    with the new members appended, as ``json.dumps`` writes them, without decoding ``old`` (the usual case: the
    value models write into empty scores, churn scoring adds keys of its own).
    """
    added = json.dumps(values)
    if old is None or old == "null":
        return added
    body = old.rstrip()
    plain = values and len(body) > 2 and body[0] == "{" and body[-1] == "}" and body[1:-1].strip()
    if plain and not any(json.dumps(key) + ":" in body or json.dumps(key) + " :" in body for key in values):
        return f"{body[:-1]}, {added[1:]}"
    return json.dumps({**(json.loads(old) or {}), **values})
