"""Who may do what: users and passwords, sign-in with throttling, browser sessions, API tokens, and the
row-level rules every customer query applies.

Rules
-----
- ``admin`` sees every customer and manages users; ``manager`` sees the customers owned by anyone in their team;
  ``rep`` sees only the customers they own. The rule is applied inside the store queries (as the list of owner
  ids a query may return), so a page, the API and an export cannot differ.
- Passwords are hashed with argon2id; they are never stored, logged or returned in clear. Session cookies and
  API tokens are random 256-bit strings of which only a SHA-256 digest is stored.
- Sign-in is throttled per login name *and* client address: after :data:`MAX_FAILURES_PER_NAME` failures of one
  name from one address, or :data:`MAX_FAILURES_PER_CLIENT` failures from one address, within
  :data:`THROTTLE_WINDOW`, that address is refused until the window has passed (a success resets the pair's
  count). A name that failed :data:`PAUSE_AFTER_FAILURES` times from anywhere makes each address wait a growing
  pause (:func:`account_pause`) between its tries of that name. Nobody elsewhere can lock an account out: the
  owner's own address keeps its own count. Each attempt is counted and recorded in one conditional insert
  before the password is checked, so simultaneous attempts cannot slip past the limits.
- A password change or reset, and deactivating a user, end the user's other sessions and revoke all their API
  tokens; these and token revocations are written to the audit log.

Errors (both :class:`~kehu.errors.KehuError`)::

    AuthenticationError (KehuError, PermissionError)   wrong name or password, expired session, bad token
    └── TooManyAttemptsError                           throttled; ``retry_after`` seconds
    AccessDeniedError (KehuError, PermissionError)     signed in, but not allowed (role or row-level rule)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, insert, select, update

from kehu.errors import (
    AccessDeniedError,
    AuthenticationError,
    NotFoundError,
    TooManyAttemptsError,
    ValidationError,
)
from kehu.service.principal import Principal, Workspace
from kehu.store import auth as store
from kehu.store import customers as customers_store
from kehu.store.actions import audit
from kehu.store.schema import users
from kehu.vocabulary import LOCALES, ROLES

__all__ = [
    "MAX_FAILURES_PER_CLIENT",
    "MAX_FAILURES_PER_NAME",
    "MAX_PAUSE",
    "MIN_PASSWORD_LENGTH",
    "PAUSE_AFTER_FAILURES",
    "SESSION_LIFETIME",
    "THROTTLE_WINDOW",
    "AccessDeniedError",
    "AuthenticationError",
    "Principal",
    "SessionInfo",
    "TooManyAttemptsError",
    "account_pause",
    "authenticate_token",
    "change_password",
    "check_customer",
    "create_api_token",
    "create_user",
    "end_session",
    "hash_password",
    "list_api_tokens",
    "list_users",
    "login",
    "owner_scope",
    "require_role",
    "reset_password",
    "resolve_session",
    "revoke_api_token",
    "set_active",
    "set_locale",
    "verify_password",
]

MIN_PASSWORD_LENGTH = 8
MAX_FAILURES_PER_NAME = 5
MAX_FAILURES_PER_CLIENT = 30
PAUSE_AFTER_FAILURES = 10
MAX_PAUSE = dt.timedelta(seconds=60)
THROTTLE_WINDOW = dt.timedelta(minutes=15)
SESSION_LIFETIME = dt.timedelta(hours=12)
_TOUCH_EVERY = dt.timedelta(minutes=5)

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))  # verified against when the user is unknown (same timing)


@dataclass(frozen=True)
class SessionInfo:
    """A browser session: the token goes into the cookie, the CSRF token into every form."""

    token: str
    csrf_token: str
    principal: Principal
    expires_at: dt.datetime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _principal(row: dict[str, Any]) -> Principal:
    return Principal(
        id=int(row["id"]),
        name=row["name"],
        display_name=row.get("display_name") or row["name"],
        role=row["role"],
        team=row.get("team"),
        locale=row.get("locale"),
    )


# -- passwords ---------------------------------------------------------------------------------------------------
def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (refuses passwords shorter than :data:`MIN_PASSWORD_LENGTH`)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"password: use at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (``False`` for a missing or malformed hash)."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# -- sign-in and sessions ----------------------------------------------------------------------------------------
def login(ws: Workspace, name: str, password: str, *, client: str) -> SessionInfo:
    """Check a name and password and open a browser session.

    Parameters
    ----------
    ws
        The workspace.
    name, password
        What the user typed.
    client
        The client's address (for throttling; behind a reverse proxy see :mod:`kehu.web.proxy`).

    Raises
    ------
    TooManyAttemptsError
        Too many recent failures for this name from this client, or from this client at all, or this client tried
        this name again too soon while the name is under attack; nothing is checked. The same answer whether the
        name exists or not.
    AuthenticationError
        Unknown user, inactive user, or wrong password (one message for all three).
    """
    now = _now()
    since = now - THROTTLE_WINDOW
    with ws.engine.connect() as conn:
        failures = store.failures(conn, name, since=since)
        mine = store.failures(conn, name, since=since, client=client)
    pause = account_pause(failures)
    with ws.engine.begin() as conn:
        store.lock_attempts(conn)  # PostgreSQL; on SQLite the conditional insert below takes the write lock
        attempt = store.reserve_attempt(
            conn, name=name, client=client, now=now, since=since, per_pair=MAX_FAILURES_PER_NAME,
            per_client=MAX_FAILURES_PER_CLIENT, quiet_since=now - pause if pause else None,
        )  # fmt: skip
    if attempt is None:  # the pause, unless the pair's or the address's limit is what refused it
        paused = bool(pause) and mine < MAX_FAILURES_PER_NAME
        wait = pause if paused else THROTTLE_WINDOW
        raise TooManyAttemptsError("too many failed sign-ins: wait a while and try again", int(wait.total_seconds()))
    with ws.engine.connect() as conn:
        user = store.user_by_name(conn, name)
    ok = verify_password(user.get("password_hash") if user else None, password)
    ok = ok and user is not None and bool(user["active"])
    with ws.engine.begin() as conn:
        store.finish_attempt(conn, attempt, ok=ok)
    if not ok or user is None:
        raise AuthenticationError("wrong user name or password")
    if _hasher.check_needs_rehash(user["password_hash"]):
        _store_hash(ws, int(user["id"]), _hasher.hash(password))
    return _open_session(ws, _principal(user), now)


def account_pause(failures: int) -> dt.timedelta:
    """How long one client must wait between two tries of a name that failed ``failures`` times from anywhere in
    the window: nothing up to :data:`PAUSE_AFTER_FAILURES`, then 2, 4, 8 … seconds, at most :data:`MAX_PAUSE`.

    The pause is per client (address), so an attacker elsewhere slows down only the addresses that keep guessing;
    the account's owner signing in from their own address is never held up by it."""
    if failures < PAUSE_AFTER_FAILURES:
        return dt.timedelta(0)
    return min(dt.timedelta(seconds=2 ** min(failures - PAUSE_AFTER_FAILURES + 1, 20)), MAX_PAUSE)


