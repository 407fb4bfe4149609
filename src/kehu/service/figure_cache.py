"""The cache of the figures the pages show (dashboard aggregates, each scheme's newest segment run), keyed by the
store and checked against the run stamp: a new pipeline or segment run, or a score write, makes an entry stale
without anyone below the facade calling up; an import (which changes data the stamp does not cover) forgets the
cache."""

from __future__ import annotations

import threading
import weakref
from typing import Any

from kehu.service.principal import Workspace

__all__ = ["DASHBOARD_TTL", "cache", "cache_lock", "forget_cached_figures", "run_stamp", "store_key"]

DASHBOARD_TTL = 60.0

cache: dict[tuple[str, tuple[int, ...] | None], tuple[float, dict[str, Any]]] = {}
cache_lock = threading.Lock()
_store_keys: weakref.WeakKeyDictionary[Workspace, str] = weakref.WeakKeyDictionary()


def store_key(ws: Workspace) -> str:
    """The store's URL, the key of the caches above (worked out once per workspace: it resolves a path)."""
    key = _store_keys.get(ws)
    if key is None:
        key = _store_keys[ws] = ws.settings.resolved_database_url
    return key


def run_stamp(conn: Any) -> tuple[Any, ...]:
    """The newest segment run's id, the number of segment runs, the time the last one was recorded (a re-run of a
    day keeps its run's id), the newest pipeline run's id and the newest score write's id: what a run (or a re-run
    of a day) changes, and what re-scoring without a run changes (``kehu models train`` scores the newest day with
    the new model), so a cached figure whose stamp differs is stale."""
    from sqlalchemy import func, select

    from kehu.store.published import pipeline_runs, score_writes
    from kehu.store.segments import segment_runs

    newest_pipeline_run = select(func.max(pipeline_runs.c.id)).scalar_subquery()
    newest_score_write = select(func.max(score_writes.c.id)).scalar_subquery()
    runs = segment_runs.c
    query = select(func.max(runs.id), func.count(runs.id), func.max(runs.created_at), newest_pipeline_run,
                   newest_score_write)  # fmt: skip
    return tuple(conn.execute(query).one())


def forget_cached_figures() -> None:
    """Drop the cached figures (after an import changed the data; runs change the run stamp)."""
    with cache_lock:
        cache.clear()
