"""Imports from the web app in three steps: upload, mapping preview, import with progress.

1. :func:`stage_upload` keeps the uploaded file under ``KEHU_HOME/uploads`` and returns its id.
2. :meth:`ImportService.preview` opens it the way the importer will (encoding, delimiter, sheet) and shows which column
   feeds which field — the automatic recognition, changed by the user's choices — the first rows, and a check
   of the first :data:`CHECK_ROWS` rows with the same parsing and row rules the import applies, so a wrong
   mapping is seen before anything is stored.
3. :meth:`ImportService.start` writes the user's choices as an ordinary mapping file (the same YAML ``kehu import
   --mapping`` reads, kept next to the upload) and runs the import in a background thread; the job's state
   (rows read, an estimate of the total, the summary or the error) is a small JSON file beside the upload, so
   any server process can answer :meth:`ImportService.job`.

Only admins and managers import, and a job is visible to the user who started it and to admins. A manager's
import changes only customers of their team (rows outside it are quarantined with the reason, see
:mod:`kehu.ingest.scope`); an import run, and its quarantine file, is listed to and downloadable by the user who
started it and by admins.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import secrets
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from kehu import i18n
from kehu.errors import ImportFileError, KehuError, NotFoundError, ValidationError
from kehu.ingest.fields import KINDS as IMPORT_SPECS
from kehu.ingest.fields import kind_spec
from kehu.ingest.importer import ImportSummary, check_source_name, import_file
from kehu.ingest.mapping import Mapping, plan_columns
from kehu.ingest.readers import open_source
from kehu.ingest.rows import prepare_batch
from kehu.ingest.workbook_limits import WorkbookLimits
from kehu.service.access import Principal, require_role
from kehu.service.figure_cache import forget_cached_figures
from kehu.service.principal import Service, Workspace
from kehu.service.scope import denied, import_scope
from kehu.store import imports as store
from kehu.store.db import ensure_current
from kehu.store.failures import translate_store_error
from kehu.store.imports import list_import_runs
from kehu.store.turns import Holder, waiting_params

__all__ = [
    "CHECK_ROWS",
    "ImportService",
    "check_kind_and_source",
    "stage_upload",
    "staged_path",
    "summary_data",
]

#: rows checked by the preview (parsing and row rules of the import itself)
CHECK_ROWS = 2000
#: rows shown in the preview table
SHOW_ROWS = 10
#: the import kinds, in the order the pages offer them
KINDS = tuple(IMPORT_SPECS)
SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls", ".ods", ".parquet")
_ID_RE = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{12}$")
_lock = threading.Lock()
log = logging.getLogger(__name__)


def _folder(ws: Workspace) -> Path:
    folder = ws.settings.home / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def check_kind_and_source(kind: str, source: str) -> None:
    """Raise :class:`ValidationError` for an unknown kind or a source name that is not a short identifier."""
    if kind not in KINDS:
        raise ValidationError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    check_source_name(source)


def staged_path(ws: Workspace, upload_id: str) -> Path:
    """The file of a staged upload (see :func:`stage_upload`)."""
    if not _ID_RE.match(upload_id or ""):
        raise ValidationError("upload: not an upload id")
    matches = [p for p in _folder(ws).glob(f"{upload_id}-*") if p.suffix.lower() in SUFFIXES]
    if not matches:
        raise NotFoundError(f"upload {upload_id} is no longer on the server: upload the file again")
    return matches[0]


def stage_upload(ws: Workspace, principal: Principal, *, filename: str, content: bytes) -> dict[str, Any]:
    """Keep an uploaded file for preview and import; returns ``{"upload_id", "filename", "bytes"}``.

    Raises
    ------
    ValidationError
        An empty file or an unsupported type.
    """
    require_role(principal, "admin", "manager")
    name = Path(filename or "upload.csv").name
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise ValidationError(f"file: {suffix or 'no extension'} is not supported ({', '.join(SUFFIXES)})")
    if not content:
        raise ValidationError("file: the uploaded file is empty")
    upload_id = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(6)
    stem = re.sub(r"[^\w.-]", "_", Path(name).stem)[:80] or "upload"
    (_folder(ws) / f"{upload_id}-{stem}{suffix}").write_bytes(content)
    return {"upload_id": upload_id, "filename": name, "bytes": len(content)}


def _mapping(kind: str, headers: list[str], columns: dict[str, str] | None) -> Mapping | None:
    """The user's column choices as a mapping: ``header -> field`` or ``"_"`` (ignore); empty keeps automatic."""
    if not columns:
        return None
    spec = kind_spec(kind)
    renames: dict[str, str] = {}
    chosen: dict[str, str] = {}
    for header, target in columns.items():
        if header not in headers:
            raise ValidationError(f"column {header!r}: the file has no such column")
        target = (target or "").strip()
        if not target:
            continue
        if target != "_" and target not in spec.names:
            raise ValidationError(f"column {header!r}: {target!r} is not a field of {kind}")
        if target != "_" and target in chosen:
            raise ValidationError(f"field {target!r} is chosen for both column {chosen[target]!r} and {header!r}")
        chosen[target] = header
        renames[header] = target
    return Mapping(kind=kind, renames=renames) if renames else None


