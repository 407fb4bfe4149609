"""Message channels: one interface, real channels (SMTP email, webhooks, SMS providers) and a recording fake.

A channel delivers one :class:`Message` and either returns a short description of the receiver's answer or
raises :class:`DeliveryError` (``retryable`` says whether a later attempt may succeed). Channels never retry,
queue or log by themselves: the outbox (:mod:`kehu.playbooks.outbox`) decides when to send, records every
attempt and retries with backoff. Every message carries its idempotency key (``Message.key``): SMTP sends it
as the ``Message-ID`` and ``X-Kehu-Idempotency-Key`` headers, webhooks as the ``Idempotency-Key`` header, SMS
providers receive it as an argument — receivers that de-duplicate can use it.

Other parts of Kehu (campaigns) send through the same seam::

    channels = channels_from_settings(settings)        # {"email": ..., "webhook": ..., "sms": ...}
    channels["email"].send(Message(key="campaign-7-42", channel="email", to="a@example.com",
                                   subject="...", body="..."))

Writing an SMS provider: a class with ``send_sms(phone, text, key) -> str`` (raise ``DeliveryError`` on
failure) and a factory ``make(settings) -> provider``; set ``KEHU_SMS_PROVIDER=package.module:make``.
"""

from __future__ import annotations

import importlib
import json
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Protocol, runtime_checkable

from kehu.config import Settings
from kehu.errors import ConfigError, KehuError
from kehu.playbooks.webhook_targets import WebhookTargetError, check_webhook_url

__all__ = [
    "Channel",
    "DeliveryError",
    "EmailChannel",
    "Message",
    "RecordingChannel",
    "SmsChannel",
    "SmsProvider",
    "WebhookChannel",
    "channels_from_settings",
    "is_configured",
    "webhook_body",
]


