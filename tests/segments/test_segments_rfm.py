"""RFM scores and both RFM schemes on both engines: hand-computed fixtures, ties, one customer, coverage."""

from __future__ import annotations

import random
from typing import Any

import pytest
from segments_testkit import buyer, run_schemes, segments_of

from kehu.errors import ValidationError
from kehu.segments.config import load_config

# Hand-computed (see docs/segments.md for the formula p = (worse + worse-or-equal) / 2n, score = 1 + floor(5p)):
#   recency days 5, 20, 40, 100, 300 (fewer is better) -> R 5, 4, 3, 2, 1
#   orders 5, 1, 2, 1, 1: the three 1s tie at p = 3/10 -> F 2; 2 -> p = 7/10 -> F 4; 5 -> F 5
#   revenue 9000, 2000, 3000, 1000, 2000: the 2000s tie at p = 5/10 -> M 3; 1000 -> 1; 3000 -> 4; 9000 -> 5
FIVE = [
    buyer(1, days=5, orders=5, revenue=9000),
    buyer(2, days=20, orders=1, revenue=2000),
    buyer(3, days=40, orders=2, revenue=3000),
    buyer(4, days=100, orders=1, revenue=1000),
    buyer(5, days=300, orders=1, revenue=2000),
    {"customer_id": 6, "orders": 0, "total_revenue_cents": 0, "tenure_days": 10},  # no purchase: no RFM class
]
SCORES = {1: (5, 5, 5), 2: (4, 2, 3), 3: (3, 4, 4), 4: (2, 2, 1), 5: (1, 2, 3)}


def _scores(members: dict[int, dict[str, Any]]) -> dict[int, tuple[int, int, int]]:
    return {cid: (r["r_score"], r["f_score"], r["m_score"]) for cid, r in members.items()}


def test_quantile_scores_by_hand_with_ties(backend: Any) -> None:
    members, _ = run_schemes(backend, FIVE)
    assert _scores(members["rfm_cn"]) == SCORES
    assert members["rfm_en"][2]["fm_score"] == 2.5


def test_chinese_scheme_by_hand_mean_split(backend: Any) -> None:
    members, stats = run_schemes(backend, FIVE)
    # means: R 3, F 3, M 3.2; a score at or above the mean is high
    assert stats["rfm_cn"]["split"] == pytest.approx({"r_split": 3.0, "f_split": 3.0, "m_split": 3.2})
    assert segments_of(members["rfm_cn"]) == {
        1: "important_value",  # H H H
        2: "general_develop",  # R4 high, F2 low, M3 low (< 3.2)
        3: "important_value",  # R3 high (= mean), F4, M4
        4: "general_retain",
        5: "general_retain",
    }


def test_chinese_scheme_by_hand_median_split(backend: Any) -> None:
    members, stats = run_schemes(backend, FIVE, load_config({"rfm_cn": {"split": "median"}}))
    assert stats["rfm_cn"]["split"] == pytest.approx({"r_split": 3.0, "f_split": 2.0, "m_split": 3.0})
    assert segments_of(members["rfm_cn"]) == {
        1: "important_value",
        2: "important_value",  # F2 >= median 2, M3 >= median 3
        3: "important_value",
        4: "general_keep",  # R low, F high, M low
        5: "important_keep",  # R low, F high, M high
    }


def test_english_scheme_by_hand(backend: Any) -> None:
    members, _ = run_schemes(backend, FIVE)
    assert segments_of(members["rfm_en"]) == {
        1: "champions",  # R5, FM 5
        2: "potential_loyalists",  # R4, FM 2.5
        3: "loyal_customers",  # R3, FM 4
        4: "hibernating",  # R2, FM 1.5
        5: "lost",  # R1, FM 2.5
    }


def test_one_customer_population_sits_in_the_middle(backend: Any) -> None:
    members, _ = run_schemes(backend, [buyer(7, days=12, orders=3, revenue=5000)])
    assert _scores(members["rfm_cn"]) == {7: (3, 3, 3)}
    assert segments_of(members["rfm_cn"]) == {7: "important_value"}  # every score equals the mean
    assert segments_of(members["rfm_en"]) == {7: "loyal_customers"}  # R3, FM3


