"""The server-rendered pages and their ``.json`` twins.

Each route is thin: it parses the request, calls the facade as the signed-in user (the :data:`Actor` dependency:
``ws.as_user(principal)``; sign-in itself is :mod:`kehu.service.access`) and hands the result to
:func:`kehu.web.render.render`. Every form carries the session's CSRF token (the login form a cookie-bound one) and
posts are refused without it.
"""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

from kehu.cells import spreadsheet_text
from kehu.errors import ValidationError
from kehu.service import access
from kehu.service.access import SessionInfo
from kehu.service.actor import UserActor
from kehu.service.customer_query import CustomerQuery
from kehu.service.tasks import local_today
from kehu.views.charts import dashboard_charts
from kehu.views.customer_list import cursor_key, customers_page
from kehu.views.customer_rows import list_rows
from kehu.views.dashboard import dashboard_page
from kehu.views.figures import score_figures
from kehu.views.settings import settings_page
from kehu.vocabulary import ROLES
from kehu.web.render import (
    LOCALE_COOKIE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    current_session,
    render,
    translator,
    wants_json,
    workspace,
)

__all__ = ["router"]

_EXPORT_COLUMNS = (
    "id", "name", "phone", "email", "company", "region", "city", "tags", "owner", "created_at",
    "clv_12m", "churn_tier", "churn_risk", "revenue", "last_order_at",
)  # fmt: skip
_MAX_UPLOAD = 200 * 1024 * 1024


def signed_in(request: Request) -> SessionInfo:
    """The signed-in session, or a redirect to the login page (JSON twins: 401)."""
    session = current_session(request)
    if session is None:
        raise access.AuthenticationError("please sign in")
    return session


@dataclass
class Posted:
    """A verified form post: the session and the form's fields."""

    session: SessionInfo
    form: FormData

    def text(self, name: str, default: str = "") -> str:
        """A text field (stripped of surrounding blanks)."""
        value = self.form.get(name, default)
        return value.strip() if isinstance(value, str) else default


async def posted(request: Request) -> AsyncIterator[Posted]:
    """A form post from a signed-in user carrying the session's CSRF token (else 403); uploads are closed after."""
    session = await run_in_threadpool(current_session, request)
    if session is None:
        raise access.AuthenticationError("please sign in")
    form = await request.form(max_part_size=_MAX_UPLOAD)
    try:
        token = form.get("csrf_token")
        if not isinstance(token, str) or not secrets.compare_digest(token, session.csrf_token):
            raise HTTPException(403, translator(request)("errors.csrf"))
        yield Posted(session, form)
    finally:
        await form.close()


Session = Annotated[SessionInfo, Depends(signed_in)]
Post = Annotated[Posted, Depends(posted)]


def page_actor(request: Request, session: Session) -> UserActor:
    """The workspace's services as the signed-in user sees them."""
    return workspace(request).as_user(session.principal)


Actor = Annotated[UserActor, Depends(page_actor)]


