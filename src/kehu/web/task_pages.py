"""The task inbox (我的任务): the signed-in user's tasks grouped overdue / due today / upcoming / done, with
filters, and forms to start, complete with an outcome and a follow-up note, cancel or reopen a task.

Thin routes over the tasks service of the facade (:mod:`kehu.service.tasks`, which applies the row-level rules
and audits every change).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from kehu.errors import ValidationError
from kehu.service import tasks as task_service
from kehu.web.pages import Actor, Post, Session, _optional_int
from kehu.web.render import render, workspace

__all__ = ["router", "task_filter"]


def task_filter(params: Any) -> task_service.TaskFilter:
    """The inbox filter from query parameters (``status`` may be a comma-separated list)."""
    status = tuple(s for s in str(params.get("status") or "").split(",") if s)
    source = str(params.get("source") or "")
    playbook, _, rule = source.partition("/") if source else (params.get("playbook") or None, "", None)
    return task_service.TaskFilter(
        status=status,
        assignee_id=_optional_int(params.get("owner"), "owner"),
        playbook=playbook or None,
        rule=rule or params.get("rule") or None,
    ).check()


def _back(target: str) -> str:
    """Where to go after a change: the inbox with the same filters (never another site)."""
    if target.startswith("/tasks") and not target.startswith("//") and "\\" not in target:
        return target
    return "/tasks"


#: Routes of the task inbox (not part of the OpenAPI schema; the API has ``/api/tasks``).
router = APIRouter(include_in_schema=False)


def _inbox(request: Request, session: Any, *, error: str | None = None, status: int = 200) -> Response:
    actor = workspace(request).as_user(session.principal)
    f = task_filter(request.query_params)
    data = actor.tasks.inbox(f)
    query = urlencode(f.params())
    here = "/tasks" + (f"?{query}" if query else "")
    return render(request, "tasks.html", data, status_code=status,
                  context={"error": error, "here": here, "done": request.query_params.get("done")})  # fmt: skip


@router.get("/tasks")
@router.get("/tasks.json")
def inbox(request: Request, session: Session) -> Response:
    return _inbox(request, session)


@router.get("/tasks/{task_id:id}.json")
def task(request: Request, session: Session, actor: Actor, task_id: int) -> Response:
    return render(request, "tasks.html", actor.tasks.get(task_id))


@router.post("/tasks/{task_id:id}")
def change(request: Request, post: Post, actor: Actor, task_id: int) -> Response:
    try:
        actor.tasks.change(task_id, action=post.text("action"),
            outcome=post.text("outcome") or None, notes=post.text("notes") or None,
        )  # fmt: skip
    except ValidationError as exc:
        return _inbox(request, post.session, error=str(exc), status=422)
    target = _back(post.text("next"))
    sep = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{sep}done={task_id}#task-{task_id}", status_code=303)
