"""Loyalty rules as data: points per yuan spent and per action, expiry, and the tiers.

A customer's tier on a day is the highest tier whose threshold they reach over the rolling window ending that day
(``window_days``) *and* whose minimum spend over the same window they reach. The threshold is on points earned in
the window (``basis: points``) or on spend in the window in yuan (``basis: spend``). The default tiers::

    普通 Standard   0
    银卡 Silver     1,000 points
    金卡 Gold       5,000 points and at least 5,000 yuan spent
    钻石 Diamond   20,000 points and at least 20,000 yuan spent
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kehu.errors import ValidationError

__all__ = ["DEFAULT_TIERS", "LoyaltyRules", "Tier"]


@dataclass(frozen=True)
class Tier:
    """One tier: key, labels, threshold (points or yuan, by the rules' basis) and minimum spend in yuan."""

    key: str
    zh: str
    en: str
    threshold: float = 0
    min_spend: float = 0


DEFAULT_TIERS = (
    Tier("standard", "普通", "Standard", 0),
    Tier("silver", "银卡", "Silver", 1_000),
    Tier("gold", "金卡", "Gold", 5_000, min_spend=5_000),
    Tier("diamond", "钻石", "Diamond", 20_000, min_spend=20_000),
)


@dataclass(frozen=True)
class LoyaltyRules:
    """How points are earned, when they expire, and the tiers (see the module docstring)."""

    points_per_yuan: float = 1.0
    actions: Mapping[str, int] = field(default_factory=lambda: {"review": 50, "referral": 200})
    expiry_days: int = 365
    window_days: int = 365
    basis: str = "points"
    tiers: tuple[Tier, ...] = DEFAULT_TIERS

    @classmethod
    def from_config(cls, data: Mapping[str, Any] | None, where: str = "loyalty") -> LoyaltyRules:
        """Build from the ``loyalty`` section of the loop configuration (missing parts keep their defaults)."""
        data = dict(data or {})
        known = {"points_per_yuan", "actions", "expiry_days", "window_days", "basis", "tiers"}
        unknown = set(data) - known
        if unknown:
            raise ValidationError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
        base = cls()
        tiers = base.tiers
        if "tiers" in data:
            try:
                tiers = tuple(
                    Tier(str(t["key"]), str(t.get("zh", t["key"])), str(t.get("en", t["key"])),
                         float(t.get("threshold", 0)), float(t.get("min_spend", 0)))
                    for t in data["tiers"]
                )  # fmt: skip
            except (KeyError, TypeError, ValueError):
                raise ValidationError(
                    f"{where}.tiers: a list of {{key, zh, en, threshold, min_spend}} (numbers for the last two)"
                ) from None
        rules = cls(
            points_per_yuan=float(data.get("points_per_yuan", base.points_per_yuan)),
            actions={str(k): int(v) for k, v in (data.get("actions") or base.actions).items()},
            expiry_days=int(data.get("expiry_days", base.expiry_days)),
            window_days=int(data.get("window_days", base.window_days)),
            basis=str(data.get("basis", base.basis)),
            tiers=tiers,
        )
        rules.check(where)
        return rules

    def check(self, where: str = "loyalty") -> None:
        """Raise :class:`ValidationError` for rules that cannot work."""
        if self.points_per_yuan < 0:
            raise ValidationError(f"{where}.points_per_yuan: must be 0 or more")
        if any(v <= 0 for v in self.actions.values()):
            raise ValidationError(f"{where}.actions: points per action must be positive")
        if self.expiry_days < 1 or self.window_days < 1:
            raise ValidationError(f"{where}: expiry_days and window_days must be at least 1")
        if self.basis not in ("points", "spend"):
            raise ValidationError(f"{where}.basis: use points or spend")
        if not self.tiers or self.tiers[0].threshold != 0 or self.tiers[0].min_spend != 0:
            raise ValidationError(f"{where}.tiers: the first tier is the entry tier (threshold 0, no minimum spend)")
        keys = [t.key for t in self.tiers]
        if len(set(keys)) != len(keys):
            raise ValidationError(f"{where}.tiers: tier keys must be unique")
        for a, b in zip(self.tiers, self.tiers[1:], strict=False):
            if b.threshold <= a.threshold or b.min_spend < a.min_spend:
                raise ValidationError(f"{where}.tiers: {b.key} must need more than {a.key}")

    def points_for_spend(self, amount_cents: int) -> int:
        """Whole points for a purchase (rounded down)."""
        return max(0, math.floor(amount_cents * self.points_per_yuan / 100 + 1e-9))

    def action_points(self, action: str) -> int:
        """Points of an action such as ``review``."""
        if action not in self.actions:
            raise ValidationError(f"loyalty action {action!r} is not one of {', '.join(sorted(self.actions))}")
        return int(self.actions[action])

    def tier_for(self, points: int, spend_cents: int) -> Tier:
        """The highest tier reached with ``points`` earned and ``spend_cents`` spent over the window."""
        measure = points if self.basis == "points" else spend_cents / 100
        reached = self.tiers[0]
        for tier in self.tiers[1:]:
            if measure >= tier.threshold and spend_cents / 100 >= tier.min_spend:
                reached = tier
        return reached

    def tier(self, key: str) -> Tier:
        """The tier named ``key``."""
        for t in self.tiers:
            if t.key == key:
                return t
        raise ValidationError(f"no loyalty tier {key!r}")
