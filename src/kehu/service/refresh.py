"""The analytics run as ``kehu serve`` runs it: on its daily schedule, once to catch up, or when an admin presses
"refresh now" — one at a time across every server process, step by step in the store.

:func:`claim` takes the store's run lock (:mod:`kehu.store.refresh`) and records the run; :func:`execute` runs
:meth:`Workspace.run <kehu.service.workspace.Workspace.run>` with the run's progress written to the store as each
step starts and ends, beats the lock while it works, records how the run ended and releases the lock. Any page or
process reads the progress with :meth:`RefreshService.status`.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

from sqlalchemy.exc import SQLAlchemyError

from kehu.config import Settings
from kehu.errors import ConfigError, DependencyError, StoreError, ValidationError
from kehu.publish.run import STEPS, StageCallback
from kehu.service.access import require_role
from kehu.service.principal import Service
from kehu.service.schedule import DailySchedule
from kehu.store import refresh as store

__all__ = ["LOCK", "Claim", "RefreshService", "Runs", "claim", "execute", "failure_kind"]

log = logging.getLogger("kehu.refresh")

#: The name of the one lock every analytics run of ``kehu serve`` takes.
LOCK = "analytics_run"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def stale_after(settings: Settings) -> dt.timedelta:
    """How long a run's lock may go without a beat before another process takes it over."""
    return dt.timedelta(seconds=settings.refresh_stale_seconds)


@dataclass(frozen=True)
class Claim:
    """A run that holds the lock: its ``run_id`` in ``refresh_runs`` and the ``holder`` token of the lock."""

    run_id: int
    holder: str
    trigger: str


def claim(
    settings: Settings, engine: Any, *, trigger: str, requested_by: int | None = None, now: dt.datetime | None = None
) -> Claim | None:
    """Take the run lock and record a run that starts now; ``None`` when another run holds the lock."""
    now = now or _utcnow()
    holder = secrets.token_hex(16)
    if not store.take_lock(engine, LOCK, holder, now=now, stale_after=stale_after(settings)):
        return None
    run_id = store.start_run(engine, trigger=trigger, requested_by=requested_by, now=now)
    store.beat(engine, LOCK, holder, now=now, run_id=run_id)
    return Claim(run_id, holder, trigger)


def failure_kind(error: BaseException) -> str:
    """The kind of a failed run as the pages explain it (``refresh.error_<kind>``)."""
    if isinstance(error, DependencyError):
        return "engine"
    if isinstance(error, ConfigError):
        return "config"
    if isinstance(error, StoreError):
        return "store"
    if isinstance(error, ValidationError):
        return "data"
    return "unexpected"


def _without_orders(engine: Any) -> bool:
    """Whether the store holds no order yet (then any failure of the run is for want of data)."""
    import sqlalchemy as sa

    from kehu.store.schema import orders

    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(orders.c.id).limit(1)).first() is None
    except SQLAlchemyError:
        return False


class Runs(Protocol):
    """What :func:`execute` needs of a workspace (:class:`kehu.service.workspace.Workspace` is one): its settings,
    its store engine and the analytics run itself."""

    @property
    def settings(self) -> Settings: ...

    @property
    def engine(self) -> Any: ...

    def run(
        self, *, now: dt.datetime | None = None, trigger: str = "run", on_stage: StageCallback | None = None
    ) -> dict[str, Any]: ...


def execute(
    ws: Runs,
    job: Claim,
    *,
    now: dt.datetime | None = None,
    clock: Callable[[], dt.datetime] = _utcnow,
) -> dict[str, Any]:
    """Run the claimed run (pipeline, value models, churn, segments, playbooks), its progress written to the store.

    Returns the run's result, or ``{"error": kind, "detail": message}`` when it failed (never raises for a
    failed run: the failure is recorded and logged). The lock is released in every case.
    """
    settings = ws.settings
    playbooks_trigger = {"catch_up": "schedule"}.get(job.trigger, job.trigger)
    stop = threading.Event()
    engine = ws.engine

    def on_stage(phase: str, step: str, seconds: float | None) -> None:
        try:
            if phase == "start":
                store.step_started(engine, job.run_id, step, now=clock())
            else:
                store.step_done(engine, job.run_id, step, seconds or 0.0, now=clock())
        except SQLAlchemyError as exc:  # the progress shown lags; the run goes on
            log.warning("analytics run %s: progress of %s not written (%s)", job.run_id, step, exc)

    def keep_beating() -> None:
        every = max(1.0, min(30.0, settings.refresh_stale_seconds / 4))
        while not stop.wait(every):
            try:
                store.beat(engine, LOCK, job.holder, now=clock(), run_id=job.run_id)
            except SQLAlchemyError as exc:  # a busy store: beat again next time, well before the lock is stale
                log.warning("analytics run %s: lock not renewed (%s)", job.run_id, exc)

    beater = threading.Thread(target=keep_beating, name=f"kehu-refresh-{job.run_id}", daemon=True)
    beater.start()
    try:
        result = ws.run(now=now, trigger=playbooks_trigger, on_stage=on_stage)
        store.finish_run(engine, job.run_id, now=clock(), as_of=dt.date.fromisoformat(result["as_of"]))
        log.info("analytics run %s (%s) as of %s done", job.run_id, job.trigger, result["as_of"])
        return result
    except Exception as exc:  # recorded for the pages; the server keeps serving
        kind = "data" if _without_orders(engine) else failure_kind(exc)
        if kind == "unexpected":
            log.exception("analytics run %s (%s) failed", job.run_id, job.trigger)
        else:
            log.warning("analytics run %s (%s) failed: %s", job.run_id, job.trigger, exc)
        store.finish_run(engine, job.run_id, now=clock(), error=kind, detail=str(exc)[:2000])
        return {"error": kind, "detail": str(exc)}
    finally:
        stop.set()
        beater.join(timeout=5)
        store.release_lock(engine, LOCK, job.holder)


