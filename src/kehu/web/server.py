"""Serving the web app with uvicorn (``kehu serve``)."""

from __future__ import annotations

import os
from typing import Any

from kehu.config import Settings

__all__ = ["app_from_environment", "serve", "uvicorn_options"]


def app_from_environment() -> Any:
    """The app for the settings in the environment (uvicorn's factory when serving with several workers)."""
    from kehu.config import load_settings
    from kehu.web.app import create_app

    return create_app(load_settings())


def uvicorn_options(host: str, port: int, *, access_log: bool = True) -> dict[str, Any]:
    """How `kehu serve` runs uvicorn. Its own proxy-header handling is off: it would believe ``X-Forwarded-For``
    from any loopback client; the app believes it only from ``KEHU_TRUSTED_PROXIES`` (:mod:`kehu.web.proxy`)."""
    return {"host": host, "port": port, "proxy_headers": False, "access_log": access_log}


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    workers: int = 1,
    access_log: bool = True,
    schedule: bool = True,
) -> None:
    """Serve the web app until interrupted.

    Parameters
    ----------
    settings
        The workspace to serve (its store must be initialised: ``kehu init``).
    host, port
        Where to listen. Behind a TLS-terminating reverse proxy, list the proxy's address in
        ``KEHU_TRUSTED_PROXIES``: its ``X-Forwarded-For``/``X-Forwarded-Proto`` are then believed (and session
        cookies marked ``Secure``); no other client's are (:mod:`kehu.web.proxy`).
    workers
        Worker processes. Sessions, tokens and throttling live in the store, so several workers share them;
        with more than one, the settings reach the workers as ``KEHU_HOME``/``KEHU_DATABASE_URL``.
    access_log
        Log one line per request (method, path, status; never form bodies or passwords).
    schedule
        Keep the schedule (:class:`~kehu.service.scheduler.Scheduler`): the daily run at
        ``KEHU_SCHEDULE_DAILY_AT`` (default 02:00; once at start when a scheduled time was missed) and outbox
        delivery every ``KEHU_SCHEDULE_DELIVERY_SECONDS``.

    Raises
    ------
    StoreError
        The store is missing or not migrated (checked before listening).
    """
    import uvicorn

    from kehu.service.scheduler import Scheduler, parse_daily_at
    from kehu.service.workspace import Workspace
    from kehu.store.db import ensure_current
    from kehu.web.app import create_app

    parse_daily_at(settings.schedule_daily_at)  # a bad setting fails before listening
    ws = Workspace(settings)
    ensure_current(ws.engine)
    common = uvicorn_options(host, port, access_log=access_log)
    _thread, stop = Scheduler(settings).start() if schedule else (None, None)  # one per server, not per worker
    try:
        if workers > 1:
            ws.close()
            os.environ["KEHU_HOME"] = str(settings.home)
            os.environ["KEHU_DATABASE_URL"] = settings.resolved_database_url
            uvicorn.run("kehu.web.server:app_from_environment", factory=True, workers=workers, **common)
            return
        uvicorn.run(create_app(settings, workspace=ws), **common)
    finally:
        if stop is not None:
            stop.set()
        ws.close()
