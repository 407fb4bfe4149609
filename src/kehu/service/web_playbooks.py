"""The playbooks pages of the web app (managers and admins): the workspace's playbooks with their rules, enabled
state, recent runs and counts per rule; a playbook's YAML with validation, a dry-run preview and saving; running
the playbooks now; the outbox's dead and unknown messages with retry.

Everything here refuses reps (:class:`~kehu.errors.AccessDeniedError`). Validation uses the same loader as
``kehu playbooks validate`` (problems name file, line and field); an invalid text is never written. Preview is
the dry run of ``kehu playbooks dry-run`` (read-only). Saving, running and retrying are audited with the
signed-in user as the actor.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from kehu.errors import NotFoundError, ValidationError
from kehu.playbooks import Playbook, PlaybookError, load_playbook, load_playbooks
from kehu.service import playbooks as service
from kehu.service.access import Principal, owner_scope, require_role
from kehu.service.workspace import Workspace
from kehu.store.actions import audit, outbox, playbook_firings, playbook_runs
from kehu.store.schema import customers

__all__ = [
    "check_playbook",
    "playbook_page",
    "playbooks_overview",
    "preview_playbook",
    "retry_outbox",
    "run_now",
    "save_playbook",
]

_RUNS = 10
_DEAD = 50
_MAX_TEXT = 200_000


def _manager(principal: Principal) -> None:
    require_role(principal, "admin", "manager")


def _folder(ws: Workspace) -> Path:
    return ws.settings.resolved_playbooks_dir


def _files(ws: Workspace) -> list[Path]:
    folder = _folder(ws)
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.is_dir() else []


def _labels(text: Any) -> dict[str, str | None]:
    return {"zh": text.pick("zh-CN") if text else None, "en": text.pick("en") if text else None}


def _describe(pb: Playbook, last: dict[str, Any], totals: dict[tuple[str, str], int]) -> dict[str, Any]:
    rules = []
    for r in pb.rules:
        ref = f"{pb.name}/{r.id}"
        counts = last.get(ref) or {}
        rules.append({
            "id": r.id, "ref": ref, "title": _labels(r.title), "trigger": r.when.kind, "priority": r.priority,
            "actions": [a.kind for a in r.then], "last_fired": counts.get("fired"),
            "last_matched": counts.get("matched"), "last_skipped": counts.get("skipped") or {},
            "fired_total": totals.get((pb.name, r.id), 0),
        })  # fmt: skip
    return {"name": pb.name, "file": Path(pb.path).name, "enabled": pb.enabled, "title": _labels(pb.title),
            "description": _labels(pb.description), "rules": rules, "problems": []}  # fmt: skip


def _problem(p: Any) -> dict[str, Any]:
    return {"file": Path(p.file).name, "line": p.line, "field": p.field, "message": p.message}


def playbooks_overview(ws: Workspace, principal: Principal) -> dict[str, Any]:
    """Every playbook file of the workspace (a broken one with its problems), recent runs with counts per rule,
    the outbox by status and its dead or unknown messages."""
    _manager(principal)
    with ws.engine.connect() as conn:
        runs = [dict(r) for r in conn.execute(
            sa.select(playbook_runs).order_by(playbook_runs.c.id.desc()).limit(_RUNS)).mappings()]  # fmt: skip
        totals = {(p, r): int(n) for p, r, n in conn.execute(
            sa.select(playbook_firings.c.playbook, playbook_firings.c.rule, sa.func.count())
            .group_by(playbook_firings.c.playbook, playbook_firings.c.rule))}  # fmt: skip
        by_status: dict[str, int] = dict(
            conn.execute(sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status)).all()
        )
    last_done = next((r for r in runs if r["summary"]), None)
    last = last_done["summary"] if last_done else {}
    playbooks = []
    for f in _files(ws):
        try:
            playbooks.append(_describe(load_playbook(f), last, totals))
        except PlaybookError as exc:
            playbooks.append({"name": None, "file": f.name, "enabled": False, "title": {"zh": None, "en": None},
                              "description": {"zh": None, "en": None}, "rules": [],
                              "problems": [_problem(p) for p in exc.problems]})  # fmt: skip
    for run in runs:
        summary = run["summary"] or {}
        run["fired"] = sum(int(v.get("fired") or 0) for v in summary.values())
    stuck = service.list_outbox(ws.engine, status="dead", limit=_DEAD) + service.list_outbox(
        ws.engine, status="unknown", limit=_DEAD
    )
    return {
        "folder": str(_folder(ws)),
        "playbooks": playbooks,
        "runs": runs,
        "last_run": last_done,
        "outbox": {
            status: int(by_status.get(status, 0))
            for status in ("pending", "retry", "sending", "done", "dead", "unknown")
        },
        "stuck": sorted(stuck, key=lambda r: -int(r["id"])),
        "can_run": True,
    }


def _file_of(ws: Workspace, name: str) -> Path:
    """The file of the playbook called ``name`` (or of the file with that stem, when it does not load)."""
    for f in _files(ws):
        try:
            if load_playbook(f).name == name:
                return f
        except PlaybookError:
            if f.stem == name:
                return f
    raise NotFoundError(f"no playbook named {name!r} in {_folder(ws)}")


def playbook_page(ws: Workspace, principal: Principal, name: str) -> dict[str, Any]:
    """A playbook's YAML text and what it describes (or the problems of its file)."""
    _manager(principal)
    f = _file_of(ws, name)
    text = f.read_text(encoding="utf-8", errors="replace")
    checked = _check(ws, f, text)
    return {"name": name, "file": f.name, "text": text, **checked}


