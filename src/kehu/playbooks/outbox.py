"""Acting exactly once: commit a plan as firings + outbox rows, then deliver the outbox.

1. :func:`commit_plan` writes each decision's firing (unique per playbook, rule, customer and occurrence; its
   ``fate`` is ``held_out`` for a customer in the rule's holdout, who gets no outbox row at all, else ``acted``) and
   one outbox row per action — texts rendered, coupon codes drawn, idempotency key derived from the firing —
   in one transaction per batch. A decision that another process committed first is skipped, not repeated.
2. :func:`deliver` works the outbox. Store actions (task, tag, coupon, owner) are applied in the same
   transaction that marks their row ``done``: they happen once or not at all. Messages are claimed
   (``sending``, with a lease and a recorded attempt), sent through their channel with the idempotency key,
   then marked ``done``; a failure is recorded and retried with exponential backoff
   (``KEHU_DELIVERY_BACKOFF_SECONDS`` doubling) until ``KEHU_DELIVERY_MAX_ATTEMPTS``, then the row is ``dead``.
   A row left ``sending`` by a process that stopped mid-send becomes ``unknown`` once its lease expires: the
   message may have gone out, so it is never re-sent on its own; ``kehu playbooks retry ID`` re-sends it
   after a person checked. Nothing is dropped silently: every state is listed by ``kehu playbooks outbox``.

A crash between 1 and 2 leaves pending rows that the next run (or ``kehu serve``'s delivery loop) delivers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from kehu.config import Settings
from kehu.errors import NotFoundError, ValidationError
from kehu.playbooks.channels import Channel, DeliveryError, Message, is_configured
from kehu.playbooks.model import CouponAction, MessageAction, TaskAction
from kehu.playbooks.planner import Decision, Plan
from kehu.playbooks.templates import render
from kehu.segments.labels import segment_label
from kehu.store.actions import (
    audit,
    change_tags,
    coupons,
    delivery_attempts,
    insert_task,
    outbox,
    playbook_firings,
    set_owner,
)
from kehu.store.capacity import backlog
from kehu.store.schema import customers, users

__all__ = ["DeliveryReport", "commit_plan", "deliver", "idempotency_key", "render_decision", "retry"]

_BATCH = 200
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def idempotency_key(playbook: str, rule: str, customer_id: int, occurrence: str, index: int) -> str:
    """The key of one action of one firing: stable across reruns and restarts."""
    text = f"{playbook}|{rule}|{customer_id}|{occurrence}|{index}"
    return f"pb-{hashlib.sha256(text.encode()).hexdigest()[:40]}"


def _code(prefix: str) -> str:
    return prefix + "-" + "".join(secrets.choice(_ALPHABET) for _ in range(10))


def _segment_label(ref: str | None, locale: str) -> str | None:
    if not ref:
        return None
    scheme, _, segment = ref.partition(":")
    return segment_label(scheme, segment, "zh" if locale == "zh-CN" else "en")


def _user_name(names: Mapping[int, str], uid: Any) -> str | None:
    return names.get(int(uid)) if uid is not None else None


def render_decision(
    d: Decision, user_names: Mapping[int, str], *, code: Callable[[str], str] = _code
) -> list[dict[str, Any]]:
    """Each action's outbox row content: kind, channel and payload with texts rendered and coupon codes drawn."""
    values = dict(d.values)
    owner_id = d.customer.get("owner_id")
    rows = []
    for planned in d.actions:
        payload = dict(planned.payload)
        values["owner"] = _user_name(user_names, payload.get("owner_id", owner_id))
        if planned.kind == "owner":
            owner_id = payload["owner_id"]
        values["segment_label"] = _segment_label(values.get("segment"), planned.locale)
        action = planned.action
        channel = None
        if isinstance(action, TaskAction):
            values["assignee"] = _user_name(user_names, payload["assignee_id"])
            payload["title"] = render(action.title.pick(planned.locale), values)[:300]
            payload["body"] = render(action.body.pick(planned.locale), values) if action.body else None
        elif isinstance(action, MessageAction):
            channel = action.channel if action.channel != "webhook" else f"webhook:{action.webhook}"
            payload["subject"] = render(action.subject.pick(planned.locale), values) if action.subject else None
            payload["body"] = render(action.body.pick(planned.locale), values)
        elif isinstance(action, CouponAction):
            payload["code"] = code(action.prefix)
            values["coupon_code"] = payload["code"]
            amount = payload["amount_cents"]
            values["coupon_value"] = (
                f"{amount / 100:g} {payload['currency']}" if amount is not None else f"{payload['percent']}%"
            )
            values["coupon_expires"] = payload["expires_on"]
        rows.append({"kind": planned.kind, "channel": channel, "payload": payload})
    return rows


