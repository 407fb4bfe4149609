"""Every table is on the shared metadata as soon as ``kehu.store.schema`` is imported, whatever else is."""

from __future__ import annotations

import json
import subprocess
import sys

import sqlalchemy as sa

from kehu.service.workspace import Workspace


def test_importing_the_schema_registers_every_migrated_table(sqlite_workspace: Workspace) -> None:
    # a fresh interpreter: nothing but the schema module imported
    code = "import json, kehu.store.schema as s; print(json.dumps(sorted(s.metadata.tables)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    declared = set(json.loads(out))
    migrated = set(sa.inspect(sqlite_workspace.engine).get_table_names()) - {"alembic_version"}
    assert declared == migrated
    assert {"customers", "web_sessions", "tasks", "customer_notes", "loyalty_ledger"} <= declared
