"""Reasons that are true: every code has a checker, each checker accepts its true case and refuses a false one,
and explain shows only reasons whose checker passes (else the group's next code, else the next group)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from kehu.models.churn import CHURN_FEATURES
from kehu.models.reason_checks import CHECKERS, check, register
from kehu.models.reasons import _BUILDERS, REASON_GROUPS, Reason, catalog, explain, reference_values, render

nan = math.nan
REF = {"mean_order_value_cents": 30_000.0, "margin_per_order_cents": 9_000.0, "category_count": 4.0}

#: code -> (features, values) where the sentence is true, and (features, values) where it is not
CASES: dict[str, tuple[tuple[dict[str, float], dict[str, Any]], tuple[dict[str, float], dict[str, Any]]]] = {
    "no_orders_90d": (
        ({"orders_90d": 0, "orders_prev_90d": 3}, {"previous": 3}),
        ({"orders_90d": 0, "orders_prev_90d": 0}, {"previous": 0}),  # nothing fell
    ),
    "orders_down": (
        ({"orders_90d": 2, "orders_prev_90d": 6}, {"recent": 2, "previous": 6, "drop_pct": 67}),
        ({"orders_90d": 6, "orders_prev_90d": 2}, {"recent": 6, "previous": 2, "drop_pct": -200}),  # rose
    ),
    "revenue_down": (
        ({"orders_90d": 2, "revenue_90d_cents": 10_000, "revenue_prev_90d_cents": 40_000},
         {"recent": 100, "previous": 400, "drop_pct": 75}),
        ({"orders_90d": 2, "revenue_90d_cents": 40_000, "revenue_prev_90d_cents": 40_000},
         {"recent": 400, "previous": 400, "drop_pct": 0}),  # flat
    ),
    "no_orders_365d": (
        ({"orders_365d": 0, "orders": 2}, {}),
        ({"orders_365d": 1, "orders": 2}, {}),
    ),
    "no_orders_180d": (
        ({"orders_180d": 0, "orders": 1}, {}),
        ({"orders_180d": 0, "orders": 0}, {}),  # never ordered: nothing stopped
    ),
    "overdue": (
        ({"days_since_last_order": 90, "gap_mean_days": 30, "overdue_ratio": 3.0},
         {"days": 90, "usual_gap": 30, "ratio": 3.0}),
        ({"days_since_last_order": 20, "gap_mean_days": 30, "overdue_ratio": 0.667},
         {"days": 20, "usual_gap": 30, "ratio": 0.7}),  # not overdue
    ),
    "since_last_order": (
        ({"days_since_last_order": 45}, {"days": 45}),
        ({"days_since_last_order": 30}, {"days": 30}),  # a month is no news
    ),
    "engagement_down": (
        ({"interactions_90d": 1, "interactions_prev_90d": 4}, {"recent": 1, "previous": 4, "drop_pct": 75}),
        ({"interactions_90d": 4, "interactions_prev_90d": 4}, {"recent": 4, "previous": 4, "drop_pct": 0}),
    ),
    "no_engagement": (
        ({"interactions_90d": 0, "days_since_last_interaction": 120}, {"days": 120}),
        ({"interactions_90d": 2, "days_since_last_interaction": 5}, {"days": 5}),
    ),
    "never_engaged": (({"interactions_total": 0}, {}), ({"interactions_total": 3}, {})),
    "engagement_low": (
        ({"interactions_90d": 1, "interactions_prev_90d": 1}, {"recent": 1}),
        ({"interactions_90d": 5, "interactions_prev_90d": 1}, {"recent": 5}),  # "only 5" is not low
    ),
    "complaints": (({"complaints_90d": 2}, {"complaints": 2}), ({"complaints_90d": 0}, {"complaints": 0})),
    "tickets": (({"tickets_90d": 1}, {"tickets": 1}), ({"tickets_90d": 0}, {"tickets": 0})),
    "slow_response": (
        ({"first_response_hours_mean": 30.04}, {"hours": 30.0}),
        ({"first_response_hours_mean": 2.0}, {"hours": 2.0}),
    ),
    "low_nps": (({"latest_nps": 6}, {"nps": 6}), ({"latest_nps": 8}, {"nps": 8})),  # 7–10 are no detractors
    "low_csat": (({"latest_csat": 2}, {"csat": 2}), ({"latest_csat": 4}, {"csat": 4})),
    "no_feedback": (({"latest_nps": nan, "latest_csat": nan}, {}), ({"latest_nps": nan, "latest_csat": 5}, {})),
    "contract_ends_today": (({"contract_days_to_end": 0}, {}), ({"contract_days_to_end": 12}, {})),
    "contract_ending": (
        ({"contract_days_to_end": 12}, {"days": 12}),
        ({"contract_days_to_end": 0}, {"days": 0}),  # "ends in 0 days": contract_ends_today says it
    ),
    "contract_ended": (
        ({"contract_days_to_end": -20, "contracts_active": 0}, {"days": 20}),
        ({"contract_days_to_end": 15, "contracts_active": 1}, {"days": -15}),
    ),
    "no_contract": (
        ({"contract_days_to_end": nan, "contracts_active": 0}, {}),
        ({"contract_days_to_end": 100, "contracts_active": 1}, {}),
    ),
    "low_order_value": (
        ({"mean_order_value_cents": 12_000}, {"order_value": 120, "typical": 300}),
        ({"mean_order_value_cents": 50_000}, {"order_value": 500, "typical": 300}),  # above typical
    ),
    "low_margin": (
        ({"total_margin_cents": 20_000, "orders": 4}, {"margin": 50, "typical": 90}),
        ({"total_margin_cents": 80_000, "orders": 4}, {"margin": 200, "typical": 90}),
    ),
    "refunds": (
        ({"refunded_orders": 1, "refund_share": 0.25}, {"refunds": 1, "share_pct": 25}),
        ({"refunded_orders": 0, "refund_share": 0.0}, {"refunds": 0, "share_pct": 0}),
    ),
    "discounts": (
        ({"discount_share": 0.8}, {"share_pct": 80}),
        ({"discount_share": 0.1}, {"share_pct": 10}),  # not a deal seeker
    ),
    "no_discounts": (({"discount_share": 0.0, "orders": 3}, {}), ({"discount_share": 0.5, "orders": 3}, {})),
    "categories": (
        ({"category_count": 1}, {"categories": 1, "typical": 4}),
        ({"category_count": 0}, {"categories": 0, "typical": 4}),  # "only 0 categories"
    ),
}  # fmt: skip


def test_every_catalog_code_has_a_checker_and_a_case() -> None:
    assert set(catalog()) == set(CHECKERS), "a reason code without a checker (or a checker without a code)"
    assert set(CASES) == set(CHECKERS)


@pytest.mark.parametrize("code", sorted(CASES))
def test_checker_accepts_the_true_case_and_refuses_the_false_one(code: str) -> None:
    (true_f, true_v), (false_f, false_v) = CASES[code]
    assert check(code, true_v, true_f, REF) is None
    problem = check(code, false_v, false_f, REF)
    assert isinstance(problem, str) and problem
    assert render(code, true_v, "zh") and render(code, true_v, "en")


def test_a_checker_refuses_numbers_that_are_not_the_customers() -> None:
    assert check("orders_down", {"recent": 2, "previous": 6, "drop_pct": 67}, {"orders_90d": 3, "orders_prev_90d": 6})
    assert check("low_order_value", {"order_value": 120, "typical": 300}, {"mean_order_value_cents": 12_000}, {})
    assert check("complaints", {}, {"complaints_90d": 2}) == "value 'complaints' is missing"


def test_unregistered_codes_are_refused_and_codes_register_once() -> None:
    with pytest.raises(KeyError, match="no checker"):
        check("made_up", {}, {})
    with pytest.raises(ValueError, match="already has a checker"):
        register("orders_down")(lambda f, v, r: None)


def test_plural_and_singular() -> None:
    assert render("orders_down", {"recent": 1, "previous": 3, "drop_pct": 67}, "en").startswith("1 order in")
    assert render("orders_down", {"recent": 2, "previous": 3, "drop_pct": 33}, "en").startswith("2 orders in")
    assert render("categories", {"categories": 1, "typical": 3}, "en") == (
        "bought from only 1 category (the typical customer: 3)"
    )
    assert render("contract_ending", {"days": 1}, "en") == "contract ends in 1 day"
    assert render("contract_ending", {"days": 1}, "zh") == "合同1天后到期"
    assert render("low_nps", {"nps": 3}, "zh") == "最近一次NPS评分为3分（贬损者，0–6分）"


def _row(**features: float) -> np.ndarray:
    x = np.full(len(CHURN_FEATURES), np.nan)
    for name, value in features.items():
        x[CHURN_FEATURES.index(name)] = value
    return x


def _explain(x: np.ndarray, contrib: dict[str, float], ref: dict[str, float] | None = None) -> list[Reason]:
    c = np.zeros((1, len(CHURN_FEATURES)))
    for name, value in contrib.items():
        c[0, CHURN_FEATURES.index(name)] = value
    return explain(x[None, :], c, CHURN_FEATURES, reference=ref)[0]


def test_explain_takes_the_next_code_or_the_next_group_when_a_sentence_is_false() -> None:
    # orders rose and revenue rose: the activity group has nothing true to say; recency speaks, then NPS 8 is
    # not a detractor's, so the satisfaction group is skipped too and the contract group gives the third reason
    x = _row(orders_90d=5, orders_prev_90d=2, revenue_90d_cents=50_000, revenue_prev_90d_cents=20_000,
             days_since_last_order=60, gap_mean_days=nan, latest_nps=8, contract_days_to_end=0, contracts_active=1,
             tenure_days=458, orders=18)  # fmt: skip
    contrib = {"orders_90d": 0.9, "tenure_days": 0.8, "orders": 0.1, "latest_nps": 0.5,
               "days_since_last_order": 0.4, "contract_days_to_end": 0.3, "category_count": 0.2}  # fmt: skip
    reasons = _explain(x, contrib)
    assert [r.code for r in reasons] == ["since_last_order", "contract_ends_today"]
    assert reasons[0].sentence("zh") == "距上次下单已60天" and reasons[1].sentence("en") == "contract ends today"
    # history (tenure, totals) never gives a reason; categories need a reference figure
    reasons = _explain(x, contrib, REF | {"category_count": 1.0})
    assert "short_history" not in {r.code for r in reasons} and len(reasons) == 2


def test_value_group_speaks_of_what_drives_it_with_a_direction() -> None:
    x = _row(mean_order_value_cents=12_000, total_margin_cents=20_000, orders=4)
    by_margin = _explain(x, {"total_margin_cents": 0.5, "mean_order_value_cents": 0.1}, REF)
    assert by_margin[0].code == "low_margin" and by_margin[0].values == {"margin": 50, "typical": 90}
    by_value = _explain(x, {"total_margin_cents": 0.1, "mean_order_value_cents": 0.5}, REF)
    assert by_value[0].code == "low_order_value" and by_value[0].sentence("en") == (
        "average order value 120, below the typical customer's 300"
    )
    assert _explain(x, {"mean_order_value_cents": 0.5}) == []  # no reference, no "typical"


def test_reference_values_are_medians_of_the_scored_rows() -> None:
    X = np.vstack([_row(mean_order_value_cents=v, orders=o, total_margin_cents=m, category_count=k)
                   for v, o, m, k in ((100, 1, 50, 1), (300, 2, 100, 3), (nan, 0, nan, 0))])  # fmt: skip
    ref = reference_values(X, CHURN_FEATURES)
    assert ref == {"mean_order_value_cents": 200.0, "margin_per_order_cents": 50.0, "category_count": 2.0}


def test_every_group_proposes_only_checked_codes() -> None:
    assert set(REASON_GROUPS) == set(_BUILDERS)
    rng = np.random.default_rng(0)
    for _ in range(200):
        x = {f: float(rng.choice([nan, 0, 1, 2, 5, 40, -10, 0.3])) for f in CHURN_FEATURES}
        for builder in _BUILDERS.values():
            for code, values in builder(x, {}, REF):
                assert code in CHECKERS
                if check(code, values, x, REF) is None:
                    assert render(code, values, "zh") and render(code, values, "en")
