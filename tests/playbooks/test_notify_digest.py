"""The daily digest through real local servers (aiosmtpd SMTP, http.server robot): once per user and day, in the
user's language, skipped with nothing to say, held by quiet hours, never twice after a crash and restart."""

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
from typing import Any

import pytest
import sqlalchemy as sa
from playbooks_testkit import DAY, NOW, HttpSink, count, http_server, scores, smtp_server, write

from kehu.service.principal import Principal
from kehu.service.workspace import Workspace
from kehu.store.actions import insert_task
from kehu.store.notifications import save_digest_prefs

pytest.importorskip("aiosmtpd")

ALICE = Principal(id=1, name="alice", display_name="Alice", role="rep", team="east", locale="en")
BOB = Principal(id=2, name="bob", display_name="鲍勃", role="manager", team="east", locale=None)
DAVE = Principal(id=4, name="dave", display_name="Dave", role="rep", team="south", locale=None)


def _tasks(ws: Workspace) -> None:
    """alice: two due today, one overdue; bob: one overdue; carol and dave: none."""
    made = NOW - dt.timedelta(days=3)  # not new since yesterday
    with ws.engine.begin() as conn:
        for cid, who, title, due in [
            (1, 1, "call 1", DAY), (2, 1, "visit 2", DAY), (1, 1, "quote 1", DAY - dt.timedelta(days=2)),
            (3, 2, "renew 3", DAY - dt.timedelta(days=1)),
        ]:  # fmt: skip
            insert_task(conn, customer_id=cid, assignee_id=who, title=title, body=None, priority="normal",
                        due_date=due, now=made)  # fmt: skip


def _servers_ws(ws: Workspace, with_settings: Any, port: int, url: str, **extra: Any) -> Workspace:
    return with_settings(  # type: ignore[no-any-return]
        ws, smtp_host="127.0.0.1", smtp_port=port, smtp_from="kehu@corp.test", webhooks={"robot": url + "/r?key=k"},
        webhook_allow="127.0.0.1", **extra,
    )  # fmt: skip


def test_each_user_gets_one_digest_a_day_by_email_and_robot(pb_ws: Workspace, with_settings: Any) -> None:
    _tasks(pb_ws)
    scores(pb_ws.engine, DAY, {}, churn_tier={3: "high", 4: "high"}, churn_risk={3: 0.9, 4: 0.7})  # bob's
    sink = HttpSink()
    with smtp_server() as (smtp, port), http_server(sink) as url:
        ws = _servers_ws(pb_ws, with_settings, port, url)
        ws.as_user(ALICE).notifications.save_digest_settings(email=True, webhook="robot", webhook_format="wecom")
        ws.as_user(DAVE).notifications.save_digest_settings(email=False, webhook="robot", digest_at="09:00")
        first = ws.system().notifications.remind(now=NOW)
        sent = ws.system().playbooks.deliver(now=NOW)
        later = ws.system().notifications.remind(now=NOW + dt.timedelta(hours=6))  # same day: nothing more
        ws.system().playbooks.deliver(now=NOW + dt.timedelta(hours=6))
        assert (len(smtp.messages), len(sink.requests)) == (2, 1)
        next_day = ws.system().notifications.remind(now=NOW + dt.timedelta(days=1))
        ws.system().playbooks.deliver(now=NOW + dt.timedelta(days=1))
    d = first["digests"]
    assert (d["queued"], d["nothing_to_say"], d["no_channel"]) == (3, 1, 1)  # alice 2 copies, bob 1; dave; carol
    assert sent["sent"] == 3
    assert later["digests"]["queued"] == 0 and later["digests"]["done_before"] == 3
    assert next_day["digests"]["queued"] == 3  # a new day, a new digest (the tasks are still open)
    assert len(smtp.messages) == 4 and len(sink.requests) == 2
    by_to = {m["To"]: m for m in smtp.messages[:2]}
    alice, bob = by_to["alice@corp.test"], by_to["bob@corp.test"]
    assert alice["Subject"] == "Kehu daily digest · Nov 2, 2026: 2 due today, 1 overdue"  # alice reads English
    body = alice.get_content().replace("\r\n", "\n")
    assert "Tasks due today: 2" in body and "call 1 (客户1)" in body and "visit 2 (客户2)" in body
    assert "Overdue tasks: 1" in body and "quote 1 (客户1)" in body and "New tasks" not in body
    assert bob["Subject"] == "客户每日提醒 · 2026年11月2日：今日到期 0 项，逾期 1 项"  # bob: KEHU_LOCALE
    text = bob.get_content().replace("\r\n", "\n")
    assert "已逾期任务：1 项" in text and "renew 3（客户3）" in text
    assert "昨日以来超过服务时限的工单：2 张" in text  # T1 and T2 of bob's customers (T1 missed two targets)
    assert "您名下流失风险高的客户：2 位\n  · 客户3\n  · 客户4\n" in text  # riskiest first
    robot = sink.requests[0]
    assert robot["path"] == "/r?key=k" and robot["body"]["msgtype"] == "text"
    assert robot["body"]["text"]["content"].startswith("Kehu daily digest · Nov 2, 2026")
    keys = Counter(m["X-Kehu-Idempotency-Key"] for m in smtp.messages) + Counter(
        r["headers"]["Idempotency-Key"] for r in sink.requests
    )
    assert set(keys.values()) == {1} and "digest-1-2026-11-02-email" in keys and "digest-1-2026-11-03-webhook" in keys