def _open_session(ws: Workspace, principal: Principal, now: dt.datetime) -> SessionInfo:
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = now + SESSION_LIFETIME
    with ws.engine.begin() as conn:
        store.create_session(
            conn, token_hash=_digest(token), user_id=principal.id, csrf_token=csrf, now=now, expires_at=expires
        )
    return SessionInfo(token=token, csrf_token=csrf, principal=principal, expires_at=expires)


def resolve_session(ws: Workspace, token: str) -> SessionInfo | None:
    """The live session for a cookie token, or ``None`` (unknown, expired, or the user was deactivated)."""
    if not token:
        return None
    now = _now()
    digest = _digest(token)
    with ws.engine.connect() as conn:
        row = store.session_with_user(conn, digest)
    if row is None or not row["active"] or row["expires_at"] <= now:
        return None
    if now - row["last_seen_at"] > _TOUCH_EVERY:
        with ws.engine.begin() as conn:
            store.touch_session(conn, digest, now=now, expires_at=now + SESSION_LIFETIME)
    principal = _principal({**row, "id": row["user_id"]})
    return SessionInfo(token=token, csrf_token=row["csrf_token"], principal=principal, expires_at=row["expires_at"])


def end_session(ws: Workspace, token: str) -> None:
    """Sign out: delete the session (a no-op for an unknown token)."""
    with ws.engine.begin() as conn:
        store.delete_sessions(conn, token_hash=_digest(token))


def change_password(ws: Workspace, session: SessionInfo, old: str, new: str) -> None:
    """Change one's own password; every other session of the user is signed out and all their API tokens are
    revoked (the session making the change stays).

    Raises
    ------
    AuthenticationError
        ``old`` is not the current password.
    ValidationError
        ``new`` is too short.
    """
    with ws.engine.connect() as conn:
        user = store.user_by_id(conn, session.principal.id)
    if user is None or not verify_password(user["password_hash"], old):
        raise AuthenticationError("the current password is wrong")
    password_hash = hash_password(new)
    with ws.engine.begin() as conn:
        _replace_credentials(conn, session.principal.id, password_hash, keep=_digest(session.token))
        audit(conn, at=_now(), actor=session.principal.name, action="user.password", target=f"user:{user['id']}")


