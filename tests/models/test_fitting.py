"""The fitting machinery: exact derivatives, Newton against L-BFGS, compression, order-free RFM summaries."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from kehu.models import BetaGeo, GammaGamma, rfm_summary
from kehu.models import beta_geo as bg_module
from kehu.models import gamma_gamma as gg_module
from kehu.models._base import compress_rows
from kehu.models._fitting import maximize_loglik
from kehu.models.simulate import simulate_beta_geo, simulate_transactions


def _bg_data(n: int = 4_000) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ages = np.random.default_rng(11).uniform(10.0, 40.0, n)
    f, r, T = simulate_beta_geo(n, 0.5, 5.0, 0.8, 2.5, ages, seed=12)
    r = np.floor(r * 7) / 7
    w = np.random.default_rng(13).integers(1, 4, n).astype(float)
    return f, r, T, w


def _gg_data(n: int = 3_000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(21)
    x = rng.integers(1, 9, n).astype(float)
    m = rng.gamma(5.0, 3.0, n)
    return x, m, rng.integers(1, 4, n).astype(float)


def _check_derivatives(objective: Callable, theta: np.ndarray) -> None:
    _, grad, hess = objective(theta, True)
    assert hess is not None
    for j in range(len(theta)):
        h = 1e-6 * theta[j]
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        fd_grad = (objective(up, False)[0] - objective(down, False)[0]) / (2 * h)
        fd_hess = (objective(up, False)[1] - objective(down, False)[1]) / (2 * h)
        assert grad[j] == pytest.approx(fd_grad, rel=1e-5, abs=1e-9)
        np.testing.assert_allclose(hess[:, j], fd_hess, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(hess, hess.T, rtol=1e-12)


def test_bgnbd_gradient_and_hessian_are_exact() -> None:
    f, r, T, w = _bg_data()
    objective = bg_module._objective(f, r, T, w)
    for theta in ([0.6, 4.0, 0.7, 2.0], [2.0, 20.0, 0.2, 6.0], [0.1, 1.0, 1.5, 0.9]):
        _check_derivatives(objective, np.array(theta))


def test_gamma_gamma_gradient_and_hessian_are_exact() -> None:
    x, m, w = _gg_data()
    objective = gg_module._objective(x, m, w)
    for theta in ([4.0, 3.0, 12.0], [0.5, 8.0, 100.0]):
        _check_derivatives(objective, np.array(theta))


@pytest.mark.parametrize("which", ["bgnbd", "gamma_gamma"])
def test_newton_reaches_the_same_maximum_as_lbfgs(which: str) -> None:
    if which == "bgnbd":
        f, r, T, w = _bg_data()
        model: BetaGeo | GammaGamma = BetaGeo().fit(f, r, T, weights=w)
        objective = bg_module._objective(*compress_rows([f, r, T], w)[0], compress_rows([f, r, T], w)[1])
        start = [1.0, 20.0, 1.0, 1.0]
    else:
        x, m, w = _gg_data()
        model = GammaGamma().fit(x, m, weights=w)
        objective = gg_module._objective(x, m, w)
        start = [1.0, 2.0, 15.0]

    def nll(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad, _ = objective(theta, False)
        return value, grad

    reference = maximize_loglik(nll, start, total_weight=float(w.sum()))
    assert model.log_likelihood_ >= reference.log_likelihood - 1e-7
    for got, want in zip(model.params_.values(), reference.params, strict=True):
        assert got == pytest.approx(want, rel=1e-5)
    # the Hessian that gives the standard errors is the exact one at the optimum
    se = np.sqrt(np.diag(np.linalg.inv(objective(model._theta, True)[2] * float(w.sum()))))
    np.testing.assert_allclose(list(model.standard_errors_.values()), se, rtol=1e-10)


def test_subsample_warm_start_gives_the_full_data_optimum() -> None:
    ages = np.random.default_rng(3).integers(70, 365, 120_000) / 7.0
    f, r, T = simulate_beta_geo(120_000, 0.8, 4.0, 0.5, 2.5, ages, seed=4)
    r = np.floor(r * 7.0) / 7.0
    model = BetaGeo().fit(f, r, T)
    assert model.n_unique_ > 40_000  # so the warm start on a subsample was used
    (uf, ur, uT), w, _ = compress_rows([f, r, T], np.ones(len(f)))
    objective = bg_module._objective(uf, ur, uT, w)
    _, grad, hess = objective(model._theta, True)
    assert hess is not None
    # Newton decrement at the returned parameters: nothing left to gain
    assert float(grad @ np.linalg.solve(hess, grad)) < 1e-14


def test_compress_rows_round_trip_and_weights() -> None:
    rng = np.random.default_rng(5)
    cols = [rng.integers(0, 5, 2_000).astype(float), rng.integers(0, 7, 2_000) / 7, np.full(2_000, 3.5)]
    w = rng.random(2_000)
    uniq, uw, inverse = compress_rows(cols, w)
    for col, u in zip(cols, uniq, strict=True):
        np.testing.assert_array_equal(u[inverse], col)
    assert len({tuple(row) for row in np.column_stack(uniq)}) == len(uw)
    np.testing.assert_allclose(uw, np.bincount(inverse, weights=w))
    assert uw.sum() == pytest.approx(w.sum())


def test_rfm_summary_does_not_depend_on_row_order() -> None:
    log = simulate_transactions(
        3_000, r=1.0, alpha=6.0, a=0.5, b=4.0, p=6.0, q=4.0, gamma=15.0,
        acquisition_days=60, observation_days=200, seed=8,
    )  # fmt: skip
    end = int(log.day.max()) - 20
    ordered = rfm_summary(log.customer_id, log.day, log.value, observation_end=end, unit_days=7.0)
    perm = np.random.default_rng(9).permutation(len(log.day))
    for ids in (log.customer_id[perm], log.customer_id[perm].astype(str)):
        shuffled = rfm_summary(ids, log.day[perm], log.value[perm], observation_end=end, unit_days=7.0)
        order = np.argsort(shuffled.customer_id.astype(np.int64))
        np.testing.assert_array_equal(shuffled.customer_id[order].astype(np.int64), ordered.customer_id)
        for name in ("frequency", "recency", "T"):
            np.testing.assert_array_equal(getattr(shuffled, name)[order], getattr(ordered, name))
        np.testing.assert_allclose(shuffled.monetary_value[order], ordered.monetary_value, rtol=1e-12)
    # and by brute force, customer by customer
    for i in range(0, len(ordered), 97):
        cid = ordered.customer_id[i]
        mine = (log.customer_id == cid) & (log.day <= end)
        days = np.unique(log.day[mine])
        per_day = np.array([log.value[mine & (log.day == d)].sum() for d in days])
        assert ordered.frequency[i] == len(days) - 1
        assert ordered.recency[i] == pytest.approx((days[-1] - days[0]) / 7.0)
        assert ordered.T[i] == pytest.approx((end - days[0]) / 7.0)
        expected = per_day[1:].mean() if len(days) > 1 else 0.0
        assert ordered.monetary_value[i] == pytest.approx(expected)


def test_sbg_fits_several_cohorts_jointly() -> None:
    from scipy.optimize import minimize
    from scipy.special import betaln

    from kehu.errors import ValidationError
    from kehu.models import ShiftedBetaGeo

    high_end = [1000, 869, 743, 653, 593, 551, 517, 491]  # Fader & Hardie (2007), "high end" cohort
    regular = [1000, 631, 468, 382, 326, 289, 262, 241]

    def loglik(n: list[int], a: float, b: float) -> float:
        counts = np.asarray(n, dtype=float)
        t = np.arange(1, len(counts))
        lost = -np.diff(counts)
        return float(
            lost @ (betaln(a + 1, b + t - 1) - betaln(a, b)) + counts[-1] * (betaln(a, b + t[-1]) - betaln(a, b))
        )

    cohorts = [high_end, regular[:4], high_end[:3]]
    joint = ShiftedBetaGeo().fit(cohorts)
    best = minimize(
        lambda p: -sum(loglik(n, *np.exp(p)) for n in cohorts), [0.0, 0.0], method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-12},
    )  # fmt: skip
    np.testing.assert_allclose(list(joint.params_.values()), np.exp(best.x), rtol=1e-5)
    assert joint.n_cohorts_ == 3 and joint.n_customers_ == 3000
    assert joint.log_likelihood_ == pytest.approx(-best.fun, rel=1e-9)
    # one cohort given as a list of one is the single-cohort fit
    alone = ShiftedBetaGeo().fit([high_end])
    assert alone.params_ == pytest.approx(ShiftedBetaGeo().fit(high_end).params_, rel=1e-12)
    with pytest.raises(ValidationError, match=r"survivors\[1\]: counts cannot increase"):
        ShiftedBetaGeo().fit([high_end, [100, 90, 95]])


def test_sbg_without_heterogeneity_ends_on_the_bound_as_a_geometric_model() -> None:
    """Churn that does not fall over time: the likelihood rises towards alpha, beta -> infinity.

    Before the parameter box the search overflowed exp() and took betaln/digamma of inf (RuntimeWarnings,
    errors here); now it stops on the bound, where the model is the constant-churn (geometric) one whose
    estimate is churned / periods at risk, computed here from the counts.
    """
    from kehu.models import ShiftedBetaGeo

    cohorts = [[354, 354, 66], [254, 254], [213, 213, 213]]
    lost = sum(n[0] - n[-1] for n in cohorts)
    at_risk = sum(sum(n[:-1]) for n in cohorts)
    keep = 1 - lost / at_risk
    model = ShiftedBetaGeo().fit(cohorts)
    assert model.converged_ and model.at_bound_
    np.testing.assert_allclose(model.retention_rate(np.arange(1, 6)), keep, rtol=1e-4)
    d = 0.1
    geometric = keep / (1 - keep / (1 + d))  # sum_k keep^(k+1) / (1+d)^k
    assert float(model.discounted_expected_residual_lifetime(2, d)) == pytest.approx(geometric, rel=1e-4)
    assert all(np.isnan(v) for v in model.standard_errors_.values())
    assert np.isfinite(model.log_likelihood_) and np.isfinite(model.aic_)
    # the demo company's contract cohorts (churn rising in year 2) have the same shape
    demo = ShiftedBetaGeo().fit([[38, 38, 24], [412, 405]])
    assert demo.converged_ and demo.at_bound_
    assert float(demo.retention_rate(1)) == pytest.approx(1 - 21 / 488, rel=1e-4)


def test_sbg_with_two_extreme_types_ends_on_the_lower_bound() -> None:
    """Everyone who leaves does so at once, the rest never: the likelihood rises towards alpha, beta -> 0."""
    from kehu.models import ShiftedBetaGeo

    cohorts = [[11, 10, 10, 10], [318, 318]]
    model = ShiftedBetaGeo().fit(cohorts)
    assert model.converged_ and model.at_bound_
    assert float(model.retention_rate(1)) == pytest.approx(328 / 329, rel=1e-5)
    assert np.all(model.retention_rate(np.arange(2, 6)) > 1 - 1e-5)
    saturated = np.log(1 / 329) + 328 * np.log(328 / 329)  # the best any churn model can do on these counts
    assert model.log_likelihood_ == pytest.approx(saturated, abs=1e-3)
    assert np.isfinite(model.discounted_expected_residual_lifetime(np.arange(4), 0.1)).all()


@pytest.mark.slow
def test_pareto_nbd_warm_started_bfgs_reaches_the_lbfgs_optimum() -> None:
    from kehu.models import ParetoNBD
    from kehu.models import pareto_nbd as pn_module
    from kehu.models.simulate import simulate_pareto_nbd

    ages = np.random.default_rng(5).integers(182, 546, 150_000) / 7.0
    f, r, T = simulate_pareto_nbd(150_000, 0.8, 8.0, 1.2, 15.0, ages, seed=1)
    r = np.floor(r * 7.0) / 7.0
    model = ParetoNBD().fit(f, r, T)
    assert model.n_unique_ > 40_000 and model.converged_
    (uf, ur, uT), w, _ = compress_rows([f, r, T], np.ones(len(f)))
    reference = maximize_loglik(pn_module._likelihood(uf, ur, uT, w), [1.0, 40.0, 1.0, 40.0], total_weight=w.sum())
    np.testing.assert_allclose(list(model.params_.values()), reference.params, rtol=1e-6)
    assert model.log_likelihood_ >= reference.log_likelihood - 1e-6