def test_a_digest_due_in_the_quiet_hours_waits_for_their_end(pb_ws: Workspace, with_settings: Any) -> None:
    _tasks(pb_ws)
    early = dt.datetime(2026, 11, 1, 23, 30, tzinfo=dt.UTC)  # 07:30 in Shanghai on DAY
    with smtp_server() as (smtp, port), http_server(HttpSink()) as url:
        ws = _servers_ws(pb_ws, with_settings, port, url, quiet_hours="21:00-08:00")
        ws.as_user(BOB).notifications.save_digest_settings(email=True, webhook=None, digest_at="07:00")
        queued = ws.system().notifications.remind(now=early)["digests"]
        held = ws.system().playbooks.deliver(now=early)
        assert queued["queued"] == 1 and queued["not_yet"] == 1  # alice's default 08:30 has not come
        assert held["sent"] == 0 and held["waiting"] == 1 and not smtp.messages
        at_eight = ws.system().playbooks.deliver(now=early + dt.timedelta(minutes=31))
    assert at_eight["sent"] == 1 and [m["To"] for m in smtp.messages] == ["bob@corp.test"]


def test_the_digest_choices_are_checked(pb_ws: Workspace, with_settings: Any) -> None:
    from kehu.errors import ValidationError

    ws = with_settings(pb_ws, webhooks={"robot": "http://127.0.0.1:9/r"}, webhook_allow="127.0.0.1")
    alice = ws.as_user(ALICE).notifications
    assert alice.digest_settings()["email"] is True and alice.digest_settings()["digest_at"] == "08:30"
    for bad, field in [({"webhook": "nope"}, "webhook"), ({"webhook_format": "slack"}, "webhook_format"),
                       ({"digest_at": "25:00"}, "digest_at")]:  # fmt: skip
        with pytest.raises(ValidationError, match=field):
            alice.save_digest_settings(email=True, **{"webhook": None, **bad})
    saved = alice.save_digest_settings(email=False, webhook="robot", webhook_format="dingtalk", digest_at="7:05")
    assert (saved["email"], saved["webhook"], saved["webhook_format"], saved["digest_at"]) == (
        False, "robot", "dingtalk", "07:05")  # fmt: skip
    assert ws.as_user(BOB).notifications.digest_settings()["webhook"] is None  # one user's choice is theirs


