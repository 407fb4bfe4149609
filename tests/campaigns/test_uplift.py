"""The revenue estimator on known data and the no-verdict rule (see :mod:`kehu.models.uplift`)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from kehu.campaigns.results import verdict
from kehu.models.uplift import BASE_BUYERS, ArmSums, mean_difference, required_buyers, revenue_intervals


def _arm(buyers: list[float], customers: int) -> np.ndarray:
    return np.array(buyers + [0.0] * (customers - len(buyers)))


def test_arm_sums_of_known_revenue() -> None:
    s = ArmSums.of(np.array([0.0, 100.0, 0.0, 400.0]))
    assert (s.customers[0], s.buyers[0], s.total[0], s.total_sq[0]) == (4, 2, 500, 170_000)
    assert s.log_total[0] == pytest.approx(math.log(100) + math.log(400))
    assert s.log_total_sq[0] == pytest.approx(math.log(100) ** 2 + math.log(400) ** 2)


def test_welch_interval_with_buyer_degrees_of_freedom_by_hand() -> None:
    rng = np.random.default_rng(5)
    t = _arm(list(rng.lognormal(5, 0.3, 60)), 400)
    c = _arm(list(rng.lognormal(5, 0.3, 20)), 100)
    est = mean_difference(t, c)
    vt, vc = t.var(ddof=1) / t.size, c.var(ddof=1) / c.size
    dof = (vt + vc) ** 2 / (vt**2 / 59 + vc**2 / 19)  # Satterthwaite with buyers − 1 per arm
    half = stats.t.ppf(0.975, dof) * math.sqrt(vt + vc)
    assert est.reason is None and est.method == "welch-buyers"
    assert est.difference == pytest.approx(t.mean() - c.mean())
    assert (est.low, est.high) == (pytest.approx(t.mean() - c.mean() - half), pytest.approx(t.mean() - c.mean() + half))
    assert est.treatment == pytest.approx(t.mean()) and est.holdout == pytest.approx(c.mean())


def test_required_buyers_grow_with_the_spread_of_spend() -> None:
    assert list(required_buyers(np.array([0.0, 0.3, 0.5, 0.75, 1.0, 1.5]))) == [15, 15, 15, 60, 240, 3840]
    assert required_buyers(np.nan) == BASE_BUYERS  # no spread measurable (fewer than 3 buyers in all)


def test_few_buyers_give_no_verdict_and_the_reason() -> None:
    t = _arm([100.0, 120.0, 90.0] * 10, 900)  # 30 buyers of 900: pooled conversion 3.1%
    c = _arm([110.0, 95.0], 100)  # expected buyers in the holdout: 100 × 32/1000 = 3.2 < 15
    est = mean_difference(t, c)
    assert est.low is None and est.high is None and not est.significant
    assert est.reason == "few_buyers" and est.difference == pytest.approx(t.mean() - c.mean())
    assert est.detail["expected"] == pytest.approx(3.2) and est.detail["required"] == 15
    en, zh = verdict("revenue_per_customer", est, "en"), verdict("revenue_per_customer", est, "zh")
    assert "no verdict" in en and "about 3 buyers" in en and "at least 15" in en and "holdout 2 bought" in en
    assert "暂不下结论" in zh and "约 3 位" in zh and "至少需要 15 位" in zh


def test_uneven_spend_needs_more_buyers() -> None:
    rng = np.random.default_rng(3)
    t = _arm(list(np.exp(rng.normal(5, 1.5, 900))), 9000)
    c = _arm(list(np.exp(rng.normal(5, 1.5, 100))), 1000)
    est = mean_difference(t, c)
    assert est.reason == "uneven_spend" and est.low is None
    assert est.detail["spread"] == pytest.approx(1.5, abs=0.1) and est.detail["required"] > 1000
    assert "varies too much" in verdict("revenue_per_customer", est, "en")
    assert "差异太大" in verdict("revenue_per_customer", est, "zh")
    # the same buyers with spend as even as lognormal σ 0.3 get an interval
    even = mean_difference(_arm(list(np.exp(rng.normal(5, 0.3, 900))), 9000),
                           _arm(list(np.exp(rng.normal(5, 0.3, 100))), 1000))  # fmt: skip
    assert even.reason is None and even.low is not None and even.high is not None


def test_the_rule_at_its_boundary() -> None:
    """Equal spend (spread 0) needs 15 expected buyers: 15 gives a verdict, 14 does not."""

    def sums(buyers: int, customers: int) -> ArmSums:
        return ArmSums.of(_arm([100.0 + i for i in range(buyers)], customers))

    def both(a: ArmSums, b: ArmSums) -> ArmSums:  # two campaigns in one call
        return ArmSums(*(np.concatenate([getattr(a, f), getattr(b, f)]) for f in ArmSums.__dataclass_fields__))

    r = revenue_intervals(both(sums(135, 900), sums(126, 900)), both(sums(15, 100), sums(14, 100)))
    assert list(r.expected) == pytest.approx([15.0, 14.0])
    assert list(r.verdict) == [True, False]
    assert np.isnan(r.low[1]) and np.isfinite(r.low[0])


def test_an_empty_arm_has_nothing_to_compare() -> None:
    est = mean_difference(np.array([100.0, 0.0]), np.array([]))
    assert est.difference is None and est.reason is None
    assert "nothing to compare" in verdict("revenue_per_customer", est, "en")