def summary_data(ws: Workspace, path: Path, summary: ImportSummary, filename: str) -> dict[str, Any]:
    """An import's summary as pages show it: counts, the file's own name, its run id, whether rows were
    quarantined (never the server's paths)."""
    data = summary.as_dict()
    data["has_quarantine"] = bool(data.pop("quarantine_file"))
    data["path"] = filename
    with ws.engine.connect() as conn:
        runs = list_import_runs(conn, limit=20)
    data["run_id"] = next((r["id"] for r in runs if r["path"] == str(path.resolve())), None)
    return data


def _job_path(ws: Workspace, job_id: str) -> Path:
    if not _ID_RE.match(job_id or ""):
        raise NotFoundError(f"no import job {job_id!r}")
    return _folder(ws) / "jobs" / f"{job_id}.json"


def _write_job(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(path)


def _estimate_rows(path: Path, preview_rows: int) -> int | None:
    """About how many records the file holds (None when it cannot be told cheaply)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    if suffix in (".csv", ".txt", ".tsv"):
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(1 << 20)
        lines = head.count(b"\n")
        if len(head) >= size:
            return max(lines - 1, preview_rows, 0)
        return int(size / max(len(head), 1) * lines) if lines else None
    return None


def _job_error(exc: BaseException, path: Path, filename: str) -> dict[str, Any]:
    """A failed job's ``error`` (English), with the catalog key and values of its message when it has them; the
    server's path of the upload is replaced by the file's own name."""
    error = exc if isinstance(exc, KehuError) else translate_store_error(exc)
    if error is None:
        log.exception("import job of %s failed", filename)
        return {"error": f"internal error: {type(exc).__name__}: {exc}", "error_key": None, "error_params": None}
    params = {k: (filename if v == str(path) else v) for k, v in error.params.items()}
    if error.key is None:
        return {"error": str(error).replace(str(path), filename), "error_key": None, "error_params": None}
    if isinstance(getattr(error, "path", None), str | Path) and "path" not in params:
        params["_file"] = filename  # a message that does not name its file itself is shown after the file's name
    return {"error": _said(error.key, "en", params), "error_key": error.key, "error_params": params}


def _said(key: str, locale: str, params: dict[str, Any]) -> str:
    """A job's or preview's catalog message in ``locale``, after the file's name where :func:`_job_error` put it."""
    message = i18n.said(key, locale, params)
    return f"{params['_file']}: {message}" if params.get("_file") else message


def _alive(pid: Any) -> bool:
    """Whether the process that runs a job still exists (a job of an unknown process counts as alive)."""
    if not isinstance(pid, int):
        return True
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- imports from the web and the API ----------------------------------------------------------------------
def import_runs(ws: Workspace, principal: Principal, *, limit: int = 50) -> list[dict[str, Any]]:
    """The newest imports (admins and managers)."""
    require_role(principal, "admin", "manager")
    with ws.engine.connect() as conn:
        runs = store.list_import_runs(conn, limit=limit, user_id=None if principal.role == "admin" else principal.id)
    for r in runs:
        r["path"] = Path(r["path"]).name
        r["has_quarantine"] = bool(r.pop("quarantine_file"))
    return runs


def quarantine_file(ws: Workspace, principal: Principal, run_id: int) -> Path:
    """The quarantine CSV of one import run: for admins, and for the manager who started the import.

    Raises
    ------
    NotFoundError
        No such run, or the run quarantined nothing.
    AccessDeniedError
        The run was started by someone else (the file holds their rows, of any team).
    """
    require_role(principal, "admin", "manager")
    with ws.engine.connect() as conn:
        run = store.get_import_run(conn, run_id)
    if run is None or not run["quarantine_file"]:
        raise NotFoundError(f"import {run_id} has no quarantine file")
    if principal.role != "admin" and run.get("user_id") != principal.id:
        raise denied(ws, principal, "quarantine_not_yours", run=run_id)
    path = Path(run["quarantine_file"])
    if not path.is_file():
        raise NotFoundError(f"the quarantine file of import {run_id} is no longer on disk")
    return path


class ImportService(Service):
    """Imports from the web and the API (admins and managers)."""

    def _limits(self) -> WorkbookLimits:
        return WorkbookLimits.from_settings(self.ws.settings)

    def stage(self, *, filename: str, content: bytes) -> dict[str, Any]:
        """See :func:`stage_upload`."""
        return stage_upload(self.ws, self.principal, filename=filename, content=content)

    def preview(
        self, *, upload_id: str, kind: str, columns: dict[str, str] | None = None, locale: str | None = None
    ) -> dict[str, Any]:
        """How the upload would be read and mapped, its first rows and a check of the first :data:`CHECK_ROWS`.

        Problems with the file or the mapping are returned under ``"error"`` (the page shows them next to the
        mapping; in ``locale`` when the problem has a catalog text) rather than raised; ``"ready"`` says whether the
        import can start.
        """
        require_role(self.principal, "admin", "manager")
        if kind not in KINDS:
            raise ValidationError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
        path = staged_path(self.ws, upload_id)
        spec = kind_spec(kind)
        out: dict[str, Any] = {
            "upload_id": upload_id,
            "filename": path.name.split("-", 3)[-1],
            "kind": kind,
            "format": None,  # until the file is opened (a file that cannot be read has none)
            "fields": [{"name": f.name, "required": f.required, "type": f.type.value} for f in spec.fields],
            "columns": [],
            "rows": [],
            "checked": 0,
            "bad_rows": 0,
            "problems": [],
            "error": None,
            "ready": False,
            # how the file is read: known once it opens (a file refused on opening has none)
            "encoding": None,
            "delimiter": None,
            "headers": [],
        }
        try:
            with open_source(path, chunk_rows=CHECK_ROWS, limits=self._limits()) as src:
                headers = list(src.headers)
                out.update(format=src.format, encoding=src.encoding, delimiter=getattr(src, "delimiter", None))
                out["headers"] = headers
                mapping = _mapping(kind, headers, columns)
                auto = plan_columns(spec, headers, None, path, require=False, refuse_rivals=False)
                rivals: ImportFileError | None = None
                try:
                    plan = plan_columns(spec, headers, mapping, path, require=False)
                except ImportFileError as exc:  # several columns mean one field: the user chooses below
                    plan, rivals = auto, exc
                by_header = {h: f for f, h in plan.fields.items()}
                auto_by_header = {h: f for f, h in auto.fields.items()}
                out["columns"] = [
                    {
                        "header": h,
                        "field": by_header.get(h),
                        "automatic": auto_by_header.get(h),
                        "ignored": h in plan.ignored,
                    }
                    for h in headers
                ]
                out["missing"] = [f.name for f in spec.fields if f.required and f.name not in plan.fields]
                if rivals is not None:
                    raise rivals
                if out["missing"]:
                    out["error"] = f"required field {', '.join(out['missing'])}: choose the column that holds it"
                    return out
                batch = next(iter(src.batches()), None)
        except (ImportFileError, ValidationError) as exc:
            shown = _job_error(exc, path, out["filename"])
            key = shown["error_key"]
            out["error"] = _said(key, locale, shown["error_params"]) if key and locale else shown["error"]
            return out
        if batch is None:
            out["error"] = f"{out['filename']}: the file has a header but no records"
            return out
        prepared = prepare_batch(
            spec,
            plan,
            batch,
            mapping=mapping,
            tz=self.ws.settings.timezone,
            currency=self.ws.settings.currency,
            now=dt.datetime.now(dt.UTC),
            path=path,
        )
        reasons: Counter[tuple[str, str]] = Counter()
        for problems in prepared.problems.values():
            for p in problems:
                reasons[(p.column, p.reason)] += 1
        out["checked"] = len(batch)
        out["bad_rows"] = len(prepared.problems)
        out["problems"] = [{"column": c, "reason": r, "rows": n} for (c, r), n in reasons.most_common(10)]
        for i in range(min(SHOW_ROWS, len(batch))):
            raw = prepared.raw_row(i)
            bad = {p.column: p.reason for p in prepared.problems.get(i, [])}
            out["rows"].append(
                {
                    "row": int(batch.row_numbers[i]),
                    "cells": [
                        {"value": None if raw.get(h) is None else str(raw.get(h)), "problem": bad.get(h)}
                        for h in out["headers"]
                    ],
                }
            )
        out["ready"] = True
        return out

    def start(
        self,
        *,
        upload_id: str,
        kind: str,
        source: str,
        columns: dict[str, str] | None = None,
        on_done: Callable[[], None] | None = None,
    ) -> str:
        """Start importing a staged upload in the background; returns the job id (see :meth:`ImportService.job`).

        ``on_done`` is called in the worker thread when the job has ended (e.g. to drop cached figures).

        Raises
        ------
        ValidationError
            Unknown kind, an odd source name, or column choices that do not fit the file.
        """
        require_role(self.principal, "admin", "manager")
        check_kind_and_source(kind, source)
        path = staged_path(self.ws, upload_id)
        mapping_file: Path | None = None
        if columns:
            with open_source(path, chunk_rows=1, limits=self._limits()) as src:
                mapping = _mapping(kind, list(src.headers), columns)
            if mapping is not None:
                mapping_file = path.with_name(path.stem + ".mapping.yaml")
                doc = {"kind": kind, "columns": dict(mapping.renames)}
                mapping_file.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
        job_id = upload_id
        job = _job_path(self.ws, job_id)
        job.parent.mkdir(parents=True, exist_ok=True)
        with _lock:
            if job.exists() and json.loads(job.read_text(encoding="utf-8")).get("state") in ("running", "queued"):
                raise ValidationError(f"upload {upload_id} is being imported already")
            state: dict[str, Any] = {
                "job_id": job_id,
                "state": "running",
                "kind": kind,
                "source": source,
                "filename": path.name.split("-", 3)[-1],
                "user_id": self.principal.id,
                "mapping": mapping_file.name if mapping_file else None,
                "rows_read": 0,
                "rows_estimate": _estimate_rows(path, 0),
                "started_at": dt.datetime.now(dt.UTC).isoformat(),
                "finished_at": None,
                "summary": None,
                "error": None,
                "pid": os.getpid(),
            }
            _write_job(job, state)

        scope = import_scope(self.ws, self.principal)
        user_id = self.principal.id or None  # the command line's principal (id 0) is no user

        def progress(rows: int) -> None:
            state.update(state="running", rows_read=rows, waiting_for=None)
            _write_job(job, state)

        def queued(holder: Holder) -> None:  # another import or run has the store: this job waits its turn
            state.update(state="queued", waiting_for=waiting_params(holder))
            _write_job(job, state)

        def work() -> None:
            try:
                ensure_current(self.ws.engine)
                summary = import_file(
                    self.ws.engine,
                    self.ws.settings,
                    kind,
                    path,
                    mapping_path=mapping_file,
                    source=source,
                    progress=progress,
                    on_wait=queued,
                    scope=scope,
                    user_id=user_id,
                )
                data = summary_data(self.ws, path, summary, state["filename"])
                state.update(state="done", summary=data, rows_read=data["read"], waiting_for=None)
            except Exception as exc:
                state.update(state="failed", waiting_for=None, **_job_error(exc, path, state["filename"]))
            state["finished_at"] = dt.datetime.now(dt.UTC).isoformat()
            _write_job(job, state)
            if on_done is not None:
                on_done()

        threading.Thread(target=work, name=f"kehu-import-{job_id}", daemon=True).start()
        return job_id

    def job(self, job_id: str, *, locale: str | None = None) -> dict[str, Any]:
        """The state of an import job: ``queued`` (waiting for another import or run to finish), ``running``
        (rows read, estimate, percent), ``done`` (summary) or ``failed``; with ``locale``, its ``error`` and its
        ``queued_message`` are in that language.

        Raises
        ------
        NotFoundError
            No such job, or it belongs to another user (for non-admins).
        """
        require_role(self.principal, "admin", "manager")
        path = _job_path(self.ws, job_id)
        if not path.is_file():
            raise NotFoundError(f"no import job {job_id!r}")
        state = json.loads(path.read_text(encoding="utf-8"))
        if self.principal.role != "admin" and state.get("user_id") != self.principal.id:
            raise NotFoundError(f"no import job {job_id!r}")
        if state["state"] in ("running", "queued") and not _alive(state.get("pid")):
            # the server process that ran it stopped: its one transaction was rolled back
            english = i18n.said("files.interrupted", "en", {})
            state.update(state="failed", error=english, error_key="files.interrupted", error_params={})
            _write_job(path, state)
        if locale is not None:  # the messages in the reader's language
            if state.get("error_key"):
                state["error"] = _said(state["error_key"], locale, state.get("error_params") or {})
            if state["state"] == "queued":
                state["queued_title"] = i18n.text("files.job_queued", locale)
                state["queued_message"] = i18n.said(
                    "files.queued", locale, state.get("waiting_for") or waiting_params({})
                )
        est = state.get("rows_estimate")
        if state["state"] == "done":
            state["percent"] = 100
        elif est:
            state["percent"] = min(99, int(100 * state.get("rows_read", 0) / est))
        else:
            state["percent"] = None
        return dict(state)

    def runs(self, *, limit: int = 50) -> list[dict[str, Any]]:
        """See :func:`import_runs`."""
        return import_runs(self.ws, self.principal, limit=limit)

    def run(self, *, kind: str, source: str, filename: str, content: bytes) -> dict[str, Any]:
        """Save an uploaded file under ``KEHU_HOME/uploads`` and import it; returns the summary and its run id.

        Raises
        ------
        ValidationError
            Unknown kind, a source name that is not a short identifier, an empty file or an unsupported type.
        """
        require_role(self.principal, "admin", "manager")
        check_kind_and_source(kind, source)
        staged = stage_upload(self.ws, self.principal, filename=filename, content=content)
        path = staged_path(self.ws, staged["upload_id"])
        ensure_current(self.ws.engine)
        scope = import_scope(self.ws, self.principal)
        try:
            summary = import_file(self.ws.engine, self.ws.settings, kind, path, source=source, scope=scope,
                                  user_id=self.principal.id or None)  # fmt: skip
        except ImportFileError as exc:  # name the user's file, not the server's copy of it
            named = ImportFileError(staged["filename"], exc.problem.replace(str(path), staged["filename"]))
            named.key = exc.key
            named.params = {k: (staged["filename"] if v == str(path) else v) for k, v in exc.params.items()}
            raise named from None
        data = summary_data(self.ws, path, summary, staged["filename"])
        forget_cached_figures()
        return data

    def quarantine_file(self, run_id: int) -> Path:
        """See :func:`quarantine_file`."""
        return quarantine_file(self.ws, self.principal, run_id)