def _env(ws: Workspace, port: int, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEHU_")}
    env.update(KEHU_HOME=str(ws.settings.home), KEHU_DATABASE_URL=ws.settings.resolved_database_url,
               KEHU_QUIET_HOURS="", KEHU_SMTP_HOST="127.0.0.1", KEHU_SMTP_PORT=str(port),
               KEHU_SMTP_FROM="kehu@corp.test", KEHU_WEBHOOKS=json.dumps({"robot": url}),
               KEHU_WEBHOOK_ALLOW="127.0.0.1")  # fmt: skip
    return env


def _kehu(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kehu.cli", *args], env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


AT = "2026-11-02T10:00"  # local (Shanghai): after the default digest time

#: claims the first digest copy for sending, then dies before the channel is called
CRASH_BETWEEN_CLAIM_AND_SEND = """
import datetime as dt, os, signal, sys
from kehu.config import load_settings
from kehu.playbooks import channels
from kehu.service.workspace import Workspace

def die(self, message):
    os.kill(os.getpid(), signal.SIGKILL)

channels.EmailChannel.send = die
channels.WebhookChannel.send = die
now = dt.datetime.fromisoformat(sys.argv[1])
ws = Workspace(load_settings())
ws.system().notifications.remind(now=now)
ws.system().playbooks.deliver(now=now)
"""


def test_a_digest_killed_between_claim_and_send_is_never_sent_twice(pb_ws: Workspace, tmp_path: Path) -> None:
    _tasks(pb_ws)
    script = write(tmp_path, "crash.py", textwrap.dedent(CRASH_BETWEEN_CLAIM_AND_SEND))
    sink = HttpSink()
    with smtp_server() as (smtp, port), http_server(sink) as url:
        env = _env(pb_ws, port, url)
        crashed = subprocess.run([sys.executable, str(script), "2026-11-02T02:00:00+00:00"], env=env,
                                 capture_output=True, text=True, timeout=120)  # fmt: skip
        assert crashed.returncode == -signal.SIGKILL, crashed.stderr
        pb_ws.close()
        assert count(pb_ws.engine, "outbox", "WHERE status = 'sending'") == 1  # claimed, attempt recorded ...
        assert count(pb_ws.engine, "outbox", "WHERE status = 'pending'") == 1  # ... the other copy untouched
        assert not smtp.messages and not sink.requests
        restarted = [_kehu(env, "notify", "digest", "--at", AT, "--json") for _ in range(2)]
        for r in restarted:
            assert r.returncode == 0, r.stderr
            assert json.loads(r.stdout)["digests"]["queued"] == 0  # decided before the crash: not queued again
        later = pb_ws.system().playbooks.deliver(now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10))
    assert json.loads(restarted[0].stdout)["delivery"]["sent"] == 1  # the copy that was never claimed
    assert later["unknown"] == 1  # the claimed one: outcome unknown, listed, never re-sent on its own
    assert len(smtp.messages) + len(sink.requests) == 1
    unknown = pb_ws.system().playbooks.outbox(status="unknown")
    assert len(unknown) == 1 and unknown[0]["idempotency_key"].startswith("digest-")
    _one_copy_each(pb_ws)


def test_a_digest_killed_while_sending_reaches_the_robot_once(pb_ws: Workspace) -> None:
    _tasks(pb_ws)
    with pb_ws.engine.begin() as conn:  # alice: the robot only (the workspace below names it)
        save_digest_prefs(conn, 1, email=False, webhook="robot", webhook_format="wecom", digest_at=None, now=NOW)
    sink = HttpSink(block_first=True)  # the robot hangs on the first request until the process is killed
    with smtp_server() as (smtp, port), http_server(sink) as url:
        env = _env(pb_ws, port, url)
        with subprocess.Popen(
            [sys.executable, "-m", "kehu.cli", "notify", "digest", "--at", AT], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        ) as proc:  # fmt: skip
            assert sink.first_arrived.wait(120), "the digest never reached the robot"
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        sink.release.set()
        pb_ws.close()
        again = _kehu(env, "notify", "digest", "--at", AT, "--json")  # restarted while the lease is held
        assert again.returncode == 0, again.stderr
        later = pb_ws.system().playbooks.deliver(now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10))
    assert json.loads(again.stdout)["digests"]["queued"] == 0
    assert later["unknown"] == 1
    robot = Counter(r["headers"]["Idempotency-Key"] for r in sink.requests)
    assert robot == {"digest-1-2026-11-02-webhook": 1}
    assert [m["To"] for m in smtp.messages] == ["bob@corp.test"]  # bob's e-mail went on in the restarted run
    _one_copy_each(pb_ws)


