"""The daily analytics run's record and its lock: what ``kehu serve``'s schedule and the "refresh now" button ran,
step by step, and which process holds the right to run it now.

Tables (on :data:`kehu.store.schema.metadata`)::

    refresh_runs    one row per analytics run started by the schedule, its catch-up or a person: trigger, who,
                    started and finished, status (running | done | failed | interrupted), the step running now,
                    the steps done with their seconds, the day it published, the kind of failure
    run_locks       one row per lock held: name, holder, the run it guards, taken and last beat

A lock is a row: taking it inserts the row (the primary key refuses a second holder, in any process on any
server), releasing it deletes it. The holder beats while it works; a lock whose beat is older than the stale
timeout (a process that crashed) is taken over by one compare-and-set update, and the run it guarded is marked
``interrupted``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Date,
    Engine,
    Index,
    Integer,
    String,
    Table,
    Text,
    delete,
    exc,
    func,
    insert,
    or_,
    select,
    update,
)

from kehu.store.schema import UTCDateTime, metadata

__all__ = [
    "RUN_STATES",
    "beat",
    "finish_run",
    "last_started",
    "mark_interrupted",
    "recent_runs",
    "refresh_runs",
    "release_lock",
    "run_locks",
    "start_run",
    "step_done",
    "step_started",
    "take_lock",
]

RUN_STATES = ("running", "done", "failed", "interrupted")

refresh_runs = Table(
    "refresh_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("trigger", String(20), nullable=False),  # schedule | catch_up | web | api | cli
    Column("requested_by", Integer, nullable=True),  # users.id of the person who pressed the button
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("beat_at", UTCDateTime, nullable=False),  # last sign of life of the process running it
    Column("status", String(12), nullable=False),  # running | done | failed | interrupted
    Column("step", String(20), nullable=True),  # the step running now
    Column("steps", JSON, nullable=False),  # [{"step": "extract", "seconds": 1.2}, ...] in order, done ones
    Column("as_of", Date, nullable=True),  # the day the run published
    Column("error", String(20), nullable=True),  # the kind of failure: data | store | engine | models | unexpected
    Column("detail", Text, nullable=True),  # the failure as the log has it (not shown on pages)
    Index("ix_refresh_runs_started_at", "started_at"),
)

run_locks = Table(
    "run_locks",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("holder", String(64), nullable=False),
    Column("run_id", Integer, nullable=True),
    Column("taken_at", UTCDateTime, nullable=False),
    Column("beat_at", UTCDateTime, nullable=False),
)


def take_lock(engine: Engine, name: str, holder: str, *, now: dt.datetime, stale_after: dt.timedelta) -> bool:
    """Take the lock ``name`` for ``holder``; a lock not beaten for ``stale_after`` is taken over. True if taken.

    The run the stale lock guarded is marked ``interrupted``.
    """
    try:
        with engine.begin() as conn:
            conn.execute(insert(run_locks).values(name=name, holder=holder, taken_at=now, beat_at=now))
        return True
    except exc.IntegrityError:
        pass
    with engine.begin() as conn:
        stale = conn.execute(select(run_locks).where(run_locks.c.name == name)).mappings().first()
        if stale is None:  # released in between: try once more
            conn.execute(insert(run_locks).values(name=name, holder=holder, taken_at=now, beat_at=now))
            return True
        if stale["beat_at"] >= now - stale_after:
            return False
        # compare-and-set: only one of several processes seeing the same stale row wins it
        taken = conn.execute(
            update(run_locks)
            .where(run_locks.c.name == name, run_locks.c.holder == stale["holder"],
                   run_locks.c.beat_at < now - stale_after)
            .values(holder=holder, run_id=None, taken_at=now, beat_at=now)
        ).rowcount  # fmt: skip
        if taken == 1 and stale["run_id"] is not None:
            mark_interrupted(conn, stale["run_id"], now=now)
        return bool(taken == 1)


def beat(engine: Engine, name: str, holder: str, *, now: dt.datetime, run_id: int | None = None) -> bool:
    """Renew the lock's beat (and the beat of the run it guards); False when ``holder`` no longer holds it."""
    with engine.begin() as conn:
        values: dict[str, Any] = {"beat_at": now}
        if run_id is not None:
            values["run_id"] = run_id
        held = conn.execute(
            update(run_locks).where(run_locks.c.name == name, run_locks.c.holder == holder).values(**values)
        ).rowcount
        if held and run_id is not None:
            conn.execute(
                update(refresh_runs)
                .where(refresh_runs.c.id == run_id, refresh_runs.c.status == "running")
                .values(beat_at=now)
            )
    return bool(held)


