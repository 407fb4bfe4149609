"""The closing-the-loop configuration: one YAML file with a ``tickets`` and a ``loyalty`` section.

Read from ``KEHU_LOOP_CONFIG`` or, when that is unset, ``KEHU_HOME/loop.yaml`` if it exists; every part left out
keeps its default (see docs/configuration.md).
"""

from __future__ import annotations

from typing import Any

import yaml

from kehu import user_yaml
from kehu.config import Settings
from kehu.errors import ConfigError
from kehu.tickets.policy import TicketPolicy

__all__ = ["load_loop_config", "ticket_policy"]


def load_loop_config(settings: Settings) -> dict[str, Any]:
    """The parsed file (``{}`` when there is none)."""
    path = settings.loop_config or settings.home / "loop.yaml"
    if not path.exists():
        if settings.loop_config is not None:
            raise ConfigError(f"KEHU_LOOP_CONFIG: no such file {path}")
        return {}
    try:
        data = user_yaml.load(path.read_text(encoding="utf-8"), limits=user_yaml.FILE_LIMITS, where=str(path)) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with tickets: and loyalty: sections")
    unknown = set(data) - {"tickets", "loyalty"}
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {', '.join(sorted(unknown))} (use tickets, loyalty)")
    return data


def ticket_policy(settings: Settings) -> TicketPolicy:
    """SLA targets, assignment rules and follow-up delay: the ``tickets`` section (defaults for what it leaves out)."""
    return TicketPolicy.from_config(load_loop_config(settings).get("tickets"))