def _replace_credentials(
    conn: Connection, user_id: int, password_hash: str | None, *, keep: str | None = None
) -> dict[str, int]:
    """Set a new password hash (``None``: keep it) and end every session but ``keep`` and every API token of the
    user, in the caller's transaction; returns how many sessions and tokens ended."""
    if password_hash is not None:
        conn.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))
    sessions = store.delete_sessions(conn, user_id=user_id, keep=keep)
    return {"sessions": sessions, "tokens": store.revoke_user_tokens(conn, user_id)}


def _store_hash(ws: Workspace, user_id: int, password_hash: str) -> None:
    with ws.engine.begin() as conn:
        conn.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))


def set_locale(ws: Workspace, principal: Principal, locale: str) -> None:
    """Remember the user's language (one of :data:`kehu.vocabulary.LOCALES`)."""
    if locale not in LOCALES:
        raise ValidationError(f"language {locale!r} is not one of {', '.join(LOCALES)}")
    with ws.engine.begin() as conn:
        conn.execute(update(users).where(users.c.id == principal.id).values(locale=locale))


# -- users (admin) ----------------------------------------------------------------------------------------------
def require_role(principal: Principal, *roles: str) -> None:
    """Raise :class:`AccessDeniedError` unless the principal has one of ``roles``."""
    if principal.role not in roles:
        raise AccessDeniedError(f"this needs the role {' or '.join(roles)}; you are {principal.role}")


def create_user(
    ws: Workspace,
    name: str,
    *,
    role: str,
    password: str | None = None,
    team: str | None = None,
    display_name: str | None = None,
    email: str | None = None,
    actor: Principal | None = None,
) -> int:
    """Create a user (or update role/team of an existing one) and set their password when given.

    ``actor`` is the signed-in admin when called from a front end; ``None`` for the command line.
    """
    if actor is not None:
        require_role(actor, "admin")
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationError("name: give 1 to 100 characters")
    if role not in ROLES:
        raise ValidationError(f"role {role!r} is not one of {', '.join(ROLES)}")
    password_hash = hash_password(password) if password is not None else None
    uid = _upsert_user(ws, name, role=role, team=team or None, display_name=display_name or None, email=email or None)
    if password_hash is not None:
        _store_hash(ws, uid, password_hash)
    return uid


def _upsert_user(
    ws: Workspace, name: str, *, role: str, team: str | None, display_name: str | None, email: str | None
) -> int:
    """Insert a user, or update role/team/names of an existing one; returns the user id."""
    values = {"role": role, "team": team, "display_name": display_name or name, "email": email}
    with ws.engine.begin() as conn:
        uid = conn.execute(select(users.c.id).where(users.c.name == name)).scalar()
        if uid is None:
            return int(
                conn.execute(insert(users).values(name=name, active=True, **values).returning(users.c.id)).scalar_one()
            )
        conn.execute(
            update(users).where(users.c.id == uid).values(**{k: v for k, v in values.items() if v is not None})
        )
        return int(uid)


def reset_password(ws: Workspace, actor: Principal | None, user_id: int, password: str) -> None:
    """Set another user's password (admin): all their sessions are signed out and their API tokens revoked."""
    if actor is not None:
        require_role(actor, "admin")
    password_hash = hash_password(password)
    with ws.engine.begin() as conn:
        if store.user_by_id(conn, user_id) is None:
            raise NotFoundError(f"no user with id {user_id}")
        ended = _replace_credentials(conn, user_id, password_hash)
        audit(conn, at=_now(), actor=_actor_name(actor), action="user.password_reset", target=f"user:{user_id}",
              detail=ended)  # fmt: skip


def set_active(ws: Workspace, actor: Principal | None, user_id: int, active: bool) -> None:
    """Deactivate (``active=False``) or reactivate a user (admin).

    A deactivated user cannot sign in; their sessions end and their API tokens are revoked at once (a
    reactivated user signs in again and creates new tokens). An admin cannot deactivate themselves.

    Raises
    ------
    AccessDeniedError
        The actor is not an admin, or tries to deactivate themselves.
    NotFoundError
        No such user.
    """
    if actor is not None:
        require_role(actor, "admin")
        if actor.id == user_id and not active:
            raise AccessDeniedError("you cannot deactivate yourself: ask another administrator")
    with ws.engine.begin() as conn:
        if store.user_by_id(conn, user_id) is None:
            raise NotFoundError(f"no user with id {user_id}")
        conn.execute(update(users).where(users.c.id == user_id).values(active=active))
        ended = _replace_credentials(conn, user_id, None) if not active else None
        action = "user.activate" if active else "user.deactivate"
        audit(conn, at=_now(), actor=_actor_name(actor), action=action, target=f"user:{user_id}", detail=ended)


