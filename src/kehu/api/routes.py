"""The REST API under ``/api/``: JSON resources over the same service views the web pages use.

Authentication is a bearer token (``Authorization: Bearer kehu_…``, created on the account page). Roles and
row-level rules are those of :mod:`kehu.service.access`; Kehu's errors become JSON ``{"error": …}`` answers with
the status of :func:`error_status`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from kehu.errors import ImportFileError, KehuError, NotFoundError, StoreError, UploadTooLargeError, ValidationError
from kehu.jsonable import to_jsonable
from kehu.service import access
from kehu.service import imports as import_service
from kehu.service.access import Principal
from kehu.service.actor import UserActor
from kehu.service.customer_query import CustomerQuery
from kehu.service.workspace import Workspace
from kehu.views.customer_list import cursor_key, customers_page
from kehu.views.dashboard import dashboard_page
from kehu.vocabulary import ROLES

__all__ = ["ERROR_RESPONSES", "MAX_ID", "Actor", "ApiError", "error_status", "router", "to_jsonable"]

MAX_ID = 2**62  # ids beyond this cannot exist (and would overflow 64-bit SQL integers)


def error_status(exc: KehuError) -> int:
    """The HTTP status for one of Kehu's errors (the one translation of the error tree to HTTP)."""
    if isinstance(exc, access.TooManyAttemptsError):
        return 429
    if isinstance(exc, access.AuthenticationError):
        return 401
    if isinstance(exc, access.AccessDeniedError):
        return 403
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, UploadTooLargeError):
        return 413
    if isinstance(exc, ValidationError | ImportFileError):
        return 422
    if isinstance(exc, StoreError):
        return 503
    return 400


def workspace(request: Request) -> Workspace:
    """The app's workspace (set by ``create_app``)."""
    ws: Workspace = request.app.state.workspace
    return ws


_bearer = HTTPBearer(auto_error=False, description="An API token from the account page: `Bearer kehu_…`")


def principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The user of the request's bearer token."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise access.AuthenticationError("send an API token as 'Authorization: Bearer <token>'")
    return access.authenticate_token(workspace(request), credentials.credentials)


def current_actor(request: Request, user: Annotated[Principal, Depends(principal)]) -> UserActor:
    """The workspace's services as the token's user sees them."""
    return workspace(request).as_user(user)


User = Annotated[Principal, Depends(principal)]
Actor = Annotated[UserActor, Depends(current_actor)]
CustomerId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="Kehu's customer id")]


class Me(BaseModel):
    """The signed-in user."""

    id: int
    name: str
    display_name: str
    role: str
    team: str | None
    locale: str | None


class CustomerRow(BaseModel):
    """One customer in a list."""

    id: int
    name: str | None
    phone: str | None
    email: str | None
    company: str | None
    region: str | None
    city: str | None
    tags: list[str]
    owner_id: int | None
    owner: str | None
    created_at: dt.datetime
    clv_12m: Decimal | None = Field(description="Published 12-month CLV")
    churn_risk: float | None = Field(description="Purchase churn: probability of no purchase in the horizon")
    churn_tier: str | None
    renewal_risk: float | None = Field(
        default=None, description="Contract non-renewal: probability the contract is not renewed after it ends"
    )
    renewal_tier: str | None = None
    winback: float | None = Field(default=None, description="Lapsed buyers: probability of a purchase in the horizon")
    winback_value: Decimal | None = Field(default=None, description="Lapsed buyers: revenue per year while buying")
    revenue: Decimal | None = Field(description="Published revenue to date")
    last_order_at: dt.datetime | None


class CustomerList(BaseModel):
    """A page of customers; follow ``next``/``prev`` with ``after``/``before``."""

    customers: list[CustomerRow]
    count: int = Field(description="Matching customers, counted up to a bound")
    count_is_lower_bound: bool
    next: str | None
    prev: str | None


class UserPublic(BaseModel):
    """A user (never with a password or its hash)."""

    id: int
    name: str
    display_name: str | None
    role: str
    team: str | None
    email: str | None
    locale: str | None
    active: bool


class UserCreate(BaseModel):
    """A user to create or update."""

    name: str = Field(min_length=1, max_length=100)
    role: str = Field(pattern="^(" + "|".join(ROLES) + ")$")
    password: str | None = Field(default=None, min_length=access.MIN_PASSWORD_LENGTH, max_length=1000)
    team: str | None = Field(default=None, max_length=100)
    display_name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)


class PasswordReset(BaseModel):
    """A new password for a user."""

    password: str = Field(min_length=access.MIN_PASSWORD_LENGTH, max_length=1000)


class ImportSummaryPublic(BaseModel):
    """What an import did."""

    run_id: int | None
    kind: str
    path: str
    source: str
    read: int
    inserted: int
    updated: int
    unchanged: int
    quarantined: int
    customers_created: int
    merges: int
    has_quarantine: bool
    seconds: float


class ApiError(BaseModel):
    """The body of every error answer of the API (the app's one error handler writes it)."""

    error: str = Field(description="What was wrong and what to do, for people")
    detail: list[dict[str, Any]] | None = Field(
        None, description="For a request that does not fit the schema (422): each problem with its location"
    )


