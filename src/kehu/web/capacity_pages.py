"""The capacity forms of the web app: on the task inbox, snooze and reassign a task, complete a selection of
tasks, promote a backlog entry into a task; on the users page, set a team's or a user's daily capacity.

Thin routes over the facade (:mod:`kehu.service.tasks`, :mod:`kehu.service.capacity`), which check roles,
scope and capacity and audit every change.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from kehu.errors import ValidationError
from kehu.service.tasks import local_today
from kehu.web.pages import Actor, Post, _optional_int, _users_page
from kehu.web.render import translator, workspace
from kehu.web.task_pages import _back, _inbox

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _date(text: str, field: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{field}: {text[:40]!r} is not a date (YYYY-MM-DD)") from None


def _done(post: Post, anchor: str) -> Response:
    target = _back(post.text("next"))
    sep = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{sep}done={anchor}#{anchor}", status_code=303)


@router.post("/tasks/{task_id:id}/snooze")
def snooze(request: Request, post: Post, actor: Actor, task_id: int) -> Response:
    try:
        day = _date(post.text("due_date"), "due_date")
        if day is None:
            raise ValidationError("due_date: choose the new due date")
        actor.tasks.snooze(task_id, due_date=day)
    except ValidationError as exc:
        return _inbox(request, post.session, error=str(exc), status=422)
    return _done(post, f"task-{task_id}")


@router.post("/tasks/{task_id:id}/reassign")
def reassign(request: Request, post: Post, actor: Actor, task_id: int) -> Response:
    try:
        who = _optional_int(post.text("assignee"), "assignee")
        if who is None:
            raise ValidationError("assignee: choose who takes the task")
        actor.tasks.reassign(task_id, assignee_id=who)
    except ValidationError as exc:
        return _inbox(request, post.session, error=str(exc), status=422)
    return _done(post, f"task-{task_id}")


@router.post("/tasks/bulk")
def complete_selected(request: Request, post: Post, actor: Actor) -> Response:
    try:
        ids = [_optional_int(str(v), "task") for v in post.form.getlist("task")]
        result = actor.tasks.complete_many(
            [i for i in ids if i is not None], outcome=post.text("outcome") or None, notes=post.text("notes") or None
        )
    except ValidationError as exc:
        return _inbox(request, post.session, error=str(exc), status=422)
    return _done(post, f"bulk-{len(result['done'])}")


@router.post("/backlog/{entry_id:id}/promote")
def promote(request: Request, post: Post, actor: Actor, entry_id: int) -> Response:
    try:
        actor.capacity.promote(
            entry_id,
            assignee_id=_optional_int(post.text("assignee"), "assignee"),
            due_date=_date(post.text("due_date"), "due_date"),
            today=local_today(workspace(request)),
        )
    except ValidationError as exc:
        return _inbox(request, post.session, error=str(exc), status=422)
    return _done(post, f"backlog-{entry_id}")


@router.post("/users/capacity")
def set_capacity(request: Request, post: Post, actor: Actor) -> Response:
    t = translator(request)
    target = post.text("target")  # team:NAME | user:NAME
    kind, _, name = target.partition(":")
    try:
        if kind not in ("team", "user") or not name:
            raise ValidationError("target: choose a team or a user")
        per_day = None if post.text("clear") else _optional_int(post.text("per_day"), "per_day")
        if per_day is None and not post.text("clear"):
            raise ValidationError("per_day: enter the tasks a day, or clear the override")
        actor.capacity.set(
            per_day=per_day, team=name if kind == "team" else None, user=name if kind == "user" else None
        )
    except ValidationError as exc:
        return _users_page(request, post.session, error=str(exc), status=422)
    return _users_page(request, post.session, t("capacity.saved"))
