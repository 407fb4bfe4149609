"""A customer's published figures as the 360 page and its JSON twin show them: each named, with its definition.

Three figures answer different questions and must never be read as one another (definitions in
:mod:`kehu.publish.churn_kinds` and docs/churn.md): the purchase-churn risk (no purchase in the horizon), the
contract non-renewal risk (with the customer's one renewal probability, 1 - that risk, and the contract cohort's
sBG renewal rate as the cohort's baseline) and, for lapsed buyers, the win-back chance with the value at stake.
P(alive) is the purchase model's probability that the customer is still active.

:func:`score_figures` gives, per published figure, its stable ``kind`` (the code a test or an API client reads),
its label and one-line definition in the reader's language (the page shows the definition on hover or tap), the
value as a number and as display text, and the tier, state and reasons where it has them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kehu.views.text import Translate

__all__ = ["FIGURE_KINDS", "MODEL_NAMES", "score_figures"]

#: published key -> kind, in the order the page lists them
FIGURE_KINDS: dict[str, str] = {
    "churn_risk": "purchase_churn",
    "renewal_risk": "contract_non_renewal",
    "renewal_probability": "renewal_probability",
    "cohort_renewal_rate": "cohort_renewal_baseline",
    "winback": "winback",
    "winback_value": "winback_value",
    "p_alive": "activity",
}
_TIERS = {"churn_risk": "churn_tier", "renewal_risk": "renewal_tier"}
_REASONS = {"churn_risk": "churn_reasons", "renewal_risk": "renewal_reasons"}
_DEFAULT_DAYS = {"horizon": 90, "grace": 30, "lapsed": 180}


def _percent(value: float, t: Translate, digits: int = 0) -> str:
    """``value`` as a percentage; an estimate that rounds to 0 is shown as under the smallest step (``<1%``),
    since a model's 0 says "too rare to have been seen", not "impossible"."""
    step = 10.0**-digits
    if 0 <= value * 100 < step / 2:
        return "<" + t.number(step, digits) + "%"
    return t.number(value * 100, digits) + "%"


def _sentence(reason: Mapping[str, Any], lang: str) -> str:
    return str(reason.get(lang) or reason.get("en") or "")


#: purchase model setting (``KEHU_PURCHASE_MODEL``) -> the name the definitions use
MODEL_NAMES = {"bgnbd": "BG/NBD", "pareto_nbd": "Pareto/NBD", "mbgnbd": "MBG/NBD"}


def score_figures(
    scores: Mapping[str, Any] | None,
    t: Translate,
    currency: str = "CNY",
    *,
    purchase_model: str = "bgnbd",
    single_purchase: bool = False,
) -> list[dict[str, Any]]:
    """The named figures of one customer's published ``scores`` (see the module docstring); only those published.

    ``purchase_model`` names the model behind P(alive). ``single_purchase``: the customer bought once (frequency
    0); BG/NBD's P(alive) is then 1 by the model's construction, and the figure says so (state
    ``single_purchase``) instead of letting 100% read as "still buying".

    Each item: ``kind``, ``key``, ``label``, ``definition``, ``value``, ``display`` and, where they apply,
    ``tier`` with ``tier_label``, ``state`` with ``state_label``, ``reasons`` (sentences in the reader's language).
    """
    if not scores:
        return []
    days = {**_DEFAULT_DAYS, **(scores.get("risk_days") or {}), "model": MODEL_NAMES.get(purchase_model, "BG/NBD")}
    out: list[dict[str, Any]] = []
    for key, kind in FIGURE_KINDS.items():
        value = scores.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        display = (
            t.money(value, currency) if key == "winback_value" else _percent(value, t, 1 if key == "p_alive" else 0)
        )
        item: dict[str, Any] = {
            "kind": kind,
            "key": key,
            "label": t(f"figure.{kind}"),
            "definition": t(f"figure.{kind}_definition", **days),
            "value": float(value),
            "display": display,
        }
        tier = scores.get(_TIERS.get(key, ""))
        if tier in ("high", "medium", "low"):
            item.update(tier=tier, tier_label=t("customer.tier_" + tier))
        if key == "renewal_risk" and scores.get("renewal_state") in ("renewed", "draft"):
            state = str(scores["renewal_state"])
            item.update(state=state, state_label=t(f"figure.renewal_state_{state}"))
        if key == "p_alive" and single_purchase and purchase_model == "bgnbd":
            item.update(state="single_purchase", state_label=t("figure.activity_single_purchase"))
        reasons = scores.get(_REASONS.get(key, "")) or []
        if reasons:
            item["reasons"] = [_sentence(r, t.lang) for r in reasons if isinstance(r, Mapping)]
        out.append(item)
    return out
