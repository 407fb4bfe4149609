"""Documentation keeps up: every command and every setting is documented."""

from __future__ import annotations

from pathlib import Path

import typer.main

from kehu.cli import app
from kehu.config import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _commands(group: object, prefix: str = "kehu") -> list[str]:
    out = []
    for name, cmd in getattr(group, "commands", {}).items():
        full = f"{prefix} {name}"
        out += _commands(cmd, full) if getattr(cmd, "commands", None) else [full]
    return out


def test_every_command_is_documented() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    commands = _commands(typer.main.get_command(app))
    assert len(commands) >= 8
    missing = [c for c in commands if f"`{c}" not in text]
    assert not missing, f"commands missing from docs/cli.md: {missing}"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing = [f"KEHU_{name.upper()}" for name in Settings.model_fields if f"KEHU_{name.upper()}" not in text]
    assert not missing, f"settings missing from docs/configuration.md: {missing}"
