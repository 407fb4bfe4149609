"""Imports and analytics runs take turns on one store: one writes at a time, the next waits for it.

An import writes a whole file in one transaction and a run publishes a day's results; two of them at once on
SQLite used to end the second with ``database is locked`` after the busy timeout, and on PostgreSQL could
conflict row by row. :func:`store_turn` makes them take turns, across threads and processes (the web app's
workers, ``kehu import`` in a shell, the scheduler):

- SQLite: an exclusive ``flock`` on a file beside the database (``kehu.db.turn``), which also records who holds
  the turn (what, process, since) for the one waiting;
- PostgreSQL: a session advisory lock held by a connection of its own, whose ``application_name`` records who
  holds it;
- an in-memory SQLite store: a lock of this process.

The operating system or the database server releases the turn when its holder's process dies, so a killed
import never blocks the next one. Waiting calls ``on_wait`` once with the holder (the CLI prints "waiting for …",
the web app shows the job as queued) and gives up with :class:`~kehu.errors.StoreBusyError` after
``wait_seconds``. Turns are re-entrant within a thread (an import inside a run's own work does not wait for
itself). Reads never take a turn: SQLite runs in WAL mode, where readers do not wait for the writer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Protocol

from sqlalchemy import Engine, text

from kehu import i18n
from kehu.errors import StoreBusyError

__all__ = ["Holder", "store_turn", "waiting_params"]

#: the advisory lock of the store's turn on PostgreSQL (two 32-bit keys: "keh", 1)
_PG_KEYS = (0x6B6568, 1)
_POLL_SECONDS = 0.2
_local = threading.local()
_memory_locks: dict[str, threading.Lock] = {}
_memory_guard = threading.Lock()

Holder = dict[str, Any]  # {"what": "import" | "run", "pid": int | None, "since": ISO text | None}


@contextlib.contextmanager
def store_turn(
    engine: Engine,
    what: str,
    *,
    wait_seconds: float = 3600,
    on_wait: Callable[[Holder], None] | None = None,
) -> Iterator[None]:
    """Hold the store's turn for ``what`` ("import" or "run") while the block runs.

    Parameters
    ----------
    engine
        The store.
    what
        What takes the turn, told to whoever waits for it.
    wait_seconds
        How long to wait for another holder before giving up.
    on_wait
        Called once, with the holder, when the turn is taken and this call has to wait.

    Raises
    ------
    StoreBusyError
        The turn stayed taken for ``wait_seconds``; nothing was done.
    """
    key = str(engine.url)
    held: dict[str, int] = _local.__dict__.setdefault("held", {})
    if held.get(key):
        held[key] += 1
        try:
            yield
        finally:
            held[key] -= 1
        return
    if engine.dialect.name == "postgresql":
        turn: _Turn = _PostgresTurn(engine)
    elif engine.url.database and engine.url.database != ":memory:":
        turn = _FileTurn(Path(engine.url.database).with_suffix(Path(engine.url.database).suffix + ".turn"))
    else:
        turn = _MemoryTurn(key)
    me: Holder = {"what": what, "pid": os.getpid(), "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    _take(turn, me, wait_seconds, on_wait)
    held[key] = 1
    try:
        yield
    finally:
        held.pop(key, None)
        turn.release()


def _take(turn: _Turn, me: Holder, wait_seconds: float, on_wait: Callable[[Holder], None] | None) -> None:
    if turn.try_take(me):
        return
    holder = turn.holder()
    if on_wait is not None:
        on_wait(holder)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
        if turn.try_take(me):
            return
    turn.release()
    what = "run" if holder.get("what") == "run" else "import"
    raise i18n.refusal(StoreBusyError, "files.busy", what=f"@files.what.{what}", seconds=int(wait_seconds))


def waiting_params(holder: Holder) -> dict[str, object]:
    """The values of the catalog's ``files.waiting`` and ``files.queued`` for a holder (what, pid, since)."""
    what = "run" if holder.get("what") == "run" else "import"
    return {"what": f"@files.what.{what}", "pid": holder.get("pid") or "?", "since": holder.get("since") or "?"}


class _Turn(Protocol):
    """A store's turn: a file lock beside SQLite or an advisory lock on PostgreSQL."""

    def try_take(self, me: Holder) -> bool: ...

    def holder(self) -> Holder: ...

    def release(self) -> None: ...


class _FileTurn(_Turn):
    """``flock`` on a file beside the SQLite database; the holder's description is the file's content."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file: IO[str] | None = None

    def try_take(self, me: Holder) -> bool:
        import fcntl

        if self.file is None:
            self.file = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(self.file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self.file.seek(0)
        self.file.truncate()
        self.file.write(json.dumps(me))
        self.file.flush()
        return True

    def holder(self) -> Holder:
        try:
            found = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            found = {}
        return {"what": found.get("what"), "pid": found.get("pid"), "since": found.get("since")}

    def release(self) -> None:
        if self.file is not None:
            self.file.close()  # closing the file releases the lock
            self.file = None


class _PostgresTurn(_Turn):
    """A session advisory lock on a connection of its own; ``application_name`` says who holds it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.conn: Any = None

    def try_take(self, me: Holder) -> bool:
        if self.conn is None:
            self.conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        got = self.conn.execute(text("SELECT pg_try_advisory_lock(:a, :b)"), {"a": _PG_KEYS[0], "b": _PG_KEYS[1]})
        if not got.scalar():
            return False
        name = f"kehu {me['what']} {me['pid']} {me['since']}"
        self.conn.execute(text("SELECT set_config('application_name', :name, false)"), {"name": name[:63]})
        return True

    def holder(self) -> Holder:
        row = self.conn.execute(
            text(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :a AND l.objid = :b AND l.objsubid = 2"
            ),
            {"a": _PG_KEYS[0], "b": _PG_KEYS[1]},
        ).first()
        parts = (row[0] if row else "").split(" ")
        if len(parts) == 4 and parts[0] == "kehu":
            return {"what": parts[1], "pid": int(parts[2]) if parts[2].isdigit() else None, "since": parts[3]}
        return {"what": None, "pid": None, "since": None}

    def release(self) -> None:
        if self.conn is None:
            return
        with contextlib.suppress(Exception):  # a connection that broke has released its session's locks
            self.conn.execute(text("SELECT pg_advisory_unlock_all()"))
            self.conn.execute(text("RESET application_name"))
        self.conn.close()
        self.conn = None


class _MemoryTurn(_Turn):
    """A lock of this process, for an in-memory store (which no other process can open)."""

    def __init__(self, key: str) -> None:
        with _memory_guard:
            self.lock = _memory_locks.setdefault(key, threading.Lock())
        self.me: Holder = {}
        self.taken = False

    def try_take(self, me: Holder) -> bool:
        self.taken = self.lock.acquire(blocking=False)
        return self.taken

    def holder(self) -> Holder:
        return {"what": None, "pid": os.getpid(), "since": None}

    def release(self) -> None:
        if self.taken:
            self.lock.release()
            self.taken = False
