"""A campaign's definition, checked before it is stored, and its message template.

Templates are plain text with ``{placeholder}`` fields, filled per customer from a fixed list (nothing else is
evaluated): ``{name}``, ``{company}``, ``{customer_id}``, ``{campaign}`` and ``{coupon}`` (the offer's coupon
code). A literal brace is written ``{{`` or ``}}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kehu.errors import ValidationError
from kehu.vocabulary import CHANNEL_KINDS

__all__ = ["PLACEHOLDERS", "CampaignSpec", "render"]

PLACEHOLDERS = ("name", "company", "customer_id", "campaign", "coupon")
_FIELD = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_NAME = re.compile(r"^[A-Za-z0-9_\-\u4e00-\u9fff]{1,100}$")
#: ``{{ expression }}`` and ``{% statement %}`` of template engines (the playbooks' texts refuse the same)
_ENGINE_SYNTAX = re.compile(r"\{%.*?%\}|\{\{([^{}]*?[A-Za-z_.(\[|][^{}]*?)\}\}", re.S)


def _check_template(text: str, where: str) -> None:
    engine = _ENGINE_SYNTAX.search(text)
    if engine:
        raise ValidationError(
            f"{where}: {engine.group(0)[:60]} looks like a template expression; only the placeholders "
            f"{', '.join('{' + p + '}' for p in PLACEHOLDERS)} are filled and nothing is evaluated "
            "(write {{ and }} only for literal braces)"
        )
    for m in _FIELD.finditer(text):
        if m.group(0) in ("{{", "}}"):
            continue
        key = m.group(1)
        if key not in PLACEHOLDERS:
            raise ValidationError(f"{where}: unknown placeholder {{{key}}}; use one of {', '.join(PLACEHOLDERS)}")
    stripped = _FIELD.sub("", text)
    if "{" in stripped or "}" in stripped:
        raise ValidationError(f"{where}: unbalanced brace (write {{{{ or }}}} for a literal brace)")


def render(text: str, values: Mapping[str, Any]) -> str:
    """Fill the placeholders of a checked template (missing values become empty text)."""

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "{{":
            return "{"
        if m.group(0) == "}}":
            return "}"
        value = values.get(m.group(1))
        return "" if value is None else str(value)

    return _FIELD.sub(one, text)


@dataclass(frozen=True)
class CampaignSpec:
    """What a campaign is: its target, offer, message and the design of its measurement."""

    name: str
    target: Mapping[str, Any]  # {"segment": "SCHEME:SEGMENT"} or {"rule": <rule tree>}
    channel: str  # email | sms | webhook:NAME | file (JSON lines in KEHU_HOME/campaigns)
    template: str
    subject: str | None = None
    offer: Mapping[str, Any] = field(default_factory=dict)
    holdout_share: float = 0.1
    seed: int = 0
    attribution_days: int = 30
    lapse_days: int = 180
    stratify_by: str | None = "lifecycle"

    def check(self) -> None:
        """Raise :class:`ValidationError` naming the field for anything that cannot work."""
        if not _NAME.match(self.name):
            raise ValidationError(f"campaign name {self.name!r}: use letters, digits, _, - or Chinese (at most 100)")
        keys = set(self.target)
        if keys not in ({"segment"}, {"rule"}):
            raise ValidationError("campaign target: give exactly one of a segment (SCHEME:SEGMENT) or a rule")
        if "segment" in keys:
            ref = str(self.target["segment"])
            scheme, sep, segment = ref.partition(":")
            if not sep or not scheme or not segment:
                raise ValidationError(f"campaign target segment {ref!r}: write it as SCHEME:SEGMENT")
        kind, _, name = self.channel.partition(":")
        if kind not in CHANNEL_KINDS or (kind == "webhook") != bool(name):
            raise ValidationError(
                f"campaign channel {self.channel!r}: use email, sms, file or webhook:NAME (a key of KEHU_WEBHOOKS)"
            )
        if not 0 < self.holdout_share < 1:
            raise ValidationError(f"holdout share {self.holdout_share}: must be between 0 and 1 (e.g. 0.1)")
        if self.seed < 0:
            raise ValidationError(f"seed {self.seed}: must be 0 or more")
        if not 1 <= self.attribution_days <= 365:
            raise ValidationError(f"attribution window {self.attribution_days} days: must be 1 to 365")
        if self.lapse_days < 1:
            raise ValidationError(f"lapse days {self.lapse_days}: must be at least 1")
        if not self.template.strip():
            raise ValidationError("campaign template: the message is empty")
        _check_template(self.template, "campaign template")
        if self.subject:
            _check_template(self.subject, "campaign subject")
