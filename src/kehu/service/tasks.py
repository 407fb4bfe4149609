"""The task inbox of the web app and the REST API: a user's tasks grouped by when they are due, filters, and
the changes a person makes to a task (start, complete with an outcome, cancel, reopen).

Who sees what (applied in the queries here, so the page, its JSON twin and the API cannot differ):

- a ``rep`` sees and changes only the tasks assigned to them;
- a ``manager`` sees and changes the tasks of the users in their team (see
  :func:`~kehu.service.access.owner_scope`) and may filter by one of them;
- an ``admin`` sees every task, including unassigned ones.

Changes go through :func:`finish_task` — the same function ``kehu tasks done`` calls —
so every change is in the audit log with the signed-in user as the actor.
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from kehu.errors import AccessDeniedError, NotFoundError, ValidationError
from kehu.service.access import Principal, list_users, owner_scope, require_role
from kehu.service.capacity import CapacityService, check_capacity, with_reasons
from kehu.service.principal import Service, Workspace
from kehu.service.scope import hide_customers
from kehu.store.actions import audit, tasks
from kehu.store.notifications import notify_task_assigned
from kehu.store.schema import customers, users
from kehu.vocabulary import TASK_OUTCOMES, TASK_STATES

__all__ = [
    "ACTIONS",
    "GROUPS",
    "TaskFilter",
    "TaskService",
    "local_today",
]

#: the inbox's groups, in the order shown
GROUPS = ("overdue", "today", "upcoming", "done")
#: what a person can do to a task -> the state it moves to
ACTIONS = {"start": "in_progress", "complete": "done", "cancel": "cancelled", "reopen": "open"}
_OPEN = ("open", "in_progress")
_GROUP_LIMIT = 200
_BACKLOG = 50  # backlog entries the inbox shows
_BULK = 500  # tasks one bulk completion may close
_MAX_NOTE = 5000


@dataclass(frozen=True)
class TaskFilter:
    """What the inbox or the API list shows.

    ``status`` limits the states; ``assignee_id`` one user's tasks (managers and admins); ``playbook`` and
    ``rule`` the tasks a playbook (rule) created — ``playbook="manual"`` the tasks created by people.
    """

    status: tuple[str, ...] = ()
    assignee_id: int | None = None
    playbook: str | None = None
    rule: str | None = None
    overdue: bool = False
    limit: int = _GROUP_LIMIT

    def check(self) -> TaskFilter:
        """The filter itself, or :class:`ValidationError` naming the bad field."""
        bad = [s for s in self.status if s not in TASK_STATES]
        if bad:
            raise ValidationError(f"status: {bad[0][:40]!r} is not one of {', '.join(TASK_STATES)}")
        for name in ("playbook", "rule"):
            value = getattr(self, name)
            if value is not None and len(value) > 100:
                raise ValidationError(f"{name}: at most 100 characters")
        if not 1 <= self.limit <= 1000:
            raise ValidationError("limit: between 1 and 1000")
        return self

    def params(self) -> dict[str, str]:
        """The filter as query parameters (for links)."""
        out: dict[str, str] = {}
        if self.status:
            out["status"] = ",".join(self.status)
        if self.assignee_id is not None:
            out["owner"] = str(self.assignee_id)
        if self.playbook:
            out["playbook"] = self.playbook
        if self.rule:
            out["rule"] = self.rule
        return out


def local_today(ws: Workspace) -> dt.date:
    """Today in the workspace's time zone (``KEHU_TIMEZONE``): what "due today" means."""
    return dt.datetime.now(ZoneInfo(ws.settings.timezone)).date()


def _assignees(ws: Workspace, principal: Principal) -> list[int] | None:
    """Users whose tasks the principal may see and change (``None``: everyone's, and unassigned ones)."""
    if principal.role == "rep":
        return [principal.id]
    return owner_scope(ws, principal)


