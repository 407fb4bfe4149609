"""What works (策略效果): each playbook rule's treated customers against its holdout, for the front ends.

The figures are :func:`kehu.playbooks.effects.rule_effects`'s (definitions there and in docs/playbooks.md); this
adds each rule's title and holdout share from the workspace's playbooks, the currency and the definitions' numbers.
Managers and admins only, like the playbooks themselves.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from kehu.errors import ValidationError
from kehu.playbooks import PlaybookError, load_playbooks
from kehu.playbooks.effects import rule_effects
from kehu.service.access import Principal, require_role
from kehu.service.principal import Workspace
from kehu.store.db import ensure_current

__all__ = ["effects"]


def _rules(ws: Workspace) -> dict[str, dict[str, Any]]:
    """Rule ref -> title (zh, en) and holdout share, of the workspace's playbooks that load."""
    folder = ws.settings.resolved_playbooks_dir
    try:
        playbooks = load_playbooks([folder]) if folder.is_dir() else []
    except PlaybookError:
        return {}
    return {
        f"{pb.name}/{r.id}": {
            "title": {"zh": r.title.pick("zh-CN") if r.title else None, "en": r.title.pick("en") if r.title else None},
            "holdout": r.holdout,
            "enabled": pb.enabled,
        }
        for pb in playbooks
        for r in pb.rules
    }


def effects(
    ws: Workspace,
    principal: Principal,
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    horizon: int | None = None,
) -> dict[str, Any]:
    """Per rule fired between ``since`` and ``until`` (firing days, inclusive): treated vs held out, outcomes over
    ``horizon`` days after the firing (default ``KEHU_PLAYBOOK_EFFECT_DAYS``), uplift with 95% intervals, verdict."""
    require_role(principal, "admin", "manager")
    days = ws.settings.playbook_effect_days if horizon is None else horizon
    if not 1 <= days <= 365:
        raise ValidationError(f"horizon {days} days: must be 1 to 365")
    ensure_current(ws.engine)
    with ws.engine.connect() as conn:
        out = rule_effects(conn, tz=ZoneInfo(ws.settings.timezone), horizon_days=days, since=since, until=until)
    known = _rules(ws)
    for rule in out["rules"]:
        meta = known.get(rule["ref"])
        rule["title"] = meta["title"] if meta else {"zh": None, "en": None}
        rule["holdout"] = meta["holdout"] if meta else None
        rule["in_workspace"] = meta is not None
    out["currency"] = ws.settings.currency
    out["flagged"] = [r["ref"] for r in out["rules"] if r["flagged"]]
    return out
