"""Signing in: users' credentials, browser sessions, API tokens and login attempts.

Tables added here (on :data:`kehu.store.schema.metadata`)::

    web_sessions     one row per signed-in browser: hashed session token, CSRF token, expiry
    api_tokens       bearer tokens for /api/ (only a SHA-256 of the token is stored)
    login_attempts   every sign-in attempt that was checked (name, client address, time, ok): throttling, audit

Functions take a connection and return plain data or ``None``; they never raise HTTP errors.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)

from kehu.store.schema import UTCDateTime, metadata, users

__all__ = [
    "api_tokens",
    "create_api_token",
    "create_session",
    "delete_sessions",
    "failures",
    "finish_attempt",
    "list_api_tokens",
    "lock_attempts",
    "login_attempts",
    "reserve_attempt",
    "revoke_api_token",
    "revoke_user_tokens",
    "session_by_hash",
    "session_with_user",
    "team_member_ids",
    "token_by_hash",
    "touch_session",
    "user_by_id",
    "user_by_name",
    "web_sessions",
]

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # SHA-256 hex of the cookie's token
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(12), nullable=False),  # the first characters, to recognise a token in lists
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=True),
    Column("revoked", Boolean, nullable=False, default=False),
)

login_attempts = Table(
    "login_attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("client", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("ok", Boolean, nullable=False),
    Index("ix_login_attempts_name_at", "name", "at"),
    Index("ix_login_attempts_client_at", "client", "at"),
)


def user_by_name(conn: Connection, name: str) -> dict[str, Any] | None:
    """One user (including ``password_hash``) by login name."""
    row = conn.execute(select(users).where(users.c.name == name)).mappings().first()
    return None if row is None else dict(row)


def user_by_id(conn: Connection, user_id: int) -> dict[str, Any] | None:
    """One user (including ``password_hash``) by id."""
    row = conn.execute(select(users).where(users.c.id == user_id)).mappings().first()
    return None if row is None else dict(row)


def team_member_ids(conn: Connection, team: str | None) -> list[int]:
    """Ids of the users in ``team`` (none for no team)."""
    if not team:
        return []
    return [int(i) for i in conn.execute(select(users.c.id).where(users.c.team == team).order_by(users.c.id)).scalars()]


def create_session(
    conn: Connection, *, token_hash: str, user_id: int, csrf_token: str, now: dt.datetime, expires_at: dt.datetime
) -> None:
    """Store a new browser session."""
    conn.execute(
        insert(web_sessions).values(
            id=token_hash, user_id=user_id, csrf_token=csrf_token, created_at=now, last_seen_at=now,
            expires_at=expires_at,
        )
    )  # fmt: skip


def session_by_hash(conn: Connection, token_hash: str) -> dict[str, Any] | None:
    """A session by its token hash (expired ones included; the caller checks ``expires_at``)."""
    row = conn.execute(select(web_sessions).where(web_sessions.c.id == token_hash)).mappings().first()
    return None if row is None else dict(row)


_SESSION_USER_COLUMNS = (
    web_sessions.c.user_id, web_sessions.c.csrf_token, web_sessions.c.last_seen_at, web_sessions.c.expires_at,
    users.c.name, users.c.display_name, users.c.role, users.c.team, users.c.locale, users.c.active,
)  # fmt: skip
_SESSION_USER = (
    select(*_SESSION_USER_COLUMNS)
    .select_from(web_sessions.join(users, users.c.id == web_sessions.c.user_id))
    .where(web_sessions.c.id == bindparam("token_hash"))
)


def session_with_user(conn: Connection, token_hash: str) -> dict[str, Any] | None:
    """A session by its token hash with its user's public fields (``name``, ``display_name``, ``role``, ``team``,
    ``locale``, ``active``), in one look-up by primary keys; expired sessions included (the caller checks
    ``expires_at``)."""
    row = conn.execute(_SESSION_USER, {"token_hash": token_hash}).mappings().first()
    return None if row is None else dict(row)


def touch_session(conn: Connection, token_hash: str, *, now: dt.datetime, expires_at: dt.datetime) -> None:
    """Record activity on a session and slide its expiry."""
    conn.execute(
        update(web_sessions).where(web_sessions.c.id == token_hash).values(last_seen_at=now, expires_at=expires_at)
    )


def delete_sessions(
    conn: Connection, *, token_hash: str | None = None, user_id: int | None = None, keep: str | None = None
) -> int:
    """Delete one session, or every session of a user (except ``keep``); returns how many."""
    stmt = delete(web_sessions)
    if token_hash is not None:
        stmt = stmt.where(web_sessions.c.id == token_hash)
    elif user_id is not None:
        stmt = stmt.where(web_sessions.c.user_id == user_id)
        if keep is not None:
            stmt = stmt.where(web_sessions.c.id != keep)
    else:
        raise ValueError("delete_sessions needs token_hash or user_id")
    return int(conn.execute(stmt).rowcount)


def create_api_token(
    conn: Connection, *, user_id: int, name: str, token_hash: str, prefix: str, now: dt.datetime
) -> int:
    """Store a new API token (its hash only); returns its id."""
    return int(
        conn.execute(
            insert(api_tokens)
            .values(user_id=user_id, name=name, token_hash=token_hash, prefix=prefix, created_at=now, revoked=False)
            .returning(api_tokens.c.id)
        ).scalar_one()
    )


def token_by_hash(conn: Connection, token_hash: str) -> dict[str, Any] | None:
    """A live (not revoked) API token by its hash."""
    row = (
        conn.execute(select(api_tokens).where(api_tokens.c.token_hash == token_hash, api_tokens.c.revoked.is_(False)))
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


def list_api_tokens(conn: Connection, user_id: int) -> list[dict[str, Any]]:
    """A user's tokens (without hashes), newest first."""
    cols = [c for c in api_tokens.c if c.name != "token_hash"]
    stmt = select(*cols).where(api_tokens.c.user_id == user_id).order_by(api_tokens.c.id.desc())
    return [dict(r) for r in conn.execute(stmt).mappings()]