def _select(scope: list[int] | None, f: TaskFilter, principal: Principal) -> sa.Select[Any]:
    t, c, u = tasks, customers, users
    stmt = sa.select(
        t.c.id, t.c.title, t.c.body, t.c.priority, t.c.status, t.c.due_date, t.c.outcome, t.c.notes,
        t.c.playbook, t.c.rule, t.c.customer_id, c.c.name.label("customer"), c.c.phone, c.c.company,
        t.c.assignee_id, u.c.name.label("assignee"), u.c.display_name.label("assignee_display"),
        t.c.created_at, t.c.updated_at, t.c.closed_at, t.c.firing_id, t.c.close_reason,
    ).select_from(t.join(c, c.c.id == t.c.customer_id).outerjoin(u, u.c.id == t.c.assignee_id))  # fmt: skip
    if scope is not None:
        stmt = stmt.where(t.c.assignee_id.in_(scope))
    if f.assignee_id is not None:
        if principal.role == "rep" and f.assignee_id != principal.id:
            raise AccessDeniedError("a rep sees only their own tasks")
        stmt = stmt.where(t.c.assignee_id == f.assignee_id)
    if f.playbook == "manual":
        stmt = stmt.where(t.c.playbook.is_(None))
    elif f.playbook:
        stmt = stmt.where(t.c.playbook == f.playbook)
    if f.rule:
        stmt = stmt.where(t.c.rule == f.rule)
    if f.status:
        stmt = stmt.where(t.c.status.in_(f.status))
    return stmt


def _rows(conn: sa.Connection, stmt: sa.Select[Any], today: dt.date) -> list[dict[str, Any]]:
    rows = [dict(r) for r in conn.execute(stmt).mappings()]
    for r in rows:
        r["overdue"] = bool(r["due_date"] and r["due_date"] < today and r["status"] in _OPEN)
    return rows


def _group_where(group: str, today: dt.date) -> Any:
    t = tasks.c
    if group == "overdue":
        return sa.and_(t.status.in_(_OPEN), t.due_date < today)
    if group == "today":
        return sa.and_(t.status.in_(_OPEN), t.due_date == today)
    if group == "upcoming":
        return sa.and_(t.status.in_(_OPEN), sa.or_(t.due_date > today, t.due_date.is_(None)))
    return tasks.c.status.in_(("done", "cancelled"))


def _priority_rank() -> Any:
    return sa.case({"urgent": 0, "high": 1, "normal": 2, "low": 3}, value=tasks.c.priority, else_=4)


