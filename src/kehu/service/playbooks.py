"""Playbooks for the front ends: validate, dry-run, run (decide → commit → deliver), tasks, outbox, defaults.

The workspace's playbooks are the ``*.yaml`` files in ``KEHU_PLAYBOOKS_DIR`` (default ``KEHU_HOME/playbooks``);
those with ``enabled: true`` (the default) run. ``now`` is injectable everywhere so that tests can freeze the
clock; ``day`` (the day triggers are evaluated for) defaults to today in ``KEHU_TIMEZONE``.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from kehu.config import Settings
from kehu.errors import AccessDeniedError, NotFoundError, ValidationError
from kehu.playbooks import (
    DEFAULTS_DIR,
    Channel,
    Clock,
    Playbook,
    channels_from_settings,
    commit_plan,
    deliver,
    load_playbooks,
    plan,
)
from kehu.playbooks.outbox import retry as retry_row
from kehu.playbooks.planner import Decision, Plan
from kehu.service.loop_config import ticket_policy
from kehu.store.actions import (
    TASK_OUTCOMES,
    TASK_STATES,
    audit,
    outbox,
    playbook_runs,
    tasks,
)
from kehu.store.schema import customers, users

__all__ = [
    "deliver_outbox",
    "dry_run",
    "finish_task",
    "install_defaults",
    "list_outbox",
    "list_playbooks",
    "list_tasks",
    "retry_message",
    "run_playbooks",
    "ticket_sla_hours",
    "workspace_playbooks",
]

_SAMPLES = 5


def _clock(settings: Settings, now: dt.datetime | None, day: dt.date | None) -> Clock:
    tz = ZoneInfo(settings.timezone)
    now = now or dt.datetime.now(dt.UTC)
    return Clock(day=day or now.astimezone(tz).date(), now=now, tz=tz)


def workspace_playbooks(settings: Settings, files: Sequence[str | Path] | None = None) -> list[Playbook]:
    """The playbooks of ``files``, or of the workspace's playbooks folder (none when it does not exist)."""
    if files:
        return load_playbooks(files)
    folder = settings.resolved_playbooks_dir
    return load_playbooks([folder]) if folder.is_dir() else []


def list_playbooks(settings: Settings) -> list[dict[str, Any]]:
    """The workspace's playbooks and their rules."""
    return [
        {
            "playbook": pb.name,
            "file": pb.path,
            "enabled": pb.enabled,
            "title": pb.title.pick(settings.locale) if pb.title else None,
            "rules": [
                {"id": r.id, "trigger": r.when.kind, "priority": r.priority, "actions": [a.kind for a in r.then]}
                for r in pb.rules
            ],
        }
        for pb in workspace_playbooks(settings)
    ]


def install_defaults(settings: Settings, *, overwrite: bool = False) -> list[str]:
    """Copy the default playbooks into the workspace's playbooks folder (enabled); returns the files written."""
    folder = settings.resolved_playbooks_dir
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for src in sorted(DEFAULTS_DIR.glob("*.yaml")):
        dest = folder / src.name
        if dest.exists() and not overwrite:
            continue
        shutil.copyfile(src, dest)
        written.append(str(dest))
    return written


def _names(conn: sa.Connection) -> dict[int, str]:
    return {int(i): str(n) for i, n in conn.execute(sa.select(users.c.id, users.c.name))}


def _sample(d: Decision, names: Mapping[int, str]) -> dict[str, Any]:
    actions: list[dict[str, Any]] = []
    for a in d.actions:
        p = a.payload
        if a.kind == "task":
            uid = p["assignee_id"]
            actions.append({"task": {"assignee": names.get(uid) if uid else None, "due_date": p["due_date"]}})
        elif a.kind == "message":
            actions.append({"message": {"channel": p["channel"], "to": p["to"] or p["webhook"]}})
        elif a.kind == "owner":
            actions.append({"owner": names.get(p["owner_id"])})
        else:
            actions.append({a.kind: {k: v for k, v in p.items() if v is not None}})
    owner = d.customer.get("owner_id")
    return {
        "customer_id": d.customer_id,
        "name": d.customer.get("name"),
        "owner": names.get(owner) if owner is not None else None,
        "occurrence": d.occurrence.key,
        "values": d.occurrence.values,
        "actions": actions,
    }


