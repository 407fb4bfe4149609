"""Playbooks for the front ends: validate, dry-run, run (decide → commit → deliver), tasks, outbox, defaults.

The workspace's playbooks are the ``*.yaml`` files in ``KEHU_PLAYBOOKS_DIR`` (default ``KEHU_HOME/playbooks``);
those with ``enabled: true`` (the default) run. ``now`` is injectable everywhere so that tests can freeze the
clock; ``day`` (the day triggers are evaluated for) defaults to today in ``KEHU_TIMEZONE``.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from kehu.config import Settings
from kehu.errors import NotFoundError, ValidationError
from kehu.playbooks import (
    DEFAULTS_DIR,
    Channel,
    Clock,
    Playbook,
    PlaybookError,
    channels_from_settings,
    commit_plan,
    deliver,
    load_playbook,
    load_playbooks,
    plan,
    webhook_targets,
)
from kehu.playbooks.effects import effect_multipliers, revenue_effects
from kehu.playbooks.loader import Problem
from kehu.playbooks.outbox import retry as retry_row
from kehu.playbooks.planner import Decision, Plan
from kehu.playbooks.workload import accounting, expire_stale, fit_to_capacity, link_merged, pull_backlog
from kehu.service import playbook_effects
from kehu.service.access import Principal, owner_scope, require_role
from kehu.service.loop_config import ticket_policy
from kehu.service.playbook_scope import check_editable, check_retry, edit_problems, run_scope, visible_rows
from kehu.service.present import Announce, announcement, not_acted, past_day
from kehu.service.principal import Service, Workspace
from kehu.store.actions import (
    audit,
    outbox,
    playbook_firings,
    playbook_runs,
)
from kehu.store.db import ensure_current
from kehu.store.schema import customers, users

__all__ = [
    "PlaybookService",
    "deliver_outbox",
    "dry_run",
    "install_defaults",
    "list_outbox",
    "list_playbooks",
    "retry_message",
    "run_now",
    "run_playbooks",
    "ticket_sla_hours",
    "workspace_playbooks",
]

_SAMPLES = 5


def _clock(settings: Settings, now: dt.datetime | None, day: dt.date | None) -> Clock:
    tz = ZoneInfo(settings.timezone)
    now = now or dt.datetime.now(dt.UTC)
    return Clock(day=day or now.astimezone(tz).date(), now=now, tz=tz)


def workspace_playbooks(settings: Settings, files: Sequence[str | Path] | None = None) -> list[Playbook]:
    """The playbooks of ``files``, or of the workspace's playbooks folder (none when it does not exist)."""
    if files:
        return load_playbooks(files)
    folder = settings.resolved_playbooks_dir
    return load_playbooks([folder]) if folder.is_dir() else []


def list_playbooks(settings: Settings) -> list[dict[str, Any]]:
    """The workspace's playbooks and their rules."""
    return [
        {
            "playbook": pb.name,
            "file": pb.path,
            "enabled": pb.enabled,
            "title": pb.title.pick(settings.locale) if pb.title else None,
            "rules": [
                {"id": r.id, "trigger": r.when.kind, "priority": r.priority, "actions": [a.kind for a in r.then]}
                for r in pb.rules
            ],
        }
        for pb in workspace_playbooks(settings)
    ]


def install_defaults(settings: Settings, *, overwrite: bool = False) -> list[str]:
    """Copy the default playbooks into the workspace's playbooks folder (enabled); returns the files written."""
    folder = settings.resolved_playbooks_dir
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for src in sorted(DEFAULTS_DIR.glob("*.yaml")):
        dest = folder / src.name
        if dest.exists() and not overwrite:
            continue
        shutil.copyfile(src, dest)
        written.append(str(dest))
    return written


def _names(conn: sa.Connection) -> dict[int, str]:
    return {int(i): str(n) for i, n in conn.execute(sa.select(users.c.id, users.c.name))}


def _sample(d: Decision, names: Mapping[int, str]) -> dict[str, Any]:
    actions: list[dict[str, Any]] = []
    for a in d.actions:
        p = a.payload
        if a.kind == "task":
            uid = p["assignee_id"]
            actions.append({"task": {"assignee": names.get(uid) if uid else None, "due_date": p["due_date"]}})
        elif a.kind == "message":
            actions.append({"message": {"channel": p["channel"], "to": p["to"] or p["webhook"]}})
        elif a.kind == "owner":
            actions.append({"owner": names.get(p["owner_id"])})
        else:
            actions.append({a.kind: {k: v for k, v in p.items() if v is not None}})
    owner = d.customer.get("owner_id")
    return {
        "customer_id": d.customer_id,
        "name": d.customer.get("name"),
        "owner": names.get(owner) if owner is not None else None,
        "occurrence": d.occurrence.key,
        "values": d.occurrence.values,
        "actions": actions,
    }