def _json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _user_names(conn: sa.Connection) -> dict[int, str]:
    return {int(i): str(d or n) for i, n, d in conn.execute(sa.select(users.c.id, users.c.name, users.c.display_name))}


def _commit_one(
    conn: sa.Connection, d: Decision, names: Mapping[int, str], run_id: int | None, now: dt.datetime
) -> int:
    reason = _json({"trigger": d.rule.when.kind, **d.occurrence.values, "rule": d.rule.where})
    fid = conn.execute(
        sa.insert(playbook_firings)
        .values(
            playbook=d.playbook.name,
            rule=d.rule.id,
            customer_id=d.customer_id,
            occurrence=d.occurrence.key,
            day=d.values["today"],
            decided_at=now,
            run_id=run_id,
            reason=reason,
            fate="held_out" if d.held_out else (d.fate or "acted"),
            merged_into=d.merged_into,
            stake=d.stake,
        )
        .returning(playbook_firings.c.id)
    ).scalar_one()
    if d.backlog is not None and not d.held_out:  # an action that did not fit its owner's capacity
        conn.execute(sa.insert(backlog).values(firing_id=fid, customer_id=d.customer_id, created_at=now, **d.backlog))
    for i, row in enumerate([] if d.held_out else render_decision(d, names)):
        payload = row["payload"]
        not_before = payload.pop("not_before", now)
        conn.execute(
            sa.insert(outbox).values(
                idempotency_key=idempotency_key(d.playbook.name, d.rule.id, d.customer_id, d.occurrence.key, i),
                firing_id=fid,
                customer_id=d.customer_id,
                kind=row["kind"],
                channel=row["channel"],
                payload=_json(payload),
                status="pending",
                attempts=0,
                created_at=now,
                next_attempt_at=max(not_before, now),
            )
        )
    audit(
        conn,
        at=now,
        actor=f"playbook:{d.playbook.name}/{d.rule.id}",
        action="playbook.held_out" if d.held_out else "playbook.fired",
        customer_id=d.customer_id,
        target=f"firing:{fid}",
        reason=reason,
        detail={"occurrence": d.occurrence.key, "actions": [a.kind for a in d.actions]},
    )
    return int(fid)


def commit_plan(engine: sa.Engine, plan: Plan, *, run_id: int | None, now: dt.datetime) -> dict[str, int]:
    """Write the plan's firings and outbox rows; returns rule ref -> firings written.

    Batches are committed one by one. A batch that meets a firing another process wrote first is redone
    decision by decision, each in a savepoint, skipping the duplicates.
    """
    written: dict[str, int] = {}
    with engine.connect() as conn:
        names = _user_names(conn)
    decisions = plan.decisions
    for start in range(0, len(decisions), _BATCH):
        batch = decisions[start : start + _BATCH]
        try:
            with engine.begin() as conn:
                for d in batch:
                    _commit_one(conn, d, names, run_id, now)
            done = batch
        except IntegrityError:
            done = []
            with engine.begin() as conn:
                for d in batch:
                    try:
                        with conn.begin_nested():
                            _commit_one(conn, d, names, run_id, now)
                        done.append(d)
                    except IntegrityError:
                        continue
        for d in done:
            ref = f"{d.playbook.name}/{d.rule.id}"
            written[ref] = written.get(ref, 0) + 1
    return written