def list_tasks(
    engine: sa.Engine,
    *,
    owner: str | None = None,
    status: Sequence[str] | None = None,
    overdue: bool = False,
    today: dt.date,
    limit: int | None = 200,
    assignee_ids: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """Tasks (due first), optionally of one assignee (user name), some states, or overdue only (due before
    ``today``); ``assignee_ids`` limits them to those assigned to these users (``None``: all tasks)."""
    t, u, c = tasks, users, customers
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
    if assignee_ids is not None:
        stmt = stmt.where(t.c.assignee_id.in_(list(assignee_ids)))
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


class TaskService(Service):
    """The tasks the actor may see and change (a rep: their own; a manager: their team's; an admin: all)."""

    def rows(
        self,
        *,
        owner: str | None = None,
        status: Sequence[str] | None = None,
        overdue: bool = False,
        limit: int | None = 200,
        today: dt.date | None = None,
    ) -> builtins.list[dict[str, Any]]:
        """Tasks (due first) as the command line lists them: of one assignee (user name), some states, or overdue
        only — overdue by today in ``KEHU_TIMEZONE``, as the inbox and the API count it."""
        return list_tasks(
            self.ws.engine, owner=owner, status=status, overdue=overdue, limit=limit,
            today=today or local_today(self.ws), assignee_ids=_assignees(self.ws, self.principal),
        )  # fmt: skip

    def finish(
        self, task_id: int, *, outcome: str | None, notes: str | None = None, status: str = "done", actor: str
    ) -> dict[str, Any]:
        """Close (or move) a task with its outcome and notes, audited under ``actor``, within the actor's scope."""
        return finish_task(
            self.ws.engine, task_id, outcome=outcome, notes=notes, status=status, actor=actor,
            assignee_ids=_assignees(self.ws, self.principal),
        )  # fmt: skip

    def inbox(self, f: TaskFilter | None = None, *, today: dt.date | None = None) -> dict[str, Any]:
        """The principal's tasks in the groups of :data:`GROUPS` (each with its full count and at most
        ``f.limit`` tasks: overdue oldest first, today and upcoming by due date, done newest first), plus what the
        filters can choose from."""
        f = (f or TaskFilter()).check()
        today = today or local_today(self.ws)
        scope = _assignees(self.ws, self.principal)
        base = _select(scope, f, self.principal)
        groups = []
        with self.ws.engine.connect() as conn:
            for group in GROUPS:
                where = _group_where(group, today)
                count = conn.execute(sa.select(sa.func.count()).select_from(base.where(where).subquery())).scalar_one()
                order = (tasks.c.closed_at.desc(), tasks.c.id.desc()) if group == "done" else (
                    tasks.c.due_date, _priority_rank(), tasks.c.id)  # fmt: skip
                rows = _rows(conn, base.where(where).order_by(*order).limit(f.limit), today)
                with_reasons(self.ws, conn, rows)
                hide_customers(self.ws, self.principal, rows)
                groups.append({"group": group, "count": int(count), "tasks": rows})
            sources = conn.execute(
                sa.select(tasks.c.playbook, tasks.c.rule)
                .where(tasks.c.assignee_id.in_(scope) if scope is not None else sa.true())
                .group_by(tasks.c.playbook, tasks.c.rule)
                .order_by(tasks.c.playbook, tasks.c.rule)
            ).all()
        owners = [] if self.principal.role == "rep" else [
            {"id": u["id"], "name": u["name"], "display_name": u.get("display_name") or u["name"]}
            for u in list_users(self.ws, self.principal) if scope is None or u["id"] in scope
        ]  # fmt: skip
        return {
            "today": today,
            "scope": "all" if scope is None else ("own" if self.principal.role == "rep" else "team"),
            "filter": {"status": list(f.status), "owner": f.assignee_id, "playbook": f.playbook, "rule": f.rule},
            "groups": groups,
            "states": list(TASK_STATES),
            "outcomes": list(TASK_OUTCOMES),
            "owners": owners,
            "sources": [{"playbook": p, "rule": r} for p, r in sources],
            "backlog": CapacityService(self.ws, self.principal).backlog(assignee_id=f.assignee_id, limit=_BACKLOG),
            "can_manage": self.principal.role in ("admin", "manager"),
        }

    def get(self, task_id: int, *, today: dt.date | None = None) -> dict[str, Any]:
        """One task the principal may see (404 otherwise: a task outside one's scope is not shown to exist)."""
        stmt = _select(_assignees(self.ws, self.principal), TaskFilter(), self.principal).where(tasks.c.id == task_id)
        with self.ws.engine.connect() as conn:
            rows = _rows(conn, stmt, today or local_today(self.ws))
            with_reasons(self.ws, conn, rows)
        if not rows:
            raise NotFoundError(f"no task {task_id} among your tasks")
        return hide_customers(self.ws, self.principal, rows)[0]  # a customer one may not see: no details

    def change(
        self,
        task_id: int,
        *,
        action: str,
        outcome: str | None = None,
        notes: str | None = None,
        now: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """Start, complete (with an outcome), cancel or reopen a task the principal may change; audited (at ``now``,
        default the current time).

        Raises
        ------
        ValidationError
            Unknown action or outcome, completing without an outcome, a note longer than 5,000 characters, or a
            closed task that is not being reopened.
        AccessDeniedError
            The task is assigned to someone outside the principal's scope.
        NotFoundError
            No such task.
        """
        if action not in ACTIONS:
            raise ValidationError(f"action: {action[:40]!r} is not one of {', '.join(ACTIONS)}")
        outcome = outcome or None
        if outcome is not None and action != "complete":
            raise ValidationError(f"outcome: only a completed task has an outcome (action is {action!r})")
        if action == "complete" and outcome is None:
            raise ValidationError(f"outcome: choose one of {', '.join(TASK_OUTCOMES)} to complete the task")
        notes = (notes or "").strip() or None
        if notes is not None and len(notes) > _MAX_NOTE:
            raise ValidationError(f"notes: at most {_MAX_NOTE:,} characters")
        scope = _assignees(self.ws, self.principal)
        return finish_task(
            self.ws.engine, task_id, outcome=outcome, notes=notes, status=ACTIONS[action], actor=self.principal.name,
            now=now, assignee_ids=scope,
        )  # fmt: skip

    def list(self, f: TaskFilter | None = None, *, today: dt.date | None = None) -> dict[str, Any]:
        """One flat list of the principal's tasks (due first) for the API; ``f.overdue`` keeps only overdue ones."""
        f = (f or TaskFilter()).check()
        today = today or local_today(self.ws)
        stmt = _select(_assignees(self.ws, self.principal), f, self.principal)
        if f.overdue:
            stmt = stmt.where(_group_where("overdue", today))
        with self.ws.engine.connect() as conn:
            rows = _rows(conn, stmt.order_by(tasks.c.due_date, tasks.c.id).limit(f.limit + 1), today)
        shown = hide_customers(self.ws, self.principal, rows[: f.limit])
        return {"today": today, "tasks": shown, "more": len(rows) > f.limit}

    def snooze(self, task_id: int, *, due_date: dt.date, today: dt.date | None = None) -> dict[str, Any]:
        """Move an open task the principal may change to a later due date, within the assignee's capacity that
        day; audited.

        Raises
        ------
        ValidationError
            The task is closed, the date is not after today, or the assignee's day is full.
        """
        today = today or local_today(self.ws)
        if due_date <= today:
            raise ValidationError(f"due_date: {due_date.isoformat()} is not after today ({today.isoformat()})")
        scope = _assignees(self.ws, self.principal)
        now = dt.datetime.now(dt.UTC)
        with self.ws.engine.begin() as conn:
            row = self._open_task(conn, task_id, scope)
            if row.assignee_id is not None:
                check_capacity(self.ws, conn, int(row.assignee_id), due_date)
            conn.execute(sa.update(tasks).where(tasks.c.id == task_id).values(due_date=due_date, updated_at=now))
            audit(conn, at=now, actor=self.principal.name, action="task.snooze", customer_id=row.customer_id,
                  target=f"task:{task_id}", detail={"from": row.due_date.isoformat() if row.due_date else None,
                                                    "to": due_date.isoformat()})  # fmt: skip
        return {"id": task_id, "due_date": due_date}

    def reassign(self, task_id: int, *, assignee_id: int) -> dict[str, Any]:
        """Give an open task to another active user (managers: within their team; admins: anyone), within that
        user's capacity on the task's due day; audited, and the new assignee is notified."""
        require_role(self.principal, "admin", "manager")
        scope = _assignees(self.ws, self.principal)
        if scope is not None and assignee_id not in scope:
            raise AccessDeniedError("a manager gives tasks to the users of their team only")
        now = dt.datetime.now(dt.UTC)
        with self.ws.engine.begin() as conn:
            row = self._open_task(conn, task_id, scope)
            if conn.execute(sa.select(users.c.active).where(users.c.id == assignee_id)).scalar() is not True:
                raise ValidationError(f"assignee: no active user {assignee_id}")
            if row.assignee_id == assignee_id:
                return {"id": task_id, "assignee_id": assignee_id}
            if row.due_date is not None:
                check_capacity(self.ws, conn, assignee_id, row.due_date)
            conn.execute(sa.update(tasks).where(tasks.c.id == task_id).values(assignee_id=assignee_id, updated_at=now))
            if assignee_id != self.principal.id:  # the new assignee hears of it (not someone taking it themselves)
                notify_task_assigned(conn, task_id=task_id, assignee_id=assignee_id, customer_id=row.customer_id,
                                     title=row.title, due_date=row.due_date, now=now)  # fmt: skip
            audit(conn, at=now, actor=self.principal.name, action="task.reassign", customer_id=row.customer_id,
                  target=f"task:{task_id}", detail={"from": row.assignee_id, "to": assignee_id})  # fmt: skip
        return {"id": task_id, "assignee_id": assignee_id}

    def complete_many(
        self, task_ids: Sequence[int], *, outcome: str | None, notes: str | None = None
    ) -> dict[str, Any]:
        """Complete several tasks with one outcome (the inbox's selection); each change is audited as one
        completion. Tasks outside the principal's scope or already closed are reported, not changed."""
        ids = sorted(set(int(i) for i in task_ids))
        if not ids:
            raise ValidationError("tasks: select at least one task")
        if len(ids) > _BULK:
            raise ValidationError(f"tasks: at most {_BULK} at once ({len(ids)} selected)")
        done, skipped = [], []
        for task_id in ids:
            try:
                self.change(task_id, action="complete", outcome=outcome, notes=notes)
                done.append(task_id)
            except (AccessDeniedError, NotFoundError) as exc:
                skipped.append({"id": task_id, "why": str(exc)})
            except ValidationError as exc:
                if "outcome" in str(exc) or "notes" in str(exc):
                    raise
                skipped.append({"id": task_id, "why": str(exc)})
        return {"done": done, "skipped": skipped}

    def _open_task(self, conn: sa.Connection, task_id: int, scope: builtins.list[int] | None) -> Any:
        row = conn.execute(sa.select(tasks).where(tasks.c.id == task_id)).first()
        if row is None or (scope is not None and row.assignee_id not in scope):
            raise NotFoundError(f"no task {task_id} among your tasks")
        if row.status not in _OPEN:
            raise ValidationError(f"task {task_id} is {row.status}: only an open task is snoozed or reassigned")
        return row
