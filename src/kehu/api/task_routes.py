"""The tasks part of the REST API: list one's tasks with filters, and start / complete / cancel / reopen them.

Same rules as the task inbox (:mod:`kehu.service.tasks`): a rep lists and changes only their own tasks, a
manager their team's, an admin everyone's; every change is audited with the token's user as the actor.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from kehu.api.routes import MAX_ID, Actor
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


_BY_STATUS = {state: action for action, state in task_service.ACTIONS.items()}


#: The ``/api/tasks`` routes.
router = APIRouter(prefix="/api", tags=["api"])


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