def _safe_next(target: str | None) -> str:
    """A same-site path to go to after a form (never another host)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/dashboard"


def _set_cookie(request: Request, response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, samesite="lax", secure=request.url.scheme == "https", path="/"
    )


def _optional_int(value: str | None, field: str) -> int | None:
    if value in (None, ""):
        return None
    assert value is not None
    if not value.isdigit() or len(value) > 18:
        raise ValidationError(f"{field}: expected a whole number, got {value[:40]!r}")
    return int(value)


def _query(request: Request) -> CustomerQuery:
    p = request.query_params
    limit = _optional_int(p.get("limit"), "limit") or 50
    sort = p.get("sort") or "id"
    return CustomerQuery(
        q=p.get("q", ""),
        owner_id=_optional_int(p.get("owner"), "owner"),
        region=p.get("region") or None,
        tag=p.get("tag") or None,
        segment=p.get("segment") or None,
        stage=p.get("stage") or None,
        risk=p.get("risk") or None,
        risk_kind=p.get("risk_kind") or None,
        sort=sort,
        descending=p.get("desc") in ("1", "true", "on"),
        after=cursor_key(sort, p.get("after")),
        before=cursor_key(sort, p.get("before")),
        limit=limit,
    )


def _cell(value: Any) -> str:
    """A CSV cell that spreadsheet programs will not run as a formula."""
    if isinstance(value, list):
        value = ";".join(str(v) for v in value)
    text = "" if value is None else (value.isoformat() if hasattr(value, "isoformat") else str(value))
    return spreadsheet_text(text)


#: The routes of the pages (not part of the OpenAPI schema).
router = APIRouter(include_in_schema=False)


# -- sign-in ---------------------------------------------------------------------------------------------
@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/dashboard", status_code=303)


@router.get("/login")
def login_page(request: Request, next: str = "/dashboard", lang: str | None = None) -> Response:
    if current_session(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_form(request, next=next, lang=lang)


def _login_form(
    request: Request, *, next: str, lang: str | None = None, error: str | None = None, status: int = 200
) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    if lang in ("zh-CN", "en"):
        request.state.locale = lang  # this response already speaks the chosen language
    data = {"next": _safe_next(next), "error": error}
    response = render(request, "login.html", data, status_code=status, context={"login_csrf": token})
    _set_cookie(request, response, LOGIN_CSRF_COOKIE, token, None)
    if lang in ("zh-CN", "en"):
        _set_cookie(request, response, LOCALE_COOKIE, lang, 365 * 86400)
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form(max_part_size=64 * 1024)
    token, cookie = form.get("csrf_token"), request.cookies.get(LOGIN_CSRF_COOKIE)
    if not isinstance(token, str) or not cookie or not secrets.compare_digest(token, cookie):
        raise HTTPException(403, translator(request)("errors.csrf"))
    name, password, nxt = (str(form.get(k) or "") for k in ("name", "password", "next"))
    client = request.client.host if request.client else "unknown"
    t = translator(request)
    try:
        session = await run_in_threadpool(access.login, workspace(request), name.strip(), password, client=client)
    except access.TooManyAttemptsError as exc:
        refused = _login_form(request, next=nxt, error=t("login.throttled"), status=429)
        refused.headers["Retry-After"] = str(exc.retry_after)
        return refused
    except access.AuthenticationError:
        return _login_form(request, next=nxt, error=t("login.failed"), status=401)
    response = RedirectResponse(_safe_next(nxt), status_code=303)
    lifetime = int(access.SESSION_LIFETIME.total_seconds())
    _set_cookie(request, response, SESSION_COOKIE, session.token, lifetime)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(request: Request, post: Post) -> Response:
    access.end_session(workspace(request), post.session.token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- dashboard -------------------------------------------------------------------------------------------
@router.get("/dashboard")
@router.get("/dashboard.json")
def dashboard(request: Request, session: Session, actor: Actor) -> Response:
    data = dashboard_page(actor.dashboard.figures())
    if wants_json(request):
        return render(request, "dashboard.html", data)
    chart = dashboard_charts(data, translator(request))
    refresh = actor.refresh.status() if session.principal.role == "admin" else None  # the "refresh now" panel
    return render(request, "dashboard.html", data, context={"chart": chart, "refresh": refresh})


# -- customers -------------------------------------------------------------------------------------------
@router.get("/customers")
@router.get("/customers.json")
def customers(request: Request, session: Session, actor: Actor) -> Response:
    query = _query(request)
    data = customers_page(actor.customers.page(query), query)

    def link(**changes: Any) -> str:
        return "/customers?" + urlencode(query.params(**changes))

    if wants_json(request):
        return render(request, "customers.html", data)
    rows = list_rows(data["customers"], translator(request), data["currency"])
    context = {"link": link, "qs": urlencode(query.params()), "rows": rows}
    return render(request, "customers.html", data, context=context)


@router.get("/customers/export.csv")
def export(request: Request, session: Session, actor: Actor) -> StreamingResponse:
    query = _query(request)
    rows = actor.customers.export(query)

    def lines() -> Iterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf)
        buf.write("\ufeff")  # spreadsheet programs then read the file as UTF-8
        writer.writerow(_EXPORT_COLUMNS)
        for i, row in enumerate(rows):
            writer.writerow([_cell(row.get(c)) for c in _EXPORT_COLUMNS])
            if i % 500 == 0:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue()

    headers = {"Content-Disposition": 'attachment; filename="customers.csv"'}
    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/customers/{customer_id:id}")
@router.get("/customers/{customer_id:id}.json")
def customer(request: Request, session: Session, actor: Actor, customer_id: int) -> Response:
    if customer_id > 2**62:
        raise HTTPException(404, translator(request)("errors.not_found"))
    data = with_figures(request, actor.customers.view(customer_id))
    done = request.query_params.get("done")
    return render(request, "customer.html", data, context={"done": done, "form_error": None})


def with_figures(request: Request, data: dict[str, Any]) -> dict[str, Any]:
    """The customer's data with its published figures named and defined in the reader's language (the page and its
    JSON twin show the same ``figures``)."""
    single = ((data.get("features") or {}).get("frequency")) == 0
    settings = workspace(request).settings
    data["figures"] = score_figures(data.get("scores"), translator(request), settings.currency,
                                    purchase_model=settings.purchase_model, single_purchase=single)  # fmt: skip
    return data


# -- users -----------------------------------------------------------------------------------------------
def _users_page(
    request: Request, session: SessionInfo, message: str | None = None, *, error: str | None = None, status: int = 200
) -> Response:
    ws = workspace(request)
    actor = ws.as_user(session.principal)
    rows = actor.users.all()
    can_edit = session.principal.role == "admin"
    tokens = [{**tok, "user_id": u["id"], "user": u["name"]} for u in rows if can_edit
              for tok in actor.users.tokens_of(u["id"]) if not tok["revoked"]]  # fmt: skip
    data = {"users": rows, "roles": list(ROLES), "can_edit": can_edit, "tokens": tokens,
            "capacity": actor.capacity.overview(today=local_today(ws))}  # fmt: skip
    return render(request, "users.html", data, status_code=status, context={"message": message, "error": error})


@router.get("/settings")
@router.get("/settings.json")
def settings(request: Request, session: Session, actor: Actor) -> Response:
    data = settings_page(actor.system.settings(), actor.system.state(), actor.refresh.status())
    return render(request, "settings.html", data)


@router.get("/users")
@router.get("/users.json")
def users(request: Request, session: Session) -> Response:
    return _users_page(request, session)


@router.post("/users")
def add_user(request: Request, post: Post, actor: Actor) -> Response:
    actor.users.create(
        post.text("name"), role=post.text("role"), password=post.text("password") or None,
        team=post.text("team") or None, display_name=post.text("display_name") or None,
        email=post.text("email") or None,
    )  # fmt: skip
    return _users_page(request, post.session, translator(request)("users.saved"))


@router.post("/users/{user_id:id}/password")
def reset_password(request: Request, post: Post, actor: Actor, user_id: int) -> Response:
    actor.users.reset_password(user_id, post.text("password"))
    return _users_page(request, post.session, translator(request)("users.saved"))


@router.post("/users/{user_id:id}/active")
def set_active(request: Request, post: Post, actor: Actor, user_id: int) -> Response:
    active = post.text("active") == "1"
    actor.users.set_active(user_id, active)
    return _users_page(request, post.session, translator(request)("users.activated" if active else "users.deactivated"))


@router.post("/users/tokens/{token_id:id}/revoke")
def revoke_user_token(request: Request, post: Post, actor: Actor, token_id: int) -> Response:
    actor.users.revoke_any_token(token_id)
    return _users_page(request, post.session, translator(request)("users.token_revoked"))


# -- account ---------------------------------------------------------------------------------------------
def _account_page(
    request: Request,
    session: SessionInfo,
    *,
    message: str | None = None,
    error: str | None = None,
    new_token: str | None = None,
    status: int = 200,
) -> Response:
    actor = workspace(request).as_user(session.principal)
    tokens = actor.users.tokens()
    data = {"user": session.principal.as_dict(), "tokens": tokens, "digest": actor.notifications.digest_settings()}
    if message is None and request.query_params.get("saved") == "digest":
        message = translator(request)("notify.digest.saved")
    context = {"message": message, "error": error, "new_token": new_token}
    return render(request, "account.html", data, status_code=status, context=context)


@router.get("/account")
@router.get("/account.json")
def account(request: Request, session: Session) -> Response:
    return _account_page(request, session)


@router.post("/account/password")
def change_password(request: Request, post: Post) -> Response:
    t = translator(request)
    try:
        access.change_password(
            workspace(request), post.session, post.text("current_password"), post.text("new_password")
        )
    except access.AuthenticationError:  # a wrong current password is not a lost session
        return _account_page(request, post.session, error=t("account.wrong_password"), status=400)
    except ValidationError as exc:
        return _account_page(request, post.session, error=t("errors.invalid", message=str(exc)), status=422)
    return _account_page(request, post.session, message=t("account.changed"))


@router.post("/account/locale")
def set_locale(request: Request, post: Post, actor: Actor) -> Response:
    locale = post.text("locale")
    actor.users.set_locale(locale)
    response = RedirectResponse(_safe_next(post.text("next")), status_code=303)
    _set_cookie(request, response, LOCALE_COOKIE, locale, 365 * 86400)
    return response


@router.post("/account/tokens")
def create_token(request: Request, post: Post, actor: Actor) -> Response:
    _id, token = actor.users.create_token(post.text("name"))
    return _account_page(request, post.session, new_token=token)


@router.post("/account/tokens/{token_id:id}/revoke")
def revoke_token(request: Request, post: Post, actor: Actor, token_id: int) -> Response:
    actor.users.revoke_token(token_id)
    return RedirectResponse("/account", status_code=303)