def _summary(p: Plan, names: Mapping[int, str], fired: Mapping[str, int] | None = None) -> dict[str, Any]:
    rules = []
    for rp in p.rules:
        rules.append(
            {
                "rule": rp.ref,
                "title": rp.rule.title.pick("zh-CN") if rp.rule.title else None,
                "title_en": rp.rule.title.pick("en") if rp.rule.title else None,
                "trigger": rp.rule.when.kind,
                "priority": rp.rule.priority,
                "matched": rp.matched,
                "passed_if": rp.passed_if,
                "would_fire": len(rp.decisions),
                "fired": None if fired is None else fired.get(rp.ref, 0),
                "skipped": dict(rp.skipped),
                "customers": [d.customer_id for d in rp.decisions],
                "samples": [_sample(d, names) for d in rp.decisions[:_SAMPLES]],
            }
        )
    return {"day": p.clock.day, "now": p.clock.now, "as_of": p.as_of, "rules": rules}


def ticket_sla_hours(settings: Settings) -> dict[str, float]:
    """Resolution targets per ticket priority from the loop configuration (what ``ticket_past_sla`` uses)."""
    policy = ticket_policy(settings)
    return {priority: target.resolution for priority, target in policy.sla.items()}


def dry_run(
    settings: Settings,
    engine: sa.Engine,
    files: Sequence[str | Path] | None = None,
    *,
    now: dt.datetime | None = None,
    day: dt.date | None = None,
) -> dict[str, Any]:
    """What a run would do now, per rule (customers, samples, skips); writes nothing."""
    clock = _clock(settings, now, day)
    playbooks = workspace_playbooks(settings, files)
    with engine.connect() as conn:
        p = plan(conn, playbooks, clock, settings, sla_hours=ticket_sla_hours(settings))
        names = _names(conn)
    out = _summary(p, names)
    out["dry_run"] = True
    return out


def run_playbooks(
    settings: Settings,
    engine: sa.Engine,
    files: Sequence[str | Path] | None = None,
    *,
    now: dt.datetime | None = None,
    day: dt.date | None = None,
    trigger: str = "cli",
    channels: Mapping[str, Channel] | None = None,
    deliver_messages: bool = True,
) -> dict[str, Any]:
    """Decide, commit (firings + outbox) and deliver; returns counts per rule and what delivery did."""
    clock = _clock(settings, now, day)
    playbooks = workspace_playbooks(settings, files)
    with engine.begin() as conn:
        run_id = int(
            conn.execute(
                sa.insert(playbook_runs)
                .values(day=clock.day, started_at=clock.now, trigger=trigger)
                .returning(playbook_runs.c.id)
            ).scalar_one()
        )
    with engine.connect() as conn:
        p = plan(conn, playbooks, clock, settings, sla_hours=ticket_sla_hours(settings))
        names = _names(conn)
    fired = commit_plan(engine, p, run_id=run_id, now=clock.now)
    out = _summary(p, names, fired)
    for rule in out["rules"]:
        rule.pop("customers")
    if deliver_messages:
        chans = channels if channels is not None else channels_from_settings(settings)
        out["delivery"] = deliver(engine, settings, chans, now=clock.now).as_dict()
    counts = {r["rule"]: {"fired": r["fired"], "matched": r["matched"], "skipped": r["skipped"]} for r in out["rules"]}
    with engine.begin() as conn:
        conn.execute(
            sa.update(playbook_runs)
            .where(playbook_runs.c.id == run_id)
            .values(as_of=p.as_of, finished_at=dt.datetime.now(dt.UTC), summary=counts)
        )
    out["run_id"] = run_id
    out["playbooks"] = [pb.name for pb in playbooks if pb.enabled]
    return out


def deliver_outbox(
    settings: Settings,
    engine: sa.Engine,
    *,
    now: dt.datetime | None = None,
    channels: Mapping[str, Channel] | None = None,
) -> dict[str, Any]:
    """Deliver what is due in the outbox (store actions, messages, retries)."""
    chans = channels if channels is not None else channels_from_settings(settings)
    return deliver(engine, settings, chans, now=now or dt.datetime.now(dt.UTC)).as_dict()


