"""Webhook targets are restricted (issue 23, acceptance 6): a webhook may not reach loopback, link-local or private
addresses unless ``KEHU_WEBHOOK_ALLOW`` lists them; every resolved address is checked; refused with a clear message
when a playbook, campaign or digest choosing the webhook is saved and again when a message is sent; redirects are
not followed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playbooks_testkit import HttpSink, http_server, write

from kehu.campaigns.spec import CampaignSpec
from kehu.config import load_settings
from kehu.errors import ValidationError
from kehu.playbooks import PlaybookError
from kehu.playbooks.channels import DeliveryError, Message, WebhookChannel
from kehu.playbooks.webhook_targets import WebhookTargetError, check_webhook_url
from kehu.service.workspace import Workspace


def _fake(answers: dict[str, list[str]]) -> Any:
    def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        return answers[host]

    return resolve


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),  # IPv4 inside IPv6 is still loopback
        ("http://169.254.169.254/latest/meta-data", "link-local"),  # the cloud metadata service
        ("http://10.1.2.3/hook", "private"),
        ("http://192.168.0.10/hook", "private"),
        ("https://172.16.9.9/hook", "private"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://100.64.0.1/hook", "non-public"),  # carrier-grade NAT
        ("http://robot.intranet/send", "private"),  # a name resolving to a private address
        ("http://mixed.example/send", "loopback"),  # one public and one loopback address: every one counts
    ],
)
def test_non_public_targets_are_refused_with_a_message(url: str, kind: str) -> None:
    resolve = _fake({"robot.intranet": ["10.20.0.5"], "mixed.example": ["93.184.216.34", "127.0.0.1"]})
    with pytest.raises(WebhookTargetError) as err:
        check_webhook_url(url, (), name="sales", resolver=resolve)
    message = str(err.value)
    assert message.startswith("webhook sales: ") and f"a {kind} address" in message
    assert "KEHU_WEBHOOK_ALLOW" in message and not err.value.retryable


def test_public_and_allowed_targets_pass() -> None:
    resolve = _fake({"qyapi.example": ["93.184.216.34"], "robot.intranet": ["10.20.0.5"]})
    assert check_webhook_url("https://qyapi.example/cgi-bin/webhook/send?key=k", (), name="w",
                             resolver=resolve) == ["93.184.216.34"]  # fmt: skip
    assert check_webhook_url("http://robot.intranet/x", ("robot.intranet",), name="w", resolver=resolve)
    assert check_webhook_url("http://robot.intranet/x", ("10.20.0.0/16",), name="w", resolver=resolve)
    assert check_webhook_url("http://127.0.0.1:9/x", ("127.0.0.1",), name="w")
    with pytest.raises(WebhookTargetError):  # a range allows what is in it, nothing else
        check_webhook_url("http://10.21.0.1/x", ("10.20.0.0/16",), name="w")


def test_bad_urls_and_names_that_do_not_resolve() -> None:
    for url in ("ftp://93.184.216.34/x", "file:///etc/passwd", "http:///nohost", "http://93.184.216.34:99999/"):
        with pytest.raises(WebhookTargetError, match="webhook w: "):
            check_webhook_url(url, (), name="w")
    with pytest.raises(WebhookTargetError, match="cannot be resolved") as err:
        check_webhook_url("https://nowhere.invalid/x", (), name="w", resolver=_fake({}))
    assert err.value.retryable


def test_localhost_by_name_is_resolved_and_refused() -> None:
    with pytest.raises(WebhookTargetError, match=r"localhost is 127\.0\.0\.1, a loopback address"):
        check_webhook_url("http://localhost:8080/x", (), name="w")


def test_the_setting_is_checked_when_loaded(tmp_path: Path) -> None:
    s = load_settings(home=tmp_path, webhook_allow=" 127.0.0.1 , 10.0.0.0/8,Robot.Intranet ")
    assert s.webhook_allow_list == ("127.0.0.1", "10.0.0.0/8", "robot.intranet")
    with pytest.raises(ValueError, match="CIDR"):
        load_settings(home=tmp_path, webhook_allow="10.0.0.0/99")
    with pytest.raises(ValueError, match="host names"):
        load_settings(home=tmp_path, webhook_allow="http://x/y")


def _message(name: str = "ops") -> Message:
    return Message(key="k-1", channel="webhook", to=None, subject=None, body="hello", webhook=name, format="json")


def test_sending_to_a_loopback_webhook_is_refused_unless_allowed(tmp_path: Path) -> None:
    sink = HttpSink()
    with http_server(sink) as url:
        refused = WebhookChannel(load_settings(home=tmp_path, webhooks={"ops": url}))
        with pytest.raises(
            DeliveryError, match=r"webhook ops: 127\.0\.0\.1 is 127\.0\.0\.1, a loopback address"
        ) as err:
            refused.send(_message())
        assert not err.value.retryable
        assert sink.requests == []  # nothing reached the server
        allowed = WebhookChannel(load_settings(home=tmp_path, webhooks={"ops": url}, webhook_allow="127.0.0.1"))
        assert allowed.send(_message()).startswith("HTTP 200")
    assert len(sink.requests) == 1


@pytest.fixture
def redirecting() -> Iterator[tuple[str, list[str]]]:
    """A local server that answers every POST with a redirect to /elsewhere (and records the paths asked for)."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(self.path)
            self.send_response(307)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", seen
    finally:
        server.shutdown()
        server.server_close()


