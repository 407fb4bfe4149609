"""Playbooks: rules that turn segments, scores and dates into actions — tasks, messages, tags, coupons, owners.

- :mod:`~kehu.playbooks.loader` reads YAML playbooks, checks them against ``playbook.schema.json`` and the
  rules a schema cannot express, and names file, line and field for every problem.
- :mod:`~kehu.playbooks.triggers` finds the customers (and trigger occurrences) a rule's ``when`` matches.
- :mod:`~kehu.playbooks.planner` decides what fires today (read-only: the dry run is this plan).
- :mod:`~kehu.playbooks.outbox` commits a plan as firings + outbox rows and delivers them exactly once.
- :mod:`~kehu.playbooks.effects` measures each rule against its holdout: what works.
- :mod:`~kehu.playbooks.channels` is the one message-channel interface: SMTP email, webhooks (WeCom and
  DingTalk group robots, JSON), SMS providers, and a recording channel for tests.

The default playbooks (``defaults/*.yaml``, zh-CN and en texts) implement the RFM and lifecycle strategies.
"""

from __future__ import annotations

from pathlib import Path

from kehu.playbooks.channels import (
    Channel,
    DeliveryError,
    EmailChannel,
    Message,
    RecordingChannel,
    SmsChannel,
    SmsProvider,
    WebhookChannel,
    channels_from_settings,
)
from kehu.playbooks.effects import revenue_effects, rule_effects
from kehu.playbooks.loader import PlaybookError, Problem, load_playbook, load_playbooks, parse_playbook, schema
from kehu.playbooks.model import Playbook, PlaybookRule
from kehu.playbooks.outbox import DeliveryReport, commit_plan, deliver
from kehu.playbooks.planner import Plan, plan
from kehu.playbooks.triggers import Clock

#: the default playbooks shipped with Kehu
DEFAULTS_DIR = Path(__file__).with_name("defaults")

__all__ = [
    "DEFAULTS_DIR",
    "Channel",
    "Clock",
    "DeliveryError",
    "DeliveryReport",
    "EmailChannel",
    "Message",
    "Plan",
    "Playbook",
    "PlaybookError",
    "PlaybookRule",
    "Problem",
    "RecordingChannel",
    "SmsChannel",
    "SmsProvider",
    "WebhookChannel",
    "channels_from_settings",
    "commit_plan",
    "deliver",
    "load_playbook",
    "load_playbooks",
    "parse_playbook",
    "plan",
    "revenue_effects",
    "rule_effects",
    "schema",
]
