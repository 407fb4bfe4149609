"""What the database's own errors mean for people: each becomes one of Kehu's errors (:mod:`kehu.errors`).

A store error that reaches a user must say what happened and what to do, never show a driver's traceback:

- SQLite's ``database is locked`` (the busy timeout ran out while another process was writing) →
  :class:`~kehu.errors.StoreBusyError`: the change was not saved, nothing stored was lost, try again;
- a full disk (SQLite's ``database or disk is full``, PostgreSQL's ``disk_full``/``53100``, ``ENOSPC`` from a
  file the import writes) → :class:`~kehu.errors.StoreFullError`;
- any other operational failure (the server is unreachable, the connection broke) →
  :class:`~kehu.errors.StoreError`.

Each carries its catalog key (``files.locked``, ``files.full``, ``files.unavailable``), so front ends show it in
the reader's language. :func:`translate_store_error` returns None for an error that is not the store's (a bug).
"""

from __future__ import annotations

import errno

from kehu import i18n
from kehu.errors import KehuError, StoreBusyError, StoreError, StoreFullError

__all__ = ["translate_store_error"]

_LOCKED = ("database is locked", "database table is locked", "database schema is locked")
_FULL = ("database or disk is full", "no space left on device", "disk full", "could not extend file")


def translate_store_error(exc: BaseException) -> KehuError | None:
    """The Kehu error a store failure means for people, or None when ``exc`` is not a store failure."""
    if isinstance(exc, KehuError):
        return exc
    from sqlalchemy.exc import DBAPIError, OperationalError

    cause: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    message = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    lowered = message.lower()
    sqlstate = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    if (isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT)) or (
        sqlstate == "53100" or any(s in lowered for s in _FULL)
    ):
        return i18n.refusal(StoreFullError, "files.full", detail=message)
    if any(s in lowered for s in _LOCKED):
        return i18n.refusal(StoreBusyError, "files.locked")
    if isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
        return i18n.refusal(StoreError, "files.unavailable", detail=message)
    return None
