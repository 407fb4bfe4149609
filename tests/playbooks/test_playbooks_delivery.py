"""Messages through real local servers (aiosmtpd SMTP, http.server): content, retries, dead letters, quiet hours."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from playbooks_testkit import NOW, HttpSink, count, http_server, smtp_server, write

from kehu.playbooks import Message, RecordingChannel, WebhookChannel
from kehu.playbooks.channels import webhook_body
from kehu.service.workspace import Workspace

pytest.importorskip("aiosmtpd")

MESSAGES = """
playbook: notify
quiet_hours: null
rules:
  - id: nps_alert
    when: {feedback: {kind: nps, max_score: 6}}
    then:
      - message:
          channel: email
          to: customer
          subject: {zh-CN: "{name}，抱歉让您失望了", en: "Sorry, {name}"}
          body: {zh-CN: "您给了 {feedback_score} 分：{feedback_comment}。我们的客户经理 {owner} 会联系您。", en: "x"}
      - message:
          channel: email
          to: owner
          subject: "NPS {feedback_score}: {name}"
          body: "Call {name} ({phone}) within 2 days."
      - message:
          channel: webhook
          webhook: service
          format: wecom
          body: "【NPS 预警】{name} 打了 {feedback_score} 分，负责人 {owner}"
"""


def test_email_and_webhook_arrive_once_with_the_right_content(pb_ws: Workspace, tmp_path: Path, with_settings) -> None:
    f = write(tmp_path, "notify.yaml", MESSAGES)
    sink = HttpSink()
    with smtp_server() as (smtp, port), http_server(sink) as url:
        ws = with_settings(
            pb_ws, smtp_host="127.0.0.1", smtp_port=port, smtp_from="kehu@corp.test",
            webhooks={"service": url + "/robot?key=abc"}, webhook_allow="127.0.0.1",
        )  # fmt: skip
        first = ws.system().playbooks.run([f], now=NOW)
        ws.system().playbooks.run([f], now=NOW + dt.timedelta(hours=1))  # again: nothing more
        ws.system().playbooks.deliver(now=NOW + dt.timedelta(hours=2))
    assert first["delivery"]["sent"] == 3
    assert len(smtp.messages) == 2 and len(sink.requests) == 1
    to_customer = next(m for m in smtp.messages if m["To"] == "c2@shop.test")
    assert to_customer["Subject"] == "客户2，抱歉让您失望了"  # customers get KEHU_LOCALE (zh-CN)
    assert to_customer["From"] == "kehu@corp.test"
    assert to_customer.get_content().strip() == "您给了 4 分：送货太慢。我们的客户经理 Alice 会联系您。"
    to_owner = next(m for m in smtp.messages if m["To"] == "alice@corp.test")
    assert to_owner["Subject"] == "NPS 4: 客户2"
    assert "Call 客户2 (13800000002) within 2 days." in to_owner.get_content()
    keys = {m["X-Kehu-Idempotency-Key"] for m in smtp.messages}
    assert len(keys) == 2 and all(m["Message-ID"] == f"<{m['X-Kehu-Idempotency-Key']}@kehu>" for m in smtp.messages)
    req = sink.requests[0]
    assert req["path"] == "/robot?key=abc"
    assert req["body"] == {"msgtype": "text", "text": {"content": "【NPS 预警】客户2 打了 4 分，负责人 Alice"}}
    assert req["headers"]["Idempotency-Key"].startswith("pb-")
    assert count(pb_ws.engine, "outbox", "WHERE status = 'done'") == 3
    assert count(pb_ws.engine, "audit_log", "WHERE action = 'message.sent'") == 3


def test_a_webhook_answering_500_then_200_delivers_once_after_the_backoff(
    pb_ws: Workspace, tmp_path: Path, with_settings
) -> None:
    f = write(
        tmp_path,
        "hook.yaml",
        """
playbook: hook
quiet_hours: null
rules:
  - id: sla
    holdout: 0  # the one customer past SLA must get the message
    when: {ticket_past_sla: {}}
    then: [{message: {channel: webhook, webhook: ops, format: dingtalk, body: "工单 {ticket_id} 超时"}}]
""",
    )
    sink = HttpSink(statuses=[500])
    with http_server(sink) as url:
        ws = with_settings(pb_ws, webhooks={"ops": url}, webhook_allow="127.0.0.1", delivery_backoff_seconds=60)
        first = ws.system().playbooks.run([f], now=NOW)
        assert first["delivery"] | {"applied": {}} == {
            "applied": {}, "sent": 0, "retry": 1, "dead": 0, "unknown": 0, "waiting": 0, "unconfigured": {}
        }  # fmt: skip
        early = ws.system().playbooks.deliver(now=NOW + dt.timedelta(seconds=30))  # before the backoff: not yet
        assert early["sent"] == 0 and early["waiting"] == 1 and len(sink.requests) == 1
        later = ws.system().playbooks.deliver(now=NOW + dt.timedelta(seconds=61))
        assert later["sent"] == 1
        again = ws.system().playbooks.deliver(now=NOW + dt.timedelta(hours=1))
        ws.system().playbooks.run([f], now=NOW + dt.timedelta(hours=2))
    assert again["sent"] == 0
    assert len(sink.requests) == 2  # the failed attempt and the successful one
    assert sink.requests[0]["headers"]["Idempotency-Key"] == sink.requests[1]["headers"]["Idempotency-Key"]
    assert sink.requests[1]["body"] == {"msgtype": "text", "text": {"content": "工单 T1 超时"}}
    with pb_ws.engine.connect() as conn:
        attempts = conn.exec_driver_sql("SELECT attempt, ok, error FROM delivery_attempts ORDER BY id").all()
        status = conn.exec_driver_sql("SELECT status, attempts FROM outbox").one()
    assert [(a, bool(ok)) for a, ok, _ in attempts] == [(1, False), (2, True)]
    assert "HTTP 500" in attempts[0][2]
    assert tuple(status) == ("done", 2)


def test_failures_back_off_exponentially_then_go_dead_visibly(pb_ws: Workspace, tmp_path: Path, with_settings) -> None:
    f = write(
        tmp_path,
        "hook.yaml",
        """
