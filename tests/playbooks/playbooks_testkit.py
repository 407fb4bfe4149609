"""A small store for the playbook tests, written straight into the tables (no pipeline), and local servers.

Customers 1..8 with owners (alice, bob) or none; orders, contracts, feedback and tickets placed relative to
``DAY``; segment runs and score snapshots added by the tests themselves. ``SmtpSink`` is a real SMTP server
(aiosmtpd) and ``HttpSink`` a real HTTP server (``http.server`` in a thread) answering scripted status codes.
"""

from __future__ import annotations

import datetime as dt
import email
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from kehu.store import published, schema
from kehu.store.segments import record_run, save_definition

#: the frozen clock of the tests: 10:00 in Shanghai on DAY (outside the default quiet hours)
DAY = dt.date(2026, 11, 2)
NOW = dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    """Noon (Shanghai) of a day, as UTC."""
    return dt.datetime(day.year, day.month, day.day, hour - 8, tzinfo=dt.UTC)


def days_ago(n: int) -> dt.date:
    return DAY - dt.timedelta(days=n)


def seed(engine: sa.Engine) -> None:
    """Users, customers 1..8 and their activity."""
    users = [
        {"id": 1, "name": "alice", "display_name": "Alice", "role": "rep", "team": "east", "email": "alice@corp.test",
         "locale": "en"},
        {"id": 2, "name": "bob", "display_name": "鲍勃", "role": "manager", "team": "east", "email": "bob@corp.test"},
        {"id": 3, "name": "carol", "display_name": "Carol", "role": "rep", "team": "south", "email": None},
        {"id": 4, "name": "dave", "display_name": "Dave", "role": "rep", "team": "south", "email": None},
    ]  # fmt: skip
    customers = [
        {"id": i, "name": f"客户{i}", "company": f"公司{i}", "phone": f"1380000000{i}",
         "email": f"c{i}@shop.test" if i != 7 else None, "city": "杭州", "owner_id": {1: 1, 2: 1, 3: 2, 4: 2}.get(i),
         "tags": ["老客"] if i == 1 else None, "created_at": T0, "updated_at": T0}
        for i in range(1, 9)
    ]  # fmt: skip
    orders = []
    # last order 30 days ago: 1 (two orders); first order 7 days ago: 5; first order 30 days ago: 6
    for key, cid, day in [
        ("o1", 1, days_ago(120)), ("o2", 1, days_ago(30)), ("o3", 2, days_ago(2)), ("o4", 5, days_ago(7)),
        ("o5", 6, days_ago(30)), ("o6", 3, days_ago(400)), ("o7", 4, days_ago(31)), ("o8", 4, days_ago(45)),
    ]:  # fmt: skip
        orders.append(_origin(key, cid, "order_id") | {
            "ordered_at": at(day), "amount_cents": 10_000, "currency": "CNY", "status": "completed"})  # fmt: skip
    contracts = [
        _origin("K1", 3, "contract_id") | {"start_date": days_ago(340), "end_date": DAY + dt.timedelta(days=25),
                                            "currency": "CNY", "status": "active"},
        _origin("K2", 4, "contract_id") | {"start_date": days_ago(340), "end_date": DAY + dt.timedelta(days=20),
                                            "currency": "CNY", "status": "active"},
        _origin("K3", 4, "contract_id") | {"start_date": DAY + dt.timedelta(days=21),
                                            "end_date": DAY + dt.timedelta(days=386), "currency": "CNY",
                                            "status": "draft", "renewal_of": "K2"},
        _origin("K4", 2, "contract_id") | {"start_date": days_ago(300), "end_date": DAY + dt.timedelta(days=90),
                                            "currency": "CNY", "status": "active"},
    ]  # fmt: skip
    feedback = [
        _origin("F1", 2, "feedback_id") | {"kind": "nps", "score": 4, "responded_at": at(days_ago(1)),
                                            "comment": "送货太慢"},
        _origin("F2", 1, "feedback_id") | {"kind": "nps", "score": 9, "responded_at": at(days_ago(1))},
        _origin("F3", 8, "feedback_id") | {"kind": "nps", "score": 2, "responded_at": at(days_ago(60))},
    ]  # fmt: skip
    tickets = [
        _origin("T1", 3, "ticket_id") | {"opened_at": NOW - dt.timedelta(hours=10), "priority": "high",
                                          "status": "open", "is_complaint": True, "topic": "退款"},
        _origin("T2", 4, "ticket_id") | {"opened_at": NOW - dt.timedelta(hours=5), "priority": "high",
                                          "status": "open", "is_complaint": False},
        _origin("T3", 1, "ticket_id") | {"opened_at": NOW - dt.timedelta(hours=50), "priority": "normal",
                                          "status": "resolved", "resolved_at": NOW, "is_complaint": False},
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(schema.users.insert(), _uniform([u | {"active": True, "created_at": T0} for u in users]))
        for table, rows in ((schema.customers, customers), (schema.orders, orders), (schema.contracts, contracts),
                            (schema.feedback, feedback), (schema.tickets, tickets)):  # fmt: skip
            conn.execute(table.insert(), _uniform(rows))


def _uniform(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = {k for r in rows for k in r}
    return [{k: r.get(k) for k in keys} for r in rows]


def _origin(key: str, cid: int, key_name: str) -> dict[str, Any]:
    return {"source": "t", key_name: key, "customer_id": cid, "row_hash": 0, "created_at": T0, "updated_at": T0}


def segment_run(engine: sa.Engine, scheme: str, as_of: dt.date, members: Mapping[int, str]) -> None:
    """Record a run of ``scheme`` with these memberships (customer -> segment)."""
    with engine.begin() as conn:
        definition_id, _ = save_definition(conn, scheme, scheme, {"scheme": scheme})
        rows = [{"customer_id": c, "segment": s, "values": {}} for c, s in members.items()]
        record_run(conn, scheme=scheme, as_of=as_of, definition_id=definition_id, engine="duckdb", rows=rows,
                   population=8)  # fmt: skip


def scores(engine: sa.Engine, as_of: dt.date, values: Mapping[int, Mapping[str, Any]], **features: Any) -> None:
    """Publish a profile snapshot for ``as_of``: every customer, with these ``scores`` and feature values."""
    with engine.begin() as conn:
        run_id = conn.execute(
            published.pipeline_runs.insert()
            .values(as_of=as_of, engine="duckdb", started_at=NOW, finished_at=NOW, customers=8, seconds=0.0,
                    step_seconds={})
            .returning(published.pipeline_runs.c.id)
        ).scalar_one()  # fmt: skip
        rows = [
            {"customer_id": c, "as_of": as_of, "run_id": run_id, "scores": dict(values.get(c, {})),
             **{k: v.get(c) if isinstance(v, dict) else v for k, v in features.items()}}
            for c in range(1, 9)
        ]  # fmt: skip
        conn.execute(published.customer_score_history.insert(), rows)
        newest = conn.execute(sa.select(sa.func.max(published.customer_scores.c.as_of))).scalar()
        if newest is None or as_of >= newest:
            conn.execute(published.customer_scores.delete())
            conn.execute(published.customer_scores.insert(), rows)


# Ticket targets of the seeded workspaces (loop.yaml): tighter than the defaults, so the seeded tickets are late.
LOOP_SLA = """tickets:
  sla:
    urgent: {first_response: 1, resolution: 4}
    high: {first_response: 2, resolution: 8}
    normal: {first_response: 8, resolution: 24}
    low: {first_response: 24, resolution: 72}
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def count(engine: sa.Engine, table: str, where: str = "") -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table} {where}").scalar_one())


def snapshot(engine: sa.Engine, tables: Sequence[str]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of ``tables`` (for "nothing changed" checks)."""
    out = {}
    with engine.connect() as conn:
        for t in tables:
            out[t] = sorted(tuple(map(str, r)) for r in conn.exec_driver_sql(f"SELECT * FROM {t}"))
    return out


# -- local servers ------------------------------------------------------------------------------------------------
class SmtpSink:
    """A real SMTP server on localhost (aiosmtpd) that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        msg = email.message_from_bytes(envelope.original_content, policy=default_policy)
        self.messages.append(msg)  # type: ignore[arg-type]
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[tuple[SmtpSink, int]]:
    """Start an SMTP server on a free port; yields the sink and the port."""
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


class HttpSink:
    """Requests received by the local HTTP server; ``statuses`` scripts the answers (then 200)."""

    def __init__(self, statuses: Sequence[int] = (), *, block_first: bool = False) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses = list(statuses)
        self.block_first = block_first
        self.first_arrived = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()


@contextmanager
def http_server(sink: HttpSink) -> Iterator[str]:
    """Serve on a free port in a thread; yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length).decode("utf-8"))
            with sink.lock:
                sink.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                first = len(sink.requests) == 1
                status = sink.statuses.pop(0) if sink.statuses else 200
            if first and sink.block_first:
                sink.first_arrived.set()
                sink.release.wait(30)
            payload = json.dumps({"errcode": 0, "errmsg": "ok"} if status == 200 else {"error": "boom"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        sink.release.set()
        server.shutdown()
        server.server_close()


#: one rule whose trigger does not depend on the run's day (the NPS 4 of customer 2, one day before DAY)
DATE_FREE_RULES = """
playbook: nps
rules:
  - id: detractor
    holdout: 0  # every detractor gets the task: the tests count them
    when: {feedback: {kind: nps, max_score: 6, within_days: 400}}
    then: [{task: {title: "call {name}"}}]
"""
