"""Imports and runs take turns on one store (SQLite and PostgreSQL): the second waits and is told whom it waits
for, or gives up with a clear error after KEHU_STORE_WAIT_SECONDS; store failures become errors of the tree."""

from __future__ import annotations

import csv
import errno
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from kehu import i18n
from kehu.errors import StoreBusyError, StoreError, StoreFullError
from kehu.service.workspace import Workspace
from kehu.store.failures import translate_store_error
from kehu.store.schema import import_runs, orders
from kehu.store.turns import Holder, store_turn, waiting_params

HEADERS = ["订单编号", "客户编号", "下单时间", "订单金额"]


def _orders(path: Path, prefix: str, n: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADERS)
        w.writerows([f"{prefix}{i}", f"C{i % 13}", "2024-03-01", "10"] for i in range(n))
    return path


def _count(ws: Workspace, table: sa.Table) -> int:
    with ws.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_two_imports_at_once_take_turns(workspace: Workspace, tmp_path: Path) -> None:
    first, second = _orders(tmp_path / "a.csv", "A", 300), _orders(tmp_path / "b.csv", "B", 200)
    cfg = workspace.settings.model_copy(update={"import_chunk_rows": 100})
    inside, go_on = threading.Event(), threading.Event()
    waited: list[Holder] = []
    results: dict[str, object] = {}

    def slow_progress(rows: int) -> None:  # the first import holds its transaction open until told to go on
        inside.set()
        assert go_on.wait(30)

    def run(name: str, path: Path, **kwargs: object) -> None:
        from kehu.ingest.importer import import_file

        try:
            results[name] = import_file(workspace.engine, cfg, "orders", path, **kwargs)  # type: ignore[arg-type]
        except BaseException as exc:
            results[name] = exc

    a = threading.Thread(target=run, args=("a", first), kwargs={"progress": slow_progress})
    a.start()
    assert inside.wait(30)
    b = threading.Thread(target=run, args=("b", second), kwargs={"on_wait": waited.append})
    b.start()
    deadline = time.monotonic() + 30
    while not waited and time.monotonic() < deadline:
        time.sleep(0.05)
    assert waited and waited[0]["what"] == "import" and waited[0]["pid"] == os.getpid()
    assert "b" not in results  # the second waits for its turn: no "database is locked", no traceback
    go_on.set()
    a.join(60)
    b.join(60)
    assert getattr(results["a"], "inserted", None) == 300 and getattr(results["b"], "inserted", None) == 200
    assert _count(workspace, orders) == 500 and _count(workspace, import_runs) == 2
    message = i18n.said("files.waiting", "en", waiting_params(waited[0]))
    assert message.startswith(f"The store is in use by an import (process {os.getpid()}, since ")
    assert "数据库正被另一个导入使用" in i18n.said("files.waiting", "zh-CN", waiting_params(waited[0]))


def test_an_import_that_cannot_get_its_turn_gives_up_clearly(workspace: Workspace, tmp_path: Path) -> None:
    path = _orders(tmp_path / "a.csv", "A", 10)
    cfg = workspace.settings.model_copy(update={"store_wait_seconds": 1})
    from kehu.ingest.importer import import_file

    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store_turn(workspace.engine, "run"):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(30)
    try:
        started = time.monotonic()
        with pytest.raises(StoreBusyError) as caught:
            import_file(workspace.engine, cfg, "orders", path)
        assert 1 <= time.monotonic() - started < 10
    finally:
        release.set()
        holder.join(30)
    assert caught.value.key == "files.busy"
    assert str(caught.value) == (
        "The store is in use by an analytics run and stayed busy for 1 s; nothing was changed. "
        "Try again when it has finished."
    )
    assert i18n.error_text(caught.value, "zh-CN").startswith("数据库正被一次分析运行使用")
    assert _count(workspace, orders) == 0 and _count(workspace, import_runs) == 0
    assert import_file(workspace.engine, cfg, "orders", path).inserted == 10  # its turn is free again


def test_a_turn_is_reentrant_in_its_thread(workspace: Workspace) -> None:
    with store_turn(workspace.engine, "run"), store_turn(workspace.engine, "import", wait_seconds=0):
        pass  # the run's own import does not wait for the run