playbook: hook
quiet_hours: null
rules:
  - id: sla
    holdout: 0  # the one customer past SLA must get the message
    when: {ticket_past_sla: {}}
    then: [{message: {channel: webhook, webhook: ops, body: "late"}}]
""",
    )
    sink = HttpSink(statuses=[503] * 10)
    with http_server(sink) as url:
        ws = with_settings(
            pb_ws,
            webhooks={"ops": url},
            webhook_allow="127.0.0.1",
            delivery_backoff_seconds=10,
            delivery_max_attempts=3,
        )
        ws.system().playbooks.run([f], now=NOW)
        with pb_ws.engine.connect() as conn:
            next_at = conn.exec_driver_sql("SELECT next_attempt_at FROM outbox").scalar_one()
        assert str(next_at).startswith("2026-11-02 02:00:10")  # 10 s after the first failure
        ws.system().playbooks.deliver(now=NOW + dt.timedelta(seconds=10))
        with pb_ws.engine.connect() as conn:
            next_at = conn.exec_driver_sql("SELECT next_attempt_at FROM outbox").scalar_one()
        assert str(next_at).startswith("2026-11-02 02:00:30")  # then 20 s
        third = ws.system().playbooks.deliver(now=NOW + dt.timedelta(seconds=30))
        assert third["dead"] == 1
        ws.system().playbooks.deliver(now=NOW + dt.timedelta(days=1))
        assert len(sink.requests) == 3
        dead = ws.system().playbooks.outbox(status="dead")
        assert len(dead) == 1 and "HTTP 503" in dead[0]["last_error"]
        assert count(pb_ws.engine, "audit_log", "WHERE action = 'message.dead'") == 1
        ws.system().playbooks.retry_outbox(
            dead[0]["id"], actor="alice", now=NOW + dt.timedelta(days=1)
        )  # a person decides to try again
        sink.statuses.clear()
        assert ws.system().playbooks.deliver(now=NOW + dt.timedelta(days=1))["sent"] == 1
    assert len(sink.requests) == 4


def test_quiet_hours_hold_messages_until_morning(pb_ws: Workspace, tmp_path: Path) -> None:
    f = write(
        tmp_path,
        "quiet.yaml",
        """
playbook: quiet
quiet_hours: "21:00-08:00"
rules:
  - id: sla
    when: {ticket_past_sla: {complaints_only: true}}
    then: [{message: {channel: webhook, webhook: ops, body: "late"}}, {task: {title: "now"}}]
""",
    )
    night = dt.datetime(2026, 11, 2, 15, 30, tzinfo=dt.UTC)  # 23:30 in Shanghai
    chan = RecordingChannel()
    out = pb_ws.system().playbooks.run([f], now=night, channels={"webhook": chan})
    assert out["delivery"]["waiting"] == 1 and out["delivery"]["applied"] == {"task": 1}  # tasks do not wait
    assert pb_ws.system().playbooks.deliver(now=night + dt.timedelta(hours=8), channels={"webhook": chan})["sent"] == 0
    morning = dt.datetime(2026, 11, 3, 0, 0, tzinfo=dt.UTC)  # 08:00 in Shanghai
    assert pb_ws.system().playbooks.deliver(now=morning, channels={"webhook": chan})["sent"] == 1
    assert [m.body for m in chan.sent] == ["late"]


def test_messages_wait_while_their_channel_is_not_configured(pb_ws: Workspace, tmp_path: Path) -> None:
    f = write(tmp_path, "notify.yaml", MESSAGES)
    out = pb_ws.system().playbooks.run([f], now=NOW)  # no SMTP, no webhooks configured
    assert out["delivery"]["unconfigured"] == {"email": 2, "webhook:service": 1}
    assert count(pb_ws.engine, "outbox", "WHERE status = 'pending' AND kind = 'message'") == 3


def test_webhook_bodies_for_group_robots_and_json() -> None:
    m = Message(key="k1", channel="webhook", to=None, body="正文", subject="标题", webhook="x", format="wecom")
    assert webhook_body(m) == {"msgtype": "text", "text": {"content": "标题\n正文"}}
    d = Message(key="k1", channel="webhook", to=None, body="b", webhook="x", format="dingtalk")
    assert webhook_body(d) == {"msgtype": "text", "text": {"content": "b"}}
    j = Message(key="k1", channel="webhook", to=None, body="b", webhook="x", data={"customer_id": 3})
    assert json.loads(json.dumps(webhook_body(j))) == {"key": "k1", "subject": None, "text": "b", "customer_id": 3}


def test_a_robot_error_code_is_a_failure(tmp_path: Path) -> None:
    from kehu.config import load_settings
    from kehu.playbooks import DeliveryError

    class RobotSink(HttpSink):
        pass

    sink = RobotSink(statuses=[200])
    with http_server(sink) as url:
        chan = WebhookChannel(load_settings(home=tmp_path, webhooks={"r": url}, webhook_allow="127.0.0.1"))
        assert chan.send(Message(key="k", channel="webhook", to=None, body="b", webhook="r", format="wecom"))
        with pytest.raises(DeliveryError, match="no webhook named 'nope'"):
            chan.send(Message(key="k", channel="webhook", to=None, body="b", webhook="nope"))