def _summary(p: Plan, names: Mapping[int, str], fired: Mapping[str, int] | None = None) -> dict[str, Any]:
    rules = []
    for rp in p.rules:
        rules.append(
            {
                "rule": rp.ref,
                "title": rp.rule.title.pick("zh-CN") if rp.rule.title else None,
                "title_en": rp.rule.title.pick("en") if rp.rule.title else None,
                "trigger": rp.rule.when.kind,
                "priority": rp.rule.priority,
                "matched": rp.matched,
                "passed_if": rp.passed_if,
                "would_fire": len(rp.decisions),
                "fired": None if fired is None else fired.get(rp.ref, 0),
                "holdout": rp.rule.holdout,
                "held_out": rp.held_out,
                "skipped": dict(rp.skipped),
                "customers": [d.customer_id for d in rp.decisions],
                "samples": [_sample(d, names) for d in [d for d in rp.decisions if not d.held_out][:_SAMPLES]],
            }
        )
    return {"day": p.clock.day, "now": p.clock.now, "as_of": p.as_of, "rules": rules}


def ticket_sla_hours(settings: Settings) -> dict[str, float]:
    """Resolution targets per ticket priority from the loop configuration (what ``ticket_past_sla`` uses)."""
    policy = ticket_policy(settings)
    return {priority: target.resolution for priority, target in policy.sla.items()}


def dry_run(
    settings: Settings,
    engine: sa.Engine,
    files: Sequence[str | Path] | None = None,
    *,
    now: dt.datetime | None = None,
    day: dt.date | None = None,
) -> dict[str, Any]:
    """What a run would do now, per rule (customers, samples, skips); writes nothing."""
    clock = _clock(settings, now, day)
    playbooks = workspace_playbooks(settings, files)
    with engine.connect() as conn:
        p = plan(conn, playbooks, clock, settings, sla_hours=ticket_sla_hours(settings))
        names = _names(conn)
        samples = _summary(p, names)  # what each rule decides, before the capacity stage takes tasks out
        fitted = fit_to_capacity(conn, p, settings)
    out = {**samples, "capacity": fitted.summary, "dry_run": True}
    return out


def run_playbooks(
    settings: Settings,
    engine: sa.Engine,
    files: Sequence[str | Path] | None = None,
    *,
    now: dt.datetime | None = None,
    day: dt.date | None = None,
    trigger: str = "cli",
    channels: Mapping[str, Channel] | None = None,
    deliver_messages: bool = True,
    act_on_past_day: bool = False,
    announce: Announce | None = None,
    effects: Mapping[str, float] | None = None,
    scope: Collection[int] | None = None,
) -> dict[str, Any]:
    """Expire stale tasks, decide, fit the tasks to the owners' capacity, commit (firings + outbox + backlog), pull
    waiting backlog entries into freed slots, and deliver; returns counts per rule, the capacity stage
    (``capacity``: working days, what expired, how many backlog entries became tasks (``from_backlog``), and the
    run's firings by fate) and what delivery did. ``effects`` multiplies the value at stake per rule ref
    (``playbook/rule``); by default each rule's measured effect on revenue once its interval excludes zero
    (:func:`kehu.playbooks.effects.effect_multipliers`), else 1.

    A ``day`` before the newest data day is a look back (:mod:`kehu.service.present`): nothing is decided, expired
    or written and the result says why (``acted: false``), unless ``act_on_past_day``; then ``announce`` is first
    given the dry run's counts per rule. ``scope``: the owner ids a manager's run may act on (see
    :func:`kehu.playbooks.planner.plan`; ``None``: every customer).
    """
    clock = _clock(settings, now, day)
    playbooks = workspace_playbooks(settings, files)
    past = past_day(engine, settings, day)
    if past is not None and not act_on_past_day:
        return not_acted(past, settings, [pb.name for pb in playbooks if pb.enabled])
    expired = expire_stale(engine, settings, day=clock.day, now=clock.now)
    with engine.begin() as conn:
        run_id = int(
            conn.execute(
                sa.insert(playbook_runs)
                .values(day=clock.day, started_at=clock.now, trigger=trigger)
                .returning(playbook_runs.c.id)
            ).scalar_one()
        )
    with engine.connect() as conn:
        p = plan(conn, playbooks, clock, settings, sla_hours=ticket_sla_hours(settings), scope=scope)
        names = _names(conn)
        if past is not None and announce is not None:
            announce(announcement(past, _summary(p, names), settings.locale))
        if effects is None and any(a.kind == "task" for d in p.decisions for a in d.actions):
            # only tasks are ranked: a run that plans none reads no effects
            effects = effect_multipliers(
                revenue_effects(conn, tz=ZoneInfo(settings.timezone), horizon_days=settings.playbook_effect_days)
            )
        fitted = fit_to_capacity(conn, p, settings, effects=effects)
    fired = commit_plan(engine, p, run_id=run_id, now=clock.now)
    link_merged(engine, fitted, run_id)
    pulled = pull_backlog(engine, fitted, now=clock.now)
    out = _summary(p, names, fired)
    out["capacity"] = {**fitted.summary, "from_backlog": pulled, "expired": expired,
                       "accounting": accounting(engine, run_id)}  # fmt: skip
    for rule in out["rules"]:
        rule.pop("customers")
    if deliver_messages:
        chans = channels if channels is not None else channels_from_settings(settings)
        out["delivery"] = deliver(engine, settings, chans, now=clock.now).as_dict()
    counts = {r["rule"]: {"fired": r["fired"], "held_out": r["held_out"], "matched": r["matched"],
                          "skipped": r["skipped"]} for r in out["rules"]}  # fmt: skip
    with engine.begin() as conn:
        conn.execute(
            sa.update(playbook_runs)
            .where(playbook_runs.c.id == run_id)
            .values(as_of=p.as_of, finished_at=dt.datetime.now(dt.UTC), summary=counts)
        )
    out["run_id"] = run_id
    out["playbooks"] = [pb.name for pb in playbooks if pb.enabled]
    out["acted"] = True
    out["past_day"] = past.as_dict(settings.locale, acted=True) if past is not None else None
    return out