# -- delivery ------------------------------------------------------------------------------------------------------
@dataclass
class DeliveryReport:
    """What one :func:`deliver` pass did, by outcome."""

    applied: dict[str, int] = field(default_factory=dict)  # store actions by kind
    sent: int = 0
    retry: int = 0
    dead: int = 0
    unknown: int = 0
    waiting: int = 0  # messages not due yet (quiet hours, backoff)
    unconfigured: dict[str, int] = field(default_factory=dict)  # due messages whose channel is not set up

    def as_dict(self) -> dict[str, Any]:
        return {
            "applied": dict(self.applied),
            "sent": self.sent,
            "retry": self.retry,
            "dead": self.dead,
            "unknown": self.unknown,
            "waiting": self.waiting,
            "unconfigured": dict(self.unconfigured),
        }


def _firing_reason(conn: sa.Connection, firing_id: int | None) -> tuple[str, Any]:
    if firing_id is None:
        return "system", None
    row = conn.execute(
        sa.select(playbook_firings.c.playbook, playbook_firings.c.rule, playbook_firings.c.reason).where(
            playbook_firings.c.id == firing_id
        )
    ).first()
    if row is None:
        return "system", None
    return f"playbook:{row.playbook}/{row.rule}", row.reason


def _apply(conn: sa.Connection, row: Any, now: dt.datetime) -> dict[str, Any]:
    """Apply one store action (inside the transaction that marks it done); returns its result."""
    p = row.payload
    actor, reason = _firing_reason(conn, row.firing_id)
    cid = row.customer_id
    if cid is None or conn.execute(sa.select(customers.c.id).where(customers.c.id == cid)).first() is None:
        return {"skipped": "customer no longer exists"}
    playbook, _, rule = actor.removeprefix("playbook:").partition("/")
    if row.kind == "task":
        task_id = insert_task(
            conn,
            customer_id=cid,
            assignee_id=p["assignee_id"],
            title=p["title"],
            body=p.get("body"),
            priority=p["priority"],
            due_date=dt.date.fromisoformat(p["due_date"]),
            now=now,
            playbook=playbook or None,
            rule=rule or None,
            firing_id=row.firing_id,
            idempotency_key=row.idempotency_key,
        )
        detail = {"assignee_id": p["assignee_id"], "due_date": p["due_date"], "title": p["title"]}
        audit(
            conn,
            at=now,
            actor=actor,
            action="task.create",
            customer_id=cid,
            target=f"task:{task_id}",
            reason=reason,
            detail=detail,
        )
        return {"task_id": int(task_id)}
    if row.kind == "owner":
        current = set_owner(conn, cid, p["owner_id"], now=now)
        audit(
            conn,
            at=now,
            actor=actor,
            action="owner.change",
            customer_id=cid,
            target=f"customer:{cid}",
            reason=reason,
            detail={"from": current, "to": p["owner_id"]},
        )
        return {"from": current, "to": p["owner_id"]}
    if row.kind == "tag":
        _, new = change_tags(conn, cid, add=p["add"], remove=p["remove"], now=now)
        audit(
            conn,
            at=now,
            actor=actor,
            action="tag.change",
            customer_id=cid,
            target=f"customer:{cid}",
            reason=reason,
            detail={"add": p["add"], "remove": p["remove"], "tags": new},
        )
        return {"tags": new}
    if row.kind == "coupon":
        coupon_id = conn.execute(
            sa.insert(coupons)
            .values(
                code=p["code"],
                customer_id=cid,
                kind=p["kind"],
                amount_cents=p["amount_cents"],
                percent=p["percent"],
                currency=p["currency"],
                min_order_cents=p["min_order_cents"],
                issued_at=now,
                expires_on=dt.date.fromisoformat(p["expires_on"]),
                status="issued",
                playbook=playbook or None,
                rule=rule or None,
                firing_id=row.firing_id,
                idempotency_key=row.idempotency_key,
            )
            .returning(coupons.c.id)
        ).scalar_one()
        audit(
            conn,
            at=now,
            actor=actor,
            action="coupon.issue",
            customer_id=cid,
            target=f"coupon:{coupon_id}",
            reason=reason,
            detail={"code": p["code"], "expires_on": p["expires_on"]},
        )
        return {"coupon_id": int(coupon_id), "code": p["code"]}
    raise ValueError(f"outbox row {row.id}: unknown kind {row.kind!r}")


def _lease(settings: Settings) -> dt.timedelta:
    return dt.timedelta(seconds=2 * max(settings.smtp_timeout, settings.webhook_timeout) + 60)


