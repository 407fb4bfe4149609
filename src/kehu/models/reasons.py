"""Churn reasons: SHAP contributions grouped into business reasons, rendered with the customer's own numbers.

Features are grouped (:data:`REASON_GROUPS`): e.g. every order-count feature belongs to ``activity``. For one
customer the SHAP contributions of a group's features are summed; the groups that raise the risk most (positive
sums) are taken in turn. Each group proposes its codes in order of preference (orders fell → ``orders_down``,
revenue fell → ``revenue_down`` …) and the first whose checker (:data:`kehu.models.reason_checks.CHECKERS`)
finds its sentence true of the customer's numbers is shown; when none is true the group gives no reason and the
next group is taken. The ``history`` group (tenure, order totals) is context, never a risk reason: it proposes
nothing. Sentences come from the ``reasons.`` section of the one catalog (:mod:`kehu.i18n`, zh-CN and en); a
placeholder written ``{n:order|orders}`` renders the number with the singular or plural noun ("1 order",
"2 orders"). No sentence lives in this module.

"Typical" figures (a customer's average order value against the typical one) come from
:func:`reference_values` of the scored population, passed to :func:`explain` as ``reference``; without it the
value and category groups give no reason.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from kehu import i18n
from kehu.models.reason_checks import check

__all__ = ["LOCALES", "REASON_GROUPS", "Reason", "catalog", "explain", "reference_values", "render"]

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
    return _FORMATTER.format(catalog()[code][locale], **values)


class _Plural(string.Formatter):
    """``{n:order|orders}`` -> ``"1 order"`` / ``"2 orders"``; every other field formats as usual."""

    def format_field(self, value: Any, format_spec: str) -> str:
        if "|" in format_spec:
            one, other = format_spec.split("|", 1)
            return f"{value} {one if value == 1 else other}"
        return str(super().format_field(value, format_spec))


_FORMATTER = _Plural()


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


Candidates = list[tuple[str, dict[str, Any]]]


def _num(v: float) -> bool:
    return not math.isnan(v)


def _i(v: float) -> int:
    return 0 if math.isnan(v) else round(v)


def _drop(recent: float, previous: float) -> int:
    return round(100 * (previous - recent) / previous) if previous else 0


def _fall(recent: int, previous: int) -> dict[str, Any]:
    return {"recent": recent, "previous": previous, "drop_pct": _drop(recent, previous)}


def _activity(v: Mapping[str, float], c: Mapping[str, float], ref: Mapping[str, float]) -> Candidates:
    recent, previous = _i(v["orders_90d"]), _i(v["orders_prev_90d"])
    rev = round(v["revenue_90d_cents"] / 100) if _num(v["revenue_90d_cents"]) else 0
    rev_prev = round(v["revenue_prev_90d_cents"] / 100) if _num(v["revenue_prev_90d_cents"]) else 0
    return [
        ("no_orders_90d", {"previous": previous}),  # "no orders (3 before)" says more than "down 100%"
        ("orders_down", _fall(recent, previous)),
        ("revenue_down", _fall(rev, rev_prev)),
        ("no_orders_365d", {}),  # stopped long ago: the longest quiet window is the news
        ("no_orders_180d", {}),
    ]


def _recency(v: Mapping[str, float], c: Mapping[str, float], ref: Mapping[str, float]) -> Candidates:
    ratio = round(v["overdue_ratio"], 1) if _num(v["overdue_ratio"]) else 0.0
    days = _i(v["days_since_last_order"])
    return [
        ("overdue", {"days": days, "usual_gap": _i(v["gap_mean_days"]), "ratio": ratio}),
        ("since_last_order", {"days": days}),
    ]


def _engagement(v: Mapping[str, float], c: Mapping[str, float], ref: Mapping[str, float]) -> Candidates:
    recent, previous = _i(v["interactions_90d"]), _i(v["interactions_prev_90d"])
    return [
        ("no_engagement", {"days": _i(v["days_since_last_interaction"])}),
        ("never_engaged", {}),
        ("engagement_down", _fall(recent, previous)),
        ("engagement_low", {"recent": recent}),
    ]


def _service(v: Mapping[str, float], c: Mapping[str, float], ref: Mapping[str, float]) -> Candidates:
    hours = v["first_response_hours_mean"]
    return [
        ("complaints", {"complaints": _i(v["complaints_90d"])}),
        ("tickets", {"tickets": _i(v["tickets_90d"])}),
        ("slow_response", {"hours": round(hours, 1) if _num(hours) else 0.0}),
    ]


def _satisfaction(v: Mapping[str, float], c: Mapping[str, float], ref: Mapping[str, float]) -> Candidates:
    return [
        ("low_nps", {"nps": _i(v["latest_nps"])}),
        ("low_csat", {"csat": _i(v["latest_csat"])}),
        ("no_feedback", {}),
    ]


def _contract(v: Mapping[str, float], c: Mapping[str, float], ref: Mapping[str, float]) -> Candidates:
    to_end = _i(v["contract_days_to_end"])
    return [
        ("contract_ends_today", {}),
        ("contract_ending", {"days": to_end}),
        ("contract_ended", {"days": -to_end}),
        ("no_contract", {}),
    ]


def _history(v: Mapping[str, float], c: Mapping[str, float], ref: Mapping[str, float]) -> Candidates:
    return []  # tenure and totals describe the customer; they are not reasons for the risk


def _typical(ref: Mapping[str, float], key: str, scale: float) -> int:
    value = ref.get(key, math.nan)
    return 0 if math.isnan(value) else round(value / scale)


def _value(v: Mapping[str, float], c: Mapping[str, float], ref: Mapping[str, float]) -> Candidates:
    mov, margin, orders = v["mean_order_value_cents"], v["total_margin_cents"], v["orders"]
    by_value = ("low_order_value", {
        "order_value": round(mov / 100) if _num(mov) else 0, "typical": _typical(ref, "mean_order_value_cents", 100),
    })  # fmt: skip
    by_margin = ("low_margin", {
        "margin": round(margin / orders / 100) if _num(margin) and _num(orders) and orders >= 1 else 0,
        "typical": _typical(ref, "margin_per_order_cents", 100),
    })  # fmt: skip
    # the feature that drives the group speaks first
    margin_first = c.get("total_margin_cents", 0.0) > c.get("mean_order_value_cents", 0.0)
    return [by_margin, by_value] if margin_first else [by_value, by_margin]


def _payments(v: Mapping[str, float], c: Mapping[str, float], ref: Mapping[str, float]) -> Candidates:
    refund, discount = v["refund_share"], v["discount_share"]
    return [
        ("refunds", {"refunds": _i(v["refunded_orders"]), "share_pct": round(100 * refund) if _num(refund) else 0}),
        ("discounts", {"share_pct": round(100 * discount) if _num(discount) else 0}),
        ("no_discounts", {}),
    ]


def _categories(v: Mapping[str, float], c: Mapping[str, float], ref: Mapping[str, float]) -> Candidates:
    return [("categories", {"categories": _i(v["category_count"]), "typical": _typical(ref, "category_count", 1)})]


_BUILDERS: dict[str, Callable[[Mapping[str, float], Mapping[str, float], Mapping[str, float]], Candidates]] = {
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


def reference_values(X: np.ndarray, feature_names: Sequence[str]) -> dict[str, float]:
    """The "typical" figures reasons compare a customer with: medians over the rows of ``X`` (the scored
    customers), NaN where no row has the number.

    Keys: ``mean_order_value_cents``; ``margin_per_order_cents`` (gross margin / orders, buyers only);
    ``category_count`` (buyers only).
    """
    names = list(feature_names)
    X = np.asarray(X, dtype=np.float64)

    def col(name: str) -> np.ndarray:
        return X[:, names.index(name)] if name in names else np.full(X.shape[0], np.nan)

    def median(values: np.ndarray) -> float:
        values = values[np.isfinite(values)]
        return float(np.median(values)) if values.size else math.nan

    orders = col("orders")
    buyers = np.nan_to_num(orders) >= 1
    with np.errstate(divide="ignore", invalid="ignore"):
        margin_per_order = col("total_margin_cents") / orders
    return {
        "mean_order_value_cents": median(col("mean_order_value_cents")),
        "margin_per_order_cents": median(margin_per_order[buyers]),
        "category_count": median(col("category_count")[buyers]),
    }


class _Row(dict[str, float]):
    """A customer's features by name; a feature the model does not have reads as NaN."""

    def __missing__(self, key: str) -> float:
        return math.nan


