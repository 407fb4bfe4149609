"""The playbooks pages (策略, managers and admins): the list with rules, enabled state, recent runs and counts;
one playbook's YAML editor with validation (problems by line and field next to the editor; nothing saved when
invalid) and a dry-run preview; run now; dead and unknown messages with retry.

Thin routes over the playbooks service of the facade (:mod:`kehu.service.playbooks`, which refuses reps and
audits every change).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from kehu.web.pages import Actor, Post, Session
from kehu.web.render import locale_for, render, workspace
from kehu.web.segment_pages import _day

__all__ = ["router"]


#: Routes of the playbooks pages (not part of the OpenAPI schema).
router = APIRouter(include_in_schema=False)


def _page(request: Request, data: dict[str, Any]) -> Response:
    context = {"saved_flag": request.query_params.get("saved") == "1"}
    lang = locale_for(request)
    for p in data.get("problems") or []:  # a manager's limits (kehu.service.playbook_scope) say it in each language
        if lang in (p.get("texts") or {}):
            p["message"] = p["texts"][lang]
    return render(request, "playbook.html", data, status_code=200 if data["valid"] else 422, context=context)


def _overview(request: Request, session: Any, *, message: dict[str, Any] | None = None) -> Response:
    actor = workspace(request).as_user(session.principal)
    data = actor.playbooks.overview()
    return render(request, "playbooks.html", data, context={"message": message or {}})


@router.get("/playbooks")
@router.get("/playbooks.json")
def overview(request: Request, session: Session) -> Response:
    return _overview(request, session)


@router.post("/playbooks/run-now")
def run_now(request: Request, post: Post, actor: Actor) -> Response:
    result = actor.playbooks.run_now()
    if request.url.path.endswith(".json"):
        return render(request, "playbooks.html", result)
    fired = sum(int(r["fired"] or 0) for r in result["rules"])
    return _overview(request, post.session, message={"ran": result["run_id"], "fired": fired})


@router.post("/playbooks/outbox/{outbox_id:id}/retry")
def retry(request: Request, post: Post, actor: Actor, outbox_id: int) -> Response:
    actor.playbooks.retry_outbox(outbox_id)
    return RedirectResponse(f"/playbooks?retried={outbox_id}#outbox", status_code=303)


@router.get("/playbooks/{name}.json")
@router.get("/playbooks/{name}")
def playbook(request: Request, session: Session, actor: Actor, name: str) -> Response:
    name = name.removesuffix(".json")
    data = actor.playbooks.page(name)
    return _page(request, data)


@router.get("/playbooks/{name}/dry-run.json")
@router.get("/playbooks/{name}/dry-run")
def dry_run(request: Request, session: Session, actor: Actor, name: str) -> Response:
    day = _day(request.query_params.get("day"), "day")
    data = actor.playbooks.preview(name, day=day)
    return _page(request, data)


@router.post("/playbooks/{name}")
def edit(request: Request, post: Post, actor: Actor, name: str) -> Response:
    text = str(post.form.get("text", "")).replace("\r\n", "\n")  # keep the YAML's indentation
    action = post.text("action") or "check"
    if action == "save":
        data = actor.playbooks.save(name, text)
        if data["saved"]:
            return RedirectResponse(f"/playbooks/{data['name']}?saved=1", status_code=303)
    elif action == "preview":
        data = actor.playbooks.preview(name, text, day=_day(post.text("day"), "day"))
    else:
        data = actor.playbooks.check(name, text)
    return _page(request, data)