def deliver(
    engine: sa.Engine,
    settings: Settings,
    channels: Mapping[str, Channel],
    *,
    now: dt.datetime,
    limit: int | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> DeliveryReport:
    """Work the outbox once: apply store actions, send due messages, retry or give up on failures.

    ``now`` decides which rows are due and which leases have expired; ``clock`` gives the time of each claim and
    each outcome (default: ``now`` advanced by the time this call has taken), so a message claimed late in a long
    run gets its lease from its own claim, not an already expired one from the start of the run.
    """
    clock = clock or _advancing(now)
    report = DeliveryReport()
    with engine.begin() as conn:  # rows a stopped process left mid-send
        stale = conn.execute(
            sa.select(outbox.c.id, outbox.c.customer_id, outbox.c.firing_id).where(
                outbox.c.status == "sending", outbox.c.lease_until < now
            )
        ).all()
        for oid, cid, fid in stale:
            conn.execute(
                sa.update(outbox)
                .where(outbox.c.id == oid)
                .values(status="unknown", lease_until=None, last_error="stopped while sending: outcome unknown")
            )
            _, reason = _firing_reason(conn, fid)
            audit(
                conn,
                at=now,
                actor="system",
                action="message.unknown",
                customer_id=cid,
                target=f"outbox:{oid}",
                reason=reason,
                detail={"why": "the sending process stopped; check, then `kehu playbooks retry`"},
            )
            report.unknown += 1
    with engine.connect() as conn:
        store_ids = list(
            conn.execute(
                sa.select(outbox.c.id)
                .where(outbox.c.kind != "message", outbox.c.status == "pending")
                .order_by(outbox.c.id)
                .limit(limit)
            ).scalars()
        )
    for oid in store_ids:
        with engine.begin() as conn:
            claimed = conn.execute(
                sa.update(outbox).where(outbox.c.id == oid, outbox.c.status == "pending").values(status="done")
            ).rowcount
            if claimed != 1:
                continue  # another process took it
            row = conn.execute(sa.select(outbox).where(outbox.c.id == oid)).one()
            applied_at = clock()
            result = _apply(conn, row, applied_at)
            conn.execute(
                sa.update(outbox).where(outbox.c.id == oid).values(done_at=applied_at, attempts=1, result=_json(result))
            )
        report.applied[row.kind] = report.applied.get(row.kind, 0) + 1
    with engine.connect() as conn:
        ready = [k for k, ch in channels.items() if is_configured(ch)]
        due_where = [
            outbox.c.kind == "message",
            outbox.c.status.in_(("pending", "retry")),
            outbox.c.next_attempt_at <= now,
        ]
        channel_kind = sa.func.substr(outbox.c.channel, 1, 7)  # 'webhook:NAME' -> 'webhook'
        is_ready = sa.or_(
            outbox.c.channel.in_(ready),
            sa.and_(channel_kind == "webhook", sa.true() if "webhook" in ready else sa.false()),
        )
        due = list(
            conn.execute(
                sa.select(outbox.c.id)
                .where(*due_where, is_ready)
                .order_by(outbox.c.next_attempt_at, outbox.c.id)
                .limit(limit)
            ).scalars()
        )
        for channel, n in conn.execute(
            sa.select(outbox.c.channel, sa.func.count()).where(*due_where, ~is_ready).group_by(outbox.c.channel)
        ):
            report.unconfigured[str(channel)] = int(n)
        report.waiting = int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(outbox)
                .where(
                    outbox.c.kind == "message",
                    outbox.c.status.in_(("pending", "retry")),
                    outbox.c.next_attempt_at > now,
                )
            ).scalar_one()
        )
    for oid in due:
        outcome = _send_one(engine, settings, channels, oid, clock)
        if outcome == "done":
            report.sent += 1
        elif outcome == "retry":
            report.retry += 1
        elif outcome == "dead":
            report.dead += 1
    return report


_monotonic = time.monotonic  # the real time's seconds (a test makes it advance faster)


def _advancing(start: dt.datetime) -> Callable[[], dt.datetime]:
    """A clock that starts at ``start`` and advances with the real time, in whole seconds (so a short run keeps
    the exact times it was given: a retry due at ``start + backoff`` is due then)."""
    began = _monotonic()
    return lambda: start + dt.timedelta(seconds=int(_monotonic() - began))


