"""Estimator contract: validation errors, unfitted use, weights, intervals, sBG residual lifetime."""

from __future__ import annotations

import numpy as np
import pytest

from kehu.errors import KehuError, ValidationError
from kehu.models import (
    BetaGeo,
    CalibrationHoldout,
    GammaGamma,
    NotFittedError,
    ParetoNBD,
    ShiftedBetaGeo,
    customer_lifetime_value,
)
from kehu.models.simulate import simulate_beta_geo, simulate_pareto_nbd

PURCHASE_MODELS = [BetaGeo, ParetoNBD]


@pytest.mark.parametrize("model_cls", PURCHASE_MODELS)
@pytest.mark.parametrize(
    ("frequency", "recency", "T", "message"),
    [
        ([1, -1], [1.0, 0.0], [2.0, 2.0], "frequency: must be >= 0"),
        ([1.5, 1], [1.0, 1.0], [2.0, 2.0], "frequency: must be whole numbers"),
        ([1, 1], [3.0, 1.0], [2.0, 2.0], "recency: must be <= T"),
        ([1, 1], [-1.0, 1.0], [2.0, 2.0], "recency: must be >= 0"),
        ([0, 1], [1.0, 1.0], [2.0, 2.0], "recency: must be 0 when frequency is 0"),
        ([1, 1], [1.0, 1.0], [2.0, np.nan], "T: value at position 1"),
        ([1, 1], [1.0], [2.0, 2.0], "same length"),
    ],
)
def test_invalid_histories_name_the_input(model_cls, frequency, recency, T, message) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        model_cls().fit(frequency, recency, T)
    assert isinstance(info.value, ValueError) and isinstance(info.value, KehuError)


def test_gamma_gamma_rejects_non_positive_spend_of_repeaters() -> None:
    with pytest.raises(ValidationError, match="monetary_value: must be > 0 for repeat customers"):
        GammaGamma().fit([2, 0, 3], [10.0, 0.0, 0.0])
    with pytest.raises(ValidationError, match="no repeat customers"):
        GammaGamma().fit([0, 0], [0.0, 0.0])


def test_sbg_rejects_bad_survivor_counts() -> None:
    with pytest.raises(ValidationError, match="survivors: counts cannot increase"):
        ShiftedBetaGeo().fit([100, 80, 90])
    with pytest.raises(ValidationError, match="survivors: need the cohort size"):
        ShiftedBetaGeo().fit([100])


@pytest.mark.parametrize("model", [BetaGeo(), ParetoNBD(), GammaGamma(), ShiftedBetaGeo()])
def test_unfitted_use_raises(model) -> None:
    with pytest.raises(NotFittedError, match="not fitted yet"):
        _ = model.params_ if not hasattr(model, "aic_") else model.aic_
    with pytest.raises(NotFittedError):
        model.summary()


@pytest.mark.parametrize("model_cls", PURCHASE_MODELS)
def test_weighted_compressed_fit_equals_fit_on_expanded_rows(model_cls) -> None:
    rng = np.random.default_rng(3)
    simulate = simulate_beta_geo if model_cls is BetaGeo else simulate_pareto_nbd
    truth = (0.5, 5.0, 0.8, 2.5) if model_cls is BetaGeo else (0.5, 5.0, 0.8, 10.0)
    freq, rec, T = simulate(300, *truth, rng.choice([20.0, 30.0, 39.0], 300), seed=3)
    rec = np.floor(rec)
    weights = rng.integers(1, 5, 300)
    weighted = model_cls().fit(freq, rec, T, weights=weights)
    expanded = model_cls().fit(np.repeat(freq, weights), np.repeat(rec, weights), np.repeat(T, weights))
    assert weighted.n_customers_ == expanded.n_customers_ == weights.sum()
    assert expanded.n_unique_ <= 300
    for k, v in weighted.params_.items():
        assert expanded.params_[k] == pytest.approx(v, rel=1e-6)
    assert weighted.log_likelihood_ == pytest.approx(expanded.log_likelihood_, rel=1e-9)
    for k, v in weighted.standard_errors_.items():
        assert expanded.standard_errors_[k] == pytest.approx(v, rel=1e-4)


def test_summary_and_standard_errors(cdnow: CalibrationHoldout) -> None:
    cal = cdnow.calibration
    model = BetaGeo().fit(cal.frequency, cal.recency, cal.T)
    rows = model.summary()
    assert [r["parameter"] for r in rows] == ["r", "alpha", "a", "b"]
    for row in rows:
        assert 0 < float(row["std_error"]) < float(row["estimate"])
        assert float(row["lower_95"]) < float(row["estimate"]) < float(row["upper_95"])
    assert model.covariance_.shape == (4, 4)
    np.testing.assert_allclose(model.covariance_, model.covariance_.T)