def _check(ws: Workspace, f: Path, text: str) -> dict[str, Any]:
    """Validate ``text`` as the new content of ``f`` among the workspace's other playbooks."""
    if len(text) > _MAX_TEXT:
        return {"valid": False, "problems": [{"file": f.name, "line": 0, "field": "",
                                              "message": f"longer than {_MAX_TEXT:,} characters"}]}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="kehu-playbook-") as tmp:
        for other in _files(ws):
            if other.name != f.name:
                shutil.copyfile(other, Path(tmp) / other.name)
        (Path(tmp) / f.name).write_text(text, encoding="utf-8")
        try:
            loaded = load_playbooks([tmp])
        except PlaybookError as exc:
            mine = [_problem(p) for p in exc.problems if Path(p.file).name == f.name]
            if mine:
                return {"valid": False, "problems": mine}
            loaded = [load_playbook(Path(tmp) / f.name)]  # others are broken; this one is fine
    pb = next(p for p in loaded if Path(p.path).name == f.name)
    return {"valid": True, "problems": [], "playbook": _describe(pb, {}, {})}


def check_playbook(ws: Workspace, principal: Principal, name: str, text: str) -> dict[str, Any]:
    """Validate an edited text of playbook ``name`` (nothing is written)."""
    _manager(principal)
    f = _file_of(ws, name)
    return {"name": name, "file": f.name, "text": text, **_check(ws, f, text)}


def save_playbook(ws: Workspace, principal: Principal, name: str, text: str) -> dict[str, Any]:
    """Write an edited playbook when it is valid (atomically) and audit the change; an invalid text is not
    written and its problems are returned."""
    _manager(principal)
    f = _file_of(ws, name)
    result = {"name": name, "file": f.name, "text": text, **_check(ws, f, text)}
    if not result["valid"]:
        return {**result, "saved": False}
    before = f.read_text(encoding="utf-8", errors="replace")
    tmp = f.with_name(f".{f.name}.saving")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, f)
    new_name = result["playbook"]["name"]
    with ws.engine.begin() as conn:
        audit(conn, at=dt.datetime.now(dt.UTC), actor=principal.name, action="playbook.edit",
              target=f"playbook:{new_name}"[:100],
              detail={"file": f.name, "before_chars": len(before), "after_chars": len(text),
                      "enabled": result["playbook"]["enabled"]})  # fmt: skip
    return {**result, "saved": True, "name": new_name}


def preview_playbook(
    ws: Workspace, principal: Principal, name: str, text: str | None = None, *, day: dt.date | None = None
) -> dict[str, Any]:
    """The dry run of playbook ``name`` — of its saved file, or of an edited ``text`` when given and valid — per
    rule: customers that would trigger on ``day`` (default today), skips and samples (samples only of customers
    the user may see). Changes nothing."""
    _manager(principal)
    f = _file_of(ws, name)
    if text is None:
        text = f.read_text(encoding="utf-8", errors="replace")
    checked = _check(ws, f, text)
    out: dict[str, Any] = {"name": name, "file": f.name, "text": text, **checked}
    if not checked["valid"]:
        return out
    with tempfile.TemporaryDirectory(prefix="kehu-preview-") as tmp:
        path = Path(tmp) / f.name
        path.write_text(text, encoding="utf-8")
        preview = service.dry_run(ws.settings, ws.engine, [path], day=day)
    scope = owner_scope(ws, principal)
    if scope is not None:
        with ws.engine.connect() as conn:
            visible = set(conn.execute(sa.select(customers.c.id).where(customers.c.owner_id.in_(scope))).scalars())
        for rule in preview["rules"]:
            rule["samples"] = [s for s in rule["samples"] if s["customer_id"] in visible]
    for rule in preview["rules"]:
        rule.pop("customers", None)
    out["preview"] = preview
    return out


def run_now(ws: Workspace, principal: Principal) -> dict[str, Any]:
    """Run the enabled playbooks now (decide, commit, deliver) and audit who started it."""
    _manager(principal)
    result = service.run_playbooks(ws.settings, ws.engine, trigger="web")
    with ws.engine.begin() as conn:
        audit(conn, at=dt.datetime.now(dt.UTC), actor=principal.name, action="playbooks.run",
              target=f"playbook_run:{result['run_id']}",
              detail={"fired": sum(int(r["fired"] or 0) for r in result["rules"])})  # fmt: skip
    return result


def retry_outbox(ws: Workspace, principal: Principal, outbox_id: int) -> dict[str, Any]:
    """Queue a dead or unknown message again (audited by the outbox)."""
    _manager(principal)
    if not 1 <= outbox_id <= 2**62:
        raise ValidationError("outbox id: out of range")
    return service.retry_message(ws.engine, outbox_id, actor=principal.name)