def explain(
    X: np.ndarray,
    contributions: np.ndarray,
    feature_names: Sequence[str],
    *,
    top: int = 3,
    reference: Mapping[str, float] | None = None,
) -> list[list[Reason]]:
    """Reasons for each row of ``X`` from its SHAP ``contributions`` (same shape as ``X``).

    Groups with a positive summed contribution are taken largest first; each gives its first code whose
    checker passes (:func:`kehu.models.reason_checks.check`), or nothing, until ``top`` reasons are found. A
    customer whose features all lower the risk gets no reasons.

    Parameters
    ----------
    reference
        :func:`reference_values` of the scored population (the "typical" figures of the value and category
        reasons).
    """
    ref = dict(reference or {})
    names = list(feature_names)
    groups = [g for g, feats in REASON_GROUPS.items() if any(f in names for f in feats)]
    membership = np.zeros((len(names), len(groups)))
    for j, g in enumerate(groups):
        for f in REASON_GROUPS[g]:
            if f in names:
                membership[names.index(f), j] = 1.0
    sums = contributions @ membership
    order = np.argsort(-sums, axis=1, kind="stable")
    out: list[list[Reason]] = []
    for i in range(X.shape[0]):
        row: _Row | None = None
        contrib: dict[str, float] = {}
        reasons: list[Reason] = []
        for j in order[i]:
            s = float(sums[i, j])
            if s <= 0 or len(reasons) == top:
                break
            if row is None:
                row = _Row(zip(names, X[i].tolist(), strict=True))
                contrib = dict(zip(names, contributions[i].tolist(), strict=True))
            for code, values in _BUILDERS[groups[j]](row, contrib, ref):
                if check(code, values, row, ref) is None:
                    reasons.append(Reason(code, values, round(s, 6)))
                    break
        out.append(reasons)
    return out
