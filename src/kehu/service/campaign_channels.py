"""The channels campaigns send through, built from the settings.

- ``email``: SMTP (``KEHU_SMTP_HOST``, ``KEHU_SMTP_PORT``, ``KEHU_SMTP_FROM``) to the customer's e-mail address;
- ``file``: one JSON line per message appended to ``KEHU_HOME/campaigns/<campaign>.jsonl``, for a tool that
  sends SMS or WeChat messages from a list.

When the playbooks' channels and outbox are merged, campaigns hand their messages to that outbox instead (same
:class:`~kehu.campaigns.sending.Channel` seam).
"""

from __future__ import annotations

import json
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from kehu.campaigns.sending import Channel, Message
from kehu.config import Settings
from kehu.errors import ConfigError, ValidationError

__all__ = ["FileChannel", "SmtpChannel", "channel_for"]


@dataclass
class SmtpChannel:
    """Plain SMTP, one connection per message (so one refused address does not stop the rest)."""

    host: str
    port: int
    sender: str
    name: str = "email"
    timeout: float = 30.0

    def send(self, message: Message) -> str:
        if not message.to:
            raise ValidationError(f"customer #{message.customer_id} has no e-mail address")
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.to
        mail["Subject"] = message.subject
        mail["Message-ID"] = f"<{message.idempotency_key.replace(':', '.')}@kehu>"
        mail.set_content(message.body)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            smtp.send_message(mail)
        return str(mail["Message-ID"])


@dataclass
class FileChannel:
    """Appends messages as JSON lines to a file."""

    path: Path
    name: str = "file"

    def send(self, message: Message) -> str:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = {"key": message.idempotency_key, "customer_id": message.customer_id, "to": message.to,
                "subject": message.subject, "body": message.body}  # fmt: skip
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
        return f"{self.path.name}:{message.customer_id}"


def channel_for(settings: Settings, kind: str, campaign: str) -> Channel:
    """The channel named by a campaign (``email`` or ``file``)."""
    if kind == "email":
        if not settings.smtp_host or not settings.smtp_from:
            raise ConfigError("the email channel needs KEHU_SMTP_HOST and KEHU_SMTP_FROM (see docs/configuration.md)")
        return SmtpChannel(settings.smtp_host, settings.smtp_port, settings.smtp_from)
    if kind == "file":
        return FileChannel(settings.home / "campaigns" / f"{campaign}.jsonl")
    raise ValidationError(f"channel {kind!r}: use email or file")
