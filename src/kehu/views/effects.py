"""The "what works" page's data (and its JSON twin) from :meth:`kehu.service.playbooks.PlaybookService.effects`:
the rules ordered for reading (flagged first, then by verdict and size), the measures in the page's order, the
verdict counts and the window form's values."""

from __future__ import annotations

from typing import Any

__all__ = ["MEASURES", "effects_page"]

#: The measures of each rule, in the page's order (revenue first: it decides the verdict).
MEASURES = ("revenue_per_customer", "repurchase", "retention", "win_back")
_ORDER = {"negative": 0, "none": 1, "positive": 2, "too_few": 3}


def effects_page(effects: dict[str, Any], *, form: dict[str, Any]) -> dict[str, Any]:
    """The page's data: ``effects`` with its rules ordered flagged first (negative, then no measurable effect),
    then positive, then too few to tell — within each, by the customers measured — plus ``measures``,
    ``verdicts`` (count per verdict) and ``form`` (the window asked for)."""
    rules = sorted(
        effects["rules"],
        key=lambda r: (_ORDER[r["verdict"]], -sum(a["customers"] for a in r["arms"].values()), r["ref"]),
    )
    counts = {v: sum(r["verdict"] == v for r in rules) for v in _ORDER}
    measured = any(a["customers"] for r in rules for a in r["arms"].values())
    return {**effects, "rules": rules, "measures": list(MEASURES), "verdicts": counts, "measured": measured,
            "form": form}  # fmt: skip