#: The error answers every API route may give (documented in the OpenAPI schema), by status.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ApiError, "description": description}
    for status, description in (
        (400, "The request cannot be done as asked (a Kehu error)"),
        (401, "No valid API token (missing, revoked, or its user deactivated)"),
        (403, "The token's user may not do this, or not for this customer"),
        (404, "No such object, or none the token's user may see"),
        (413, "The upload is larger than the app takes (KEHU_UPLOAD_MAX_MB); nothing was stored"),
        (422, "A parameter or the body is not valid; the message names the field"),
        (429, "Too many attempts; retry after the Retry-After seconds"),
        (503, "The store is busy or unavailable; retry shortly"),
    )
}

#: The ``/api`` routes (include them in the app; errors are translated by the app's handler).
router = APIRouter(prefix="/api", tags=["api"], responses=ERROR_RESPONSES)


@router.get("/me", response_model=Me)
def me(user: User) -> dict[str, Any]:
    """The user of this token."""
    return user.as_dict()


@router.get("/customers", response_model=CustomerList)
def customers(
    actor: Actor,
    q: Annotated[str, Query(max_length=200, description="Search: name/company/phone/e-mail prefix")] = "",
    owner: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    region: Annotated[str | None, Query(max_length=100)] = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    segment: Annotated[
        str | None, Query(max_length=200, description="scheme:segment of the scheme's newest run")
    ] = None,
    stage: Annotated[str | None, Query(max_length=100, description="lifecycle stage (newest run)")] = None,
    risk: Annotated[str | None, Query(pattern="^(high|medium|low)$", description="tier of the risk_kind")] = None,
    risk_kind: Annotated[
        str | None, Query(pattern="^(purchase|renewal|winback)$", description="purchase churn, renewal or 待挽回")
    ] = None,
    sort: Annotated[
        str, Query(pattern="^(id|name|created|region|value|risk|renewal_risk|winback|last_order|revenue)$")
    ] = "id",
    desc: bool = False,
    limit: Annotated[int, Query(ge=1, le=100, description="20, 50 or 100")] = 50,
    after: Annotated[str | None, Query(max_length=2000)] = None,
    before: Annotated[str | None, Query(max_length=2000)] = None,
) -> dict[str, Any]:
    """Customers the token's user may see, one keyset page at a time."""
    query = CustomerQuery(
        q=q, owner_id=owner, region=region, tag=tag, segment=segment, stage=stage, risk=risk, risk_kind=risk_kind,
        sort=sort, descending=desc, limit=limit,
        after=cursor_key(sort, after), before=cursor_key(sort, before),
    )  # fmt: skip
    return customers_page(actor.customers.page(query), query)


@router.get("/customers/{customer_id}")
def customer(actor: Actor, customer_id: CustomerId) -> JSONResponse:
    """One customer's 360 view (403 when the customer is outside the user's scope)."""
    return JSONResponse(to_jsonable(actor.customers.view(customer_id)))


@router.get("/dashboard")
def dashboard(actor: Actor) -> JSONResponse:
    """Totals and monthly series within the user's scope."""
    return JSONResponse(to_jsonable(dashboard_page(actor.dashboard.figures())))


@router.get("/imports")
def imports(actor: Actor) -> JSONResponse:
    """Recent imports (admins and managers)."""
    return JSONResponse(to_jsonable(actor.imports.runs()))


@router.post("/imports", response_model=ImportSummaryPublic)
def upload(
    request: Request,
    actor: Actor,
    file: Annotated[UploadFile, File(description="CSV (UTF-8 or GBK), XLSX or Parquet")],
    kind: Annotated[str, Form(pattern="^(" + "|".join(import_service.KINDS) + ")$")],
    source: Annotated[str, Form(max_length=64)],
) -> dict[str, Any]:
    """Import an uploaded file (at most ``KEHU_UPLOAD_MAX_MB``); the summary says what happened to every row."""
    limit = workspace(request).settings.upload_max_mb << 20
    content = file.file.read(limit + 1)
    if len(content) > limit:  # (the app refuses a longer body before it is stored; a part cannot be longer)
        raise UploadTooLargeError(f"file: larger than {limit >> 20} MB; use `kehu import`")
    return actor.imports.run(kind=kind, source=source, filename=file.filename or "upload.csv", content=content)


@router.get("/imports/{run_id}/quarantine.csv", response_class=FileResponse)
def quarantine(actor: Actor, run_id: Annotated[int, PathParam(ge=1, le=MAX_ID)]) -> FileResponse:
    """The rows an import quarantined, with the reason for each."""
    path = actor.imports.quarantine_file(run_id)
    return FileResponse(path, media_type="text/csv", filename=f"quarantine-{run_id}.csv")


@router.get("/users", response_model=list[UserPublic])
def users(actor: Actor) -> list[dict[str, Any]]:
    """Users the token's user may see."""
    return actor.users.all()


@router.post("/users", response_model=UserPublic, status_code=201)
def add_user(actor: Actor, body: UserCreate) -> dict[str, Any]:
    """Create a user or update one's role and team (admins)."""
    uid = actor.users.create(
        body.name, role=body.role, password=body.password, team=body.team,
        display_name=body.display_name, email=body.email,
    )  # fmt: skip
    return next(u for u in actor.users.all() if u["id"] == uid)


@router.post("/users/{user_id}/password", status_code=204)
def reset_password(actor: Actor, user_id: Annotated[int, PathParam(ge=1, le=MAX_ID)], body: PasswordReset) -> None:
    """Set a user's password and sign out their sessions (admins)."""
    actor.users.reset_password(user_id, body.password)
