"""Exactly once: `kehu run` twice, a process killed right after deciding, and one killed while sending."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from playbooks_testkit import DAY, HttpSink, count, http_server, smtp_server, write

from kehu.service.workspace import Workspace

RULES = """
playbook: once
quiet_hours: null
rules:
  - id: dormant
    when: {days_since_last_order: {days: 30, catch_up_days: 7}}
    then:
      - task: {title: "call {name}", assignee: owner, fallback: {user: carol}}
      - message: {channel: webhook, webhook: crm, format: wecom, body: "{name} dormant {days} days"}
  - id: detractor
    when: {feedback: {kind: nps, max_score: 6}}
    then:
      - coupon: {amount: 20, expires_in_days: 30}
      - message: {channel: email, to: customer, subject: "{name}", body: "coupon {coupon_code}"}
      - task: {title: "NPS {feedback_score}: call {name}", due_in_days: 2, priority: urgent}
"""


def _env(ws: Workspace, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEHU_")}
    env.update(
        KEHU_HOME=str(ws.settings.home), KEHU_DATABASE_URL=ws.settings.resolved_database_url, KEHU_QUIET_HOURS=""
    )
    env.update(extra)
    return env


def _kehu(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kehu.cli", *args], env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


def _no_duplicates(ws: Workspace) -> None:
    with ws.engine.connect() as conn:
        keys = conn.exec_driver_sql("SELECT playbook, rule, customer_id, occurrence FROM playbook_firings").all()
        task_firings = conn.exec_driver_sql("SELECT firing_id FROM tasks").scalars().all()
        outbox_keys = conn.exec_driver_sql("SELECT idempotency_key FROM outbox").scalars().all()
        codes = conn.exec_driver_sql("SELECT firing_id FROM coupons").scalars().all()
    assert len(keys) == len(set(keys))
    assert len(task_firings) == len(set(task_firings))
    assert len(outbox_keys) == len(set(outbox_keys))
    assert len(codes) == len(set(codes))


@pytest.mark.slow
def test_kehu_run_twice_acts_once(pb_ws: Workspace) -> None:
    write(pb_ws.settings.resolved_playbooks_dir, "once.yaml", RULES)
    sink = HttpSink()
    with smtp_server() as (smtp, port), http_server(sink) as url:
        env = _env(pb_ws, KEHU_SMTP_HOST="127.0.0.1", KEHU_SMTP_PORT=str(port), KEHU_SMTP_FROM="k@corp.test",
                   KEHU_WEBHOOKS=json.dumps({"crm": url}), KEHU_WEBHOOK_ALLOW="127.0.0.1")  # fmt: skip
        runs = [_kehu(env, "run", "--as-of", DAY.isoformat(), "--json") for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr
    first, second = (json.loads(r.stdout)["playbooks"] for r in runs)
    fired = {r["rule"]: r["fired"] for r in first["rules"]}
    assert fired == {"once/dormant": 3, "once/detractor": 1}
    assert sum(r["fired"] for r in second["rules"]) == 0
    assert {r["rule"]: r["skipped"] for r in second["rules"]} == {
        "once/dormant": {"already_fired": 3}, "once/detractor": {"already_fired": 1}
    }  # fmt: skip
    assert count(pb_ws.engine, "tasks") == 3 and count(pb_ws.engine, "coupons") == 1
    assert len(sink.requests) == 3 and len(smtp.messages) == 1
    assert sorted(r["body"]["text"]["content"] for r in sink.requests) == [
        "客户1 dormant 30 days", "客户4 dormant 31 days", "客户6 dormant 30 days"
    ]  # fmt: skip
    with pb_ws.engine.connect() as conn:
        code = conn.exec_driver_sql("SELECT code FROM coupons").scalar_one()
        assignees = dict(conn.exec_driver_sql(
            "SELECT t.customer_id, u.name FROM tasks t JOIN users u ON u.id = t.assignee_id WHERE t.rule = 'dormant'"
        ).all())  # fmt: skip
        waiting = conn.exec_driver_sql("SELECT customer_id, assignee_id FROM backlog WHERE rule = 'dormant'").all()
    assert smtp.messages[0].get_content().strip() == f"coupon {code}"
    # owners; 6 has none and the fallback (a rep) may not see them: the task waits for a manager (issue 23)
    assert assignees == {1: "alice", 4: "bob"} and [tuple(w) for w in waiting] == [(6, None)]
    _no_duplicates(pb_ws)


CRASH_AFTER_DECIDING = """
import datetime as dt, os, signal, sys
from kehu.config import load_settings
from kehu.playbooks import commit_plan, plan
from kehu.service.playbooks import _clock, ticket_sla_hours, workspace_playbooks
from kehu.service.workspace import Workspace