def _one_copy_each(ws: Workspace) -> None:
    with ws.engine.connect() as conn:
        keys = conn.execute(sa.text("SELECT idempotency_key FROM outbox WHERE idempotency_key LIKE 'digest-%'"))
        keys_list = list(keys.scalars())
    assert keys_list and len(keys_list) == len(set(keys_list))


def test_a_task_a_playbook_creates_is_notified_once_and_the_schedule_reminds(
    pb_ws: Workspace, with_settings: Any
) -> None:
    from playbooks_testkit import DATE_FREE_RULES

    from kehu.service.scheduler import Scheduler

    write(pb_ws.settings.resolved_playbooks_dir, "p.yaml", DATE_FREE_RULES)
    pb_ws.system().playbooks.run(now=NOW)
    pb_ws.system().playbooks.run(now=NOW + dt.timedelta(hours=1))  # nothing fires twice, nothing is told twice
    with pb_ws.engine.connect() as conn:
        made = conn.execute(sa.text("SELECT id, assignee_id, customer_id FROM tasks")).all()
        told_rows = conn.execute(
            sa.text("SELECT user_id, customer_id, link FROM notifications WHERE kind = 'task_assigned'")
        ).all()
    assigned = {r.customer_id: r for r in made}
    assert assigned[2].assignee_id == 1 and 8 not in assigned  # 8 has no owner: its task waits in the backlog
    assert [tuple(r) for r in told_rows] == [(1, 2, f"/tasks#task-{assigned[2].id}")]
    texts = pb_ws.as_user(ALICE).notifications.page()["items"]
    assert [i["text"] for i in texts] == ["New task: call 客户2 (客户2)"]
    assert pb_ws.as_user(BOB).notifications.page()["items"] == []
    with smtp_server() as (smtp, port), http_server(HttpSink()) as url:
        ws = _servers_ws(pb_ws, with_settings, port, url, schedule_delivery_seconds=60)
        done = Scheduler(ws.settings, clock=lambda: NOW + dt.timedelta(hours=2)).tick()
    assert done["reminders"]["notifications"]["ticket_sla"] == 3  # T1 (two targets), T2: bob owns their customers
    assert done["reminders"]["digests"]["queued"] == 2  # alice: a task given since yesterday; bob: the late tickets
    assert done["delivery"]["sent"] == 2 and {m["To"] for m in smtp.messages} == {"alice@corp.test", "bob@corp.test"}


def test_a_task_given_back_to_its_first_assignee_is_told_again(pb_ws: Workspace) -> None:
    from kehu.store.notifications import notify_task_assigned

    with pb_ws.engine.begin() as conn:
        task = insert_task(conn, customer_id=1, assignee_id=1, title="call 1", body=None, priority="normal",
                           due_date=DAY, now=NOW)  # fmt: skip
        for who, minutes in ((3, 5), (1, 10)):  # to carol, then back to alice (as a reassignment would)
            notify_task_assigned(conn, task_id=task, assignee_id=who, customer_id=1, title="call 1", due_date=DAY,
                                 now=NOW + dt.timedelta(minutes=minutes))  # fmt: skip
        told = conn.execute(sa.text("SELECT user_id FROM notifications ORDER BY id")).scalars().all()
    assert told == [1, 3, 1]
