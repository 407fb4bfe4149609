"""The schedule ``kehu serve`` keeps: the daily run (pipeline → value models → segments → playbooks) and delivery.

- Daily, at ``KEHU_SCHEDULE_DAILY_AT`` (``HH:MM`` in ``KEHU_TIMEZONE``, default 02:00; ``off``: never), the
  analytics run (:func:`kehu.service.refresh.execute`, which records it step by step). Catch-up: when the server
  starts after a scheduled time that no run started after (the server was down), it runs once, not once per
  missed day. A run that another process holds the lock for is not started twice; a run started after the
  scheduled time (by the schedule or by an admin's "refresh now") counts, so a restart does not run it again.
  When the pipeline cannot run (e.g. no orders yet), the playbooks still sweep, so date-relative triggers fire
  without new data.
- Every ``KEHU_SCHEDULE_DELIVERY_SECONDS``, the reminders are brought up to date (tasks due and overdue, tickets
  past SLA, the users' daily digests: :mod:`kehu.service.reminders`), then the outbox is delivered (messages after
  quiet hours, retries, digests).

Without ``kehu serve``, cron does the same (see docs/playbooks.md)::

    30 2 * * *  kehu run --home /srv/kehu
    */5 * * * * kehu playbooks deliver --home /srv/kehu
    */5 * * * * kehu notify digest --home /srv/kehu
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

from kehu.config import Settings
from kehu.errors import KehuError
from kehu.service.schedule import DailySchedule, parse_daily_at

__all__ = ["DailySchedule", "Scheduler", "parse_daily_at"]

log = logging.getLogger("kehu.scheduler")

#: a start this long after the scheduled time is a catch-up (the server was down then), not the day's run
_LATE = dt.timedelta(minutes=5)


class Scheduler:
    """Runs the daily job and the delivery loop for one workspace.

    Parameters
    ----------
    settings
        The workspace.
    clock
        Returns "now" (aware); injectable for tests.
    """

    def __init__(self, settings: Settings, *, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.settings = settings
        self.schedule = DailySchedule.from_settings(settings)
        self.daily_at = self.schedule.at
        self.tz = self.schedule.tz
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._tried: dt.datetime | None = None
        self._delivered_at: dt.datetime | None = None
        self._started = False

    def daily_due(self, now: dt.datetime) -> bool:
        """True when a scheduled time has passed that no analytics run started after (nor this scheduler tried)."""
        from kehu.service.refresh import stale_after
        from kehu.service.workspace import Workspace
        from kehu.store.refresh import last_started

        scheduled = self.schedule.last_scheduled(now)
        if scheduled is None or self._tried == scheduled:
            return False
        with Workspace(self.settings) as ws, ws.engine.connect() as conn:
            latest = last_started(conn, now=now, stale_after=stale_after(self.settings))
        return latest is None or latest < scheduled

    def tick(self) -> dict[str, object]:
        """Do what is due now; returns what was done (errors are logged, never raised)."""
        from kehu.service.refresh import claim, execute
        from kehu.service.workspace import Workspace

        now = self.clock()
        done: dict[str, object] = {}
        first, self._started = not self._started, True
        if self.daily_due(now):
            self._tried = self.schedule.last_scheduled(now)
            # the first tick of a server that finds a scheduled time missed is the catch-up
            trigger = "catch_up" if first and self._tried is not None and now - self._tried > _LATE else "schedule"
            with Workspace(self.settings) as ws:
                job = claim(self.settings, ws.engine, trigger=trigger, now=now)
                result = execute(ws, job, now=now, clock=self.clock) if job is not None else None
            if result is None:
                log.info("daily run: another run is going on; not starting a second one")
                done["busy"] = True
            else:
                if "error" not in result:
                    done["run"] = {"as_of": result["as_of"], "playbooks": result.get("playbooks") is not None,
                                   "trigger": trigger}  # fmt: skip
                else:
                    log.warning("daily run: the pipeline did not run (%s); sweeping the playbooks", result["detail"])
                    with Workspace(self.settings) as ws:
                        try:
                            ws.system().playbooks.run(now=now, trigger="schedule")
                            done["sweep"] = True
                        except KehuError as sweep_error:
                            log.error("daily playbook sweep failed: %s", sweep_error)
                            done["error"] = str(sweep_error)
        every = dt.timedelta(seconds=self.settings.schedule_delivery_seconds)
        if self._delivered_at is None or now - self._delivered_at >= every:
            self._delivered_at = now
            with Workspace(self.settings) as ws:
                try:
                    done["reminders"] = ws.system().notifications.remind(now=now)
                except KehuError as exc:
                    log.error("reminders failed: %s", exc)
                try:
                    done["delivery"] = ws.system().playbooks.deliver(now=now)
                except KehuError as exc:
                    log.error("delivery failed: %s", exc)
        return done

    def run_forever(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set (checks twice per delivery interval, at most every 30 s)."""
        pause = min(30.0, self.settings.schedule_delivery_seconds / 2)
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # keep serving the web app whatever happens here
                log.exception("scheduler tick failed")
            stop.wait(pause)

    def start(self) -> tuple[threading.Thread, threading.Event]:
        """Run in a daemon thread; set the returned event to stop it."""
        stop = threading.Event()
        thread = threading.Thread(target=self.run_forever, args=(stop,), name="kehu-scheduler", daemon=True)
        thread.start()
        return thread, stop
