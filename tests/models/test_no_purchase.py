"""MBG/NBD against lifetimes on CDNOW; P(no purchase in the horizon) against integration over the posterior."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from kehu.models import BetaGeo, CalibrationHoldout, ModifiedBetaGeo, ParetoNBD

HISTORIES = [(0, 0.0, 10.0), (1, 2.0, 30.0), (4, 25.0, 30.0), (6, 8.0, 40.0)]  # (x, t_x, T)


def _set(model: BetaGeo | ParetoNBD, **params: float) -> BetaGeo | ParetoNBD:
    model.params_ = dict(params)
    return model


# Brute force: the posterior expectation as a ratio of two double integrals over (lambda, p) or (lambda, mu),
# taken by the trapezoidal rule on log(lambda), log(mu) and logit(p). The integrands are analytic and decay
# exponentially at both ends in those coordinates, where the rule converges exponentially fast.
_LOG_RATE = np.linspace(-40.0, 8.0, 1601)
_LOGIT = np.linspace(-40.0, 40.0, 1601)


def _ratio(log_num: np.ndarray, log_den: np.ndarray) -> float:
    top = max(log_num.max(), log_den.max())
    return float(np.exp(log_num - top).sum() / np.exp(log_den - top).sum())  # equal steps cancel


def _bg_by_integration(params: dict[str, float], x: int, tx: float, T: float, t: float, modified: bool) -> float:
    """E[P(no purchase in (T, T+t]) | lambda, p] over the posterior given alive or dead."""
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    survive = x + 1 if modified else x  # drop-out chances survived by a customer alive at T
    lam = np.exp(_LOG_RATE)[:, None]
    v = _LOGIT[None, :]
    log_p, log_q = -np.logaddexp(0.0, -v), -np.logaddexp(0.0, v)  # log p, log(1 - p)
    # prior densities times the Jacobians (lambda for log lambda, p (1 - p) for logit p)
    log_prior = stats.gamma.logpdf(lam, r, scale=1 / alpha) + np.log(lam) + stats.beta.logpdf(np.exp(log_p), a, b)
    log_prior = log_prior + log_p + log_q
    log_alive = survive * log_q + x * np.log(lam) - lam * T
    if survive > 0:
        log_dead = log_p + (survive - 1) * log_q + x * np.log(lam) - lam * tx
    else:
        log_dead = np.full_like(log_alive, -np.inf)
    log_num = log_prior + np.logaddexp(log_alive - lam * t, log_dead)
    log_den = log_prior + np.logaddexp(log_alive, log_dead)
    return _ratio(log_num, log_den)


def _pnbd_by_integration(params: dict[str, float], x: int, tx: float, T: float, t: float) -> float:
    r, alpha, s, beta = (params[k] for k in ("r", "alpha", "s", "beta"))
    lam = np.exp(_LOG_RATE)[:, None]
    mu = np.exp(_LOG_RATE)[None, :]
    log_prior = (
        stats.gamma.logpdf(lam, r, scale=1 / alpha)
        + np.log(lam)
        + stats.gamma.logpdf(mu, s, scale=1 / beta)
        + np.log(mu)
    )
    k = lam + mu
    log_alive = x * np.log(lam) - k * T
    # died between t_x and T: lambda^x mu / k (exp(-k t_x) - exp(-k T))
    log_dead = x * np.log(lam) + np.log(mu / k) - k * tx + np.log(-np.expm1(-k * (T - tx)))
    log_quiet = np.logaddexp(-k * t, np.log(mu / k) + np.log(-np.expm1(-k * t)))
    log_num = log_prior + np.logaddexp(log_alive + log_quiet, log_dead)
    log_den = log_prior + np.logaddexp(log_alive, log_dead)
    return _ratio(log_num, log_den)


@pytest.mark.parametrize("modified", [False, True], ids=["BG/NBD", "MBG/NBD"])
def test_bg_no_purchase_equals_posterior_integral(modified: bool) -> None:
    params = {"r": 1.5, "alpha": 6.0, "a": 1.5, "b": 3.0}
    model = _set(ModifiedBetaGeo() if modified else BetaGeo(), **params)
    x, tx, T = (np.array(v, dtype=float) for v in zip(*HISTORIES, strict=True))
    got = model.probability_no_purchase(13.0, x, tx, T)  # vectorised over customers
    for i, (xi, ti, Ti) in enumerate(HISTORIES):
        assert got[i] == pytest.approx(_bg_by_integration(params, xi, ti, Ti, 13.0, modified), rel=1e-6)


def test_pareto_nbd_no_purchase_equals_posterior_integral() -> None:
    params = {"r": 1.2, "alpha": 8.0, "s": 0.8, "beta": 12.0}
    model = _set(ParetoNBD(), **params)
    x, tx, T = (np.array(v, dtype=float) for v in zip(*HISTORIES, strict=True))
    horizons = np.array([13.0, 5.0, 39.0, 13.0])  # one horizon per customer
    got = model.probability_no_purchase(horizons, x, tx, T)
    for i, (xi, ti, Ti) in enumerate(HISTORIES):
        assert got[i] == pytest.approx(_pnbd_by_integration(params, xi, ti, Ti, horizons[i]), rel=1e-6)
    # alpha < beta takes the other branch of the hypergeometric function
    swapped = _set(ParetoNBD(), r=1.2, alpha=12.0, s=0.8, beta=8.0)
    value = swapped.probability_no_purchase(13.0, [4], [25.0], [30.0])[0]
    assert value == pytest.approx(_pnbd_by_integration(dict(swapped.params_), 4, 25.0, 30.0, 13.0), rel=1e-6)


@pytest.mark.parametrize("cls", [BetaGeo, ParetoNBD, ModifiedBetaGeo], ids=lambda c: c.__name__)
def test_no_purchase_limits(cdnow: CalibrationHoldout, cls: type) -> None:
    cal = cdnow.calibration
    model = cls().fit(cal.frequency, cal.recency, cal.T)
    p0 = model.probability_no_purchase(0.0, cal.frequency, cal.recency, cal.T)
    np.testing.assert_allclose(p0, 1.0, atol=1e-12)
    short, long = (model.probability_no_purchase(h, cal.frequency, cal.recency, cal.T) for h in (4.0, 39.0))
    assert np.all(long <= short + 1e-12) and np.all(
        long >= 1 - model.probability_alive(cal.frequency, cal.recency, cal.T) - 1e-12
    )


lifetimes = pytest.importorskip("lifetimes")


def test_mbgnbd_fit_agrees_with_lifetimes_on_cdnow(cdnow: CalibrationHoldout) -> None:
    import pandas as pd

    cal = cdnow.calibration
    ours = ModifiedBetaGeo().fit(cal.frequency, cal.recency, cal.T)
    assert ours.converged_
    theirs = lifetimes.ModifiedBetaGeoFitter().fit(cal.frequency, cal.recency, cal.T)
    for k, v in ours.params_.items():
        assert v == pytest.approx(float(theirs.params_[k]), rel=2e-6), k
    theta = np.log(np.array(list(ours.params_.values())))
    nll = lifetimes.ModifiedBetaGeoFitter._negative_log_likelihood(
        theta, cal.frequency, cal.recency, cal.T, np.ones(len(cal)), 0.0
    )
    assert ours.log_likelihood_ == pytest.approx(-nll * len(cal), rel=1e-12)
    ref = lifetimes.ModifiedBetaGeoFitter()
    ref.params_ = pd.Series(ours.params_)
    np.testing.assert_allclose(
        ours.probability_alive(cal.frequency, cal.recency, cal.T),
        ref.conditional_probability_alive(cal.frequency, cal.recency, cal.T),
        rtol=1e-10,
    )
    for horizon in (1.0, 39.0, 104.0):
        np.testing.assert_allclose(
            ours.expected_purchases(horizon, cal.frequency, cal.recency, cal.T),
            ref.conditional_expected_number_of_purchases_up_to_time(horizon, cal.frequency, cal.recency, cal.T),
            rtol=1e-9,
        )
        np.testing.assert_allclose(
            ours.expected_purchases_new_customer(horizon),
            ref.expected_number_of_purchases_up_to_time(horizon),
            rtol=1e-10,
        )
        for n in range(4):
            np.testing.assert_allclose(
                ours.probability_of_purchases(n, horizon),
                ref.probability_of_n_purchases_up_to_time(horizon, n),
                rtol=1e-9,
            )
    # one-time buyers can be dead: P(alive) below 1 for frequency 0, unlike BG/NBD
    zero = cal.frequency == 0
    assert np.all(ours.probability_alive(cal.frequency, cal.recency, cal.T)[zero] < 1)