def _shown(row: dict[str, Any], *, now: dt.datetime, stale: dt.timedelta) -> dict[str, Any]:
    """A run as the pages show it: a running run that stopped beating is ``interrupted``; its seconds so far."""
    status = row["status"]
    if status == "running" and row["beat_at"] < now - stale:
        status = "interrupted"
    end = row["finished_at"] or (now if status == "running" else row["beat_at"])
    done = [s["step"] for s in row["steps"]]
    return {
        "id": row["id"],
        "trigger": row["trigger"],
        "requested_by": row["requested_by"],
        "status": status,
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "seconds": round(max(0.0, (end - row["started_at"]).total_seconds()), 1),
        "step": row["step"] if status == "running" else None,
        "steps": [{"step": name, "state": "done" if name in done else ("running" if status == "running"
                   and row["step"] == name else "waiting"),
                   "seconds": next((s["seconds"] for s in row["steps"] if s["step"] == name), None)}
                  for name in STEPS],
        "steps_done": len([name for name in STEPS if name in done]),
        "steps_total": len(STEPS),
        "as_of": row["as_of"],
        "error": row["error"],
    }  # fmt: skip


def _utc_offset(local: dt.datetime) -> str:
    """``UTC+8``, ``UTC-5``, ``UTC+5:30``: the offset of a local time, the same in every language."""
    minutes = int((local.utcoffset() or dt.timedelta()).total_seconds() // 60)
    sign, minutes = ("+" if minutes >= 0 else "-"), abs(minutes)
    return f"UTC{sign}{minutes // 60}" + (f":{minutes % 60:02d}" if minutes % 60 else "")


class RefreshService(Service):
    """The daily analytics run, its schedule and the "refresh now" of admins."""

    def start(self, *, trigger: str = "web", now: dt.datetime | None = None) -> dict[str, Any]:
        """Start the analytics run in the background (admins); when one is running already, that one is returned
        (``started`` False). Returns the run as :meth:`status` shows it."""
        require_role(self.principal, "admin")
        settings = self.ws.settings
        requested_by = self.principal.id or None
        job = claim(settings, self.ws.engine, trigger=trigger, requested_by=requested_by, now=now)
        if job is None:
            current = self.status()["running"]
            return {"started": False, "run": current}
        runs = cast(Runs, self.ws)  # the workspace itself: the run object, its store engine and settings
        thread = threading.Thread(target=execute, args=(runs, job), name=f"kehu-run-{job.run_id}", daemon=True)
        thread.start()
        return {"started": True, "run": self.run(job.run_id)}

    def run(self, run_id: int, *, now: dt.datetime | None = None) -> dict[str, Any]:
        """One run as the progress panel shows it (admins)."""
        from kehu.errors import NotFoundError

        require_role(self.principal, "admin")
        now = now or _utcnow()
        with self.ws.engine.connect() as conn:
            rows = store.recent_runs(conn, run_id=run_id)
        if not rows:
            raise NotFoundError(f"no analytics run {run_id}")
        return _shown(rows[0], now=now, stale=stale_after(self.ws.settings))

    def status(self, *, now: dt.datetime | None = None) -> dict[str, Any]:
        """The schedule (daily time, time zone, whether it is on, the next run), the run going on now, the last
        finished run and the recent ones (admins)."""
        require_role(self.principal, "admin")
        now = now or _utcnow()
        stale = stale_after(self.ws.settings)
        with self.ws.engine.connect() as conn:
            rows = [_shown(r, now=now, stale=stale) for r in store.recent_runs(conn, limit=10)]
        schedule = DailySchedule.from_settings(self.ws.settings)
        next_run = schedule.next_run(now)
        running = next((r for r in rows if r["status"] == "running"), None)
        last = next((r for r in rows if r["status"] != "running"), None)
        return {
            "schedule": {
                "on": schedule.at is not None,
                "daily_at": schedule.at.strftime("%H:%M") if schedule.at else None,
                "timezone": self.ws.settings.timezone,
                "utc_offset": _utc_offset((next_run or now).astimezone(schedule.tz)),
                "next_run": next_run,
            },
            "running": running,
            "last": last,
            "runs": rows,
            "steps": list(STEPS),
        }
