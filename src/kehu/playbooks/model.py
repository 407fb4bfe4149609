"""Playbooks as Python objects: a playbook has rules; a rule is ``when`` (a trigger) + ``if`` + ``then`` (actions).

The objects are built by :mod:`kehu.playbooks.loader` from YAML that passed the published JSON Schema
(``playbook.schema.json``) and the checks the schema cannot express. They are immutable; ``where`` of each
rule and action says the file and line it came from, for messages at run time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from kehu.segments.rules import Rule as Condition

__all__ = [
    "DEFAULT_HOLDOUT",
    "TRIGGER_KINDS",
    "TRIGGER_VALUES",
    "Action",
    "CouponAction",
    "MessageAction",
    "OwnerAction",
    "People",
    "Playbook",
    "PlaybookRule",
    "TagAction",
    "TaskAction",
    "Text",
    "Trigger",
]

#: Share of a rule's customers held out (given nothing by the rule, to measure what it does) unless it says.
DEFAULT_HOLDOUT = 0.1

TRIGGER_KINDS = (
    "entered",
    "left",
    "score_crossed",
    "days_since_last_order",
    "days_since_first_order",
    "contract_ends_within",
    "feedback",
    "ticket_past_sla",
    "ticket_breached",
    "tier_changed",
)

#: trigger kind -> the values it adds to templates and to the reason of a firing
TRIGGER_VALUES: dict[str, tuple[str, ...]] = {
    "entered": ("segment", "segment_label", "since"),
    "left": ("segment", "segment_label", "since"),
    "score_crossed": ("score", "score_value", "threshold", "since"),
    "days_since_last_order": ("days", "last_order_date"),
    "days_since_first_order": ("days", "first_order_date"),
    "contract_ends_within": ("contract_id", "contract_end", "days_to_end"),
    "feedback": ("feedback_kind", "feedback_score", "feedback_comment", "responded_at"),
    "ticket_past_sla": ("ticket_id", "ticket_topic", "ticket_priority", "hours_open", "sla_hours"),
    "ticket_breached": ("ticket_id", "ticket_topic", "ticket_priority", "breach_kind", "due_at"),
    "tier_changed": ("from_tier", "to_tier", "changed_on"),
}


@dataclass(frozen=True)
class Text:
    """A text per language (``zh-CN``, ``en``); :meth:`pick` falls back to the other language."""

    by_locale: tuple[tuple[str, str], ...]

    def pick(self, locale: str) -> str:
        """The text in ``locale``, else in the other language."""
        texts = dict(self.by_locale)
        return texts.get(locale) or next(iter(texts.values()))

    def variants(self) -> list[str]:
        """Every language's text."""
        return [t for _, t in self.by_locale]


@dataclass(frozen=True)
class Trigger:
    """One trigger: its kind and its options (defaults filled in)."""

    kind: str
    options: tuple[tuple[str, Any], ...]

    def get(self, name: str, default: Any = None) -> Any:
        """One option."""
        return dict(self.options).get(name, default)


@dataclass(frozen=True)
class People:
    """Who: the customer's owner, a named user, or round-robin over a team and/or role."""

    kind: Literal["owner", "user", "round_robin"]
    user: str | None = None
    team: str | None = None
    role: str | None = None


@dataclass(frozen=True)
class TaskAction:
    """Create a task."""

    title: Text
    body: Text | None
    assignee: People
    due_in_days: int
    priority: str
    fallback: People | None = None
    where: str = ""
    kind: str = "task"


@dataclass(frozen=True)
class MessageAction:
    """Send a message through a channel."""

    channel: str  # email | sms | webhook
    to: str  # customer | owner (email, sms)
    webhook: str | None
    format: str  # wecom | dingtalk | json (webhook)
    subject: Text | None
    body: Text
    where: str = ""
    kind: str = "message"


@dataclass(frozen=True)
class TagAction:
    """Add and/or remove tags."""

    add: tuple[str, ...]
    remove: tuple[str, ...]
    where: str = ""
    kind: str = "tag"


@dataclass(frozen=True)
class CouponAction:
    """Issue a coupon: an amount (in the currency's units) or a percentage, valid for ``expires_in_days``."""

    amount: float | None
    percent: int | None
    currency: str | None
    min_order: float | None
    expires_in_days: int
    prefix: str
    where: str = ""
    kind: str = "coupon"


@dataclass(frozen=True)
class OwnerAction:
    """Assign or change the customer's owner."""

    assign: People
    only_if_unowned: bool
    where: str = ""
    kind: str = "owner"


Action = TaskAction | MessageAction | TagAction | CouponAction | OwnerAction


@dataclass(frozen=True)
class PlaybookRule:
    """One rule of a playbook."""

    id: str
    title: Text | None
    when: Trigger
    condition: Condition | None
    condition_data: Any
    then: tuple[Action, ...]
    priority: int = 0
    reentry: str = "every_time"  # once | every_time
    cooldown_days: int = 0
    max_per_day: int | None = None
    holdout: float = DEFAULT_HOLDOUT  # share in [0, 1) held out of the rule (see kehu.models.holdout.held_out)
    where: str = ""


@dataclass(frozen=True)
class Playbook:
    """A playbook file."""

    name: str
    title: Text | None
    description: Text | None
    enabled: bool
    quiet_hours: str | Literal["default"] | None
    rules: tuple[PlaybookRule, ...]
    #: a team's playbook acts only on that team's customers and people (``None``: every team's)
    team: str | None = None
    path: str = ""
    digest: str = ""
    source: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