ws = Workspace(load_settings())
clock = _clock(ws.settings, None, dt.date.fromisoformat(sys.argv[1]))
with ws.engine.connect() as conn:
    p = plan(conn, workspace_playbooks(ws.settings), clock, ws.settings, sla_hours=ticket_sla_hours(ws.settings))
commit_plan(ws.engine, p, run_id=None, now=clock.now)
os.kill(os.getpid(), signal.SIGKILL)  # the process dies between deciding and acting
"""


def test_a_process_killed_after_deciding_resumes_without_duplicates(pb_ws: Workspace, tmp_path: Path) -> None:
    write(pb_ws.settings.resolved_playbooks_dir, "once.yaml", RULES)
    script = write(tmp_path, "crash.py", textwrap.dedent(CRASH_AFTER_DECIDING))
    sink = HttpSink()
    with smtp_server() as (smtp, port), http_server(sink) as url:
        env = _env(pb_ws, KEHU_SMTP_HOST="127.0.0.1", KEHU_SMTP_PORT=str(port), KEHU_SMTP_FROM="k@corp.test",
                   KEHU_WEBHOOKS=json.dumps({"crm": url}), KEHU_WEBHOOK_ALLOW="127.0.0.1")  # fmt: skip
        crashed = subprocess.run([sys.executable, str(script), DAY.isoformat()], env=env, capture_output=True,
                                 text=True, timeout=120)  # fmt: skip
        assert crashed.returncode == -signal.SIGKILL, crashed.stderr
        pb_ws.close()
        assert count(pb_ws.engine, "playbook_firings") == 4  # decided ...
        assert count(pb_ws.engine, "tasks") == 0 and not sink.requests  # ... but nothing done
        assert count(pb_ws.engine, "outbox", "WHERE status = 'pending'") == 3 * 2 + 0 + 3  # 2 per dormant, 3 for NPS
        resumed = _kehu(env, "playbooks", "run", "--today", DAY.isoformat(), "--json")
        assert resumed.returncode == 0, resumed.stderr
        again = _kehu(env, "playbooks", "run", "--today", DAY.isoformat(), "--json")
    out = json.loads(resumed.stdout)
    assert sum(r["fired"] for r in out["rules"]) == 0  # nothing decided twice
    assert out["delivery"]["applied"] == {"task": 4, "coupon": 1} and out["delivery"]["sent"] == 4
    assert json.loads(again.stdout)["delivery"]["sent"] == 0
    assert count(pb_ws.engine, "tasks") == 4 and count(pb_ws.engine, "coupons") == 1
    assert len(sink.requests) == 3 and len(smtp.messages) == 1
    _no_duplicates(pb_ws)


def test_a_process_killed_while_sending_never_sends_twice(pb_ws: Workspace) -> None:
    write(pb_ws.settings.resolved_playbooks_dir, "once.yaml", RULES)
    sink = HttpSink(block_first=True)  # the first webhook request hangs until the process is killed
    with smtp_server() as (smtp, port), http_server(sink) as url:
        env = _env(pb_ws, KEHU_SMTP_HOST="127.0.0.1", KEHU_SMTP_PORT=str(port), KEHU_SMTP_FROM="k@corp.test",
                   KEHU_WEBHOOKS=json.dumps({"crm": url}), KEHU_WEBHOOK_ALLOW="127.0.0.1")  # fmt: skip
        with subprocess.Popen(
            [sys.executable, "-m", "kehu.cli", "playbooks", "run", "--today", DAY.isoformat()],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        ) as proc:  # fmt: skip
            assert sink.first_arrived.wait(120), "the run never reached the webhook"
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        sink.release.set()
        pb_ws.close()
        assert count(pb_ws.engine, "outbox", "WHERE status = 'sending'") == 1
        resumed = _kehu(env, "playbooks", "run", "--today", DAY.isoformat(), "--json")  # lease still held
        assert resumed.returncode == 0, resumed.stderr
        assert count(pb_ws.engine, "outbox", "WHERE status = 'sending'") == 1
        later = pb_ws.system().playbooks.deliver(now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10))
    assert later["unknown"] == 1  # the lease expired: outcome unknown, listed, not re-sent
    assert count(pb_ws.engine, "tasks") == 3 and count(pb_ws.engine, "coupons") == 1
    keys = Counter(r["headers"]["Idempotency-Key"] for r in sink.requests)
    assert len(keys) == 3 and set(keys.values()) == {1}  # every dormant message reached the robot exactly once
    assert len(smtp.messages) == 1
    unknown = pb_ws.system().playbooks.outbox(status="unknown")
    assert len(unknown) == 1 and "outcome unknown" in unknown[0]["last_error"]
    assert count(pb_ws.engine, "audit_log", "WHERE action = 'message.unknown'") == 1
    _no_duplicates(pb_ws)
