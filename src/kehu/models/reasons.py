"""Churn reasons: SHAP contributions grouped into business reasons, rendered with the customer's own numbers.

Features are grouped (:data:`REASON_GROUPS`): e.g. every order-count feature belongs to ``activity``. For one
customer the SHAP contributions of a group's features are summed; the groups that raise the risk most (positive
sums) become the reasons. Each group picks the code that fits the customer's numbers (orders fell → ``orders_down``,
no order at all → ``no_orders_90d`` …) and fills the code's sentence from the ``reasons.`` section of the one
catalog (:mod:`kehu.i18n`, zh-CN and en). No sentence lives in this module.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from kehu import i18n

__all__ = ["LOCALES", "REASON_GROUPS", "Reason", "catalog", "explain", "render"]

LOCALES = ("zh", "en")

#: reason group -> the features whose contributions it sums
REASON_GROUPS: dict[str, tuple[str, ...]] = {
    "activity": (
        "orders_30d", "orders_90d", "orders_prev_90d", "order_trend_90d", "orders_180d", "orders_365d",
        "revenue_30d_cents", "revenue_90d_cents", "revenue_prev_90d_cents", "revenue_trend_90d",
        "revenue_180d_cents", "revenue_365d_cents",
    ),
    "recency": ("days_since_last_order", "overdue_ratio", "gap_mean_days", "gap_std_days"),
    "engagement": (
        "interactions_total", "interactions_30d", "interactions_90d", "interactions_prev_90d",
        "interaction_trend_90d", "days_since_last_interaction",
    ),
    "service": ("tickets_total", "tickets_90d", "complaints_90d", "first_response_hours_mean"),
    "satisfaction": ("latest_nps", "latest_csat"),
    "contract": ("contracts_active", "contract_days_to_end", "contract_renewals"),
    "history": ("tenure_days", "orders", "purchase_days", "frequency", "recency_days", "T_days"),
    "value": ("total_revenue_cents", "mean_order_value_cents", "monetary_value_cents", "total_margin_cents"),
    "payments": ("refunded_orders", "refund_share", "discount_share"),
    "categories": ("category_count",),
}  # fmt: skip


@cache
def catalog() -> dict[str, dict[str, str]]:
    """Reason code -> ``{"zh": template, "en": template}`` (from the catalog's ``reasons.`` section)."""
    zh, en = i18n.section("reasons", "zh-CN"), i18n.section("reasons", "en")
    return {code: {"zh": str(zh[code]), "en": str(en[code])} for code in zh}


def render(code: str, values: Mapping[str, Any], locale: str) -> str:
    """The sentence of reason ``code`` in ``locale`` (``"zh"`` or ``"en"``) filled with ``values``."""
    if locale not in LOCALES:
        raise ValueError(f"unknown locale {locale!r}: use one of {', '.join(LOCALES)}")
    return catalog()[code][locale].format(**values)


@dataclass(frozen=True)
class Reason:
    """One reason: a catalog code, the customer's numbers behind it, and its summed SHAP contribution."""

    code: str
    values: dict[str, float | int] = field(default_factory=dict)
    contribution: float = 0.0

    def sentence(self, locale: str) -> str:
        """The rendered sentence (``"zh"`` or ``"en"``)."""
        return render(self.code, self.values, locale)

    def as_dict(self) -> dict[str, Any]:
        """``{"code", "values", "zh", "en"}``: the published form."""
        return {"code": self.code, "values": dict(self.values), "zh": self.sentence("zh"), "en": self.sentence("en")}


def _num(v: float) -> bool:
    return not math.isnan(v)


def _i(v: float) -> int:
    return 0 if math.isnan(v) else round(v)


def _drop(recent: float, previous: float) -> int:
    return round(100 * (previous - recent) / previous)


def _activity(v: Mapping[str, float]) -> tuple[str, dict[str, Any]]:
    recent, previous = _i(v["orders_90d"]), _i(v["orders_prev_90d"])
    if recent == 0:  # "no orders (3 before)" says more than "down 100%"
        return "no_orders_90d", {"previous": previous}
    if previous > 0 and recent < previous:
        return "orders_down", {"recent": recent, "previous": previous, "drop_pct": _drop(recent, previous)}
    return "orders_90d", {"recent": recent, "previous": previous}


def _recency(v: Mapping[str, float]) -> tuple[str, dict[str, Any]]:
    days, ratio, gap = v["days_since_last_order"], v["overdue_ratio"], v["gap_mean_days"]
    if _num(ratio) and _num(gap) and ratio > 1 and gap > 0:
        return "overdue", {"days": _i(days), "usual_gap": _i(gap), "ratio": round(ratio, 1)}
    return "since_last_order", {"days": _i(days)}


def _engagement(v: Mapping[str, float]) -> tuple[str, dict[str, Any]]:
    recent, previous = _i(v["interactions_90d"]), _i(v["interactions_prev_90d"])
    if recent == 0:
        days = v["days_since_last_interaction"]
        return ("no_engagement", {"days": _i(days)}) if _num(days) else ("never_engaged", {})
    if previous > 0 and recent < previous:
        return "engagement_down", {"recent": recent, "previous": previous, "drop_pct": _drop(recent, previous)}
    return "engagement_low", {"recent": recent}


def _service(v: Mapping[str, float]) -> tuple[str, dict[str, Any]]:
    if _i(v["complaints_90d"]) > 0:
        return "complaints", {"complaints": _i(v["complaints_90d"])}
    if _i(v["tickets_90d"]) > 0:
        return "tickets", {"tickets": _i(v["tickets_90d"])}
    if _num(v["first_response_hours_mean"]):
        return "slow_response", {"hours": round(v["first_response_hours_mean"], 1)}
    return "tickets_total", {"tickets": _i(v["tickets_total"])}


def _satisfaction(v: Mapping[str, float]) -> tuple[str, dict[str, Any]]:
    if _num(v["latest_nps"]):
        return "low_nps", {"nps": _i(v["latest_nps"])}
    if _num(v["latest_csat"]):
        return "low_csat", {"csat": _i(v["latest_csat"])}
    return "no_feedback", {}


def _contract(v: Mapping[str, float]) -> tuple[str, dict[str, Any]]:
    to_end = v["contract_days_to_end"]
    if not _num(to_end):
        return "no_contract", {}
    if to_end >= 0:
        return "contract_ending", {"days": _i(to_end)}
    return "contract_ended", {"days": -_i(to_end)}


def _history(v: Mapping[str, float]) -> tuple[str, dict[str, Any]]:
    if _i(v["orders"]) <= 1:
        return "one_order", {"tenure_days": _i(v["tenure_days"])}
    return "short_history", {"orders": _i(v["orders"]), "tenure_days": _i(v["tenure_days"])}


def _value(v: Mapping[str, float]) -> tuple[str, dict[str, Any]]:
    return "order_value", {
        "order_value": round(v["mean_order_value_cents"] / 100, 2) if _num(v["mean_order_value_cents"]) else 0
    }


def _payments(v: Mapping[str, float]) -> tuple[str, dict[str, Any]]:
    if _i(v["refunded_orders"]) > 0:
        share = v["refund_share"]
        return "refunds", {"refunds": _i(v["refunded_orders"]), "share_pct": round(100 * share) if _num(share) else 0}
    share = v["discount_share"]
    if not _num(share) or share <= 0:
        return "no_discounts", {}
    return "discounts", {"share_pct": round(100 * share)}


def _categories(v: Mapping[str, float]) -> tuple[str, dict[str, Any]]:
    return "categories", {"categories": _i(v["category_count"])}


_BUILDERS: dict[str, Callable[[Mapping[str, float]], tuple[str, dict[str, Any]]]] = {
    "activity": _activity,
    "recency": _recency,
    "engagement": _engagement,
    "service": _service,
    "satisfaction": _satisfaction,
    "contract": _contract,
    "history": _history,
    "value": _value,
    "payments": _payments,
    "categories": _categories,
}


class _Row(dict[str, float]):
    """A customer's features by name; a feature the model does not have reads as NaN."""

    def __missing__(self, key: str) -> float:
        return math.nan


def explain(
    X: np.ndarray, contributions: np.ndarray, feature_names: Sequence[str], *, top: int = 3
) -> list[list[Reason]]:
    """Reasons for each row of ``X`` from its SHAP ``contributions`` (same shape as ``X``).

    Groups with a positive summed contribution are ranked (largest first) and the first ``top`` rendered;
    a customer whose features all lower the risk gets no reasons.
    """
    names = list(feature_names)
    groups = [g for g, feats in REASON_GROUPS.items() if any(f in names for f in feats)]
    membership = np.zeros((len(names), len(groups)))
    for j, g in enumerate(groups):
        for f in REASON_GROUPS[g]:
            if f in names:
                membership[names.index(f), j] = 1.0
    sums = contributions @ membership
    order = np.argsort(-sums, axis=1, kind="stable")[:, :top]
    out: list[list[Reason]] = []
    for i in range(X.shape[0]):
        row: _Row | None = None
        reasons: list[Reason] = []
        for j in order[i]:
            s = float(sums[i, j])
            if s <= 0:
                break
            if row is None:
                row = _Row(zip(names, X[i].tolist(), strict=True))
            code, values = _BUILDERS[groups[j]](row)
            reasons.append(Reason(code, values, round(s, 6)))
        out.append(reasons)
    return out
