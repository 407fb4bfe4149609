"""What every command shares: the ``--home`` and ``--json`` options, the workspace opener, dates and JSON output."""

from __future__ import annotations

import datetime as dt
import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kehu.config import load_settings
from kehu.jsonable import dumps

if TYPE_CHECKING:
    from kehu.service.workspace import Workspace

Home = Annotated[Path | None, typer.Option("--home", help="Workspace folder (default: $KEHU_HOME or ./.kehu).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]
Actor = Annotated[str | None, typer.Option("--as", help="Who does this, for the audit log (default: $USER).")]


def open_workspace(home: Path | None) -> Workspace:
    """The workspace in ``home`` (else ``$KEHU_HOME``, else ``./.kehu``); use it in a ``with`` block."""
    from kehu.service.workspace import Workspace

    return Workspace(load_settings(home=home))


def cli_locale() -> str:
    """The language of the command line's messages (``KEHU_LOCALE``; zh-CN when the settings cannot be read)."""
    try:
        return load_settings().locale
    except Exception:  # a broken setting is reported by the command itself
        return "zh-CN"


def tell_waiting(holder: dict[str, Any]) -> None:
    """Say on stderr that the command waits for another import or run to finish (:mod:`kehu.store.turns`)."""
    from kehu import i18n
    from kehu.store.turns import waiting_params

    typer.echo(i18n.said("files.waiting", cli_locale(), waiting_params(holder)), err=True)


def print_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON (see :mod:`kehu.jsonable`)."""
    typer.echo(dumps(obj, indent=2))


def parse_date(text: str, option: str = "--as-of") -> dt.date:
    """The day ``text`` (YYYY-MM-DD); a bad date is a usage error of ``option``."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)", param_hint=option) from None


def parse_time(text: str | None, option: str) -> dt.datetime | None:
    """The instant ``text`` (YYYY-MM-DD[THH:MM]; without an offset in ``KEHU_TIMEZONE``), or ``None``."""
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date or time (YYYY-MM-DD[THH:MM])", param_hint=option) from None
    if value.tzinfo is None:
        from zoneinfo import ZoneInfo

        value = value.replace(tzinfo=ZoneInfo(load_settings().timezone))
    return value


def actor_name(name: str | None) -> str:
    """Who acts, for the audit log: ``--as NAME``, else ``cli:`` and the login name."""
    if name:
        return name
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"
