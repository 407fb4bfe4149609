"""Crash safety of web imports: the server killed during an import job (on restart the job reads as interrupted
with a message and the store is as before; the next import works), and a disk that fills up during a web import
(the job fails with a message, the store unchanged)."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy import func, select
from web_testkit import PASSWORD, WebEnv, csrf_of, form_fields, start_previewed_import

from kehu.ingest import importer
from kehu.store.schema import customer_records, customers, import_runs, orders


def _counts(web: WebEnv) -> dict[str, int]:
    with web.ws.engine.connect() as conn:
        return {
            t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (orders, customers, customer_records, import_runs)
        }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "KEHU_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "kehu.cli", "serve", "--port", str(port), "--no-schedule"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _signed_in(base: str, name: str) -> httpx.Client:
    c = httpx.Client(base_url=base, timeout=60)
    deadline = time.monotonic() + 60
    while True:
        try:
            if c.get("/login").status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.2)
    r = c.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": c.cookies["kehu_login_csrf"]})
    assert r.status_code in (200, 303), r.text[:300]
    return c


@pytest.mark.slow
def test_the_server_killed_during_an_import_job_leaves_the_store_as_it_was(web: WebEnv, tmp_path: Path) -> None:
    before = _counts(web)
    big = tmp_path / "big.csv"
    with big.open("w", encoding="utf-8") as fh:  # half a million orders: the import takes a while
        fh.write("订单编号,客户编号,下单时间,订单金额\n")
        fh.writelines(f"K{i},KC{i % 9000},2024-02-05,{i % 300}.5\n" for i in range(500_000))
    port = _free_port()
    server = _serve(web.home, port)
    try:
        c = _signed_in(f"http://127.0.0.1:{port}", web.accounts["manager"].name)
        token = csrf_of(c.get("/imports").text)
        with big.open("rb") as fh:
            r = c.post(
                "/imports",
                data={"csrf_token": token, "kind": "orders", "source": "killed"},
                files={"file": ("big.csv", fh, "text/csv")},
            )
        assert r.status_code == 200, r.text[:500]
        fields = {**form_fields(r.text, "mapping-form"), "source": "killed"}
        started = c.post("/imports/start", data=fields)
        assert started.status_code == 303, started.text[:500]
        job = started.headers["location"].rsplit("/", 1)[-1]
        deadline = time.monotonic() + 120
        while True:  # kill it once it has written rows inside its transaction
            state = c.get(f"/imports/jobs/{job}.json").json()["job"]
            assert state["state"] in ("running", "queued"), state
            if state["rows_read"] > 0:
                break
            assert time.monotonic() < deadline, state
            time.sleep(0.02)
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(30)
        c.close()
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(30)
    assert _counts(web) == before  # the one transaction was rolled back with the server
    restarted = web.login("manager")  # the app again, over the same home: a restarted server
    shown = restarted.get(f"/imports/jobs/{job}.json", headers={"Accept-Language": "en"}).json()["job"]
    assert shown["state"] == "failed" and shown["error_key"] == "files.interrupted"
    assert shown["error"].startswith("The import was interrupted: the server stopped during the import")
    page = restarted.get(f"/imports/jobs/{job}").text
    assert "已中断：导入期间服务器停止运行；未保存任何数据" in page
    again = restarted.post(
        "/imports",
        data={"csrf_token": csrf_of(restarted.get("/imports").text), "kind": "orders", "source": "after"},
        files={
            "file": ("small.csv", "订单编号,客户编号,下单时间,订单金额\nZ1,KC1,2024-02-06,3\n".encode(), "text/csv")
        },
    )
    done = start_previewed_import(restarted, again.text, source="after")  # the killed one's turn was freed
    assert restarted.get(f"/imports/jobs/{done}.json").json()["job"]["state"] == "done"


def test_a_web_import_on_a_full_disk_fails_with_a_message(web: WebEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _counts(web)
    real = importer.insert_rows
    calls = 0

    def insert_rows(*args: Any, **kwargs: Any) -> int:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(importer, "insert_rows", insert_rows)
    c = web.login("admin")  # orders of new customers: an admin's import (a manager's quarantines them)
    body = "\n".join(["订单编号,客户编号,下单时间,订单金额", *(f"W{i},DF{i % 5},2024-04-02,8" for i in range(30))])
    r = c.post(
        "/imports",
        data={"csrf_token": csrf_of(c.get("/imports").text), "kind": "orders", "source": "full"},
        files={"file": ("满.csv", body.encode(), "text/csv")},
    )
    job = start_previewed_import(c, r.text, source="full")
    state = c.get(f"/imports/jobs/{job}.json", headers={"Accept-Language": "en"}).json()["job"]
    assert state["state"] == "failed" and state["error_key"] == "files.full", state
    assert state["error"].startswith("The disk is full ([Errno 28] No space left on device)")
    page = c.get(f"/imports/jobs/{job}").text  # the manager reads zh-CN
    assert "磁盘已满" in page and "Traceback" not in page
    assert _counts(web) == before
