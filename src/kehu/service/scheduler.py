"""The schedule ``kehu serve`` keeps: the daily run (pipeline → value models → segments → playbooks) and delivery.

- Daily, at ``KEHU_SCHEDULE_DAILY_AT`` (local ``HH:MM``, unset: never), :meth:`Workspace.run` — unless a scheduled
  run already started after today's scheduled time (``playbook_runs``; a restart does not run it twice). When
  the pipeline cannot run (e.g. no orders yet), the playbooks still sweep, so date-relative triggers fire
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
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from kehu.config import Settings
from kehu.errors import ConfigError, KehuError
from kehu.store.actions import playbook_runs

__all__ = ["Scheduler", "parse_daily_at"]

log = logging.getLogger("kehu.scheduler")


def parse_daily_at(text: str | None) -> dt.time | None:
    """``HH:MM`` -> time (None when unset); raises :class:`ConfigError` naming the setting."""
    if not text:
        return None
    try:
        return dt.time.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"KEHU_SCHEDULE_DAILY_AT={text!r} is not a time of day (HH:MM)") from None


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
        self.daily_at = parse_daily_at(settings.schedule_daily_at)
        self.tz = ZoneInfo(settings.timezone)
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._tried: dt.date | None = None
        self._delivered_at: dt.datetime | None = None

    def daily_due(self, now: dt.datetime) -> bool:
        """True when today's scheduled time has passed and no pipeline run started since."""
        if self.daily_at is None:
            return False
        local = now.astimezone(self.tz)
        scheduled = dt.datetime.combine(local.date(), self.daily_at, self.tz)
        if local < scheduled or self._tried == local.date():
            return False
        from kehu.service.workspace import Workspace

        with Workspace(self.settings) as ws, ws.engine.connect() as conn:
            latest = conn.execute(
                sa.select(sa.func.max(playbook_runs.c.started_at)).where(playbook_runs.c.trigger == "schedule")
            ).scalar()
        return latest is None or latest < scheduled

    def tick(self) -> dict[str, object]:
        """Do what is due now; returns what was done (errors are logged, never raised)."""
        from kehu.service.workspace import Workspace

        now = self.clock()
        done: dict[str, object] = {}
        if self.daily_due(now):
            self._tried = now.astimezone(self.tz).date()
            with Workspace(self.settings) as ws:
                try:
                    result = ws.run(now=now, trigger="schedule")
                    done["run"] = {"as_of": result["as_of"], "playbooks": result.get("playbooks") is not None}
                    log.info("daily run as of %s done", result["as_of"])
                except KehuError as exc:
                    log.warning("daily run: the pipeline did not run (%s); sweeping the playbooks", exc)
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
