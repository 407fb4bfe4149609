"""Reminders as time passes: the notifications no single change creates, and the daily digests.

A task given to someone is notified when it is created (:func:`kehu.store.actions.insert_task`). What depends on
the clock is found here, by :func:`remind` — which ``kehu serve``'s schedule runs with every delivery and
``kehu notify digest`` runs on demand (or from cron):

- each user's open tasks due today and overdue ones: one notification of each per user and local day, from the
  user's digest time on (by then the daily run has made the day's tasks, so the count is the day's);
- open tickets that missed a first-response or resolution target in the last :data:`SLA_LOOKBACK` (older
  misses are on the tickets page): one notification per ticket, target and person — the assignee and the
  customer's owner;
- the daily digest of each active user whose digest time (local, ``KEHU_DIGEST_AT`` or their own) has passed
  today and who has a channel: queued in the outbox once per user, channel and day, skipped when there is nothing
  to say (:mod:`kehu.playbooks.digest`). Every notification and digest is keyed, so running this again, in
  parallel or after a crash adds nothing twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from kehu.config import Settings
from kehu.playbooks.digest import DigestFacts, DigestRoute, compose, queue_digest
from kehu.store.actions import tasks
from kehu.store.auth import team_member_ids
from kehu.store.notifications import add_notification, mark_digest_decided, notification_prefs, notifications
from kehu.store.published import customer_scores
from kehu.store.schema import customers, tickets, users
from kehu.tickets.policy import TicketPolicy, breaches
from kehu.vocabulary import OPEN_STATES

__all__ = ["SLA_LOOKBACK", "digest_choices", "remind", "run_digests", "sweep_tasks", "sweep_tickets"]

#: ticket targets missed longer ago than this are not notified (the tickets page lists them)
SLA_LOOKBACK = dt.timedelta(days=7)
_CHUNK = 500


def _local(settings: Settings, now: dt.datetime) -> dt.datetime:
    return now.astimezone(ZoneInfo(settings.timezone))


def sweep_tasks(
    conn: sa.Connection, *, today: dt.date, now: dt.datetime, only: Collection[int] | None = None
) -> dict[str, int]:
    """One notification per user (of ``only``; ``None``: all) of their open tasks due ``today`` and of their
    overdue ones; returns how many notifications were new, by kind."""
    t = tasks.c
    made = {"tasks_due": 0, "tasks_overdue": 0}
    for kind, where in (("tasks_due", t.due_date == today), ("tasks_overdue", t.due_date < today)):
        counts = conn.execute(
            sa.select(t.assignee_id, sa.func.count())
            .where(t.status.in_(OPEN_STATES), t.assignee_id.is_not(None), where)
            .group_by(t.assignee_id)
        ).all()
        for uid, n in counts:
            if only is not None and int(uid) not in only:
                continue
            made[kind] += add_notification(
                conn, user_id=int(uid), kind=kind, key=f"{kind}:{uid}:{today.isoformat()}",
                params={"count": int(n), "day": today.isoformat()},
                link="/tasks#group-" + ("today" if kind == "tasks_due" else "overdue"), now=now,
            )  # fmt: skip
    return made


def _existing(conn: sa.Connection, keys: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(keys), _CHUNK):
        chunk = list(keys[i : i + _CHUNK])
        found |= set(conn.execute(sa.select(notifications.c.key).where(notifications.c.key.in_(chunk))).scalars())
    return found


def sweep_tickets(conn: sa.Connection, policy: TicketPolicy, *, now: dt.datetime) -> int:
    """Notify the assignee and the customer's owner of each open ticket that missed a target since
    ``now - SLA_LOOKBACK``; returns how many notifications were new."""
    by_name = {str(n): int(i) for i, n in conn.execute(sa.select(users.c.id, users.c.name).where(users.c.active))}
    rows = conn.execute(
        sa.select(tickets, customers.c.owner_id)
        .select_from(tickets.join(customers, customers.c.id == tickets.c.customer_id))
        .where(tickets.c.status.in_(OPEN_STATES), tickets.c.opened_at <= now)
    ).all()
    wanted: dict[str, dict[str, Any]] = {}
    for row in rows:
        ticket = dict(row._mapping)
        for kind, due in breaches(ticket, policy, now).items():
            if due < now - SLA_LOOKBACK:
                continue
            people = {by_name.get(str(row.assignee)) if row.assignee else None, row.owner_id}
            for uid in sorted(p for p in people if p is not None):
                wanted[f"ticket_sla:{row.id}:{kind}:{uid}"] = {
                    "user_id": int(uid), "customer_id": row.customer_id, "link": f"/tickets/{row.id}",
                    "params": {"ticket_id": row.id, "ticket": row.ticket_id, "target": kind, "due_at": due.isoformat(),
                               "priority": row.priority},
                }  # fmt: skip
    made = 0
    known = _existing(conn, list(wanted))
    for key, item in wanted.items():
        if key not in known:
            made += add_notification(conn, kind="ticket_sla", key=key, now=now, **item)
    return made


def digest_choices(settings: Settings, stored: dict[str, Any] | None) -> dict[str, Any]:
    """A user's digest choices with the defaults filled in: ``email`` (bool), ``webhook`` (a name or ``None``),
    ``webhook_format`` and ``digest_at`` (``HH:MM``)."""
    stored = stored or {}
    return {
        "email": settings.digest_email if stored.get("email") is None else bool(stored["email"]),
        "webhook": stored.get("webhook") or None,
        "webhook_format": stored.get("webhook_format") or "wecom",
        "digest_at": stored.get("digest_at") or settings.digest_at,
    }


def _routes(settings: Settings, user: Any, choices: dict[str, Any]) -> list[DigestRoute]:
    """The channels the digest can go through now: chosen, and set up (an address, SMTP, a known webhook)."""
    routes = []
    if choices["email"] and user.email and settings.smtp_host and settings.smtp_from:
        routes.append(DigestRoute("email", to=str(user.email)))
    if choices["webhook"] and choices["webhook"] in settings.webhooks:
        routes.append(DigestRoute("webhook", webhook=choices["webhook"], format=choices["webhook_format"]))
    return routes


def _named(conn: sa.Connection, stmt: sa.Select[Any], scope: Collection[int] | None) -> list[tuple[str, str | None]]:
    """(task title, customer name) rows; a customer outside ``scope`` (the owners whose customers the user may see;
    ``None``: all) is not named and their name, company, phone and e-mail are masked in the title (issue 23)."""
    out: list[tuple[str, str | None]] = []
    for title, name, owner, *identities in conn.execute(stmt):
        if scope is None or owner in scope:
            out.append((str(title), name))
            continue
        masked = str(title)
        for ident in sorted({str(v) for v in (name, *identities) if v}, key=len, reverse=True):
            masked = masked.replace(ident, "***")
        out.append((masked, None))
    return out


def _scope(conn: sa.Connection, user: Any) -> list[int] | None:
    """The owners whose customers ``user`` may see (as :func:`kehu.service.access.owner_scope` says)."""
    if user.role == "admin":
        return None
    if user.role == "manager":
        return team_member_ids(conn, user.team) or [int(user.id)]
    return [int(user.id)]


def digest_facts(conn: sa.Connection, user: Any, *, today: dt.date, now: dt.datetime) -> DigestFacts:
    """What one user's digest of ``today`` says (tasks, tickets past SLA, high-risk customers of theirs)."""
    t = tasks.c
    mine = sa.and_(t.assignee_id == user.id, t.status.in_(OPEN_STATES))
    joined = tasks.join(customers, customers.c.id == t.customer_id)

    def count(*where: Any) -> int:
        return int(conn.execute(sa.select(sa.func.count()).select_from(tasks).where(mine, *where)).scalar_one())

    scope = _scope(conn, user)

    def first(*where: Any) -> list[tuple[str, str | None]]:
        c = customers.c
        stmt = (
            sa.select(t.title, c.name, c.owner_id, c.company, c.phone, c.email).select_from(joined).where(mine, *where)
        )
        return _named(conn, stmt.order_by(t.due_date, t.id).limit(5), scope)

    since = now - dt.timedelta(days=1)
    n = notifications.c
    late = conn.execute(
        sa.select(sa.func.count(sa.distinct(n.link))).select_from(notifications)  # tickets, not targets
        .where(n.user_id == user.id, n.kind == "ticket_sla", n.created_at >= since)
    ).scalar_one()  # fmt: skip
    risky = sa.and_(customers.c.owner_id == user.id, customer_scores.c.churn_tier == "high")
    scored = customers.join(customer_scores, customer_scores.c.customer_id == customers.c.id)
    at_risk = conn.execute(sa.select(sa.func.count()).select_from(scored).where(risky)).scalar_one()
    names = conn.execute(
        sa.select(customers.c.name).select_from(scored).where(risky)
        .order_by(customer_scores.c.churn_risk.desc(), customers.c.id).limit(5)
    ).scalars().all()  # fmt: skip
    return DigestFacts(
        day=today, name=str(user.display_name or user.name),
        due_today=count(t.due_date == today), due_items=first(t.due_date == today),
        overdue=count(t.due_date < today), overdue_items=first(t.due_date < today),
        new_tasks=int(conn.execute(
            sa.select(sa.func.count()).select_from(tasks).where(t.assignee_id == user.id, t.created_at >= since)
        ).scalar_one()),
        tickets_late=int(late), at_risk=int(at_risk), at_risk_items=[str(x) for x in names],
    )  # fmt: skip


