"""Documentation keeps up: every command and every setting is documented, and every command the docs quote exists."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

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


_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
_SPAN = re.compile(r"(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)
_QUOTED_KEHU = re.compile(r"(?<![^\s(])(?:\S*bin/)?kehu(?= |$)(?=(.*))", re.M)  # kehu, .venv/bin/kehu
_SEPARATOR = re.compile(r"&&|\|\||;|(?<!\\)\|(?= )| #")


def _quoted(text: str) -> list[str]:
    """Code blocks and code spans of a Markdown text (spans outside the blocks)."""
    blocks = _FENCE.findall(text)
    rest = _FENCE.sub("", text)
    return blocks + [m.group(2) for m in _SPAN.finditer(rest)]


def _invocations(code: str) -> list[str]:
    """Each ``kehu …`` in a piece of code, up to the end of its line or shell command."""
    return [("kehu" + _SEPARATOR.split(m.group(1))[0]).strip() for m in _QUOTED_KEHU.finditer(code)]


def _problem(invocation: str, root: Any) -> str | None:
    """What is wrong with a quoted ``kehu …``: a command that does not exist or an option it does not have."""
    cmd, path = root, ["kehu"]
    words = invocation.split()[1:]
    while hasattr(cmd, "commands") and words and re.fullmatch(r"[a-z][a-z0-9-]*([/|][a-z][a-z0-9-]*)*\W?", words[0]):
        # a group (Typer's own click: no isinstance check); `kehu tasks list|done` names two commands
        names = re.split(r"[/|]", re.sub(r"\W$", "", words[0]))
        missing = [name for name in names if name not in cmd.commands]
        if missing:
            return f"{' '.join(path)} has no command {missing[0]!r}"
        if len(names) > 1:
            return None
        cmd, path, words = cmd.commands[names[0]], [*path, names[0]], words[1:]
    known = {opt for p in cmd.params for opt in (*p.opts, *p.secondary_opts)} | {"--help"}
    for word in words:
        for option in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", word):
            if option not in known:
                return f"{' '.join(path)} has no option {option}"
    return None


def _docs() -> list[Path]:
    return [*sorted(DOCS.glob("*.md")), DOCS.parent / "README.md"]


def test_quoted_commands_are_found_in_the_docs() -> None:
    quoted = [i for f in _docs() for code in _quoted(f.read_text(encoding="utf-8")) for i in _invocations(code)]
    assert len(quoted) > 100
    assert "kehu models train [--horizon 90] [--short 30]" in "\n".join(quoted)
    assert _invocations("$ kehu run --as-of 2024-03-31 && .venv/bin/kehu kpis --json | jq . # see ~/.kehu/x") == [
        "kehu run --as-of 2024-03-31",
        "kehu kpis --json",
    ]


def test_the_check_of_quoted_commands_finds_wrong_ones() -> None:
    root = typer.main.get_command(app)
    assert _problem("kehu models train --horizon 90 --seasonal-calibration/--no-seasonal-calibration", root) is None
    assert _problem("kehu playbooks dry-run FILE... [--today DATE]", root) is None
    assert _problem("kehu churn score", root) == "kehu has no command 'churn'"
    assert _problem("kehu models score", root) == "kehu models has no command 'score'"
    assert _problem("kehu run --today 2024-01-01", root) == "kehu run has no option --today"
    assert _problem("kehu tasks list|done", root) is None
    assert _problem("kehu segments list/show/trends", root) == "kehu segments has no command 'trends'"


def test_every_quoted_command_exists() -> None:
    """Every ``kehu …`` quoted in docs/*.md and README.md names a real command (or group) and its real options."""
    root = typer.main.get_command(app)
    problems = [
        f"{f.name}: `{i}`: {problem}"
        for f in _docs()
        for code in _quoted(f.read_text(encoding="utf-8"))
        for i in _invocations(code)
        if (problem := _problem(i, root))
    ]
    assert not problems, "\n".join(problems)
