"""The truth of a reason: one checker per reason code, applied before a reason is shown.

A reason's sentence makes claims about the customer: a number ("3 orders in the last 90 days"), a direction
("down 40% from 5"), a threshold ("45 days since the last order" only says something after a month), a kind
("a detractor" is an NPS answer of 0–6). The checker of a code re-derives every value the sentence is filled
with from the customer's features (and the scored population's :func:`~kehu.models.reasons.reference_values`
for "typical" figures) and tests each claim. :func:`kehu.models.reasons.explain` shows a reason only when its
checker passes; otherwise the group's next fitting code, or the next group, is taken.

:data:`CHECKERS` is the registry, reason code -> checker. Every code of the ``reasons.`` catalog section must
have one (a test keeps it so, and :func:`check` refuses a code without one). To add a code: write its sentence
in ``locale/zh-CN.yaml`` and ``locale/en.yaml``, its builder in :mod:`kehu.models.reasons`, and its checker here::

    @register("my_code")
    def _my_code(f, v, ref):
        return _all(_same(v, "count", _i(f["my_feature"])), _claim(v["count"] >= 1, "count is zero"))

A checker takes ``(features, values, reference)`` — the customer's features by name (a missing feature reads as
NaN), the reason's ``values`` and the reference figures — and returns ``None`` when the sentence is true, else
a short description of what is false.

Thresholds (module constants, named in the docs): :data:`SINCE_LAST_ORDER_MIN_DAYS`,
:data:`NO_ENGAGEMENT_MIN_DAYS`, :data:`SLOW_RESPONSE_HOURS`, :data:`NPS_DETRACTOR_MAX`, :data:`CSAT_LOW_MAX`,
:data:`CONTRACT_ENDING_DAYS`, :data:`DISCOUNT_HEAVY_SHARE`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "CHECKERS",
    "CONTRACT_ENDING_DAYS",
    "CSAT_LOW_MAX",
    "DISCOUNT_HEAVY_SHARE",
    "NO_ENGAGEMENT_MIN_DAYS",
    "NPS_DETRACTOR_MAX",
    "SINCE_LAST_ORDER_MIN_DAYS",
    "SLOW_RESPONSE_HOURS",
    "Checker",
    "check",
    "register",
]

#: "N days since the last order" is a reason only beyond a month
SINCE_LAST_ORDER_MIN_DAYS = 30
#: "no interaction for N days" is a reason only beyond a month
NO_ENGAGEMENT_MIN_DAYS = 30
#: a mean first response at least this slow (hours) is "slow"
SLOW_RESPONSE_HOURS = 24.0
#: NPS detractors answer 0 to this (promoters 9–10, passives 7–8)
NPS_DETRACTOR_MAX = 6
#: a CSAT score at most this (of 5) is low
CSAT_LOW_MAX = 3
#: "contract ends in N days" is a reason only within this many days (the default churn horizon)
CONTRACT_ENDING_DAYS = 90
#: "N% of orders used a discount" is a reason only from this share on (a deal seeker)
DISCOUNT_HEAVY_SHARE = 0.5

#: ``(features, values, reference) -> None`` when the sentence is true, else what is false
Checker = Callable[[Mapping[str, float], Mapping[str, Any], Mapping[str, float]], str | None]

#: reason code -> its checker
CHECKERS: dict[str, Checker] = {}


def register(code: str) -> Callable[[Checker], Checker]:
    """Decorator: make the function the checker of reason ``code`` (one checker per code)."""

    def add(fn: Checker) -> Checker:
        if code in CHECKERS:
            raise ValueError(f"reason code {code!r} already has a checker ({CHECKERS[code].__name__})")
        CHECKERS[code] = fn
        return fn

    return add


def check(
    code: str, values: Mapping[str, Any], features: Mapping[str, float], reference: Mapping[str, float] | None = None
) -> str | None:
    """``None`` when reason ``code`` filled with ``values`` is true of the customer's ``features``, else why not.

    Raises
    ------
    KeyError
        When ``code`` has no checker in :data:`CHECKERS` (every shown reason must be checkable).
    """
    if code not in CHECKERS:
        raise KeyError(f"reason code {code!r} has no checker: register one in kehu.models.reason_checks")
    row = _Features(features)
    try:
        return CHECKERS[code](row, values, reference or {})
    except KeyError as e:
        return f"value {e.args[0]!r} is missing"


class _Features(dict[str, float]):
    def __missing__(self, key: str) -> float:
        return math.nan


# -- helpers ------------------------------------------------------------------------------------------------------
def _nan(x: float) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _i(x: float) -> int | None:
    """The whole number a sentence shows for feature value ``x``; ``None`` when the feature is missing."""
    return None if _nan(x) else round(x)


def _same(values: Mapping[str, Any], key: str, expected: Any) -> str | None:
    if expected is None:
        return f"{key}: the feature behind it is missing"
    shown = values[key]
    return None if shown == expected else f"{key}: shows {shown}, the customer's number is {expected}"


def _claim(ok: bool, problem: str) -> str | None:
    return None if ok else problem


def _all(*results: str | None) -> str | None:
    problems = [r for r in results if r is not None]
    return "; ".join(problems) if problems else None


def _drop_pct(recent: float, previous: float) -> int:
    return round(100 * (previous - recent) / previous)


def _fall(values: Mapping[str, Any], recent: int | None, previous: int | None, *, from_zero: bool) -> str | None:
    """``recent`` and ``previous`` shown as they are, a real fall, and its percentage."""
    same = _all(_same(values, "recent", recent), _same(values, "previous", previous))
    if same or recent is None or previous is None:
        return same or "counts missing"
    low = 0 if from_zero else 1
    return _all(
        _claim(low <= recent < previous, f"no fall: {recent} after {previous}"),
        None if from_zero else _same(values, "drop_pct", _drop_pct(recent, previous) if previous else None),
    )


def _typical(
    values: Mapping[str, Any], key: str, reference: Mapping[str, float], ref_key: str, scale: float
) -> str | None:
    ref = reference.get(ref_key, math.nan)
    if _nan(ref):
        return f"{key}: no reference figure {ref_key!r}"
    return _same(values, key, round(ref / scale))


# -- activity -----------------------------------------------------------------------------------------------------
@register("no_orders_90d")
def _no_orders_90d(f: Mapping[str, float], v: Mapping[str, Any], ref: Mapping[str, float]) -> str | None:
    return _all(
        _claim(_i(f["orders_90d"]) == 0, "there are orders in the last 90 days"),
        _same(v, "previous", _i(f["orders_prev_90d"])),
        _claim((_i(f["orders_prev_90d"]) or 0) >= 1, "no orders in the 90 days before either: nothing fell"),
    )


@register("orders_down")
def _orders_down(f: Mapping[str, float], v: Mapping[str, Any], ref: Mapping[str, float]) -> str | None:
    return _fall(v, _i(f["orders_90d"]), _i(f["orders_prev_90d"]), from_zero=False)


@register("revenue_down")
def _revenue_down(f: Mapping[str, float], v: Mapping[str, Any], ref: Mapping[str, float]) -> str | None:
    recent, previous = f["revenue_90d_cents"], f["revenue_prev_90d_cents"]
    shown = None if _nan(recent) or _nan(previous) else (round(recent / 100), round(previous / 100))
    if shown is None:
        return "revenue missing"
    return _all(
        _fall(v, shown[0], shown[1], from_zero=False),
        _claim(_i(f["orders_90d"]) != 0, "no orders in the last 90 days (no_orders_90d says it)"),
        _claim(v.get("drop_pct", 0) >= 1, "the fall rounds to 0%"),
    )


def _no_orders_since(f: Mapping[str, float], window: str) -> str | None:
    return _all(
        _claim(_i(f[f"orders_{window}"]) == 0, f"there are orders in the last {window}"),
        _claim((_i(f["orders"]) or 0) >= 1, "the customer never ordered: nothing stopped"),
    )


@register("no_orders_365d")
def _no_orders_365d(f: Mapping[str, float], v: Mapping[str, Any], ref: Mapping[str, float]) -> str | None:
    return _no_orders_since(f, "365d")


@register("no_orders_180d")
def _no_orders_180d(f: Mapping[str, float], v: Mapping[str, Any], ref: Mapping[str, float]) -> str | None:
    return _no_orders_since(f, "180d")


# -- recency ------------------------------------------------------------------------------------------------------
@register("overdue")
def _overdue(f: Mapping[str, float], v: Mapping[str, Any], ref: Mapping[str, float]) -> str | None:
    ratio = f["overdue_ratio"]
    return _all(
        _same(v, "days", _i(f["days_since_last_order"])),
        _same(v, "usual_gap", _i(f["gap_mean_days"])),
        _same(v, "ratio", None if _nan(ratio) else round(ratio, 1)),
        _claim(v["ratio"] > 1.0, f"{v['ratio']} times the usual gap is not overdue"),
        _claim(v["usual_gap"] >= 1 and v["days"] > v["usual_gap"], "the last order is not later than usual"),
    )


@register("since_last_order")
def _since_last_order(f: Mapping[str, float], v: Mapping[str, Any], ref: Mapping[str, float]) -> str | None:
    return _all(
        _same(v, "days", _i(f["days_since_last_order"])),
        _claim(v["days"] > SINCE_LAST_ORDER_MIN_DAYS, f"{v['days']} days is not long since an order"),
    )


# -- engagement ---------------------------------------------------------------------------------------------------
@register("engagement_down")
def _engagement_down(f: Mapping[str, float], v: Mapping[str, Any], ref: Mapping[str, float]) -> str | None:
    return _fall(v, _i(f["interactions_90d"]), _i(f["interactions_prev_90d"]), from_zero=False)


@register("no_engagement")
def _no_engagement(f: Mapping[str, float], v: Mapping[str, Any], ref: Mapping[str, float]) -> str | None:
    return _all(
        _claim(_i(f["interactions_90d"]) == 0, "there are interactions in the last 90 days"),
        _same(v, "days", _i(f["days_since_last_interaction"])),
        _claim(v["days"] > NO_ENGAGEMENT_MIN_DAYS, f"{v['days']} days without interaction is not long"),
    )


@register("never_engaged")
def _never_engaged(f: Mapping[str, float], v: Mapping[str, Any], ref: Mapping[str, float]) -> str | None:
    return _claim(_i(f["interactions_total"]) == 0, "the customer has interactions on record")


@register("engagement_low")
def _engagement_low(f: Mapping[str, float], v: Mapping[str, Any], ref: Mapping[str, float]) -> str | None:
    return _all(
        _same(v, "recent", _i(f["interactions_90d"])),
        _claim(v["recent"] == 1, "'only one interaction' needs exactly one"),
        _claim((_i(f["interactions_prev_90d"]) or 0) <= 1, "fewer than before: engagement_down says it"),
    )


# -- service ------------------------------------------------------------------------------------------------------
@register("complaints")
def _complaints(f: Mapping[str, float], v: Mapping[str, Any], ref: Mapping[str, float]) -> str | None:
    return _all(_same(v, "complaints", _i(f["complaints_90d"])), _claim(v["complaints"] >= 1, "no complaint"))


@register("tickets")
def _tickets(f: Mapping[str, float], v: Mapping[str, Any], ref: Mapping[str, float]) -> str | None:
    return _all(_same(v, "tickets", _i(f["tickets_90d"])), _claim(v["tickets"] >= 1, "no ticket"))


@register("slow_response")
def _slow_response(f: Mapping[str, float], v: Mapping[str, Any], ref: Mapping[str, float]) -> str | None:
    hours = f["first_response_hours_mean"]
    return _all(
        _same(v, "hours", None if _nan(hours) else round(hours, 1)),
        _claim(v["hours"] >= SLOW_RESPONSE_HOURS, f"{v['hours']} hours is not slow"),
    )


# -- satisfaction -------------------------------------------------------------------------------------------------
@register("low_nps")
def _low_nps(f: Mapping[str, float], v: Mapping[str, Any], ref: Mapping[str, float]) -> str | None:
    return _all(
        _same(v, "nps", _i(f["latest_nps"])),
        _claim(0 <= v["nps"] <= NPS_DETRACTOR_MAX, f"NPS {v['nps']} is not a detractor's (0–{NPS_DETRACTOR_MAX})"),
    )


@register("low_csat")
def _low_csat(f: Mapping[str, float], v: Mapping[str, Any], ref: Mapping[str, float]) -> str | None:
    return _all(
        _same(v, "csat", _i(f["latest_csat"])),
        _claim(v["csat"] <= CSAT_LOW_MAX, f"CSAT {v['csat']} is not low (at most {CSAT_LOW_MAX})"),
    )


@register("no_feedback")
def _no_feedback(f: Mapping[str, float], v: Mapping[str, Any], ref: Mapping[str, float]) -> str | None:
    return _claim(_nan(f["latest_nps"]) and _nan(f["latest_csat"]), "the customer answered a survey")


# -- contract -----------------------------------------------------------------------------------------------------
@register("contract_ends_today")
def _contract_ends_today(f: Mapping[str, float], v: Mapping[str, Any], ref: Mapping[str, float]) -> str | None:
    return _claim(_i(f["contract_days_to_end"]) == 0, "the contract does not end today")


@register("contract_ending")
def _contract_ending(f: Mapping[str, float], v: Mapping[str, Any], ref: Mapping[str, float]) -> str | None:
    return _all(
        _same(v, "days", _i(f["contract_days_to_end"])),
        _claim(1 <= v["days"] <= CONTRACT_ENDING_DAYS, f"ends in {v['days']} days: not 1–{CONTRACT_ENDING_DAYS}"),
    )


@register("contract_ended")
def _contract_ended(f: Mapping[str, float], v: Mapping[str, Any], ref: Mapping[str, float]) -> str | None:
    to_end = _i(f["contract_days_to_end"])
    return _all(
        _same(v, "days", None if to_end is None else -to_end),
        _claim(v["days"] >= 1, "the contract has not ended"),
        _claim((_i(f["contracts_active"]) or 0) == 0, "another contract is live"),
    )


@register("no_contract")
def _no_contract(f: Mapping[str, float], v: Mapping[str, Any], ref: Mapping[str, float]) -> str | None:
    return _claim(
        _nan(f["contract_days_to_end"]) and (_i(f["contracts_active"]) or 0) == 0, "the customer has a contract"
    )


# -- value --------------------------------------------------------------------------------------------------------
@register("low_order_value")
def _low_order_value(f: Mapping[str, float], v: Mapping[str, Any], ref: Mapping[str, float]) -> str | None:
    mov = f["mean_order_value_cents"]
    return _all(
        _same(v, "order_value", None if _nan(mov) else round(mov / 100)),
        _typical(v, "typical", ref, "mean_order_value_cents", 100),
        _claim(v["order_value"] < v["typical"], f"{v['order_value']} is not below {v['typical']}"),
    )


@register("low_margin")
def _low_margin(f: Mapping[str, float], v: Mapping[str, Any], ref: Mapping[str, float]) -> str | None:
    margin, orders = f["total_margin_cents"], f["orders"]
    per = None if _nan(margin) or _nan(orders) or orders < 1 else round(margin / orders / 100)
    return _all(
        _same(v, "margin", per),
        _typical(v, "typical", ref, "margin_per_order_cents", 100),
        _claim(v["margin"] < v["typical"], f"{v['margin']} is not below {v['typical']}"),
    )


# -- payments -----------------------------------------------------------------------------------------------------
@register("refunds")
def _refunds(f: Mapping[str, float], v: Mapping[str, Any], ref: Mapping[str, float]) -> str | None:
    share = f["refund_share"]
    return _all(
        _same(v, "refunds", _i(f["refunded_orders"])),
        _same(v, "share_pct", None if _nan(share) else round(100 * share)),
        _claim(v["refunds"] >= 1 and v["share_pct"] >= 1, "no refund worth naming"),
    )


@register("discounts")
def _discounts(f: Mapping[str, float], v: Mapping[str, Any], ref: Mapping[str, float]) -> str | None:
    share = f["discount_share"]
    return _all(
        _same(v, "share_pct", None if _nan(share) else round(100 * share)),
        _claim(not _nan(share) and share >= DISCOUNT_HEAVY_SHARE, f"{v['share_pct']}% is not most orders"),
    )


@register("no_discounts")
def _no_discounts(f: Mapping[str, float], v: Mapping[str, Any], ref: Mapping[str, float]) -> str | None:
    return _claim(f["discount_share"] == 0 and (_i(f["orders"]) or 0) >= 1, "the customer used discounts")


# -- categories ---------------------------------------------------------------------------------------------------
@register("categories")
def _categories(f: Mapping[str, float], v: Mapping[str, Any], ref: Mapping[str, float]) -> str | None:
    return _all(
        _same(v, "categories", _i(f["category_count"])),
        _typical(v, "typical", ref, "category_count", 1),
        _claim(1 <= v["categories"] < v["typical"], f"{v['categories']} categories is not fewer than typical"),
    )
