"""Acceptance: on simulated campaigns with a known true effect, the 95% intervals cover the truth about 95% of
the time over 200 repetitions, and a zero effect is called significant about 5% of the time (fixed seed)."""

from __future__ import annotations

import numpy as np
import pytest

from kehu.campaigns.holdout import HOLDOUT, assign_arms
from kehu.campaigns.uplift import mean_difference, proportion_difference

REPETITIONS = 200
CUSTOMERS = 2000
BASE = {"active": 0.25, "lapsed": 0.06}  # conversion without the campaign, per stratum
MEAN_ORDER = 300.0  # yuan; order amounts are lognormal with this mean


def _simulate(effect: float, rng: np.random.Generator, rep: int) -> tuple[object, object, float, float]:
    """One campaign: stratified holdout, conversion raised by ``effect`` in the treatment arm."""
    strata = {cid: ("active" if cid % 3 else "lapsed") for cid in range(CUSTOMERS)}
    arms = assign_arms(strata, share=0.1, seed=rep)
    held = np.array([arms[c] == HOLDOUT for c in range(CUSTOMERS)])
    base = np.array([BASE[strata[c]] for c in range(CUSTOMERS)])
    p = base + np.where(held, 0.0, effect)
    converted = rng.random(CUSTOMERS) < p
    sigma = 0.8
    amounts = rng.lognormal(np.log(MEAN_ORDER) - sigma**2 / 2, sigma, CUSTOMERS)
    revenue = np.where(converted, amounts, 0.0)
    rate = proportion_difference(
        int(converted[~held].sum()), int((~held).sum()), int(converted[held].sum()), int(held.sum())
    )
    money = mean_difference(revenue[~held], revenue[held], resamples=1000, seed=rep)
    # the truth is the difference of expected values in the two arms' populations (same strata mix)
    true_rate = float(np.mean(base + effect) - np.mean(base)) if effect else 0.0
    return rate, money, true_rate, true_rate * MEAN_ORDER


@pytest.mark.slow
@pytest.mark.parametrize("effect", [0.0, 0.08])
def test_interval_coverage_and_false_positive_rate(effect: float) -> None:
    rng = np.random.default_rng(20261123)
    covered_rate = covered_money = significant = 0
    for rep in range(REPETITIONS):
        rate, money, true_rate, true_money = _simulate(effect, rng, rep)
        covered_rate += rate.low <= true_rate <= rate.high  # type: ignore[attr-defined]
        covered_money += money.low <= true_money <= money.high  # type: ignore[attr-defined]
        significant += rate.significant  # type: ignore[attr-defined]
    # binomial sd of a 95% coverage over 200 runs is 1.5 points: allow about 3 sd
    assert 0.90 <= covered_rate / REPETITIONS <= 0.99, covered_rate
    assert 0.90 <= covered_money / REPETITIONS <= 0.99, covered_money
    if effect == 0:
        assert significant / REPETITIONS <= 0.10, significant  # nominal 5%
    else:
        assert (
            significant / REPETITIONS >= 0.5
        )  # power of an 8-point lift with about 200 holdout customers is about 0.8
    print(f"effect {effect}: rate coverage {covered_rate / REPETITIONS:.3f}, revenue coverage "
          f"{covered_money / REPETITIONS:.3f}, significant {significant / REPETITIONS:.3f}")  # fmt: skip
