"""Serving the web app with uvicorn (``kehu serve``)."""

from __future__ import annotations

from kehu.config import Settings

__all__ = ["serve"]


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000, *, access_log: bool = True) -> None:
    """Serve the web app until interrupted.

    Parameters
    ----------
    settings
        The workspace to serve (its store must be initialised: ``kehu init``).
    host, port
        Where to listen. Behind a TLS-terminating proxy, session cookies are marked ``Secure`` because uvicorn
        trusts the proxy's ``X-Forwarded-Proto`` from ``127.0.0.1``.
    access_log
        Log one line per request (method, path, status; never form bodies or passwords).

    Raises
    ------
    StoreError
        The store is missing or not migrated (checked before listening).
    """
    import uvicorn

    from kehu.service.workspace import Workspace
    from kehu.store.db import ensure_current
    from kehu.web.app import create_app

    ws = Workspace(settings)
    ensure_current(ws.engine)
    app = create_app(settings, workspace=ws)
    try:
        uvicorn.run(app, host=host, port=port, proxy_headers=True, log_level="info", access_log=access_log)
    finally:
        ws.close()
