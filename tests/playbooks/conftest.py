"""Fixtures of the playbook tests: a seeded workspace on each store, and workspaces with other settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playbooks_testkit import LOOP_SLA, seed

from kehu.config import load_settings
from kehu.service.workspace import Workspace


@pytest.fixture
def pb_ws(workspace: Workspace) -> Workspace:
    """An initialised workspace (SQLite and PostgreSQL) with the testkit's users, customers and activity."""
    seed(workspace.engine)
    (workspace.settings.home / "loop.yaml").write_text(LOOP_SLA, encoding="utf-8")
    return workspace


@pytest.fixture
def sqlite_ws(sqlite_workspace: Workspace) -> Workspace:
    """The same on SQLite only."""
    seed(sqlite_workspace.engine)
    (sqlite_workspace.settings.home / "loop.yaml").write_text(LOOP_SLA, encoding="utf-8")
    return sqlite_workspace


@pytest.fixture
def with_settings() -> Iterator[Callable[..., Workspace]]:
    """``with_settings(ws, **overrides)``: another Workspace on ``ws``'s store with changed settings."""
    opened: list[Workspace] = []

    def make(ws: Workspace, **overrides: Any) -> Workspace:
        s = ws.settings
        other = Workspace(load_settings(home=Path(s.home), database_url=s.resolved_database_url, **overrides))
        opened.append(other)
        return other

    yield make
    for w in opened:
        w.close()
