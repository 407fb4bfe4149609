"""The notifications part of the REST API: the token user's own notifications, their unread count, marking them
read, and their daily-digest choices.

Same rules as the notification centre (:mod:`kehu.service.notifications`): everyone — an admin too — sees and
changes only their own notifications.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from kehu.api.routes import ERROR_RESPONSES, MAX_ID, Actor
from kehu.vocabulary import NOTIFICATION_KINDS, ROBOT_FORMATS

__all__ = ["router"]

NotificationId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="Kehu's notification id")]


class NotificationPublic(BaseModel):
    """One notification: its kind, its sentence in the user's language and where it leads in the web app."""

    id: int
    kind: str = Field(description=", ".join(NOTIFICATION_KINDS))
    text: str
    link: str = Field(description="A path of the web app, e.g. /tasks#task-12 or /tickets/5")
    customer_id: int | None
    customer: str | None
    params: dict[str, Any] = Field(description="The values the sentence is written from")
    created_at: dt.datetime
    read_at: dt.datetime | None
    unread: bool


class NotificationList(BaseModel):
    """Notifications, newest first; ``next_before`` is the ``before`` of the next page (none: the last page)."""

    unread: int
    unread_only: bool
    items: list[NotificationPublic]
    next_before: int | None
    kinds: list[str]


class UnreadCount(BaseModel):
    """How many notifications are unread."""

    unread: int


class Marked(BaseModel):
    """What marking read changed."""

    marked: int
    unread: int


class DigestSettings(BaseModel):
    """The daily-digest choices: e-mail and/or one of the workspace's webhooks (neither: no digest), the local
    time (``HH:MM``; empty: the workspace default)."""

    email: bool
    webhook: str | None = Field(default=None, max_length=100, description="A name of KEHU_WEBHOOKS, or none")
    webhook_format: str = Field(default="wecom", pattern="^(" + "|".join(ROBOT_FORMATS) + ")$")
    digest_at: str | None = Field(default=None, max_length=5, description="Local HH:MM; none: KEHU_DIGEST_AT")


class DigestSettingsPublic(DigestSettings):
    """The choices with the defaults filled in, and what can be chosen."""

    email_address: str | None
    email_ready: bool
    webhooks: list[str]
    formats: list[str]
    default_at: str
    quiet_hours: str | None
    last_decided_on: dt.date | None = Field(description="The last day a digest was sent or had nothing to say")


#: The ``/api/notifications`` and ``/api/account/digest`` routes.
router = APIRouter(prefix="/api", tags=["api"], responses=ERROR_RESPONSES)


@router.get("/notifications", response_model=NotificationList)
def notifications(
    actor: Actor,
    unread: Annotated[bool, Query(description="Only unread ones")] = False,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only ids below this (the next page)")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """The token user's notifications, newest first, in their language."""
    return actor.notifications.page(unread_only=unread, before=before, limit=limit)


@router.get("/notifications/unread", response_model=UnreadCount)
def unread(actor: Actor) -> dict[str, Any]:
    """How many of the token user's notifications are unread (the bell's number)."""
    return {"unread": actor.notifications.unread()}


@router.post("/notifications/read", response_model=Marked)
def read_all(actor: Actor) -> dict[str, Any]:
    """Mark all of the token user's notifications read."""
    return actor.notifications.mark_all_read()


@router.post("/notifications/{notification_id}/read", response_model=Marked)
def read_one(actor: Actor, notification_id: NotificationId) -> dict[str, Any]:
    """Mark one notification read (404 when it is not the token user's)."""
    before = actor.notifications.unread()
    after = actor.notifications.mark_read(notification_id)["unread"]
    return {"marked": before - after, "unread": after}


@router.get("/account/digest", response_model=DigestSettingsPublic)
def digest(actor: Actor) -> dict[str, Any]:
    """The token user's daily-digest choices."""
    return actor.notifications.digest_settings()


@router.put("/account/digest", response_model=DigestSettingsPublic)
def set_digest(actor: Actor, body: DigestSettings) -> dict[str, Any]:
    """Choose the daily digest's channels and time."""
    return actor.notifications.save_digest_settings(
        email=body.email, webhook=body.webhook, webhook_format=body.webhook_format, digest_at=body.digest_at
    )
