"""The tasks part of the REST API: list one's tasks with filters, start / complete / cancel / reopen them, snooze
and reassign them within capacity, and read and promote the backlog of actions that did not fit anyone's day.

Same rules as the task inbox (:mod:`kehu.service.tasks`, :mod:`kehu.service.capacity`): a rep lists and changes
only their own tasks, a manager their team's, an admin everyone's; reassigning and promoting are for managers
and admins; every change is audited with the token's user as the actor.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from kehu.api.routes import ERROR_RESPONSES, MAX_ID, Actor
from kehu.errors import ValidationError
from kehu.service import tasks as task_service
from kehu.service.actor import UserActor
from kehu.vocabulary import TASK_OUTCOMES, TASK_STATES

__all__ = ["router"]

_OUTCOME = "^(" + "|".join(TASK_OUTCOMES) + ")$"
_STATE = "^(" + "|".join(TASK_STATES) + ")$"
_ACTION = "^(" + "|".join(task_service.ACTIONS) + ")$"
TaskId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="Kehu's task id")]


class TaskPublic(BaseModel):
    """A task."""

    id: int
    title: str
    body: str | None
    priority: str
    status: str = Field(description=", ".join(TASK_STATES))
    due_date: dt.date | None
    overdue: bool
    outcome: str | None = Field(description=", ".join(TASK_OUTCOMES))
    notes: str | None
    playbook: str | None = Field(description="The playbook that created it (none: created by a person)")
    rule: str | None
    customer_id: int
    customer: str | None
    customer_hidden: bool = Field(
        default=False, description="The reader may not see this customer: no name, phone or body; masked title"
    )
    assignee_id: int | None
    assignee: str | None
    created_at: dt.datetime
    closed_at: dt.datetime | None


class TaskList(BaseModel):
    """Tasks, due first; ``more`` says the limit cut the list."""

    today: dt.date
    tasks: list[TaskPublic]
    more: bool


class TaskChange(BaseModel):
    """A change to a task: ``action`` start / complete (needs ``outcome``) / cancel / reopen, or ``status``."""

    action: str | None = Field(default=None, pattern=_ACTION)
    status: str | None = Field(default=None, pattern=_STATE, description="Alternative to action: the new state")
    outcome: str | None = Field(default=None, pattern=_OUTCOME)
    notes: str | None = Field(default=None, max_length=5000, description="A follow-up note (appended)")


class TaskCompletion(BaseModel):
    """Completing a task: its outcome and a follow-up note."""

    outcome: str = Field(pattern=_OUTCOME)
    notes: str | None = Field(default=None, max_length=5000)


class TaskSnooze(BaseModel):
    """Moving a task to a later working day (within the assignee's daily capacity)."""

    due_date: dt.date


class TaskReassign(BaseModel):
    """Giving a task to another active user (a manager: of their team), within that user's capacity."""

    assignee_id: int = Field(ge=1, le=MAX_ID)


class BacklogReason(BaseModel):
    """A rule that fired for the customer of a backlog entry."""

    rule: str = Field(description="playbook/rule")
    title: dict[str, str | None] | None = Field(description="The rule's title per language (zh, en)")
    day: dt.date
    trigger: str | None


class BacklogEntry(BaseModel):
    """An action that did not fit its owner's capacity: waiting for a free slot or a manager's promotion."""

    id: int
    customer_id: int
    customer: str | None
    customer_hidden: bool = Field(
        default=False, description="The reader may not see this customer: no name, phone or body; masked title"
    )
    assignee_id: int | None = Field(description="The owner it is meant for (none: the customer has no owner)")
    assignee: str | None
    playbook: str
    rule: str
    value_at_stake: float | None = Field(description="CNY at stake, the ranking's key")
    day: dt.date = Field(description="The data day it fired on")
    task: dict[str, Any] = Field(description="The task it becomes: title, body, priority")
    reasons: list[BacklogReason]


class Backlog(BaseModel):
    """Waiting backlog entries, most at stake first; ``count`` is the number of all of them."""

    count: int
    entries: list[BacklogEntry]
    can_promote: bool


class BacklogPromotion(BaseModel):
    """Turning a backlog entry into a task: for ``assignee_id`` (default: its owner), due on ``due_date`` (default:
    the assignee's first free working day)."""

    assignee_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    due_date: dt.date | None = None


class Promoted(BaseModel):
    """The task a backlog entry became."""

    id: int = Field(description="The backlog entry")
    task_id: int
    assignee_id: int
    due_date: dt.date


_BY_STATUS = {state: action for action, state in task_service.ACTIONS.items()}


#: The ``/api/tasks`` routes.
router = APIRouter(prefix="/api", tags=["api"], responses=ERROR_RESPONSES)


@router.get("/tasks", response_model=TaskList)
def tasks(
    actor: Actor,
    status: Annotated[list[str] | None, Query(description="Keep these states (repeatable)")] = None,
    owner: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Assignee's user id")] = None,
    playbook: Annotated[str | None, Query(max_length=100, description="A playbook's name, or 'manual'")] = None,
    rule: Annotated[str | None, Query(max_length=100)] = None,
    overdue: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """The token user's tasks (a rep: their own; a manager: their team's; an admin: all), due first."""
    f = task_service.TaskFilter(
        status=tuple(status or ()), assignee_id=owner, playbook=playbook, rule=rule, overdue=overdue, limit=limit
    )
    return actor.tasks.list(f)


@router.get("/tasks/{task_id}", response_model=TaskPublic)
def task(actor: Actor, task_id: TaskId) -> dict[str, Any]:
    """One task (404 when it is not among the user's tasks)."""
    return actor.tasks.get(task_id)


def _apply(actor: UserActor, task_id: int, action: str, outcome: str | None, notes: str | None) -> dict[str, Any]:
    actor.tasks.change(task_id, action=action, outcome=outcome, notes=notes)
    return actor.tasks.get(task_id)


@router.patch("/tasks/{task_id}", response_model=TaskPublic)
def change(actor: Actor, task_id: TaskId, body: TaskChange) -> dict[str, Any]:
    """Start, complete (with ``outcome``), cancel or reopen a task; audited."""
    action = body.action or (_BY_STATUS.get(body.status) if body.status else None)
    if action is None:
        raise ValidationError("action: give an action (start, complete, cancel, reopen) or a status")
    result: dict[str, Any] = _apply(actor, task_id, action, body.outcome, body.notes)
    return result


@router.post("/tasks/{task_id}/complete", response_model=TaskPublic)
def complete(actor: Actor, task_id: TaskId, body: TaskCompletion) -> dict[str, Any]:
    """Complete a task with its outcome and a follow-up note; audited."""
    result: dict[str, Any] = _apply(actor, task_id, "complete", body.outcome, body.notes)
    return result


@router.post("/tasks/{task_id}/snooze", response_model=TaskPublic)
def snooze(actor: Actor, task_id: TaskId, body: TaskSnooze) -> dict[str, Any]:
    """Move an open task to a later day within the assignee's capacity that day (422 when that day is full)."""
    actor.tasks.snooze(task_id, due_date=body.due_date)
    result: dict[str, Any] = actor.tasks.get(task_id)
    return result


@router.post("/tasks/{task_id}/reassign", response_model=TaskPublic)
def reassign(actor: Actor, task_id: TaskId, body: TaskReassign) -> dict[str, Any]:
    """Give an open task to another active user (managers: of their team; admins: anyone); the new assignee is
    notified."""
    actor.tasks.reassign(task_id, assignee_id=body.assignee_id)
    result: dict[str, Any] = actor.tasks.get(task_id)
    return result


@router.get("/backlog", response_model=Backlog)
def backlog(
    actor: Actor,
    owner: Annotated[int | None, Query(ge=1, le=MAX_ID, description="The owner the entries are meant for")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """Waiting backlog entries the user may see (a rep: their own; a manager: their team's; an admin: all), most at
    stake first."""
    return actor.capacity.backlog(assignee_id=owner, limit=limit)


@router.post("/backlog/{entry_id}/promote", response_model=Promoted)
def promote(
    actor: Actor,
    entry_id: Annotated[int, PathParam(ge=1, le=MAX_ID, description="The backlog entry's id")],
    body: BacklogPromotion,
) -> dict[str, Any]:
    """Turn a waiting backlog entry into a task (managers and admins); audited, and the assignee is notified."""
    return actor.capacity.promote(
        entry_id, assignee_id=body.assignee_id, due_date=body.due_date, today=task_service.local_today(actor.ws)
    )
