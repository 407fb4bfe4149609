"""A user's daily digest: what is due today, overdue, new since yesterday, late tickets and at-risk customers of
theirs, written short in their language, and queued in the outbox once per user, channel and day.

The digest is delivered like every other message (:func:`kehu.playbooks.outbox.deliver`): claimed, sent with its
idempotency key, marked — a process that stops while sending leaves it ``unknown``, never sent twice. The key is
``digest-USER-DAY-CHANNEL``, unique in the outbox, so queueing the same day's digest again writes nothing.
Messages queued inside the quiet hours wait for their end (:func:`kehu.playbooks.planner.quiet_until`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from kehu import i18n
from kehu.playbooks.planner import quiet_until
from kehu.playbooks.triggers import Clock
from kehu.store.actions import outbox

__all__ = ["DigestFacts", "DigestRoute", "compose", "digest_key", "queue_digest"]

#: how many tasks or customers a digest names under each heading (the rest are counted)
NAMED = 5


@dataclass(frozen=True)
class DigestFacts:
    """What one user's digest says (counts are true totals; ``*_items`` name the first few)."""

    day: dt.date
    name: str
    due_today: int = 0
    due_items: Sequence[tuple[str, str | None]] = ()  # (task title, customer name)
    overdue: int = 0
    overdue_items: Sequence[tuple[str, str | None]] = ()
    new_tasks: int = 0
    tickets_late: int = 0
    at_risk: int = 0
    at_risk_items: Sequence[str] = ()  # customer names, riskiest first

    @property
    def empty(self) -> bool:
        """Nothing to say: the digest is skipped."""
        return not (self.due_today or self.overdue or self.new_tasks or self.tickets_late or self.at_risk)


@dataclass(frozen=True)
class DigestRoute:
    """Where one copy goes: ``email`` to an address, or ``webhook`` to a named robot in a format."""

    channel: str  # email | webhook
    to: str | None = None
    webhook: str | None = None
    format: str = "wecom"
    data: dict[str, object] = field(default_factory=dict)


def _t(key: str, locale: str, **values: object) -> str:
    return i18n.text(f"notify.digest.{key}", locale).format(**values)


def _date(day: dt.date, locale: str) -> str:
    fmt = i18n.section("web._format", locale)
    return str(fmt["date"]).format(
        year=day.year, month=day.month, day=day.day, month_abbr=fmt["month_abbr"][day.month - 1]
    )


def _items(lines: list[str], locale: str, total: int, items: Sequence[tuple[str, str | None]]) -> None:
    for title, customer in items[:NAMED]:
        lines.append(_t("item", locale, title=title, customer=customer or _t("no_customer", locale)))
    if total > min(len(items), NAMED):
        lines.append(_t("more", locale, count=total - min(len(items), NAMED)))


def compose(facts: DigestFacts, locale: str) -> tuple[str, str] | None:
    """The digest's subject and text in ``locale``, or ``None`` when there is nothing to say."""
    if facts.empty:
        return None
    subject = _t("subject", locale, date=_date(facts.day, locale), due=facts.due_today, overdue=facts.overdue)
    lines = [_t("greeting", locale, name=facts.name), ""]
    if facts.due_today:
        lines.append(_t("due_today", locale, count=facts.due_today))
        _items(lines, locale, facts.due_today, facts.due_items)
    if facts.overdue:
        lines.append(_t("overdue", locale, count=facts.overdue))
        _items(lines, locale, facts.overdue, facts.overdue_items)
    if facts.new_tasks:
        lines.append(_t("new_tasks", locale, count=facts.new_tasks))
    if facts.tickets_late:
        lines.append(_t("tickets_late", locale, count=facts.tickets_late))
    if facts.at_risk:
        lines.append(_t("at_risk", locale, count=facts.at_risk))
        lines += [_t("name_item", locale, name=name) for name in facts.at_risk_items[:NAMED]]
        if facts.at_risk > min(len(facts.at_risk_items), NAMED):
            lines.append(_t("more_customers", locale, count=facts.at_risk - min(len(facts.at_risk_items), NAMED)))
    lines += ["", _t("footer", locale)]
    return subject, "\n".join(lines).strip() + "\n"


def digest_key(user_id: int, day: dt.date, channel: str) -> str:
    """The idempotency key of one user's digest of one day on one channel."""
    return f"digest-{user_id}-{day.isoformat()}-{channel}"


def queue_digest(
    conn: sa.Connection,
    *,
    user_id: int,
    day: dt.date,
    subject: str,
    body: str,
    routes: Sequence[DigestRoute],
    now: dt.datetime,
    timezone: str,
    quiet_hours: str | None,
) -> int:
    """Queue one copy of the digest per route (inside the caller's transaction); returns how many were new.

    A copy whose key is already in the outbox (queued before, perhaps by a process that stopped) is left alone.
    """
    clock = Clock(day=day, now=now, tz=ZoneInfo(timezone))
    not_before = quiet_until(now, clock, quiet_hours)
    written = 0
    for route in routes:
        key = digest_key(user_id, day, route.channel)
        if conn.execute(sa.select(outbox.c.id).where(outbox.c.idempotency_key == key)).first() is not None:
            continue
        channel = "email" if route.channel == "email" else f"webhook:{route.webhook}"
        payload = {"to": route.to, "subject": subject, "body": body, "webhook": route.webhook, "format": route.format,
                   "data": {"kind": "digest", "user_id": user_id, "day": day.isoformat(), **route.data}}  # fmt: skip
        try:
            with conn.begin_nested():
                conn.execute(
                    sa.insert(outbox).values(
                        idempotency_key=key, firing_id=None, customer_id=None, kind="message", channel=channel,
                        payload=payload, status="pending", attempts=0, created_at=now, next_attempt_at=not_before,
                    )
                )  # fmt: skip
        except IntegrityError:  # another process queued it first
            continue
        written += 1
    return written
