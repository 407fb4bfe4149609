"""Rendering: the Jinja2 environment, the per-request language and session, and the one function that turns a
view's data into either an HTML page or its JSON twin.

A page at ``/x`` has its twin at ``/x.json``: both call the same service view and get the same ``data`` dict;
the page adds only presentation context (labels, the signed-in user, the CSRF token).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.convertors import IntegerConvertor, register_url_convertor

from kehu import i18n
from kehu.jsonable import to_jsonable
from kehu.service.access import SessionInfo, resolve_session
from kehu.service.workspace import Workspace
from kehu.vocabulary import LOCALES
from kehu.web.i18n import Translator, catalog, negotiate, translator_for

__all__ = [
    "LOCALE_COOKIE",
    "LOGIN_CSRF_COOKIE",
    "SESSION_COOKIE",
    "IdConvertor",
    "current_session",
    "error_text",
    "locale_for",
    "page_context",
    "render",
    "render_error",
    "translator",
    "wants_json",
]


class IdConvertor(IntegerConvertor):
    """The ``{name:id}`` path parameter of every page route: a record id of at most 18 digits. Ids are 64-bit
    integers in the store, so a longer number cannot name a record; it does not match the route (404) instead of
    reaching the store and overflowing (issue 23). The API's ids are bounded by ``le=MAX_ID`` instead."""

    regex = "[0-9]{1,18}"


register_url_convertor("id", IdConvertor())  # before any page module declares a route (they all import this one)

SESSION_COOKIE = "kehu_session"
LOCALE_COOKIE = "kehu_locale"
LOGIN_CSRF_COOKIE = "kehu_login_csrf"
_TEMPLATES = Path(__file__).with_name("templates")


@cache
def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=select_autoescape(["html"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


@cache
def _locale_names() -> list[tuple[str, str]]:
    return [(code, catalog(code)["_format"]["language_name"]) for code in LOCALES]


def wants_json(request: Request) -> bool:
    """Whether the request is for JSON (the API or a page's ``.json`` twin)."""
    path = request.url.path
    return path.startswith("/api/") or path.endswith(".json")


def workspace(request: Request) -> Workspace:
    """The app's workspace."""
    ws: Workspace = request.app.state.workspace
    return ws


def current_session(request: Request) -> SessionInfo | None:
    """The request's browser session (looked up once per request; call from a worker thread)."""
    if not hasattr(request.state, "session"):
        token = request.cookies.get(SESSION_COOKIE, "")
        request.state.session = resolve_session(workspace(request), token) if token else None
    session: SessionInfo | None = request.state.session
    return session


def locale_for(request: Request) -> str:
    """The user's language, else the language cookie, else the browser's ``Accept-Language``."""
    chosen = getattr(request.state, "locale", None)
    if chosen in LOCALES:
        return str(chosen)
    session: SessionInfo | None = getattr(request.state, "session", None)
    if session is not None and session.principal.locale in LOCALES:
        return str(session.principal.locale)
    cookie = request.cookies.get(LOCALE_COOKIE)
    if cookie in LOCALES:
        return str(cookie)
    return negotiate(request.headers.get("accept-language"))


def error_text(request: Request, error: BaseException) -> str:
    """An error's message in the request's language (see :func:`kehu.i18n.error_text`)."""
    return i18n.error_text(error, locale_for(request))


def translator(request: Request) -> Translator:
    """Labels and formatting for the request's language."""
    return translator_for(locale_for(request), request.app.state.settings.timezone)


def page_context(request: Request, **extra: Any) -> dict[str, Any]:
    """What every page template gets: labels, the user, the CSRF token, the current path."""
    session: SessionInfo | None = getattr(request.state, "session", None)
    t = translator(request)
    return {
        "t": t,
        "user": session.principal if session else None,
        "csrf_token": session.csrf_token if session else "",
        "path": request.url.path,
        "full_path": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "locales": _locale_names(),
        "currency": request.app.state.settings.currency,
        "notify_unread": None,  # the bell's number: counted by render() (pages), not by the error page
        **extra,
    }


def render(
    request: Request,
    template: str,
    data: Any,
    *,
    status_code: int = 200,
    context: dict[str, Any] | None = None,
) -> Response:
    """The page ``template`` over ``data``, or ``data`` itself as JSON when the twin was asked for."""
    if wants_json(request):
        return JSONResponse(to_jsonable(data), status_code=status_code)
    extra = dict(context or {})
    session: SessionInfo | None = getattr(request.state, "session", None)
    if session is not None:
        extra.setdefault("notify_unread", workspace(request).as_user(session.principal).notifications.unread())
    html = _env().get_template(template).render(page_context(request, data=data, **extra))
    return HTMLResponse(html, status_code=status_code)


def render_error(request: Request, status_code: int, message: str) -> Response:
    """The error page (HTML) for a failed page request."""
    t = translator(request)
    labels = {401: "errors.sign_in", 403: "errors.forbidden", 404: "errors.not_found"}
    headline = t(labels[status_code]) if status_code in labels else t("errors.title")
    html = (
        _env()
        .get_template("error.html")
        .render(page_context(request, data={"status": status_code, "message": message}, headline=headline))
    )
    return HTMLResponse(html, status_code=status_code)