def revoke_api_token(conn: Connection, *, token_id: int, user_id: int | None) -> bool:
    """Revoke one of a user's tokens (any user's with ``user_id=None``); ``False`` when there is no such token."""
    stmt = update(api_tokens).where(api_tokens.c.id == token_id)
    if user_id is not None:
        stmt = stmt.where(api_tokens.c.user_id == user_id)
    return bool(conn.execute(stmt.values(revoked=True)).rowcount)


def revoke_user_tokens(conn: Connection, user_id: int) -> int:
    """Revoke every live token of a user; returns how many."""
    stmt = update(api_tokens).where(api_tokens.c.user_id == user_id, api_tokens.c.revoked.is_(False))
    return int(conn.execute(stmt.values(revoked=True)).rowcount)


def _failures_since_success(name: str, client: str | None, since: dt.datetime) -> Any:
    """SQL: failed attempts for ``name`` (from ``client`` when given) since ``since`` and after the last success
    of the same pair."""
    a = login_attempts.alias("a")
    ok = login_attempts.alias("ok")
    pair = [ok.c.name == name, ok.c.ok.is_(True), ok.c.at >= since]
    mine = [a.c.name == name, a.c.ok.is_(False), a.c.at >= since]
    if client is not None:
        pair.append(ok.c.client == client)
        mine.append(a.c.client == client)
    last_ok = select(func.max(ok.c.at)).where(*pair).scalar_subquery()
    return select(func.count()).select_from(a).where(*mine, (a.c.at > last_ok) | last_ok.is_(None)).scalar_subquery()


def reserve_attempt(
    conn: Connection,
    *,
    name: str,
    client: str,
    now: dt.datetime,
    since: dt.datetime,
    per_pair: int,
    per_client: int,
    quiet_since: dt.datetime | None = None,
) -> int | None:
    """Record a sign-in attempt as a failure *before* the password is checked, unless the pair (name, client) has
    ``per_pair`` failures or the client ``per_client`` failures since ``since``, or the pair failed after
    ``quiet_since``: one conditional ``INSERT … SELECT``, so concurrent attempts cannot all see the same count.
    Returns the attempt's id, or ``None`` when refused.

    The caller makes this the first statement of its transaction (SQLite then takes the write lock before
    counting) and, on PostgreSQL, holds :func:`lock_attempts` first."""
    name, client = name[:100], client[:64]
    la = login_attempts
    by_client = (
        select(func.count())
        .select_from(la)
        .where(la.c.client == client, la.c.ok.is_(False), la.c.at >= since)
        .scalar_subquery()
    )
    conds = [_failures_since_success(name, client, since) < per_pair, by_client < per_client]
    if quiet_since is not None:
        recent = select(la.c.id).where(
            la.c.name == name, la.c.client == client, la.c.ok.is_(False), la.c.at > quiet_since
        )
        conds.append(~recent.exists())
    source = select(
        bindparam("n", name, type_=String), bindparam("c", client, type_=String),
        bindparam("t", now, type_=UTCDateTime), bindparam("f", False, type_=Boolean),
    ).where(*conds)  # fmt: skip
    stmt = insert(la).from_select(["name", "client", "at", "ok"], source).returning(la.c.id)
    found = conn.execute(stmt).scalar()
    return None if found is None else int(found)


def lock_attempts(conn: Connection) -> None:
    """Serialise sign-in reservations on PostgreSQL (a transaction-scoped advisory lock; SQLite's write lock
    does this by itself)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(764101)")


def finish_attempt(conn: Connection, attempt_id: int, *, ok: bool) -> None:
    """Mark a reserved attempt as a success (it was stored as a failure)."""
    if ok:
        conn.execute(update(login_attempts).where(login_attempts.c.id == attempt_id).values(ok=True))


def failures(conn: Connection, name: str, *, since: dt.datetime, client: str | None = None) -> int:
    """How often ``name`` failed to sign in since ``since`` and after its last success — from ``client`` (and that
    pair's last success) when given, else from any address."""
    query = select(_failures_since_success(name[:100], None if client is None else client[:64], since))
    return int(conn.execute(query).scalar_one())
