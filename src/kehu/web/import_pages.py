"""The imports pages: upload, mapping preview, import with progress, summary and quarantine download.

Thin routes over :mod:`kehu.service.import_jobs` (preview and background jobs) and
:mod:`kehu.service.web_views` (history, quarantine files). Admins and managers only; the services check.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from kehu.errors import ValidationError
from kehu.service import figure_cache
from kehu.service import imports as import_service
from kehu.web.pages import Post, Session
from kehu.web.render import render, workspace

__all__ = ["import_router"]


def _columns(post: Any) -> dict[str, str] | None:
    """The column choices of a preview form: ``header_N`` names column N, ``field_N`` its chosen field."""
    out: dict[str, str] = {}
    for key, value in post.form.items():
        if key.startswith("header_") and isinstance(value, str):
            choice = post.form.get("field_" + key.removeprefix("header_"))
            if isinstance(choice, str):
                out[value] = choice
    return out or None


def import_router() -> APIRouter:
    """Routes of the imports pages (not part of the OpenAPI schema; the API has ``/api/imports``)."""
    router = APIRouter(include_in_schema=False)

    def _page(request: Request, session: Any, *, status: int = 200, **data: Any) -> Response:
        runs = import_service.import_runs(workspace(request), session.principal)
        body = {"runs": runs, "kinds": list(import_service.KINDS), "preview": None, "job": None, "form": {}, **data}
        return render(request, "imports.html", body, status_code=status)

    @router.get("/imports")
    @router.get("/imports.json")
    def imports(request: Request, session: Session) -> Response:
        return _page(request, session)

    @router.post("/imports")
    def upload(request: Request, post: Post) -> Response:
        ws, principal = workspace(request), post.session.principal
        form = {"kind": post.text("kind"), "source": post.text("source")}
        upload = post.form.get("file")
        if not isinstance(upload, UploadFile):
            raise ValidationError("file: choose a file to upload")
        if form["kind"] not in import_service.KINDS:
            raise ValidationError(f"kind {form['kind']!r} is not one of {', '.join(import_service.KINDS)}")
        staged = import_service.stage_upload(
            ws, principal, filename=upload.filename or "upload.csv", content=upload.file.read()
        )
        preview = import_service.preview_upload(ws, principal, upload_id=staged["upload_id"], kind=form["kind"])
        return _page(request, post.session, preview=preview, form=form, status=200 if preview["ready"] else 422)

    @router.post("/imports/preview")
    def repreview(request: Request, post: Post) -> Response:
        ws, principal = workspace(request), post.session.principal
        form = {"kind": post.text("kind"), "source": post.text("source")}
        try:
            preview = import_service.preview_upload(
                ws, principal, upload_id=post.text("upload_id"), kind=form["kind"], columns=_columns(post)
            )
        except ValidationError as exc:
            preview = import_service.preview_upload(ws, principal, upload_id=post.text("upload_id"), kind=form["kind"])
            preview.update(error=str(exc), ready=False)
        return _page(request, post.session, preview=preview, form=form, status=200 if preview["ready"] else 422)

    @router.post("/imports/start")
    def start(request: Request, post: Post) -> Response:
        ws, principal = workspace(request), post.session.principal
        form = {"kind": post.text("kind"), "source": post.text("source")}
        try:
            job = import_service.start_import(
                ws,
                principal,
                upload_id=post.text("upload_id"),
                kind=form["kind"],
                source=form["source"],
                columns=_columns(post),
                on_done=figure_cache.forget_cached_figures,
            )
        except ValidationError as exc:
            preview = import_service.preview_upload(ws, principal, upload_id=post.text("upload_id"), kind=form["kind"])
            preview.update(error=str(exc), ready=False)
            return _page(request, post.session, preview=preview, form=form, status=422)
        return RedirectResponse(f"/imports/jobs/{job}", status_code=303)

    @router.get("/imports/jobs/{job_id}")
    @router.get("/imports/jobs/{job_id}.json")
    def job(request: Request, session: Session, job_id: str) -> Response:
        state = import_service.import_job(workspace(request), session.principal, job_id.removesuffix(".json"))
        return _page(request, session, job=state)

    @router.get("/imports/{run_id:int}/quarantine.csv")
    def quarantine(request: Request, session: Session, run_id: int) -> FileResponse:
        path = import_service.quarantine_file(workspace(request), session.principal, run_id)
        return FileResponse(path, media_type="text/csv", filename=f"quarantine-{run_id}.csv")

    return router