def test_redirects_are_not_followed(tmp_path: Path, redirecting: tuple[str, list[str]]) -> None:
    url, seen = redirecting
    chan = WebhookChannel(load_settings(home=tmp_path, webhooks={"ops": url}, webhook_allow="127.0.0.1"))
    with pytest.raises(DeliveryError, match="HTTP 307") as err:
        chan.send(_message())
    assert not err.value.retryable and seen == ["/hook"]


PLAYBOOK = """\
playbook: robots
rules:
  - id: r1
    when: {entered: {segment: "rfm_cn:important_value"}}
    then:
      - task: {title: "call {name}", due_in_days: 2}
"""
WITH_WEBHOOK = PLAYBOOK + '      - message: {channel: webhook, webhook: ops, format: wecom, body: "{name}"}\n'


def test_a_playbook_naming_a_loopback_webhook_is_not_saved(pb_ws: Workspace, with_settings: Any) -> None:
    folder = pb_ws.settings.resolved_playbooks_dir
    path = write(folder, "robots.yaml", PLAYBOOK)
    ws = with_settings(pb_ws, webhooks={"ops": "http://127.0.0.1:9/r"})
    out = ws.system().playbooks.save("robots", WITH_WEBHOOK)
    assert out["saved"] is False and path.read_text(encoding="utf-8") == PLAYBOOK
    (problem,) = out["problems"]
    assert problem["field"] == "rules[0].then[1].message.webhook" and "loopback address" in problem["message"]
    write(folder, "robots.yaml", WITH_WEBHOOK)
    with pytest.raises(PlaybookError, match=r"webhook ops: 127\.0\.0\.1 is 127\.0\.0\.1"):
        ws.system().playbooks.validate([folder])
    ok = with_settings(pb_ws, webhooks={"ops": "http://127.0.0.1:9/r"}, webhook_allow="127.0.0.0/8")
    assert ok.system().playbooks.save("robots", WITH_WEBHOOK)["saved"] is True


def test_a_campaign_or_digest_choosing_a_private_webhook_is_refused(pb_ws: Workspace, with_settings: Any) -> None:
    ws = with_settings(pb_ws, webhooks={"ops": "http://192.168.1.20/robot"})
    spec = CampaignSpec(name="spring", target={"segment": "winback:targets"}, channel="webhook:ops",
                        template="{name}", offer={}, holdout_share=0.2, seed=1)  # fmt: skip
    with pytest.raises(ValidationError, match=r"channel: webhook ops: 192\.168\.1\.20 is 192\.168\.1\.20, a private"):
        ws.system().campaigns.create(spec)
    assert ws.system().campaigns.all() == []
    with pytest.raises(ValidationError, match=r"webhook: webhook ops: .* a private address"):
        ws.system().notifications.save_digest_settings(email=False, webhook="ops")
