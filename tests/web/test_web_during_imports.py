"""The web app during an import and a run, on SQLite and PostgreSQL: pages stay readable (never "database is
locked"), a note saved meanwhile is stored or refused with a clear retry message that keeps the typed text, and an
import started while another import or run has the store waits as a queued job."""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from web_testkit import PASSWORD, WebEnv, csrf_of, login_form

from kehu.service import access
from kehu.service.workspace import Workspace
from kehu.store.notes import customer_notes
from kehu.store.schema import customers, orders
from kehu.store.turns import store_turn
from kehu.web.app import create_app

PAGES = ("/", "/customers", "/customers.json", "/imports", "/imports.json", "/segments", "/api/customers")


def _csv(rows: list[list[object]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode()


@dataclass
class _Env:
    ws: Workspace
    client: TestClient
    token: dict[str, str]
    customer: int


def _sign_in(app: Any, name: str) -> TestClient:
    c = TestClient(app)
    login_form(c)
    r = c.post(
        "/login",
        data={"name": name, "password": PASSWORD, "csrf_token": c.cookies["kehu_login_csrf"]},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return c


@pytest.fixture
def env(workspace: Workspace, tmp_path: Path) -> Iterator[_Env]:
    """A small company on each store, an admin signed in to the app over it."""
    access.create_user(workspace, "boss", role="admin", password=PASSWORD, display_name="Boss")
    people = tmp_path / "customers.csv"
    people.write_bytes(_csv([["客户编号", "姓名"], *([f"C{i}", f"客户{i}"] for i in range(40))]))
    workspace.import_file("customers", people)
    first = dt.date(2024, 1, 1)
    buys = [["订单编号", "客户编号", "下单时间", "订单金额"]]
    for i in range(40):
        for k in range(1 + i % 4):
            buys.append([f"O{i}-{k}", f"C{i}", (first + dt.timedelta(days=7 * i + 40 * k)).isoformat(), 50 + i])
    history = tmp_path / "orders.csv"
    history.write_bytes(_csv(buys))
    workspace.import_file("orders", history)
    app = create_app(workspace.settings, workspace=workspace)
    client = _sign_in(app, "boss")
    admin = next(u for u in workspace.system().users.all() if u["name"] == "boss")
    p = access.Principal(admin["id"], "boss", "Boss", "admin", None, None)
    _tid, token = access.create_api_token(workspace, p, "during-imports")
    with workspace.engine.connect() as conn:
        customer = int(conn.execute(select(func.min(customers.c.id))).scalar_one())
    yield _Env(workspace, client, {"Authorization": f"Bearer {token}"}, customer)
    client.close()


def _paused_import(ws: Workspace, path: Path) -> tuple[threading.Thread, threading.Event, threading.Event, list[Any]]:
    """An import started in a thread that stops inside its transaction after its first batch, until told."""
    inside, go_on = threading.Event(), threading.Event()
    done: list[Any] = []
    cfg = ws.settings.model_copy(update={"import_chunk_rows": 500})

    def progress(rows: int) -> None:
        inside.set()
        go_on.wait(60)

    def work() -> None:
        from kehu.ingest.importer import import_file

        try:
            done.append(import_file(ws.engine, cfg, "orders", path, source="busy", progress=progress))
        except BaseException as exc:
            done.append(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    assert inside.wait(60)
    return thread, inside, go_on, done


def _short_busy_timeout(ws: Workspace) -> None:
    """SQLite waits 30 s for a writer; a test waits 1 s (new connections, after the pool is emptied)."""
    if ws.engine.dialect.name != "sqlite":
        return

    @event.listens_for(ws.engine, "connect")
    def _quick(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=1000")

    ws.engine.dispose()


def _notes(ws: Workspace) -> int:
    with ws.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(customer_notes)).scalar_one())


def _reads_fine(c: TestClient, token: dict[str, str], customer: int) -> None:
    for path in (*PAGES, f"/customers/{customer}", f"/customers/{customer}.json"):
        started = time.perf_counter()
        r = c.get(path, headers=token if path.startswith("/api/") else None)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        assert "database is locked" not in r.text and time.perf_counter() - started < 10, path


def test_pages_stay_readable_and_notes_are_kept_during_an_import(env: _Env, tmp_path: Path) -> None:
    big = tmp_path / "more.csv"
    rows = [["订单编号", "客户编号", "下单时间", "订单金额"]]
    rows += [[f"N{i}", f"C{i % 40}", "2024-06-01", "9"] for i in range(3000)]
    big.write_bytes(_csv(rows))
    _short_busy_timeout(env.ws)
    before = _notes(env.ws)
    thread, _inside, go_on, done = _paused_import(env.ws, big)
    try:
        _reads_fine(env.client, env.token, env.customer)
        page = env.client.get(f"/customers/{env.customer}").text
        note = env.client.post(
            f"/customers/{env.customer}/notes",
            data={"csrf_token": csrf_of(page), "body": "回访：客户说下月再订"},
            headers={"Accept-Language": "en"},
            follow_redirects=False,
        )
        if env.ws.engine.dialect.name == "postgresql":
            assert note.status_code == 303  # no lock to wait for: saved at once
        else:  # SQLite has one writer: the note is refused with a retry message, its text kept in the form
            assert note.status_code == 422
            assert "this change was not saved; nothing stored was lost. Try again in a moment." in note.text
            assert "回访：客户说下月再订" in note.text and "Traceback" not in note.text
    finally:
        go_on.set()
        thread.join(60)
    assert getattr(done[0], "inserted", None) == 3000
    saved = _notes(env.ws) - before
    if saved == 0:  # the retry after the import is stored
        page = env.client.get(f"/customers/{env.customer}").text
        again = env.client.post(
            f"/customers/{env.customer}/notes",
            data={"csrf_token": csrf_of(page), "body": "回访：客户说下月再订"},
            follow_redirects=False,
        )
        assert again.status_code == 303
    assert _notes(env.ws) == before + 1


def test_pages_stay_readable_during_a_run(env: _Env) -> None:
    inside, go_on = threading.Event(), threading.Event()
    result: list[Any] = []

    def on_stage(phase: str, step: str, _seconds: float | None) -> None:
        if phase == "start" and step == "segments":  # the run has written scores; its turn is held
            inside.set()
            go_on.wait(120)

    def work() -> None:
        try:
            result.append(env.ws.run(on_stage=on_stage))
        except BaseException as exc:
            result.append(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        assert inside.wait(240), result
        _reads_fine(env.client, env.token, env.customer)
    finally:
        go_on.set()
        thread.join(240)
    assert isinstance(result[0], dict) and result[0]["customers"] == 40, result


def _start_import(c: TestClient, name: str, content: bytes, lang: str = "zh-CN") -> str:
    token = csrf_of(c.get("/imports").text)
    r = c.post(
        "/imports",
        data={"csrf_token": token, "kind": "orders", "source": "late"},
        files={"file": (name, content, "text/csv")},
    )
    assert r.status_code == 200, r.text[:500]
    fields = {"csrf_token": csrf_of(r.text), "kind": "orders", "source": "late"}
    marker = 'name="upload_id" value="'
    start = r.text.index(marker) + len(marker)
    fields["upload_id"] = r.text[start : r.text.index('"', start)]
    started = c.post("/imports/start", data=fields, follow_redirects=False)
    assert started.status_code == 303, started.text[:500]
    return started.headers["location"].rsplit("/", 1)[-1]


def _job(c: TestClient, job: str, lang: str) -> dict[str, Any]:
    state: dict[str, Any] = c.get(f"/imports/jobs/{job}.json", headers={"Accept-Language": lang}).json()["job"]
    return state


def _until(check: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_an_import_started_during_a_run_is_queued_then_done(env: _Env) -> None:
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store_turn(env.ws.engine, "run"):
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert held.wait(30)
    content = _csv([["订单编号", "客户编号", "下单时间", "订单金额"], ["Q1", "C1", "2024-07-01", "5"]])
    try:
        job = _start_import(env.client, "late.csv", content)
        _until(lambda: _job(env.client, job, "en")["state"] == "queued")
        en = _job(env.client, job, "en")
        assert en["queued_message"].startswith("Waiting for an analytics run to finish")
        page = env.client.get(f"/imports/jobs/{job}", headers={"Accept-Language": "zh-CN"}).text
        assert 'id="import-queued"' in page and 'data-state="queued"' in page
    finally:
        release.set()
        holder.join(30)
    _until(lambda: _job(env.client, job, "en")["state"] == "done")
    with env.ws.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(orders).where(orders.c.source == "late")).scalar_one() == 1


def test_the_demo_app_stays_readable_during_an_import(web: WebEnv, tmp_path: Path) -> None:
    """The same on the seeded demo company the other web tests use (SQLite)."""
    big = tmp_path / "more.csv"
    big.write_bytes(
        _csv(
            [
                ["订单编号", "客户编号", "下单时间", "订单金额"],
                *([f"M{i}", f"X{i % 50}", "2024-06-01", "9"] for i in range(3000)),
            ]
        )
    )
    clients = {who: web.login(who) for who in ("admin", "manager", "rep_a")}  # signing in writes: done before
    thread, _inside, go_on, done = _paused_import(web.ws, big)
    try:
        for who, c in clients.items():
            for path in (
                "/",
                "/customers",
                "/imports" if who != "rep_a" else "/tasks",
                f"/customers/{web.owned['rep_a']}",
            ):
                r = c.get(path)
                assert r.status_code in (200, 403), (who, path, r.status_code)
                assert "database is locked" not in r.text
    finally:
        go_on.set()
        thread.join(60)
    assert getattr(done[0], "inserted", None) == 3000
