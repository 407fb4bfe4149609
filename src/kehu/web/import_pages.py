"""The imports pages: upload, mapping preview, import with progress, summary and quarantine download.

Thin routes over the imports service of the facade (:mod:`kehu.service.imports`: preview, background jobs,
history, quarantine files). Admins and managers only; the services check.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from kehu.errors import ValidationError
from kehu.service import figure_cache
from kehu.service import imports as import_service
from kehu.web.pages import Actor, Post, Session
from kehu.web.render import error_text, locale_for, render, workspace

__all__ = ["router"]


def _columns(post: Any) -> dict[str, str] | None:
    """The column choices of a preview form: ``header_N`` names column N, ``field_N`` its chosen field."""
    out: dict[str, str] = {}
    for key, value in post.form.items():
        if key.startswith("header_") and isinstance(value, str):
            choice = post.form.get("field_" + key.removeprefix("header_"))
            if isinstance(choice, str):
                out[value] = choice
    return out or None


#: Routes of the imports pages (not part of the OpenAPI schema; the API has ``/api/imports``).
router = APIRouter(include_in_schema=False)


def _page(request: Request, session: Any, *, status: int = 200, **data: Any) -> Response:
    actor = workspace(request).as_user(session.principal)
    runs = actor.imports.runs()
    body = {"runs": runs, "kinds": list(import_service.KINDS), "preview": None, "job": None, "form": {}, **data}
    return render(request, "imports.html", body, status_code=status)


@router.get("/imports")
@router.get("/imports.json")
def imports(request: Request, session: Session) -> Response:
    return _page(request, session)


@router.post("/imports")
def upload(request: Request, post: Post, actor: Actor) -> Response:
    form = {"kind": post.text("kind"), "source": post.text("source")}
    upload = post.form.get("file")
    if not isinstance(upload, UploadFile):
        raise ValidationError("file: choose a file to upload")
    if form["kind"] not in import_service.KINDS:
        raise ValidationError(f"kind {form['kind']!r} is not one of {', '.join(import_service.KINDS)}")
    staged = actor.imports.stage(filename=upload.filename or "upload.csv", content=upload.file.read())
    preview = actor.imports.preview(upload_id=staged["upload_id"], kind=form["kind"], locale=locale_for(request))
    return _page(request, post.session, preview=preview, form=form, status=200 if preview["ready"] else 422)


@router.post("/imports/preview")
def repreview(request: Request, post: Post, actor: Actor) -> Response:
    form = {"kind": post.text("kind"), "source": post.text("source")}
    try:
        preview = actor.imports.preview(
            upload_id=post.text("upload_id"), kind=form["kind"], columns=_columns(post), locale=locale_for(request)
        )
    except ValidationError as exc:
        preview = actor.imports.preview(upload_id=post.text("upload_id"), kind=form["kind"], locale=locale_for(request))
        preview.update(error=error_text(request, exc), ready=False)
    return _page(request, post.session, preview=preview, form=form, status=200 if preview["ready"] else 422)


@router.post("/imports/start")
def start(request: Request, post: Post, actor: Actor) -> Response:
    form = {"kind": post.text("kind"), "source": post.text("source")}
    try:
        job = actor.imports.start(
            upload_id=post.text("upload_id"),
            kind=form["kind"],
            source=form["source"],
            columns=_columns(post),
            on_done=figure_cache.forget_cached_figures,
        )
    except ValidationError as exc:
        preview = actor.imports.preview(upload_id=post.text("upload_id"), kind=form["kind"], locale=locale_for(request))
        preview.update(error=error_text(request, exc), ready=False)
        return _page(request, post.session, preview=preview, form=form, status=422)
    return RedirectResponse(f"/imports/jobs/{job}", status_code=303)


@router.get("/imports/jobs/{job_id}")
@router.get("/imports/jobs/{job_id}.json")
def job(request: Request, session: Session, actor: Actor, job_id: str) -> Response:
    state = actor.imports.job(job_id.removesuffix(".json"), locale=locale_for(request))
    return _page(request, session, job=state)


@router.get("/imports/{run_id:id}/quarantine.csv")
def quarantine(request: Request, session: Session, actor: Actor, run_id: int) -> FileResponse:
    path = actor.imports.quarantine_file(run_id)
    return FileResponse(path, media_type="text/csv", filename=f"quarantine-{run_id}.csv")