@pytest.mark.parametrize("model_cls", PURCHASE_MODELS)
def test_no_nan_for_extreme_histories(model_cls, cdnow: CalibrationHoldout) -> None:
    cal = cdnow.calibration
    model = model_cls().fit(cal.frequency, cal.recency, cal.T)
    freq = np.array([0, 1, 50, 500, 5000, 2000, 300], dtype=float)
    T = np.array([1e4, 1e4, 100.0, 1e3, 1e4, 5e5, 1e-3])
    rec = np.where(freq > 0, T * np.array([0, 0.001, 1.0, 0.5, 0.99, 0.1, 1.0]), 0.0)
    p = model.probability_alive(freq, rec, T)
    e = model.expected_purchases(52.0, freq, rec, T)
    assert np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1))
    assert np.all(np.isfinite(e)) and np.all(e >= 0)
    # A very active customer who just bought is almost surely alive; one silent for long is not.
    assert p[2] > 0.95 and p[5] < 1e-6


def test_sbg_residual_lifetime_matches_direct_sum() -> None:
    model = ShiftedBetaGeo().fit([1000, 631, 468, 382, 326, 289, 262, 241])
    surv = model.survival(np.arange(4000))
    d = 0.1
    for renewals in (0, 1, 4):
        n = renewals + 1
        direct = sum(surv[n + k] / surv[n - 1] / (1 + d) ** k for k in range(3900))
        assert float(model.discounted_expected_residual_lifetime(renewals, d)) == pytest.approx(direct, rel=1e-10)
    # The retention rate rises (survivors are the loyal ones) and equals S(t)/S(t-1).
    t = np.arange(1, 8)
    np.testing.assert_allclose(model.retention_rate(t), surv[t] / surv[t - 1], rtol=1e-12)
    assert np.all(np.diff(model.retention_rate(t)) > 0)
    with pytest.raises(ValidationError, match="discount_rate"):
        model.discounted_expected_residual_lifetime(0, 0.0)


def test_probabilities_sum_to_one_and_match_the_mean(cdnow: CalibrationHoldout) -> None:
    cal = cdnow.calibration
    for model_cls in PURCHASE_MODELS:
        model = model_cls().fit(cal.frequency, cal.recency, cal.T)
        n = np.arange(400)
        probs = model.probability_of_purchases(n, 39.0)
        assert probs.sum() == pytest.approx(1.0, abs=1e-9)
        assert (n * probs).sum() == pytest.approx(float(model.expected_purchases_new_customer(39.0)), rel=1e-8)


def test_clv_interval_covers_truth_under_simulation() -> None:
    """Intervals from parameter draws widen with less data and contain the full-data estimate."""
    truth = (0.25, 4.0, 0.8, 2.5)
    f, r, T = simulate_beta_geo(100_000, *truth, 39.0, seed=7)
    big = BetaGeo().fit(f, r, T)
    rng = np.random.default_rng(11)
    monetary = np.where(f > 0, rng.gamma(6.0, 3.0, len(f)), 0.0)
    gg_big = GammaGamma().fit(f, monetary)
    hist = (np.array([0.0, 2.0, 6.0]), np.array([0.0, 20.0, 35.0]), np.array([39.0, 39.0, 39.0]))
    spend = np.array([0.0, 20.0, 18.0])
    reference = customer_lifetime_value(big, gg_big, *hist, spend).value
    covered, widths = 0, []
    for i in range(10):
        sub = slice(i * 2000, (i + 1) * 2000)
        bg = BetaGeo().fit(f[sub], r[sub], T[sub])
        gg = GammaGamma().fit(f[sub], monetary[sub])
        res = customer_lifetime_value(bg, gg, *hist, spend, level=0.9, n_draws=150, seed=i)
        assert np.all(res.lower <= res.value) and np.all(res.value <= res.upper)
        covered += int(np.all((res.lower <= reference) & (reference <= res.upper)))
        widths.append(res.upper - res.lower)
    assert covered >= 7  # nominal 90% per customer; all three at once in most subsamples
    big_res = customer_lifetime_value(big, gg_big, *hist, spend, level=0.9, n_draws=150)
    assert np.all(big_res.upper - big_res.lower < np.mean(widths, axis=0))


def test_expected_purchases_interval_brackets_point(cdnow: CalibrationHoldout) -> None:
    cal = cdnow.calibration
    for model_cls in PURCHASE_MODELS:
        model = model_cls().fit(cal.frequency, cal.recency, cal.T)
        point = model.expected_purchases(39.0, cal.frequency[:50], cal.recency[:50], cal.T[:50])
        lo, hi = model.expected_purchases_interval(39.0, cal.frequency[:50], cal.recency[:50], cal.T[:50], n_draws=100)
        assert np.all(lo <= point * (1 + 1e-9)) and np.all(point <= hi * (1 + 1e-9))
        assert np.all(hi > lo)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model_cls", "simulate", "truth"),
    [
        (BetaGeo, simulate_beta_geo, {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}),
        (ParetoNBD, simulate_pareto_nbd, {"r": 0.8, "alpha": 8.0, "s": 1.2, "beta": 15.0}),
    ],
    ids=["bgnbd", "pareto-nbd"],
)
def test_parameter_recovery_100k(model_cls, simulate, truth) -> None:
    ages = np.random.default_rng(5).uniform(26.0, 104.0, 100_000)
    f, r, T = simulate(100_000, *truth.values(), ages, seed=1)
    model = model_cls().fit(f, r, T)
    for k, v in truth.items():
        assert model.params_[k] == pytest.approx(v, rel=0.05), (k, model.params_)
        # and the truth is inside a 99.9% Wald interval
        assert abs(model.params_[k] - v) < 3.3 * model.standard_errors_[k]