class DeliveryError(KehuError, RuntimeError):
    """A message could not be delivered; ``retryable`` is False when trying again cannot help."""

    def __init__(self, message: str, *, retryable: bool = True, response: str | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.response = response


@dataclass(frozen=True)
class Message:
    """One message to deliver.

    Parameters
    ----------
    key
        Idempotency key (unique per message, stable across retries).
    channel
        ``email``, ``sms`` or ``webhook``.
    to
        Email address or phone number (``None`` for webhooks).
    body
        The text.
    subject
        Email subject.
    webhook
        Name of the webhook (a key of ``KEHU_WEBHOOKS``).
    format
        Webhook body format: ``wecom`` / ``dingtalk`` (group robots' text message) or ``json``.
    data
        Extra JSON fields for ``json`` webhooks (customer id, playbook, rule, ...).
    """

    key: str
    channel: str
    to: str | None
    body: str
    subject: str | None = None
    webhook: str | None = None
    format: str = "json"
    data: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Channel(Protocol):
    """Delivers messages of one channel."""

    def send(self, message: Message) -> str:
        """Deliver ``message``; return a short description of the answer, or raise :class:`DeliveryError`."""
        ...


def is_configured(channel: Channel) -> bool:
    """A channel's ``configured`` attribute (True when it has none): unconfigured channels' messages wait."""
    return bool(getattr(channel, "configured", True))


class EmailChannel:
    """Email over SMTP (``smtplib``): plain text, UTF-8, optional STARTTLS / SMTPS and login."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.configured = bool(settings.smtp_host and settings.smtp_from)

    def send(self, message: Message) -> str:
        s = self.settings
        if not s.smtp_host or not s.smtp_from:
            raise DeliveryError("email is not configured: set KEHU_SMTP_HOST and KEHU_SMTP_FROM", retryable=False)
        if not message.to:
            raise DeliveryError("no email address", retryable=False)
        mail = EmailMessage()
        mail["From"] = s.smtp_from
        mail["To"] = message.to
        mail["Subject"] = message.subject or ""
        mail["Date"] = formatdate(localtime=False, usegmt=True)
        mail["Message-ID"] = f"<{message.key}@kehu>"
        mail["X-Kehu-Idempotency-Key"] = message.key
        mail.set_content(message.body)
        try:
            client: smtplib.SMTP
            if s.smtp_ssl:
                client = smtplib.SMTP_SSL(
                    s.smtp_host, s.smtp_port, timeout=s.smtp_timeout, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
            with client:
                if s.smtp_starttls and not s.smtp_ssl:
                    client.starttls(context=ssl.create_default_context())
                if s.smtp_user:
                    client.login(s.smtp_user, s.smtp_password or "")
                refused = client.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"recipient refused: {exc.recipients}", retryable=False) from exc
        except smtplib.SMTPResponseException as exc:
            retry = exc.smtp_code < 500
            raise DeliveryError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", retryable=retry) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"SMTP server {s.smtp_host}:{s.smtp_port}: {exc}") from exc
        if refused:
            raise DeliveryError(f"recipient refused: {refused}", retryable=False)
        return f"accepted by {s.smtp_host}:{s.smtp_port}"


def webhook_body(message: Message) -> dict[str, Any]:
    """The JSON body of a webhook message in its format.

    ``wecom`` and ``dingtalk`` are the group robots' text messages (``{"msgtype": "text", "text": {"content":
    ...}}``); ``json`` carries the key, subject, text and ``data``.
    """
    text = f"{message.subject}\n{message.body}" if message.subject else message.body
    if message.format in ("wecom", "dingtalk"):
        return {"msgtype": "text", "text": {"content": text}}
    return {"key": message.key, "subject": message.subject, "text": message.body, **dict(message.data)}


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as the HTTP error it is (the checked host must be the one that receives)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_NO_REDIRECTS = urllib.request.build_opener(_RefuseRedirects)


class WebhookChannel:
    """HTTP POST of a JSON body to a named URL (``KEHU_WEBHOOKS``); WeCom/DingTalk robots or any JSON receiver.

    2xx with no robot error code is success. 408, 429, 5xx, timeouts, connection errors and robot error codes
    are retried; other 4xx answers are not (the request itself is wrong). Before each request the host is
    resolved and checked (:mod:`kehu.playbooks.webhook_targets`: public addresses or ``KEHU_WEBHOOK_ALLOW``);
    redirects are not followed (a 3xx answer is a failure that is not retried).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.configured = bool(settings.webhooks)

    def send(self, message: Message) -> str:
        url = self.settings.webhooks.get(message.webhook or "")
        if not url:
            names = ", ".join(sorted(self.settings.webhooks)) or "none"
            raise DeliveryError(
                f"no webhook named {message.webhook!r} in KEHU_WEBHOOKS (configured: {names})", retryable=False
            )
        try:
            check_webhook_url(url, self.settings.webhook_allow_list, name=str(message.webhook))
        except WebhookTargetError as exc:
            raise DeliveryError(str(exc), retryable=exc.retryable) from exc
        data = json.dumps(webhook_body(message), ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(
            url,
            data=data,
            method="POST",
            headers={"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": message.key},
        )
        try:
            with _NO_REDIRECTS.open(request, timeout=self.settings.webhook_timeout) as response:
                status, text = response.status, response.read(2000).decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            text = exc.read(500).decode("utf-8", "replace") if exc.fp else ""
            retry = exc.code in (408, 429) or exc.code >= 500
            raise DeliveryError(
                f"HTTP {exc.code} from webhook {message.webhook}", retryable=retry, response=text
            ) from exc
        except (OSError, urllib.error.URLError) as exc:
            raise DeliveryError(f"webhook {message.webhook}: {exc}") from exc
        if message.format in ("wecom", "dingtalk"):
            try:
                answer = json.loads(text or "{}")
            except ValueError:
                answer = {}
            if isinstance(answer, dict) and answer.get("errcode", 0) not in (0, None):
                raise DeliveryError(f"robot error {answer.get('errcode')}: {answer.get('errmsg')}", response=text)
        return f"HTTP {status} {text[:200]}".strip()


@runtime_checkable
class SmsProvider(Protocol):
    """An SMS provider: sends one text to one phone number."""

    def send_sms(self, phone: str, text: str, key: str) -> str:
        """Send; return the provider's message id or answer, or raise :class:`DeliveryError`."""
        ...


class SmsChannel:
    """SMS through a provider (``KEHU_SMS_PROVIDER=module:factory``; see the module docstring)."""

    def __init__(self, provider: SmsProvider | None) -> None:
        self.provider = provider
        self.configured = provider is not None

    def send(self, message: Message) -> str:
        if self.provider is None:
            raise DeliveryError("SMS is not configured: set KEHU_SMS_PROVIDER", retryable=False)
        if not message.to:
            raise DeliveryError("no phone number", retryable=False)
        return self.provider.send_sms(message.to, message.body, message.key)


def load_sms_provider(settings: Settings) -> SmsProvider | None:
    """The provider named by ``KEHU_SMS_PROVIDER`` (``None`` when not set)."""
    if not settings.sms_provider:
        return None
    module, _, attr = settings.sms_provider.partition(":")
    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"KEHU_SMS_PROVIDER={settings.sms_provider!r}: cannot load it ({exc})") from exc
    provider = factory(settings)
    if not isinstance(provider, SmsProvider):
        raise ConfigError(f"KEHU_SMS_PROVIDER={settings.sms_provider!r} did not return an object with send_sms()")
    return provider


def channels_from_settings(settings: Settings) -> dict[str, Channel]:
    """The real channels: ``email`` (SMTP), ``webhook`` and ``sms`` (provider, when configured)."""
    return {
        "email": EmailChannel(settings),
        "webhook": WebhookChannel(settings),
        "sms": SmsChannel(load_sms_provider(settings)),
    }


class RecordingChannel:
    """A fake channel for tests: records messages; can fail the first ``fail`` sends (retryable or not)."""

    def __init__(self, *, fail: int = 0, retryable: bool = True) -> None:
        self.sent: list[Message] = []
        self.attempts = 0
        self.fail = fail
        self.retryable = retryable
        self.configured = True

    def send(self, message: Message) -> str:
        self.attempts += 1
        if self.attempts <= self.fail:
            raise DeliveryError(f"recorded failure {self.attempts}", retryable=self.retryable)
        self.sent.append(message)
        return "recorded"

    def as_dicts(self) -> list[dict[str, Any]]:
        """The recorded messages as dicts."""
        return [asdict(m) for m in self.sent]
