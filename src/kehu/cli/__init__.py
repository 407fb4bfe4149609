"""The ``kehu`` command line: one command, one Workspace call.

One module per command group; this module builds :data:`app` from them, in the order ``kehu --help`` lists them.
Errors are translated once, in :func:`main`: a :class:`~kehu.errors.KehuError` prints its message (in
``KEHU_LOCALE`` when it has a catalog key) and exits 2; so does a store or disk failure
(:func:`kehu.store.failures.translate_store_error`).
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
    from kehu.cli._common import cli_locale

    try:
        app()
    except KehuError as exc:
        typer.echo(f"error: {i18n.error_text(exc, cli_locale())}", err=True)
        sys.exit(2)
    except Exception as exc:  # a store or disk failure: said for people, never a traceback
        from kehu.store.failures import translate_store_error

        translated = translate_store_error(exc) if "sqlalchemy" in sys.modules or isinstance(exc, OSError) else None
        if translated is None:
            raise
        typer.echo(f"error: {i18n.error_text(translated, cli_locale())}", err=True)
        sys.exit(2)
