"""The channels campaign messages go out through: the playbooks' channels (email over SMTP, webhooks, SMS) and a
``file`` channel that writes one JSON line per message to ``KEHU_HOME/campaigns/<campaign>.jsonl`` for a tool that
sends SMS or WeChat messages from a list. Messages reach them through the playbooks' outbox (exactly once)."""

from __future__ import annotations

import json
from pathlib import Path

from kehu.config import Settings
from kehu.playbooks.channels import Channel, Message, channels_from_settings

__all__ = ["CAMPAIGN_CHANNELS", "FileChannel", "campaign_channels"]

#: channel kinds a campaign may name (``webhook:NAME`` names one of ``KEHU_WEBHOOKS``)
CAMPAIGN_CHANNELS = ("email", "sms", "webhook", "file")


class FileChannel:
    """Appends each message as a JSON line to ``folder/<campaign>.jsonl``."""

    configured = True

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: Message) -> str:
        campaign = str(message.data.get("campaign") or "messages")
        path = self.folder / f"{campaign}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        line = {"key": message.key, "customer_id": message.data.get("customer_id"), "to": message.to,
                "subject": message.subject, "body": message.body}  # fmt: skip
        with path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
        return f"{path.name}"


def campaign_channels(settings: Settings) -> dict[str, Channel]:
    """The playbooks' channels from the settings plus the ``file`` channel."""
    return {**channels_from_settings(settings), "file": FileChannel(settings.home / "campaigns")}
