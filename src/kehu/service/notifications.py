"""The notification centre and the daily-digest choices of the signed-in user.

Every user sees, counts and marks read only their own notifications — the queries here filter on the
principal's id, so the page, its ``.json`` twin and the REST API cannot differ (an admin is no exception: a
notification is personal). Texts are written from the stored values in the reader's language
(``notify.kinds.*`` of the catalog), so a notification reads right in zh-CN and en alike.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from kehu import i18n
from kehu.errors import NotFoundError, ValidationError
from kehu.playbooks import webhook_targets
from kehu.service.access import require_role
from kehu.service.loop_config import ticket_policy
from kehu.service.principal import Service
from kehu.service.reminders import digest_choices, remind
from kehu.service.scope import hide_in_notifications
from kehu.store.db import ensure_current
from kehu.store.notifications import (
    digest_prefs,
    list_notifications,
    mark_read,
    notifications,
    save_digest_prefs,
    unread_count,
)
from kehu.store.schema import users
from kehu.vocabulary import LOCALES, NOTIFICATION_KINDS, ROBOT_FORMATS

__all__ = ["NotificationService", "notification_text"]

_PAGE = 50
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::\d{2})?$")


def notification_text(row: dict[str, Any], locale: str) -> str:
    """The sentence of one notification in ``locale``."""
    params = dict(row.get("params") or {})
    customer = row.get("customer") or i18n.text("notify.no_customer", locale)
    if row["kind"] == "ticket_sla":
        params["target"] = i18n.text(f"notify.targets.{params.get('target', 'resolution')}", locale)
    return i18n.text(f"notify.kinds.{row['kind']}", locale).format(customer=customer, **params)


def _check_time(text: str) -> str:
    """``H:MM`` or ``HH:MM`` (seconds, as some browsers add them, are dropped) -> ``HH:MM``."""
    match = _TIME.match(text)
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValidationError(f"digest_at: {text[:20]!r} is not a time of day (HH:MM)")
    return f"{int(match[1]):02d}:{match[2]}"


class NotificationService(Service):
    """The actor's own notifications and digest choices; :meth:`remind` is the schedule's (admins)."""

    def _locale(self, locale: str | None) -> str:
        if locale in LOCALES:
            return str(locale)
        if self.principal.locale in LOCALES:
            return str(self.principal.locale)
        return self.ws.settings.locale

    def unread(self) -> int:
        """How many of the actor's notifications are unread (the bell's number)."""
        with self.ws.engine.connect() as conn:
            return unread_count(conn, self.principal.id)

    def page(
        self, *, unread_only: bool = False, before: int | None = None, limit: int = _PAGE, locale: str | None = None
    ) -> dict[str, Any]:
        """The actor's notifications, newest first, ``limit`` at a time (``before``: the page after the one that
        ended at that id), each with its text in ``locale`` (default: the actor's language)."""
        if not 1 <= limit <= 200:
            raise ValidationError("limit: between 1 and 200")
        if before is not None and before < 1:
            raise ValidationError("before: a notification id (1 or more)")
        lang = self._locale(locale)
        with self.ws.engine.connect() as conn:
            rows = list_notifications(conn, self.principal.id, unread_only=unread_only, before=before, limit=limit + 1)
            unread = unread_count(conn, self.principal.id)
        rows = hide_in_notifications(self.ws, self.principal, rows)  # a customer one may no longer see: no details
        items = [
            {"id": r["id"], "kind": r["kind"], "text": notification_text(r, lang), "link": r["link"],
             "customer_id": r["customer_id"], "customer": None if r.get("customer_hidden") else r["customer"],
             "params": r["params"],
             "created_at": r["created_at"], "read_at": r["read_at"], "unread": r["read_at"] is None}
            for r in rows[:limit]
        ]  # fmt: skip
        more = len(rows) > limit
        return {
            "unread": unread,
            "unread_only": unread_only,
            "items": items,
            "next_before": items[-1]["id"] if more and items else None,
            "kinds": list(NOTIFICATION_KINDS),
        }

    def mark_read(self, notification_id: int) -> dict[str, Any]:
        """Mark one of the actor's notifications read (404 when it is not theirs); returns its link."""
        with self.ws.engine.begin() as conn:
            row = conn.execute(
                notifications.select().where(
                    notifications.c.id == notification_id, notifications.c.user_id == self.principal.id
                )
            ).first()
            if row is None:
                raise NotFoundError(f"no notification {notification_id} among yours")
            mark_read(conn, self.principal.id, [notification_id], now=dt.datetime.now(dt.UTC))
            unread = unread_count(conn, self.principal.id)
        return {"id": notification_id, "link": row.link, "unread": unread}

    def mark_all_read(self) -> dict[str, Any]:
        """Mark every notification of the actor read; returns how many changed."""
        with self.ws.engine.begin() as conn:
            changed = mark_read(conn, self.principal.id, None, now=dt.datetime.now(dt.UTC))
        return {"marked": changed, "unread": 0}

    # -- the daily digest ---------------------------------------------------------------------------------------
    def digest_settings(self) -> dict[str, Any]:
        """The actor's digest choices (defaults filled in) and what they can choose from."""
        s = self.ws.settings
        with self.ws.engine.connect() as conn:
            stored = digest_prefs(conn, self.principal.id)
            email = conn.execute(users.select().where(users.c.id == self.principal.id)).first()
        address = email.email if email is not None else None
        return {
            **digest_choices(s, stored),
            "email_address": address,
            "email_ready": bool(address and s.smtp_host and s.smtp_from),
            "webhooks": sorted(s.webhooks),
            "formats": list(ROBOT_FORMATS),
            "default_at": s.digest_at,
            "quiet_hours": s.quiet_hours or None,
            "last_decided_on": stored.get("last_digest_on") if stored else None,
        }

    def save_digest_settings(
        self, *, email: bool, webhook: str | None, webhook_format: str = "wecom", digest_at: str | None = None
    ) -> dict[str, Any]:
        """Choose the digest's channels (e-mail and/or one configured webhook; neither: no digest) and time.

        Raises
        ------
        ValidationError
            A webhook not in ``KEHU_WEBHOOKS``, an unknown robot format or a time that is not ``HH:MM``.
        """
        s = self.ws.settings
        webhook = (webhook or "").strip() or None
        if webhook is not None and webhook not in s.webhooks:
            names = ", ".join(sorted(s.webhooks)) or "none configured"
            raise ValidationError(f"webhook: {webhook[:100]!r} is not one of the workspace's webhooks ({names})")
        refused = webhook_targets.problems_of([webhook] if webhook else [], s)
        if webhook is not None and refused:
            raise ValidationError(f"webhook: {refused[webhook]}")
        if webhook_format not in ROBOT_FORMATS:
            raise ValidationError(f"webhook_format: {webhook_format[:20]!r} is not one of {', '.join(ROBOT_FORMATS)}")
        at = _check_time(digest_at.strip()) if digest_at and digest_at.strip() else None
        with self.ws.engine.begin() as conn:
            save_digest_prefs(conn, self.principal.id, email=email, webhook=webhook, webhook_format=webhook_format,
                              digest_at=at, now=dt.datetime.now(dt.UTC))  # fmt: skip
        return self.digest_settings()

    def remind(self, *, now: dt.datetime | None = None) -> dict[str, Any]:
        """Notify what the clock brought (tasks due, overdue, tickets past SLA) and queue the due digests (admins;
        the schedule and ``kehu notify digest``)."""
        require_role(self.principal, "admin")
        ensure_current(self.ws.engine)
        return remind(self.ws.engine, self.ws.settings, ticket_policy(self.ws.settings),
                      now=now or dt.datetime.now(dt.UTC))  # fmt: skip