def release_lock(engine: Engine, name: str, holder: str) -> None:
    """Release the lock if ``holder`` still holds it."""
    with engine.begin() as conn:
        conn.execute(delete(run_locks).where(run_locks.c.name == name, run_locks.c.holder == holder))


def start_run(engine: Engine, *, trigger: str, requested_by: int | None, now: dt.datetime) -> int:
    """Record a run that starts now; returns its id."""
    values: dict[str, Any] = {"trigger": trigger, "requested_by": requested_by, "started_at": now, "beat_at": now,
                              "status": "running", "steps": []}  # fmt: skip
    with engine.begin() as conn:
        key = conn.execute(insert(refresh_runs).values(**values)).inserted_primary_key
    assert key is not None
    return int(key[0])


def step_started(engine: Engine, run_id: int, step: str, *, now: dt.datetime) -> None:
    """The run is now at ``step``."""
    with engine.begin() as conn:
        conn.execute(update(refresh_runs).where(refresh_runs.c.id == run_id).values(step=step, beat_at=now))


def step_done(engine: Engine, run_id: int, step: str, seconds: float, *, now: dt.datetime) -> None:
    """``step`` is done after ``seconds``."""
    with engine.begin() as conn:
        steps = conn.execute(select(refresh_runs.c.steps).where(refresh_runs.c.id == run_id)).scalar_one()
        steps = [s for s in (steps or []) if s["step"] != step] + [{"step": step, "seconds": round(seconds, 2)}]
        conn.execute(update(refresh_runs).where(refresh_runs.c.id == run_id).values(steps=steps, beat_at=now))


def finish_run(
    engine: Engine,
    run_id: int,
    *,
    now: dt.datetime,
    as_of: dt.date | None = None,
    error: str | None = None,
    detail: str | None = None,
) -> None:
    """The run ended: ``done`` (with the day it published) or ``failed`` with the kind of ``error``."""
    with engine.begin() as conn:
        conn.execute(
            update(refresh_runs)
            .where(refresh_runs.c.id == run_id)
            .values(status="failed" if error else "done", finished_at=now, beat_at=now, step=None, as_of=as_of,
                    error=error, detail=detail)
        )  # fmt: skip


def mark_interrupted(conn: Any, run_id: int, *, now: dt.datetime) -> None:
    """A run whose process stopped without finishing it."""
    conn.execute(
        update(refresh_runs)
        .where(refresh_runs.c.id == run_id, refresh_runs.c.status == "running")
        .values(status="interrupted", finished_at=now)
    )


def recent_runs(conn: Any, *, limit: int = 10, run_id: int | None = None) -> list[dict[str, Any]]:
    """The newest runs first (or the one ``run_id``)."""
    query = select(refresh_runs).order_by(refresh_runs.c.id.desc()).limit(limit)
    if run_id is not None:
        query = select(refresh_runs).where(refresh_runs.c.id == run_id)
    return [dict(r) for r in conn.execute(query).mappings()]


def last_started(conn: Any, *, now: dt.datetime, stale_after: dt.timedelta) -> dt.datetime | None:
    """When the newest analytics run that counts started: the newest run recorded here that finished or still
    beats (a run left ``running`` by a crashed process does not count); before the first one, the newest published
    pipeline run (``kehu demo``, ``kehu run`` before ``kehu serve`` ever ran one)."""
    from kehu.store.published import pipeline_runs

    alive = (refresh_runs.c.status == "running") & (refresh_runs.c.beat_at >= now - stale_after)
    counted = or_(refresh_runs.c.status.in_(("done", "failed")), alive)
    recorded: dt.datetime | None = conn.execute(select(func.max(refresh_runs.c.started_at)).where(counted)).scalar()
    if recorded is not None:
        return recorded
    if conn.execute(select(refresh_runs.c.id).limit(1)).first() is not None:
        return None  # only interrupted runs: the schedule catches up
    published: dt.datetime | None = conn.execute(select(func.max(pipeline_runs.c.started_at))).scalar()
    return published
