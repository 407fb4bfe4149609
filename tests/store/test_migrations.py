"""The Alembic migrations build exactly the tables the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from kehu.service.workspace import Workspace
from kehu.store.db import current_revision, ensure_current, head_revision
from kehu.store.schema import metadata


def test_migrated_store_matches_the_declared_tables(workspace: Workspace) -> None:
    assert current_revision(workspace.engine) == head_revision()
    ensure_current(workspace.engine)
    with workspace.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], f"the models and the migrations differ; add a migration: {diff}"
    assert set(metadata.tables) >= {"customers", "orders", "customer_scores", "segment_memberships", "api_tokens"}


def test_init_is_repeatable(workspace: Workspace) -> None:
    assert workspace.init() == head_revision()  # upgrading a current store is a no-op
