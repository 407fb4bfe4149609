"""Score writing: the one routine that merges model scores into the published ``scores`` JSON.

The value models and the churn, propensity and cross-sell models publish through :func:`write_scores`. It
changes no pipeline or segment run, so it records the write in ``score_writes``: the pages' cached figures are
checked against a stamp of the newest runs and the newest score write, so nothing here needs to tell the web
about it (``kehu models train`` re-scores the newest day without any run).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from kehu.store.published import customer_score_history, customer_scores, score_writes, sync_list_scores

__all__ = ["write_scores"]

_CHUNK = 5_000


def write_scores(conn: Connection, as_of: dt.date, new: dict[int, dict[str, float | None]]) -> None:
    """Merge ``new`` into the ``scores`` JSON of the history rows of ``as_of`` (and of the latest rows)."""
    latest = conn.execute(sa.select(sa.func.max(customer_scores.c.as_of))).scalar()
    tables = [customer_score_history]
    if latest is not None and str(latest) == as_of.isoformat():
        tables.append(customer_scores)
    for table in tables:
        where = table.c.as_of == as_of
        old = dict(conn.execute(sa.select(table.c.customer_id, table.c.scores).where(where)).all())
        stmt = (
            sa.update(table)
            .where(table.c.customer_id == sa.bindparam("cid"), table.c.as_of == as_of)
            .values(scores=sa.bindparam("new_scores"))
        )
        batch: list[dict[str, Any]] = []
        for cid, values in new.items():
            if cid not in old:
                continue
            batch.append({"cid": cid, "new_scores": {**(old[cid] or {}), **values}})
            if len(batch) >= _CHUNK:
                conn.execute(stmt, batch)
                batch = []
        if batch:
            conn.execute(stmt, batch)
    if customer_scores in tables:  # the typed copies the customers list sorts and filters on
        sync_list_scores(conn)
    conn.execute(sa.insert(score_writes).values(as_of=as_of, customers=len(new), written_at=dt.datetime.now(dt.UTC)))