def deliver_outbox(
    settings: Settings,
    engine: sa.Engine,
    *,
    now: dt.datetime | None = None,
    channels: Mapping[str, Channel] | None = None,
) -> dict[str, Any]:
    """Deliver what is due in the outbox (store actions, messages, retries)."""
    chans = channels if channels is not None else channels_from_settings(settings)
    return deliver(engine, settings, chans, now=now or dt.datetime.now(dt.UTC)).as_dict()


def list_outbox(engine: sa.Engine, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Outbox rows (newest first), optionally of one status."""
    o = outbox
    cols = [
        o.c.id,
        o.c.kind,
        o.c.channel,
        o.c.status,
        o.c.attempts,
        o.c.customer_id,
        o.c.next_attempt_at,
        o.c.done_at,
        o.c.last_error,
        o.c.idempotency_key,
    ]
    stmt = sa.select(*cols).order_by(o.c.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(o.c.status == status)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def retry_message(engine: sa.Engine, outbox_id: int, *, actor: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """Queue a dead or unknown message again."""
    return retry_row(engine, outbox_id, actor=actor, now=now or dt.datetime.now(dt.UTC))


# -- The playbooks pages of the web app (managers and admins): the workspace's playbooks with their rules ----------


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
            "actions": [a.kind for a in r.then], "holdout": r.holdout, "last_fired": counts.get("fired"),
            "last_held_out": counts.get("held_out"),
            "last_matched": counts.get("matched"), "last_skipped": counts.get("skipped") or {},
            "fired_total": totals.get((pb.name, r.id), 0),
        })  # fmt: skip
    return {"name": pb.name, "file": Path(pb.path).name, "enabled": pb.enabled, "title": _labels(pb.title),
            "description": _labels(pb.description), "rules": rules, "problems": []}  # fmt: skip


def _problem(p: Any) -> dict[str, Any]:
    return {"file": Path(p.file).name, "line": p.line, "field": p.field, "message": p.message}


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
    if refused := webhook_targets.playbook_problems(pb, ws.settings, f.name):
        return {"valid": False, "problems": refused}
    return {"valid": True, "problems": [], "playbook": _describe(pb, {}, {})}


def run_now(ws: Workspace, principal: Principal) -> dict[str, Any]:
    """Run the enabled playbooks now (decide, commit, deliver) and audit who started it; a manager's run acts only
    within their team (:mod:`kehu.service.playbook_scope`)."""
    _manager(principal)
    result = run_playbooks(ws.settings, ws.engine, trigger="web", scope=run_scope(ws, principal))
    with ws.engine.begin() as conn:
        audit(conn, at=dt.datetime.now(dt.UTC), actor=principal.name, action="playbooks.run",
              target=f"playbook_run:{result['run_id']}",
              detail={"fired": sum(int(r["fired"] or 0) for r in result["rules"])})  # fmt: skip
    return result


class PlaybookService(Service):
    """The workspace's playbooks and the outbox (managers and admins)."""

    def overview(self) -> dict[str, Any]:
        """Every playbook file of the workspace (a broken one with its problems), recent runs with counts per rule,
        the outbox by status and its dead or unknown messages."""
        _manager(self.principal)
        with self.ws.engine.connect() as conn:
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
        for f in _files(self.ws):
            try:
                playbooks.append(_describe(load_playbook(f), last, totals))
            except PlaybookError as exc:
                playbooks.append({"name": None, "file": f.name, "enabled": False, "title": {"zh": None, "en": None},
                                  "description": {"zh": None, "en": None}, "rules": [],
                                  "problems": [_problem(p) for p in exc.problems]})  # fmt: skip
        for run in runs:
            summary = run["summary"] or {}
            run["fired"] = sum(int(v.get("fired") or 0) for v in summary.values())
        stuck = visible_rows(self.ws, self.principal, list_outbox(self.ws.engine, status="dead", limit=_DEAD)
                             + list_outbox(self.ws.engine, status="unknown", limit=_DEAD))  # fmt: skip
        return {
            "folder": str(_folder(self.ws)),
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

    def page(self, name: str) -> dict[str, Any]:
        """A playbook's YAML text and what it describes (or the problems of its file)."""
        _manager(self.principal)
        f = _file_of(self.ws, name)
        text = f.read_text(encoding="utf-8", errors="replace")
        checked = _check(self.ws, f, text)
        return {"name": name, "file": f.name, "text": text, **checked}

    def check(self, name: str, text: str) -> dict[str, Any]:
        """Validate an edited text of playbook ``name`` (nothing is written)."""
        _manager(self.principal)
        f = _file_of(self.ws, name)
        checked = _check(self.ws, f, text)
        if checked["valid"] and (mine := edit_problems(self.ws, self.principal, f, text)):  # a manager's limits
            checked = {**checked, "valid": False, "problems": mine}
        return {"name": name, "file": f.name, "text": text, **checked}

    def save(self, name: str, text: str) -> dict[str, Any]:
        """Write an edited playbook when it is valid (atomically) and audit the change; an invalid text is not
        written and its problems are returned."""
        _manager(self.principal)
        f = _file_of(self.ws, name)
        check_editable(self.ws, self.principal, f)
        result = self.check(name, text)
        if not result["valid"]:
            return {**result, "saved": False}
        before = f.read_text(encoding="utf-8", errors="replace")
        tmp = f.with_name(f".{f.name}.saving")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, f)
        new_name = result["playbook"]["name"]
        with self.ws.engine.begin() as conn:
            audit(conn, at=dt.datetime.now(dt.UTC), actor=self.principal.name, action="playbook.edit",
                  target=f"playbook:{new_name}"[:100],
                  detail={"file": f.name, "before_chars": len(before), "after_chars": len(text),
                          "enabled": result["playbook"]["enabled"]})  # fmt: skip
        return {**result, "saved": True, "name": new_name}

    def preview(self, name: str, text: str | None = None, *, day: dt.date | None = None) -> dict[str, Any]:
        """The dry run of playbook ``name`` — of its saved file, or of an edited ``text`` when given and valid — per
        rule: customers that would trigger on ``day`` (default today), skips and samples (samples only of customers
        the user may see). Changes nothing."""
        _manager(self.principal)
        f = _file_of(self.ws, name)
        if text is None:
            text = f.read_text(encoding="utf-8", errors="replace")
        checked = _check(self.ws, f, text)
        out: dict[str, Any] = {"name": name, "file": f.name, "text": text, **checked}
        if not checked["valid"]:
            return out
        with tempfile.TemporaryDirectory(prefix="kehu-preview-") as tmp:
            path = Path(tmp) / f.name
            path.write_text(text, encoding="utf-8")
            preview = dry_run(self.ws.settings, self.ws.engine, [path], day=day)
        scope = owner_scope(self.ws, self.principal)
        if scope is not None:
            with self.ws.engine.connect() as conn:
                visible = set(conn.execute(sa.select(customers.c.id).where(customers.c.owner_id.in_(scope))).scalars())
            for rule in preview["rules"]:
                rule["samples"] = [s for s in rule["samples"] if s["customer_id"] in visible]
        for rule in preview["rules"]:
            rule.pop("customers", None)
        out["preview"] = preview
        return out

    def effects(
        self, *, since: dt.date | None = None, until: dt.date | None = None, horizon: int | None = None
    ) -> dict[str, Any]:
        """What works: per rule, treated vs held out over a window of firing days (see
        :func:`kehu.service.playbook_effects.effects`)."""
        return playbook_effects.effects(self.ws, self.principal, since=since, until=until, horizon=horizon)

    def run_now(self) -> dict[str, Any]:
        """See :func:`run_now`."""
        return run_now(self.ws, self.principal)

    def retry_outbox(
        self, outbox_id: int, *, actor: str | None = None, now: dt.datetime | None = None
    ) -> dict[str, Any]:
        """Queue a dead or unknown message again after a person checked it (audited by the outbox under ``actor``,
        the actor's name unless given)."""
        _manager(self.principal)
        if not 1 <= outbox_id <= 2**62:
            raise ValidationError("outbox id: out of range")
        ensure_current(self.ws.engine)
        check_retry(self.ws, self.principal, outbox_id)
        return retry_message(self.ws.engine, outbox_id, actor=actor or self.principal.name, now=now)

    def validate(self, files: Sequence[str | Path]) -> list[dict[str, Any]]:
        """Check playbook files (raises :class:`~kehu.playbooks.PlaybookError` naming file, line and field)."""
        _manager(self.principal)
        loaded = workspace_playbooks(self.ws.settings, files)
        if refused := [Problem(**p) for pb in loaded for p in webhook_targets.playbook_problems(pb, self.ws.settings)]:
            raise PlaybookError(refused)
        return [{"playbook": pb.name, "file": pb.path, "rules": len(pb.rules), "enabled": pb.enabled} for pb in loaded]

    def all(self) -> list[dict[str, Any]]:
        """The workspace's playbooks (``KEHU_PLAYBOOKS_DIR``) and their rules (see :func:`list_playbooks`)."""
        _manager(self.principal)
        return list_playbooks(self.ws.settings)

    def install_defaults(self, *, overwrite: bool = False) -> list[str]:
        """Copy the default playbooks into the workspace (enabled); returns the files written."""
        _manager(self.principal)
        return install_defaults(self.ws.settings, overwrite=overwrite)

    def dry_run(
        self, files: Sequence[str | Path] | None = None, *, now: dt.datetime | None = None, day: dt.date | None = None
    ) -> dict[str, Any]:
        """Per rule: which customers would trigger now, with samples; changes nothing (see :func:`dry_run`)."""
        _manager(self.principal)
        ensure_current(self.ws.engine)
        return dry_run(self.ws.settings, self.ws.engine, files, now=now, day=day)

    def run(
        self,
        files: Sequence[str | Path] | None = None,
        *,
        now: dt.datetime | None = None,
        day: dt.date | None = None,
        trigger: str = "cli",
        channels: Mapping[str, Channel] | None = None,
        act_on_past_day: bool = False,
        announce: Announce | None = None,
        effects: Mapping[str, float] | None = None,
    ) -> dict[str, Any]:
        """Run the playbooks: decide, fit tasks to capacity, record firings and outbox rows, deliver, exactly once
        per occurrence; a ``day`` before the newest data day acts only with ``act_on_past_day`` (see
        :func:`run_playbooks`; ``effects``: the value multiplier per rule ref)."""
        _manager(self.principal)
        ensure_current(self.ws.engine)
        return run_playbooks(
            self.ws.settings, self.ws.engine, files, now=now, day=day, trigger=trigger, channels=channels,
            act_on_past_day=act_on_past_day, announce=announce, effects=effects,
            scope=run_scope(self.ws, self.principal),
        )  # fmt: skip

    def deliver(
        self, *, now: dt.datetime | None = None, channels: Mapping[str, Channel] | None = None
    ) -> dict[str, Any]:
        """Deliver what is due in the outbox (messages waiting for quiet hours to end, retries)."""
        _manager(self.principal)
        ensure_current(self.ws.engine)
        return deliver_outbox(self.ws.settings, self.ws.engine, now=now, channels=channels)

    def outbox(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Outbox rows, newest first, optionally of one status."""
        _manager(self.principal)
        ensure_current(self.ws.engine)
        return list_outbox(self.ws.engine, status=status, limit=limit)
