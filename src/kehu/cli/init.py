"""``kehu init``: create the workspace and its app store."""

from __future__ import annotations

import typer

from kehu.cli._common import Home, open_workspace


def init(home: Home = None) -> None:
    """Create the workspace and create or upgrade the app store (Alembic migrations)."""
    with open_workspace(home) as ws:
        rev = ws.init()
        typer.echo(f"store ready at {ws.settings.resolved_database_url} (revision {rev})")