def _due(choices: dict[str, Any], local: dt.datetime) -> bool:
    return local.time() >= dt.time.fromisoformat(choices["digest_at"])


def run_digests(engine: sa.Engine, settings: Settings, *, now: dt.datetime) -> dict[str, Any]:
    """Queue today's digest of every user it is due for; returns counts by what happened and the users queued."""
    local = _local(settings, now)
    today = local.date()
    out: dict[str, Any] = {"day": today, "queued": 0, "nothing_to_say": 0, "not_yet": 0, "no_channel": 0,
                           "done_before": 0, "users": []}  # fmt: skip
    with engine.connect() as conn:
        people = conn.execute(sa.select(users).where(users.c.active).order_by(users.c.id)).all()
        stored = {int(r["user_id"]): dict(r) for r in conn.execute(sa.select(notification_prefs)).mappings()}
    for user in people:
        prefs = stored.get(int(user.id))
        last = prefs.get("last_digest_on") if prefs else None
        if last is not None and last >= today:
            out["done_before"] += 1
            continue
        choices = digest_choices(settings, prefs)
        routes = _routes(settings, user, choices)
        if not routes:
            out["no_channel"] += 1
            continue
        if not _due(choices, local):
            out["not_yet"] += 1
            continue
        locale = user.locale if user.locale in ("zh-CN", "en") else settings.locale
        with engine.begin() as conn:
            text = compose(digest_facts(conn, user, today=today, now=now), locale)
            if text is None:
                out["nothing_to_say"] += 1
            else:
                written = queue_digest(
                    conn, user_id=int(user.id), day=today, subject=text[0], body=text[1], routes=routes, now=now,
                    timezone=settings.timezone, quiet_hours=settings.quiet_hours,
                )  # fmt: skip
                out["queued"] += written
                out["users"].append({"user": user.name, "copies": written, "channels": [r.channel for r in routes]})
            mark_digest_decided(conn, int(user.id), today, now=now)
    return out


def remind(engine: sa.Engine, settings: Settings, policy: TicketPolicy, *, now: dt.datetime) -> dict[str, Any]:
    """The clock's notifications (tasks due and overdue — from each user's digest time on, when the day's run has
    made the day's tasks —, tickets past SLA), then the digests that are due."""
    local = _local(settings, now)
    with engine.begin() as conn:
        stored = {int(r["user_id"]): dict(r) for r in conn.execute(sa.select(notification_prefs)).mappings()}
        people = conn.execute(sa.select(users.c.id).where(users.c.active)).scalars().all()
        ready = {int(u) for u in people if _due(digest_choices(settings, stored.get(int(u))), local)}
        made = sweep_tasks(conn, today=local.date(), now=now, only=ready)
        made["ticket_sla"] = sweep_tickets(conn, policy, now=now)
    return {"notifications": made, "digests": run_digests(engine, settings, now=now)}
