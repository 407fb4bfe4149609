"""Fits that fail say so; float32 input fits as float64 does; the Gamma-Gamma likelihood is the full density."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from kehu.models import BetaGeo, CalibrationHoldout, GammaGamma, ModifiedBetaGeo, ParetoNBD, calibration_holdout
from kehu_testdata import cdnow_path

ISSUES = {"at_bound", "singular_hessian", "standard_errors", "optimizer"}
PURCHASE = [BetaGeo, ParetoNBD, ModifiedBetaGeo]
# Pareto/NBD's search takes about 12 s to run off to the edge on degenerate data
DEGENERATE = [BetaGeo, pytest.param(ParetoNBD, marks=pytest.mark.slow), ModifiedBetaGeo]


def _failed(model: BetaGeo | ParetoNBD | GammaGamma) -> None:
    assert model.converged_ is False
    assert model.convergence_issue_ in ISSUES
    assert isinstance(model.convergence_reason_, str) and len(model.convergence_reason_) > 20


@pytest.mark.parametrize("cls", DEGENERATE, ids=lambda c: c.__name__)
def test_purchase_model_on_one_customer_fails(cls: type[BetaGeo] | type[ParetoNBD]) -> None:
    _failed(cls().fit([2], [5.0], [10.0]))


@pytest.mark.parametrize("cls", DEGENERATE, ids=lambda c: c.__name__)
def test_purchase_model_on_identical_rows_fails(cls: type[BetaGeo] | type[ParetoNBD]) -> None:
    model = cls().fit(np.full(1000, 2), np.full(1000, 5.0), np.full(1000, 10.0))
    _failed(model)
    if cls is BetaGeo:  # r ran off to about 1e8 while the search reported success
        assert model.convergence_issue_ == "at_bound" and "parameter r" in (model.convergence_reason_ or "")


@pytest.mark.parametrize("cls", PURCHASE, ids=lambda c: c.__name__)
def test_purchase_model_with_no_repeat_purchases_fails(cls: type[BetaGeo] | type[ParetoNBD]) -> None:
    _failed(cls().fit(np.zeros(200), np.zeros(200), np.linspace(1.0, 30.0, 200)))


def test_gamma_gamma_on_one_customer_fails() -> None:
    model = GammaGamma().fit([3], [20.0])
    _failed(model)
    assert model.convergence_issue_ == "at_bound"


def test_gamma_gamma_on_identical_spends_fails() -> None:
    rng = np.random.default_rng(0)
    _failed(GammaGamma().fit(rng.integers(1, 6, 300), np.full(300, 20.0)))


@pytest.mark.parametrize("cls", [*PURCHASE, GammaGamma], ids=lambda c: c.__name__)
def test_fits_on_cdnow_converge(cdnow: CalibrationHoldout, cls: type) -> None:
    cal = cdnow.calibration
    args = (cal.frequency, cal.monetary_value) if cls is GammaGamma else (cal.frequency, cal.recency, cal.T)
    model = cls().fit(*args)
    assert model.converged_ and model.convergence_issue_ is None and model.convergence_reason_ is None
    assert all(np.isfinite(v) and v > 0 for v in model.standard_errors_.values())


@pytest.fixture(scope="module")
def cdnow_master() -> dict[str, np.ndarray]:
    raw = np.loadtxt(cdnow_path("CDNOW_master.txt"), skiprows=1)
    dates = np.array([f"{int(d):08d}" for d in raw[:, 1]])
    iso = np.array([f"{d[:4]}-{d[4:6]}-{d[6:]}" for d in dates], dtype="datetime64[D]")
    return {"id": raw[:, 0].astype(np.int64), "date": iso, "value": raw[:, 3]}


@pytest.mark.parametrize("unit_days", [7.0, 1.0], ids=["weeks", "days"])
def test_pareto_nbd_float32_converges_as_float64(cdnow_master: dict[str, np.ndarray], unit_days: float) -> None:
    """On the full CDNOW master (23,570 customers) L-BFGS-B's line search gives up in the rounding noise next
    to the maximum (float32 recency in weeks; float64 in days): the fit is finished, and judged by its end point."""
    split = calibration_holdout(
        cdnow_master["id"], cdnow_master["date"], cdnow_master["value"],
        calibration_end="1997-09-30", observation_end="1998-06-30", unit_days=unit_days,
    )  # fmt: skip
    cal = split.calibration
    wide = ParetoNBD().fit(cal.frequency, cal.recency, cal.T)
    narrow = ParetoNBD().fit(*(v.astype(np.float32) for v in (cal.frequency, cal.recency, cal.T)))
    assert wide.converged_ and narrow.converged_
    for k, v in wide.params_.items():
        assert narrow.params_[k] == pytest.approx(v, rel=1e-6), k


def test_gamma_gamma_log_likelihood_is_the_density(cdnow: CalibrationHoldout) -> None:
    """The mean of x values Gamma(p, nu) given nu ~ Gamma(q, gamma): x m / gamma is beta-prime(p x, q)."""
    cal = cdnow.calibration
    rep = cal.frequency > 0
    x, m = cal.frequency[rep], cal.monetary_value[rep]
    model = GammaGamma().fit(x, m)
    p, q, gamma = (model.params_[k] for k in ("p", "q", "gamma"))
    direct = np.sum(stats.betaprime.logpdf(x * m / gamma, p * x, q) + np.log(x / gamma))
    assert model.log_likelihood_ == pytest.approx(direct, rel=1e-10)
    # and per customer, by integrating nu out numerically for a few of them
    from scipy import integrate

    for i in (0, 7, 40):

        def joint(nu: float, i: int = i) -> float:
            return stats.gamma.pdf(m[i], p * x[i], scale=1 / (x[i] * nu)) * stats.gamma.pdf(nu, q, scale=1 / gamma)

        value, _ = integrate.quad(joint, 0, np.inf, epsabs=0, epsrel=1e-12, limit=200)
        assert np.log(value) == pytest.approx(stats.betaprime.logpdf(x[i] * m[i] / gamma, p * x[i], q)
                                              + np.log(x[i] / gamma), rel=1e-8)  # fmt: skip
    assert model.aic_ == pytest.approx(2 * 3 - 2 * direct, rel=1e-12)
    assert model.bic_ == pytest.approx(3 * np.log(len(x)) - 2 * direct, rel=1e-12)