def _send_one(
    engine: sa.Engine, settings: Settings, channels: Mapping[str, Channel], oid: int, clock: Callable[[], dt.datetime]
) -> str:
    now = clock()  # the claim's own time: its lease runs from here
    with engine.begin() as conn:
        claimed = conn.execute(
            sa.update(outbox)
            .where(outbox.c.id == oid, outbox.c.status.in_(("pending", "retry")))
            .values(status="sending", lease_until=now + _lease(settings), attempts=outbox.c.attempts + 1)
        ).rowcount
        if claimed != 1:
            return "skipped"
        row = conn.execute(sa.select(outbox).where(outbox.c.id == oid)).one()
        attempt_id = conn.execute(
            sa.insert(delivery_attempts)
            .values(outbox_id=oid, attempt=row.attempts, started_at=now)
            .returning(delivery_attempts.c.id)
        ).scalar_one()
    p = row.payload
    kind = str(row.channel or "").partition(":")[0]
    message = Message(
        key=row.idempotency_key,
        channel=kind,
        to=p.get("to"),
        body=p["body"],
        subject=p.get("subject"),
        webhook=p.get("webhook"),
        format=p.get("format") or "json",
        data=p.get("data") or {},
    )
    error: DeliveryError | None = None
    response: str | None = None
    channel = channels.get(kind)
    try:
        if channel is None:
            raise DeliveryError(f"no channel {kind!r}", retryable=False)
        response = channel.send(message)
    except DeliveryError as exc:
        error = exc
    except Exception as exc:  # a provider's own bug must not leave the row 'sending' for ever
        error = DeliveryError(f"{type(exc).__name__}: {exc}")
    now = clock()  # the outcome's time
    with engine.begin() as conn:
        actor, reason = _firing_reason(conn, row.firing_id)
        values: dict[str, Any]
        if error is None:
            status, values = "done", {"done_at": now, "last_error": None, "result": {"response": response}}
        elif not error.retryable or row.attempts >= settings.delivery_max_attempts:
            status, values = "dead", {"last_error": str(error)}
        else:
            wait = settings.delivery_backoff_seconds * 2 ** (row.attempts - 1)
            status, values = "retry", {"last_error": str(error), "next_attempt_at": now + dt.timedelta(seconds=wait)}
        conn.execute(sa.update(outbox).where(outbox.c.id == oid).values(status=status, lease_until=None, **values))
        conn.execute(
            sa.update(delivery_attempts)
            .where(delivery_attempts.c.id == attempt_id)
            .values(
                finished_at=now,
                ok=error is None,
                error=None if error is None else str(error),
                response=response if error is None else error.response,
            )
        )
        action = {"done": "message.sent", "retry": "message.failed", "dead": "message.dead"}[status]
        detail = {"channel": row.channel, "to": p.get("to"), "attempt": row.attempts}
        if error is not None:
            detail["error"] = str(error)
        audit(
            conn,
            at=now,
            actor=actor,
            action=action,
            customer_id=row.customer_id,
            target=f"outbox:{oid}",
            reason=reason,
            detail=detail,
        )
    return status


def retry(engine: sa.Engine, outbox_id: int, *, actor: str, now: dt.datetime) -> dict[str, Any]:
    """Put a ``dead`` or ``unknown`` message back in the queue (a person decided it should be sent again)."""
    with engine.begin() as conn:
        row = conn.execute(sa.select(outbox).where(outbox.c.id == outbox_id)).first()
        if row is None:
            raise NotFoundError(f"no outbox row {outbox_id}")
        if row.status not in ("dead", "unknown"):
            raise ValidationError(f"outbox row {outbox_id} is {row.status}: only dead or unknown rows are retried")
        conn.execute(
            sa.update(outbox)
            .where(outbox.c.id == outbox_id)
            .values(status="retry", next_attempt_at=now, lease_until=None, attempts=0)
        )
        audit(
            conn,
            at=now,
            actor=actor,
            action="message.retry",
            customer_id=row.customer_id,
            target=f"outbox:{outbox_id}",
            detail={"was": row.status, "last_error": row.last_error},
        )
        return {"id": outbox_id, "was": row.status, "status": "retry"}
