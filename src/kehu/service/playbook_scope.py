"""What a manager may do with playbooks and the outbox (issue 23); admins and the command line may do all of it.

- **Runs.** A run a manager starts acts only on their team's customers and gives customers and tasks only to
  their team's people (:func:`run_scope`, applied by :func:`kehu.playbooks.planner.plan`).
- **Edits.** A manager edits only their team's playbooks (``team: <their team>``); one that acts on every team
  (no ``team``) or on another team is an admin's or that team's (:func:`check_editable`). The text they save must
  keep ``team: <their team>`` and may name as people (owner assignment, task assignee or fallback) only users of
  their team, and round-robins only over their team (:func:`edit_problems`), so a team's playbook run by the
  scheduler still acts within the team.
- **The outbox.** A manager sees and retries only messages of their team's customers (:func:`visible_rows`,
  :func:`check_retry`); a message of no customer (a webhook, a digest) is an admin's.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from kehu import i18n
from kehu.errors import NotFoundError
from kehu.playbooks import Playbook, PlaybookError, load_playbook
from kehu.playbooks.model import OwnerAction, People, TaskAction
from kehu.service.access import owner_scope
from kehu.service.principal import Principal, Workspace
from kehu.service.scope import denied, say, visible
from kehu.store.actions import outbox
from kehu.store.schema import users

__all__ = ["check_editable", "check_retry", "edit_problems", "run_scope", "visible_rows"]

_WHERE = re.compile(r":(\d+) \((.*)\)$")


def _team(ws: Workspace, principal: Principal) -> str:
    if not principal.team:
        raise denied(ws, principal, "no_team")
    return principal.team


def run_scope(ws: Workspace, principal: Principal) -> list[int] | None:
    """The owner ids a run started by ``principal`` may act on (``None``: every customer, for an admin)."""
    if principal.role == "admin":
        return None
    _team(ws, principal)
    return owner_scope(ws, principal)


def _load(name: str, text: str) -> Playbook | None:
    with tempfile.TemporaryDirectory(prefix="kehu-scope-") as tmp:
        path = Path(tmp) / name
        path.write_text(text, encoding="utf-8")
        try:
            return load_playbook(path)
        except PlaybookError:
            return None


def check_editable(ws: Workspace, principal: Principal, f: Path) -> None:
    """Raise :class:`AccessDeniedError` unless the principal may change playbook file ``f`` (see the module)."""
    if principal.role == "admin":
        return
    team = _team(ws, principal)
    current = _load(f.name, f.read_text(encoding="utf-8", errors="replace"))
    if current is None:  # a broken file: who may repair it is not known from it
        raise denied(ws, principal, "playbook_company", name=f.stem, team=team)
    if current.team is None:
        raise denied(ws, principal, "playbook_company", name=current.name, team=team)
    if current.team != team:
        raise denied(ws, principal, "playbook_other_team", name=current.name, other=current.team)


def edit_problems(ws: Workspace, principal: Principal, f: Path, text: str) -> list[dict[str, Any]]:
    """What keeps a manager from saving ``text`` (valid YAML of a playbook) as ``f``: problems by line and field,
    in the same form as the checker's; none for an admin."""
    if principal.role == "admin":
        return []
    team = _team(ws, principal)
    pb = _load(f.name, text)
    if pb is None:
        return []  # the checker reports what is wrong with it
    problems: list[dict[str, Any]] = []

    def problem(line: int, field: str, key: str, **values: object) -> None:
        texts = {loc: i18n.text(f"scope.{key}", loc).format(**values) for loc in ("zh-CN", "en")}
        problems.append({"file": f.name, "line": line, "field": field, "message": say(ws, principal, key, **values),
                         "texts": texts})  # fmt: skip

    if pb.team != team:
        problem(int(pb.source.get("_line") or 1), "team", "playbook_team", team=team)
    with ws.engine.connect() as conn:
        members = {str(n) for n in conn.execute(sa.select(users.c.name).where(users.c.team == team)).scalars()}
    for rule in pb.rules:
        for action in rule.then:
            people: list[People] = []
            if isinstance(action, OwnerAction):
                people = [action.assign]
            elif isinstance(action, TaskAction):
                people = [action.assignee, *([action.fallback] if action.fallback else [])]
            line, field = _line_field(action.where)
            for who in people:
                if who.kind == "user" and who.user not in members:
                    problem(line, field, "playbook_person", where=field, person=who.user, team=team)
                elif who.kind == "round_robin" and who.team != team:
                    problem(line, field, "playbook_round_robin", where=field, team=team)
    return problems


def _line_field(where: str) -> tuple[int, str]:
    m = _WHERE.search(where)
    return (int(m.group(1)), m.group(2)) if m else (0, "")


def check_retry(ws: Workspace, principal: Principal, outbox_id: int) -> None:
    """Raise unless the principal may retry outbox row ``outbox_id`` (a manager: only their team's customers')."""
    if principal.role == "admin":
        return
    with ws.engine.connect() as conn:
        row = conn.execute(sa.select(outbox.c.id, outbox.c.customer_id).where(outbox.c.id == outbox_id)).first()
    if row is None:
        raise NotFoundError(f"no outbox row {outbox_id}")
    if row.customer_id is None:
        raise denied(ws, principal, "outbox_customerless", id=outbox_id)
    if int(row.customer_id) not in visible(ws, principal, [int(row.customer_id)]):
        raise denied(ws, principal, "outbox_outside", id=outbox_id)


def visible_rows(ws: Workspace, principal: Principal, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The outbox rows of customers the principal may see (all for an admin; none of no customer otherwise)."""
    if principal.role == "admin":
        return rows
    seen = visible(ws, principal, [int(r["customer_id"]) for r in rows if r.get("customer_id") is not None])
    return [r for r in rows if r.get("customer_id") is not None and int(r["customer_id"]) in seen]
