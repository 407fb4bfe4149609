"""A disk that fills up during an import (simulated from the store layer: the database's own "disk full" error,
or ENOSPC from the quarantine file): the store is unchanged and the user is told clearly, through the facade
and the CLI (the web app's job: tests/web/test_web_crash_safety.py)."""

from __future__ import annotations

import csv
import errno
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from kehu import i18n
from kehu.errors import StoreFullError
from kehu.ingest import importer
from kehu.ingest.quarantine import QuarantineWriter
from kehu.service.workspace import Workspace
from kehu.store.schema import customer_records, customers, import_runs, orders

HEADERS = ["订单编号", "客户编号", "下单时间", "订单金额"]


def _orders(path: Path, n: int, *, bad_every: int = 0) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADERS)
        for i in range(n):
            w.writerow([f"F{i}", f"C{i % 17}", "2024-04-01", "abc" if bad_every and i % bad_every == 0 else "12"])
    return path


def _dump(ws: Workspace) -> dict[str, list[tuple[object, ...]]]:
    with ws.engine.connect() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(select(t).order_by(t.c.id))]
            for t in (orders, customers, customer_records, import_runs)
        }


def _disk_full_error(dialect: str) -> Exception:
    """The error the driver raises when the database's disk is full (SQLite's bulk inserts get it raw)."""
    if dialect == "sqlite":
        return sqlite3.OperationalError("database or disk is full")
    import psycopg

    cause = psycopg.errors.DiskFull('could not extend file "base/16384/16500": No space left on device')
    return sa.exc.OperationalError("INSERT INTO orders …", {}, cause)


def test_the_database_disk_filling_up_midway_changes_nothing(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace.import_file("orders", _orders(tmp_path / "first.csv", 40))
    before = _dump(workspace)
    error = _disk_full_error(workspace.engine.dialect.name)
    real = importer.insert_rows
    inserts = 0

    def insert_rows(conn: Any, table: Any, *args: Any, **kwargs: Any) -> int:
        nonlocal inserts
        if table.name == "orders":
            inserts += 1
            if inserts >= 2:  # the first batch went in; the disk is full at the second
                raise error
        return real(conn, table, *args, **kwargs)

    monkeypatch.setattr(importer, "insert_rows", insert_rows)
    cfg = workspace.settings.model_copy(update={"import_chunk_rows": 100})
    with pytest.raises(StoreFullError) as caught:
        importer.import_file(workspace.engine, cfg, "orders", _orders(tmp_path / "big.csv", 20_000))
    assert inserts >= 2
    assert caught.value.key == "files.full"
    assert str(caught.value).startswith("The disk is full (")
    assert "nothing was imported and the store is unchanged" in str(caught.value)
    assert i18n.error_text(caught.value, "zh-CN").startswith("磁盘已满")
    assert _dump(workspace) == before


def test_the_quarantine_file_filling_the_disk_changes_nothing(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _dump(workspace)
    real_add = QuarantineWriter.add
    calls = 0

    def add(self: QuarantineWriter, *args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls > 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        real_add(self, *args, **kwargs)

    monkeypatch.setattr(QuarantineWriter, "add", add)
    with pytest.raises(StoreFullError, match="No space left on device"):
        workspace.import_file("orders", _orders(tmp_path / "bad.csv", 200, bad_every=10))
    assert _dump(workspace) == before
    assert not list(workspace.settings.quarantine_dir.glob("bad*"))  # the partial quarantine file is removed


def _full_after_first_insert(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importer.insert_rows
    calls = 0

    def insert_rows(*args: Any, **kwargs: Any) -> int:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(importer, "insert_rows", insert_rows)


def test_kehu_import_on_a_full_disk_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kehu.cli import main
    from kehu.config import load_settings

    home = tmp_path / "home"
    Workspace(load_settings(home=home)).init()
    monkeypatch.setenv("KEHU_HOME", str(home))
    monkeypatch.setenv("KEHU_LOCALE", "zh-CN")
    _full_after_first_insert(monkeypatch)
    path = _orders(tmp_path / "o.csv", 50)
    monkeypatch.setattr(sys, "argv", ["kehu", "import", "orders", str(path)])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "error: 磁盘已满（[Errno 28] No space left on device）：未导入任何数据，数据库保持不变" in err
    assert "Traceback" not in err
    ws = Workspace(load_settings(home=home))
    try:
        assert _dump(ws)["orders"] == [] and _dump(ws)["import_runs"] == []
    finally:
        ws.close()
