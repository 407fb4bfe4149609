"""Ticket rules as pure functions: SLA targets and breaches at a given time, and who a ticket goes to.

SLA: each priority has a first-response and a resolution target in hours, counted in calendar hours from the
ticket's ``opened_at``. A target is breached when the response (or resolution) came after its due time, or has
not come and the due time has passed. Times are passed in: the clock is the caller's.

Assignment, first rule that gives an active user wins:

1. ``owner``: the customer's owner;
2. ``topic``: round robin over the users listed for the ticket's topic;
3. ``team``: round robin over the active users of the default team (sorted by name).

Round robin keeps one position per pool (``topic:退款``, ``team:客服部``) and takes the next user after it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kehu.errors import ValidationError
from kehu.vocabulary import PRIORITIES

__all__ = ["SLA_KINDS", "AssignmentPolicy", "SlaTarget", "TicketPolicy", "breaches", "choose_assignee"]

SLA_KINDS = ("first_response", "resolution")
_DONE = ("resolved", "closed")


@dataclass(frozen=True)
class SlaTarget:
    """Hours to the first response and to the resolution."""

    first_response: float
    resolution: float


@dataclass(frozen=True)
class AssignmentPolicy:
    """Who gets new tickets (see the module docstring)."""

    order: tuple[str, ...] = ("owner", "topic", "team")
    topics: Mapping[str, Sequence[str]] = field(default_factory=dict)
    team: str | None = None


_DEFAULT_SLA = {
    "urgent": SlaTarget(1, 8),
    "high": SlaTarget(4, 24),
    "normal": SlaTarget(8, 72),
    "low": SlaTarget(24, 168),
}


@dataclass(frozen=True)
class TicketPolicy:
    """SLA targets per priority, assignment rules and the delay of the satisfaction follow-up."""

    sla: Mapping[str, SlaTarget] = field(default_factory=lambda: dict(_DEFAULT_SLA))
    assignment: AssignmentPolicy = field(default_factory=AssignmentPolicy)
    followup_hours: float = 24.0

    @classmethod
    def from_config(cls, data: Mapping[str, Any] | None, where: str = "tickets") -> TicketPolicy:
        """Build from the ``tickets`` section of the loop configuration (missing parts keep their defaults)."""
        data = dict(data or {})
        unknown = set(data) - {"sla", "assignment", "followup_hours"}
        if unknown:
            raise ValidationError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
        sla = dict(_DEFAULT_SLA)
        for priority, target in (data.get("sla") or {}).items():
            if priority not in PRIORITIES:
                raise ValidationError(f"{where}.sla: unknown priority {priority!r} (use {', '.join(PRIORITIES)})")
            try:
                fr, res = float(target["first_response"]), float(target["resolution"])
            except (KeyError, TypeError, ValueError):
                raise ValidationError(
                    f"{where}.sla.{priority}: give first_response and resolution in hours, e.g. "
                    "{first_response: 4, resolution: 24}"
                ) from None
            if fr <= 0 or res <= 0 or res < fr:
                raise ValidationError(
                    f"{where}.sla.{priority}: hours must be positive and resolution >= first response"
                )
            sla[priority] = SlaTarget(fr, res)
        a = dict(data.get("assignment") or {})
        order = tuple(a.get("order", ("owner", "topic", "team")))
        bad = [o for o in order if o not in ("owner", "topic", "team")]
        if bad:
            raise ValidationError(f"{where}.assignment.order: unknown rule(s) {bad} (use owner, topic, team)")
        topics = {str(k): [str(u) for u in v] for k, v in (a.get("topics") or {}).items()}
        hours = float(data.get("followup_hours", 24.0))
        if hours < 0:
            raise ValidationError(f"{where}.followup_hours: must be 0 or more")
        return cls(sla, AssignmentPolicy(order, topics, a.get("team")), hours)

    def due(self, priority: str, opened_at: dt.datetime) -> dict[str, dt.datetime]:
        """Due times of the first response and the resolution."""
        target = self.sla.get(priority, self.sla["normal"])
        return {
            "first_response": opened_at + dt.timedelta(hours=target.first_response),
            "resolution": opened_at + dt.timedelta(hours=target.resolution),
        }


def breaches(ticket: Mapping[str, Any], policy: TicketPolicy, now: dt.datetime) -> dict[str, dt.datetime]:
    """The SLA targets ``ticket`` has missed as of ``now`` (kind -> due time).

    ``ticket`` has ``priority``, ``status``, ``opened_at``, ``first_response_at`` and ``resolved_at``.
    """
    due = policy.due(ticket["priority"], ticket["opened_at"])
    out = {}
    responded = ticket.get("first_response_at")
    if (responded is None and now > due["first_response"]) or (
        responded is not None and responded > due["first_response"]
    ):
        out["first_response"] = due["first_response"]
    resolved = ticket.get("resolved_at")
    if resolved is None and ticket.get("status") in _DONE:
        return out  # closed without a resolution time: cannot be judged late
    if (resolved is None and now > due["resolution"]) or (resolved is not None and resolved > due["resolution"]):
        out["resolution"] = due["resolution"]
    return out


def choose_assignee(
    *,
    owner: str | None,
    topic: str | None,
    policy: AssignmentPolicy,
    active: Mapping[str, str | None],
    positions: Mapping[str, int],
) -> tuple[str, str, str | None, int | None] | None:
    """Pick the assignee of a new ticket.

    Parameters
    ----------
    owner
        The customer's owner (user name) or ``None``.
    topic
        The ticket's topic.
    active
        Active user name -> team.
    positions
        Round-robin pool -> index of the user who got the pool's last ticket.

    Returns
    -------
    tuple or None
        ``(assignee, rule, pool, new position)``, or ``None`` when no rule gives an active user.
    """
    for rule in policy.order:
        if rule == "owner" and owner and owner in active:
            return owner, "owner", None, None
        if rule == "topic" and topic and topic in policy.topics:
            pool, users = f"topic:{topic}", [u for u in policy.topics[topic] if u in active]
        elif rule == "team" and policy.team:
            pool, users = f"team:{policy.team}", sorted(u for u, t in active.items() if t == policy.team)
        else:
            continue
        if users:
            nxt = (positions.get(pool, -1) + 1) % len(users)
            return users[nxt], "round_robin", pool, nxt
    return None