def test_equal_values_never_split(backend: Any) -> None:
    rows = [buyer(i, days=30, orders=2, revenue=4000) for i in range(1, 8)]
    rows += [buyer(i, days=i, orders=i, revenue=1000 * i) for i in range(8, 20)]
    members, _ = run_schemes(backend, rows)
    tied = {_scores(members["rfm_cn"])[i] for i in range(1, 8)}
    assert len(tied) == 1


def test_fixed_cut_points(backend: Any) -> None:
    config = load_config({"scoring": {"method": "cuts", "cuts": {"monetary": [1500, 2500, 5000, 8000]}}})
    members, _ = run_schemes(backend, FIVE, config)
    # recency cuts 30/90/180/365 days; orders cuts 2/3/5/10; revenue cuts 1500/2500/5000/8000
    assert _scores(members["rfm_cn"]) == {1: (5, 4, 5), 2: (5, 1, 2), 3: (4, 2, 3), 4: (3, 1, 1), 5: (2, 1, 2)}


def test_monetary_as_mean_order_value(backend: Any) -> None:
    rows = [buyer(1, days=5, orders=10, revenue=10_000), buyer(2, days=5, orders=1, revenue=5_000)]
    total, _ = run_schemes(backend, rows)
    mean, _ = run_schemes(backend, rows, load_config({"scoring": {"monetary": "mean"}}))
    assert total["rfm_cn"][1]["m_score"] > total["rfm_cn"][2]["m_score"]
    assert mean["rfm_cn"][1]["m_score"] < mean["rfm_cn"][2]["m_score"]  # 1000 vs 5000 per order


def _random_population(seed: int, n: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for cid in range(1, n + 1):
        orders = rng.choice((0, 1, 1, 2, 3, 5, 8))
        if orders == 0:
            rows.append({"customer_id": cid, "orders": 0, "total_revenue_cents": 0, "tenure_days": rng.randint(0, 900)})
        else:
            rows.append(buyer(cid, days=rng.choice((1, 7, 30, 30, 90, 200, 400)), orders=orders,
                              revenue=orders * rng.choice((1000, 2500, 2500, 9900))))  # fmt: skip
    return rows


@pytest.mark.parametrize("split", ["mean", "median"])
def test_every_buyer_in_exactly_one_class_of_each_rfm_scheme(backend: Any, split: str) -> None:
    rows = _random_population(11, 300)
    buyers = {r["customer_id"] for r in rows if r["orders"] > 0}
    members, _ = run_schemes(backend, rows, load_config({"rfm_cn": {"split": split}}))
    for scheme in ("rfm_cn", "rfm_en"):
        placed = segments_of(members[scheme])
        assert set(placed) == buyers
        assert all(segment is not None for segment in placed.values())
    assert len(set(segments_of(members["rfm_en"]).values())) >= 6


def test_english_rules_cover_every_score_combination() -> None:
    scheme = load_config().schemes["rfm_en"]
    seen = {scheme.classify({"r_score": r, "fm_score": 1 + h / 2}) for r in range(1, 6) for h in range(9)}
    assert None not in seen
    assert seen == set(scheme.keys)  # and every segment is reachable


def test_scheme_without_catch_all_is_rejected_on_load() -> None:
    segments = load_config().raw["rfm_en"]["segments"][:-1]  # drop "lost"
    with pytest.raises(ValidationError, match=r"scheme rfm_en: \d+ combination\(s\) match no segment"):
        load_config({"rfm_en": {"segments": segments}})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"scoring": {"method": "deciles"}}, "scoring.method: expected one of quantile, cuts"),
        ({"scoring": {"cuts": {"recency": [30, 20, 180, 365]}}}, "scoring.cuts.recency: cut points must be"),
        ({"scoring": {"recency_field": "region"}}, "scoring.recency_field: expected a numeric"),
        ({"rfm_cn": {"splt": "mean"}}, "rfm_cn.splt: unknown setting"),
        ({"value": {"a_share": 0.9, "b_share": 0.5}}, "value.b_share"),
        ({"lifecycle": {"thresholds": {"lost_days": "a year"}}}, "lifecycle.thresholds.lost_days: expected a number"),
    ],
)
def test_bad_configuration_names_the_setting(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(overrides)