@pytest.mark.slow
def test_two_kehu_imports_started_together_both_succeed(workspace: Workspace, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "KEHU_HOME": str(workspace.settings.home),
        "KEHU_DATABASE_URL": workspace.settings.resolved_database_url,
        "KEHU_LOCALE": "en",
    }
    # a holder in another process keeps the turn until the release file appears
    release = tmp_path / "release"
    hold = (
        "import sys, time, pathlib; from kehu.config import load_settings; from kehu.service.workspace import "
        "Workspace; from kehu.store.turns import store_turn\n"
        "ws = Workspace(load_settings())\n"
        "with store_turn(ws.engine, 'import'):\n"
        "    print('held', flush=True)\n"
        "    while not pathlib.Path(sys.argv[1]).exists(): time.sleep(0.05)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", hold, str(release)], env=env, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    files = [_orders(tmp_path / f"{p}.csv", p, 2000) for p in ("X", "Y")]
    outputs = [(tmp_path / f"{f.stem}.out").open("w", encoding="utf-8") for f in files]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "kehu.cli", "import", "orders", str(f), "--source", f.stem],
            env=env,
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
        )
        for f, out in zip(files, outputs, strict=True)
    ]
    errs: list[list[str]] = [[], []]

    def read_stderr(i: int) -> None:
        assert procs[i].stderr is not None
        errs[i].extend(procs[i].stderr)

    readers = [threading.Thread(target=read_stderr, args=(i,), daemon=True) for i in range(2)]
    for r in readers:
        r.start()
    deadline = time.monotonic() + 90
    while not all(any("waiting for it to finish" in line for line in e) for e in errs):
        assert time.monotonic() < deadline, errs
        assert all(p.poll() is None for p in procs), errs
        time.sleep(0.1)
    release.touch()  # both wait for the holder, told so; now they go, one after the other
    holder.wait(30)
    assert holder.stdout is not None
    holder.stdout.close()
    for p, r, out in zip(procs, readers, outputs, strict=True):
        p.wait(120)
        r.join(30)
        assert p.stderr is not None
        p.stderr.close()
        out.close()
    for p, f, err_lines in zip(procs, files, errs, strict=True):
        out = (tmp_path / f"{f.stem}.out").read_text(encoding="utf-8")
        err = "".join(err_lines)
        assert p.returncode == 0, err
        assert "Traceback" not in err and "database is locked" not in err
        assert f"The store is in use by an import (process {holder.pid}, since " in err
        assert "inserted 2000" in out
    assert _count(workspace, orders) == 4000 and _count(workspace, import_runs) == 2


def test_store_failures_become_errors_of_the_tree() -> None:
    locked = sa.exc.OperationalError("INSERT …", {}, sqlite3.OperationalError("database is locked"))
    busy = translate_store_error(locked)
    assert isinstance(busy, StoreBusyError) and busy.key == "files.locked"
    assert "this change was not saved; nothing stored was lost" in str(busy)
    assert "本次更改未保存" in i18n.error_text(busy, "zh-CN")
    full = translate_store_error(
        sa.exc.OperationalError("INSERT …", {}, sqlite3.OperationalError("database or disk is full"))
    )
    assert isinstance(full, StoreFullError) and full.key == "files.full" and "database or disk is full" in str(full)
    enospc = translate_store_error(OSError(errno.ENOSPC, "No space left on device"))
    assert isinstance(enospc, StoreFullError) and "磁盘已满" in i18n.error_text(enospc, "zh-CN")
    down = translate_store_error(
        sa.exc.OperationalError("SELECT 1", {}, Exception('connection to server at "db" failed: Connection refused'))
    )
    assert type(down) is StoreError and down.key == "files.unavailable" and "Connection refused" in str(down)
    assert translate_store_error(sa.exc.IntegrityError("INSERT …", {}, Exception("UNIQUE constraint failed"))) is None
    assert translate_store_error(OSError(errno.EACCES, "Permission denied")) is None


def test_a_run_waits_for_an_import_to_finish(workspace: Workspace) -> None:
    held, release = threading.Event(), threading.Event()
    waited: list[Holder] = []
    ended: list[object] = []

    def hold() -> None:
        with store_turn(workspace.engine, "import"):
            held.set()
            release.wait(60)

    def run() -> None:
        try:
            ended.append(workspace.run(on_wait=waited.append))
        except Exception as exc:  # an empty store has nothing to compute: its own error, after its turn came
            ended.append(exc)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(30)
    runner = threading.Thread(target=run)
    runner.start()
    deadline = time.monotonic() + 30
    while not waited and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert waited and waited[0]["what"] == "import" and not ended
    finally:
        release.set()
        holder.join(30)
        runner.join(120)
    assert ended and not isinstance(ended[0], StoreBusyError)
