"""The web application: ``create_app(settings)`` builds one FastAPI app with the server-rendered pages, their JSON
twins, the REST API under ``/api/`` and the static assets (all served by the app itself; no CDN).

Errors are translated once here: Kehu's errors become an error page (pages), ``{"error": …}`` (JSON twins and
API) with the status of :func:`kehu.api.routes.error_status`; a page that needs a signed-in user redirects to
the login page instead.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kehu.api import loop_routes, notify_routes, refresh_routes, routes, task_routes
from kehu.api.routes import error_status
from kehu.config import Settings
from kehu.errors import KehuError
from kehu.service.access import AuthenticationError, TooManyAttemptsError
from kehu.service.workspace import Workspace
from kehu.web import (
    campaign_pages,
    capacity_pages,
    customer_pages,
    effect_pages,
    import_pages,
    notify_pages,
    pages,
    playbook_pages,
    refresh_pages,
    segment_pages,
    task_pages,
    ticket_pages,
)
from kehu.web.render import locale_for, render_error, wants_json

__all__ = ["create_app"]

_STATIC = Path(__file__).with_name("static")
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
_SECURITY_HEADERS = (
    ("Content-Security-Policy", _CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
)


def create_app(settings: Settings, *, workspace: Workspace | None = None) -> FastAPI:
    """Build the web app for one workspace.

    Parameters
    ----------
    settings
        Kehu's settings (the store to serve).
    workspace
        An already open workspace over ``settings`` (tests, benchmarks); by default one is created here and
        closed when the app shuts down.

    Returns
    -------
    FastAPI
        The app; serve it with uvicorn (see :func:`kehu.web.server.serve`).
    """
    ws = workspace or Workspace(settings)
    owned = workspace is None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            ws.close()

    app = FastAPI(
        lifespan=lifespan,
        title="Kehu",
        summary="Customer value management: REST API",
        version="0.1.0",
        openapi_url="/api/openapi.json",
        docs_url=None,  # the interactive docs load assets from a CDN; Kehu serves everything itself
        redoc_url=None,
    )
    app.state.workspace = ws
    app.state.settings = settings
    for router in (
        routes.router, loop_routes.router, pages.router, segment_pages.router, customer_pages.router,
        import_pages.router, ticket_pages.router, campaign_pages.router, task_routes.router, task_pages.router,
        playbook_pages.router, effect_pages.router, notify_routes.router, notify_pages.router,
        refresh_pages.router, refresh_routes.router, capacity_pages.router,
    ):  # fmt: skip
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=_STATIC), name="static")

    app.add_middleware(ReadsInTurn, at_once=settings.web_concurrent_reads)
    app.add_middleware(SpreadConnections)
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(KehuError)
    async def kehu_error(request: Request, exc: KehuError) -> Response:
        status = error_status(exc)
        # issue 23: an error that carries its text in every language (kehu.service.scope.denied) is shown in the
        # request's language
        texts = getattr(exc, "texts", None)
        if isinstance(texts, dict) and locale_for(request) in texts:
            exc = type(exc)(texts[locale_for(request)])
        if wants_json(request):
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            if isinstance(exc, TooManyAttemptsError):
                headers = {"Retry-After": str(exc.retry_after)}
            return JSONResponse({"error": str(exc)}, status_code=status, headers=headers)
        if isinstance(exc, AuthenticationError) and not isinstance(exc, TooManyAttemptsError):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        return render_error(request, status, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors())
        if wants_json(request):
            return JSONResponse({"error": problems, "detail": _plain(exc.errors())}, status_code=422)
        return render_error(request, 422, problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if wants_json(request) or request.url.path.startswith("/static/"):
            return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)
        return render_error(request, exc.status_code, str(exc.detail))

    return app


class SecurityHeaders:
    """Adds the security headers to every response (and ``Cache-Control: no-store`` to all but static assets).

    A plain ASGI middleware: Starlette's ``@app.middleware("http")`` runs each request through an extra task and
    memory streams, which costs a busy server noticeable CPU per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _SECURITY_HEADERS:
                    headers.setdefault(name, value)
                if not static:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


class SpreadConnections:
    """Asks the browser to open a new connection after ``requests`` requests on one (``Connection: close``).

    With several worker processes, a kept-alive connection stays with the worker that accepted it; a worker that
    happened to accept more of them stays busier while the other idles. A new connection is accepted by whichever
    worker gets to it first — usually the less busy one — so renewing connections now and then spreads the
    browsers over the workers again. Costs one local TCP handshake per ``requests`` requests."""

    def __init__(self, app: ASGIApp, *, requests: int = 20) -> None:
        self.app = app
        self.requests = requests
        self._served: dict[tuple[str, int], int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] != "http" or not client or scope.get("http_version") not in ("1.0", "1.1"):
            await self.app(scope, receive, send)
            return
        key = (str(client[0]), int(client[1]))
        served = self._served.get(key, 0) + 1
        if served < self.requests:
            if len(self._served) > 50_000:  # connections closed by the browser leave their count behind
                self._served.clear()
            self._served[key] = served
            await self.app(scope, receive, send)
            return
        self._served.pop(key, None)

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Connection"] = "close"
            await send(message)

        await self.app(scope, receive, send_closing)


class ReadsInTurn:
    """Lets at most ``at_once`` reads (``GET``/``HEAD`` of pages, JSON twins and the API) of this process be worked
    on at once; the others wait for their turn in the order they came.

    A read's work is Python code in the thread pool, and Python runs one thread at a time: twenty requests worked on
    together take as long in total as one after the other, but each of them takes twenty times as long, and the
    switching between threads costs CPU of its own. Taking requests in turn keeps each one's time close to its own
    work plus the queue ahead of it. A read holds its turn until its response starts (a streamed export then goes
    on without it) or for at most ``turn_seconds`` (a slow page then goes on beside the next ones instead of
    holding them up); posts (forms, uploads) and static files do not wait, so a slow upload holds up no one.
    """

    def __init__(self, app: ASGIApp, *, at_once: int, turn_seconds: float = 0.25) -> None:
        self.app = app
        self.at_once = at_once
        self.turn_seconds = turn_seconds
        self._turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") not in ("GET", "HEAD")
            or str(scope.get("path", "")).startswith("/static/")
        ):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        turns = self._turns.get(loop)
        if turns is None:  # one per event loop (the server has one; tests may start several)
            turns = self._turns[loop] = asyncio.Semaphore(self.at_once)
        await turns.acquire()
        holding = True

        def give_back() -> None:
            nonlocal holding
            if holding:
                holding = False
                turns.release()

        timer = loop.call_later(self.turn_seconds, give_back)

        async def send_and_give_back(message: Message) -> None:
            if message["type"] == "http.response.start":
                give_back()
            await send(message)

        try:
            await self.app(scope, receive, send_and_give_back)
        finally:
            timer.cancel()
            give_back()


def _plain(errors: Any) -> Any:
    """Validation errors as plain JSON (pydantic puts exceptions and bytes into ``ctx``/``input``)."""
    out = []
    for e in errors:
        out.append({"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": e.get("type")})
    return out