def list_outbox(engine: sa.Engine, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Outbox rows (newest first), optionally of one status."""
    o = outbox
    cols = [
        o.c.id,
        o.c.kind,
        o.c.channel,
        o.c.status,
        o.c.attempts,
        o.c.customer_id,
        o.c.next_attempt_at,
        o.c.done_at,
        o.c.last_error,
        o.c.idempotency_key,
    ]
    stmt = sa.select(*cols).order_by(o.c.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(o.c.status == status)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def retry_message(engine: sa.Engine, outbox_id: int, *, actor: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """Queue a dead or unknown message again."""
    return retry_row(engine, outbox_id, actor=actor, now=now or dt.datetime.now(dt.UTC))


def list_tasks(
    engine: sa.Engine,
    *,
    owner: str | None = None,
    status: Sequence[str] | None = None,
    overdue: bool = False,
    today: dt.date | None = None,
    limit: int | None = 200,
) -> list[dict[str, Any]]:
    """Tasks (due first), optionally of one assignee (user name), some states, or overdue only."""
    t, u, c = tasks, users, customers
    today = today or dt.date.today()
    stmt = (
        sa.select(
            t.c.id,
            t.c.title,
            t.c.body,
            t.c.priority,
            t.c.status,
            t.c.due_date,
            t.c.outcome,
            t.c.notes,
            t.c.playbook,
            t.c.rule,
            t.c.customer_id,
            c.c.name.label("customer"),
            c.c.phone,
            u.c.name.label("assignee"),
            t.c.created_at,
            t.c.closed_at,
        )
        .select_from(t.join(c, c.c.id == t.c.customer_id).outerjoin(u, u.c.id == t.c.assignee_id))
        .order_by(t.c.due_date, t.c.id)
        .limit(limit)
    )
    if owner is not None:
        with engine.connect() as conn:
            if conn.execute(sa.select(u.c.id).where(u.c.name == owner)).first() is None:
                raise NotFoundError(f"no user named {owner!r}: see `kehu users list`")
        stmt = stmt.where(u.c.name == owner)
    if status:
        bad = [s for s in status if s not in TASK_STATES]
        if bad:
            raise ValidationError(f"task state {bad[0]!r} is not one of {', '.join(TASK_STATES)}")
        stmt = stmt.where(t.c.status.in_(list(status)))
    if overdue:
        stmt = stmt.where(t.c.due_date < today, t.c.status.in_(("open", "in_progress")))
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(stmt).mappings()]
    for r in rows:
        r["overdue"] = bool(r["due_date"] and r["due_date"] < today and r["status"] in ("open", "in_progress"))
    return rows


def finish_task(
    engine: sa.Engine,
    task_id: int,
    *,
    outcome: str | None,
    notes: str | None = None,
    status: str = "done",
    actor: str,
    now: dt.datetime | None = None,
    assignee_ids: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Set a task's state (done needs an outcome), outcome and follow-up notes; audited.

    A done or cancelled task can only be reopened (``status="open"``). ``assignee_ids`` limits the tasks the
    actor may change to those assigned to these users (``None``: any task; the command line).

    Raises
    ------
    NotFoundError
        No such task.
    AccessDeniedError
        The task is assigned to someone outside ``assignee_ids``.
    ValidationError
        Unknown state or outcome, a done task without an outcome, or a closed task moved other than to open.
    """
    now = now or dt.datetime.now(dt.UTC)
    if status not in TASK_STATES:
        raise ValidationError(f"task state {status!r} is not one of {', '.join(TASK_STATES)}")
    if outcome is not None and outcome not in TASK_OUTCOMES:
        raise ValidationError(f"outcome {outcome!r} is not one of {', '.join(TASK_OUTCOMES)}")
    if status == "done" and outcome is None:
        raise ValidationError(f"a done task needs an outcome: one of {', '.join(TASK_OUTCOMES)}")
    with engine.begin() as conn:
        row = conn.execute(sa.select(tasks).where(tasks.c.id == task_id)).first()
        if row is None:
            raise NotFoundError(f"no task {task_id}: see `kehu tasks list`")
        if assignee_ids is not None and row.assignee_id not in assignee_ids:
            raise AccessDeniedError(f"task {task_id} is not one of the tasks you may change")
        if row.status in ("done", "cancelled") and status != "open":
            raise ValidationError(f"task {task_id} is already {row.status}: it can only be reopened")
        notes_text = row.notes
        if notes:
            stamp = now.strftime("%Y-%m-%d %H:%M")
            notes_text = f"{row.notes}\n[{stamp} {actor}] {notes}" if row.notes else f"[{stamp} {actor}] {notes}"
        closed = now if status in ("done", "cancelled") else None
        kept = row.outcome if closed else None  # a reopened task has no outcome yet
        new_outcome = outcome or kept
        conn.execute(
            sa.update(tasks)
            .where(tasks.c.id == task_id)
            .values(status=status, outcome=new_outcome, notes=notes_text, updated_at=now, closed_at=closed)
        )
        audit(
            conn,
            at=now,
            actor=actor,
            action=f"task.{status}",
            customer_id=row.customer_id,
            target=f"task:{task_id}",
            detail={"from": row.status, "outcome": outcome, "notes": notes},
        )
    return {"id": task_id, "status": status, "outcome": new_outcome}