def _actor_name(actor: Principal | None) -> str:
    return actor.name if actor is not None else "cli"


def list_users(ws: Workspace, actor: Principal) -> list[dict[str, Any]]:
    """Users the actor may see: everyone for an admin, their team for a manager, themselves for a rep."""
    with ws.engine.connect() as conn:
        cols = [c for c in users.c if c.name != "password_hash"]
        rows = [dict(r) for r in conn.execute(select(*cols).order_by(users.c.id)).mappings()]
    if actor.role == "admin":
        return rows
    if actor.role == "manager" and actor.team:
        return [r for r in rows if r.get("team") == actor.team]
    return [r for r in rows if r["id"] == actor.id]


# -- API tokens --------------------------------------------------------------------------------------------------
def create_api_token(ws: Workspace, principal: Principal, name: str) -> tuple[int, str]:
    """A new API token for the principal; returns ``(id, token)`` — the token is shown once, never stored."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationError("token name: give 1 to 100 characters")
    token = "kehu_" + secrets.token_urlsafe(32)
    with ws.engine.begin() as conn:
        tid = store.create_api_token(
            conn, user_id=principal.id, name=name, token_hash=_digest(token), prefix=token[:9], now=_now()
        )
    return tid, token


def list_api_tokens(ws: Workspace, principal: Principal, user_id: int | None = None) -> list[dict[str, Any]]:
    """The principal's API tokens, or (admins) another user's (name, prefix, dates; never the token)."""
    if user_id is not None and user_id != principal.id:
        require_role(principal, "admin")
    with ws.engine.connect() as conn:
        return store.list_api_tokens(conn, principal.id if user_id is None else user_id)


def revoke_api_token(ws: Workspace, principal: Principal | None, token_id: int, *, any_user: bool = False) -> None:
    """Revoke one of the principal's tokens, or with ``any_user`` any user's token (admins; ``principal=None``:
    the command line). Audited.

    Raises
    ------
    NotFoundError
        No such token (of the principal's, unless ``any_user``).
    """
    if any_user and principal is not None:
        require_role(principal, "admin")
    if principal is None and not any_user:
        raise ValueError("revoke_api_token without a principal needs any_user=True")
    owner = None if any_user or principal is None else principal.id
    with ws.engine.begin() as conn:
        if not store.revoke_api_token(conn, token_id=token_id, user_id=owner):
            raise NotFoundError(f"no API token with id {token_id}")
        audit(conn, at=_now(), actor=_actor_name(principal), action="token.revoke", target=f"token:{token_id}")


def authenticate_token(ws: Workspace, token: str) -> Principal:
    """The user an API token belongs to.

    Raises
    ------
    AuthenticationError
        Unknown or revoked token, or an inactive user.
    """
    with ws.engine.connect() as conn:
        row = store.token_by_hash(conn, _digest(token)) if token else None
        user = store.user_by_id(conn, row["user_id"]) if row else None
    if row is None or user is None or not user["active"]:
        raise AuthenticationError("unknown or revoked API token")
    return _principal(user)


# -- row-level rules ---------------------------------------------------------------------------------------------
def owner_scope(ws: Workspace, principal: Principal) -> list[int] | None:
    """Owner ids whose customers the principal may see (``None``: all customers)."""
    if principal.role == "admin":
        return None
    if principal.role == "manager":
        with ws.engine.connect() as conn:
            return store.team_member_ids(conn, principal.team) or [principal.id]
    return [principal.id]


def check_customer(ws: Workspace, principal: Principal, customer_id: int) -> None:
    """Raise unless the customer exists and the principal may see them.

    Raises
    ------
    NotFoundError
        No such customer.
    AccessDeniedError
        The customer belongs to someone outside the principal's scope.
    """
    with ws.engine.connect() as conn:
        exists, owner = customers_store.customer_owner_id(conn, customer_id)
    if not exists:
        raise NotFoundError(f"no customer with id {customer_id}")
    scope = owner_scope(ws, principal)
    if scope is not None and owner not in scope:
        raise AccessDeniedError(f"customer {customer_id} is not one of the customers you may see")
