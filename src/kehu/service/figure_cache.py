"""The cache of the figures the pages show (dashboard aggregates, each scheme's newest segment run), keyed by the
store; an import or a scoring run forgets it."""

from __future__ import annotations

import threading
import weakref
from typing import Any

from kehu.service.principal import Workspace

__all__ = ["DASHBOARD_TTL", "cache", "cache_lock", "forget_cached_figures", "store_key"]

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


def forget_cached_figures() -> None:
    """Drop the cached figures (after an import or a run changed the data)."""
    with cache_lock:
        cache.clear()
