"""Reminders: each user's in-app notifications and their daily-digest choices.

Tables (on :data:`kehu.store.schema.metadata`)::

    notifications        one row per thing a user is told about: kind (see
                         :data:`kehu.vocabulary.NOTIFICATION_KINDS`), the values its text is written from, a
                         link, when it was created and read. ``key`` is unique: the same event (a task assigned to
                         a user, the tasks due on one day, a ticket's missed target) is notified once.
    notification_prefs   per user (a missing row means the defaults of ``KEHU_DIGEST_*``): the digest's channels
                         (e-mail, a named webhook and its robot format), the local time it is sent at — ``NULL``:
                         the default — and the last day a digest was decided for (sent, or nothing to say)

Functions take a connection and return plain data or ``None``; they never raise HTTP errors.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from kehu.store.schema import UTCDateTime, customers, metadata

__all__ = [
    "add_notification",
    "digest_prefs",
    "list_notifications",
    "mark_digest_decided",
    "mark_read",
    "notification_prefs",
    "notifications",
    "notify_task_assigned",
    "save_digest_prefs",
    "unread_count",
]

notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(20), nullable=False),  # task_assigned | tasks_due | tasks_overdue | ticket_sla | approval
    Column("key", String(200), nullable=False),  # what was notified, e.g. task_assigned:12:3
    Column("params", JSON, nullable=False),  # the values of its text (title, count, ticket ...)
    Column("link", String(300), nullable=False),  # where it leads in the web app
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("read_at", UTCDateTime, nullable=True),
    Index("uq_notifications_key", "key", unique=True),
    Index("ix_notifications_user_read", "user_id", "read_at"),
    Index("ix_notifications_user_id", "user_id", "id"),
)

notification_prefs = Table(
    "notification_prefs",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("email", Boolean, nullable=True),  # send the digest to the user's e-mail address (None: KEHU_DIGEST_EMAIL)
    Column("webhook", String(100), nullable=True),  # a name of KEHU_WEBHOOKS (None: no webhook)
    Column("webhook_format", String(10), nullable=True),  # wecom | dingtalk (None: wecom)
    Column("digest_at", String(5), nullable=True),  # local HH:MM (None: KEHU_DIGEST_AT)
    Column("updated_at", UTCDateTime, nullable=False),
    Column("last_digest_on", Date, nullable=True),  # the last day a digest was decided for
)


def add_notification(
    conn: Connection,
    *,
    user_id: int,
    kind: str,
    key: str,
    params: Mapping[str, Any],
    link: str,
    now: dt.datetime,
    customer_id: int | None = None,
) -> bool:
    """Notify one user once per ``key`` (inside the caller's transaction, in a savepoint); False when ``key`` was
    already notified."""
    if conn.execute(select(notifications.c.id).where(notifications.c.key == key)).first() is not None:
        return False
    try:
        with conn.begin_nested():
            conn.execute(
                insert(notifications).values(
                    user_id=user_id, kind=kind, key=key, params=dict(params), link=link[:300],
                    customer_id=customer_id, created_at=now,
                )
            )  # fmt: skip
    except IntegrityError:  # another process notified the same key in the meantime
        return False
    return True


def notify_task_assigned(
    conn: Connection,
    *,
    task_id: int,
    assignee_id: int,
    customer_id: int,
    title: str,
    due_date: dt.date | None,
    now: dt.datetime,
) -> None:
    """Tell ``assignee_id`` of a task just given to them (inside the transaction that creates or reassigns it).

    A task given back to someone who had it before is a new event: its key then carries the time.
    """
    key = f"task_assigned:{task_id}:{assignee_id}"
    if conn.execute(select(notifications.c.id).where(notifications.c.key == key)).first() is not None:
        key = f"{key}:{now.strftime('%Y%m%dT%H%M%S%f')}"
    conn.execute(
        insert(notifications).values(
            user_id=assignee_id, kind="task_assigned", key=key,
            params={"task_id": task_id, "title": title, "due_date": due_date.isoformat() if due_date else None},
            link=f"/tasks#task-{task_id}", customer_id=customer_id, created_at=now,
        )
    )  # fmt: skip


def unread_count(conn: Connection, user_id: int) -> int:
    """How many of the user's notifications are unread."""
    stmt = select(func.count()).select_from(notifications)
    return int(
        conn.execute(stmt.where(notifications.c.user_id == user_id, notifications.c.read_at.is_(None))).scalar_one()
    )


def list_notifications(
    conn: Connection, user_id: int, *, unread_only: bool = False, before: int | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """The user's notifications, newest first (``before``: only ids below it), with the customer's name."""
    n = notifications
    stmt = (
        select(n, customers.c.name.label("customer"))
        .select_from(n.outerjoin(customers, customers.c.id == n.c.customer_id))
        .where(n.c.user_id == user_id)
        .order_by(n.c.id.desc())
        .limit(limit)
    )
    if unread_only:
        stmt = stmt.where(n.c.read_at.is_(None))
    if before is not None:
        stmt = stmt.where(n.c.id < before)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def mark_read(conn: Connection, user_id: int, ids: Sequence[int] | None, *, now: dt.datetime) -> int:
    """Mark the user's notifications ``ids`` (``None``: all of them) read; returns how many changed."""
    stmt = update(notifications).where(notifications.c.user_id == user_id, notifications.c.read_at.is_(None))
    if ids is not None:
        stmt = stmt.where(notifications.c.id.in_(list(ids)))
    return int(conn.execute(stmt.values(read_at=now)).rowcount)


def digest_prefs(conn: Connection, user_id: int) -> dict[str, Any] | None:
    """The user's stored digest choices (``None``: never chosen, the defaults apply)."""
    row = conn.execute(select(notification_prefs).where(notification_prefs.c.user_id == user_id)).mappings().first()
    return dict(row) if row is not None else None


def save_digest_prefs(
    conn: Connection,
    user_id: int,
    *,
    email: bool,
    webhook: str | None,
    webhook_format: str,
    digest_at: str | None,
    now: dt.datetime,
) -> None:
    """Store the user's digest choices (the day of the last digest is kept)."""
    values = {"email": email, "webhook": webhook, "webhook_format": webhook_format, "digest_at": digest_at,
              "updated_at": now}  # fmt: skip
    changed = conn.execute(
        update(notification_prefs).where(notification_prefs.c.user_id == user_id).values(**values)
    ).rowcount
    if not changed:
        conn.execute(insert(notification_prefs).values(user_id=user_id, **values))


def mark_digest_decided(conn: Connection, user_id: int, day: dt.date, *, now: dt.datetime) -> None:
    """Record that the digest of ``day`` was decided for the user (inside the transaction that queued it)."""
    changed = conn.execute(
        update(notification_prefs).where(notification_prefs.c.user_id == user_id).values(last_digest_on=day)
    ).rowcount
    if not changed:
        conn.execute(insert(notification_prefs).values(user_id=user_id, last_digest_on=day, updated_at=now))
