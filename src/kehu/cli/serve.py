"""``kehu serve``: the web app and the REST API."""

from __future__ import annotations

from typing import Annotated

import typer

from kehu.cli._common import Home
from kehu.config import load_settings


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    schedule: Annotated[
        bool,
        typer.Option(
            help="Run the daily analytics (KEHU_SCHEDULE_DAILY_AT, 02:00) and deliver the outbox while serving."
        ),
    ] = True,
    home: Home = None,
) -> None:
    """Serve the web app (dashboard, customers, customer 360, imports, users) and the REST API under /api/."""
    from kehu.web.server import serve as serve_app

    settings = load_settings(home=home)
    typer.echo(f"Kehu at http://{host}:{port}/  (Ctrl-C stops)")
    serve_app(settings, host, port, workers=workers, schedule=schedule)
