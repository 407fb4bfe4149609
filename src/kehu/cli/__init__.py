"""The ``kehu`` command line: one command, one Workspace call.

One module per command group; this module builds :data:`app` from them, in the order ``kehu --help`` lists them.
Errors are translated once, in :func:`main`: a :class:`~kehu.errors.KehuError` prints its message (in the language of
``KEHU_LOCALE`` where the catalog has it) and exits 2.
"""

from __future__ import annotations

import sys

import typer

from kehu import i18n
from kehu.cli import (
    campaigns,
    customers,
    demo,
    imports,
    init,
    kpis,
    loyalty,
    models,
    notify,
    playbooks,
    reports,
    run,
    segments,
    serve,
    tickets,
    users,
)
from kehu.config import load_settings
from kehu.errors import KehuError

__all__ = ["app", "main"]

app = typer.Typer(
    name="kehu",
    help="Kehu (客户): customer value management.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(init.init)
app.command("import")(imports.import_)
app.command()(serve.serve)
app.command()(run.run)
app.command()(kpis.kpis)
app.command()(kpis.feedback)
app.command()(demo.demo)
app.add_typer(customers.app, name="customers")
app.add_typer(users.app, name="users")
app.add_typer(segments.app, name="segments")
app.add_typer(reports.app, name="report")
app.add_typer(models.app, name="models")
app.add_typer(campaigns.app, name="campaigns")
app.add_typer(tickets.app, name="tickets")
app.add_typer(loyalty.app, name="loyalty")
app.add_typer(playbooks.playbooks_app, name="playbooks")
app.add_typer(playbooks.tasks_app, name="tasks")
app.add_typer(notify.app, name="notify")


def main() -> None:
    """Entry point: run the app and translate Kehu errors into a message and exit code 2."""
    try:
        app()
    except KehuError as exc:
        typer.echo(f"error: {_message(exc)}", err=True)
        sys.exit(2)


def _message(exc: KehuError) -> str:
    """The error in the language of ``KEHU_LOCALE`` (the English text when the settings cannot be read)."""
    try:
        locale = load_settings().locale
    except (KehuError, ValueError):
        return str(exc)
    return i18n.error_text(exc, locale)
