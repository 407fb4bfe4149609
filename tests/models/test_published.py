"""Acceptance 1-3: the papers' estimates on CDNOW and the sBG cohorts, and agreement with lifetimes."""

from __future__ import annotations

import numpy as np
import pytest

from kehu.models import BetaGeo, CalibrationHoldout, GammaGamma, ParetoNBD, ShiftedBetaGeo


def sig3(value: float, published: float) -> bool:
    """True when ``value`` rounds to ``published`` at three significant digits."""
    return float(f"{value:.3g}") == float(f"{published:.3g}")


def test_cdnow_summary_matches_papers(cdnow: CalibrationHoldout) -> None:
    cal = cdnow.calibration
    assert len(cal) == 2357
    # Fader, Hardie & Lee (2005): 2,357 customers made 2,457 repeat purchases in the 39 calibration weeks.
    assert cal.frequency.sum() == 2457
    assert cdnow.duration_holdout == 39.0


def test_bgnbd_cdnow_matches_fader_hardie_lee_2005(cdnow: CalibrationHoldout) -> None:
    cal = cdnow.calibration
    model = BetaGeo().fit(cal.frequency, cal.recency, cal.T)
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    assert all(sig3(model.params_[k], v) for k, v in published.items()), model.params_
    assert round(model.log_likelihood_, 1) == -9582.4  # reported with the estimates
    assert model.converged_
    assert model.bic_ > model.aic_ > -2 * model.log_likelihood_


def test_pareto_nbd_cdnow_matches_published(cdnow: CalibrationHoldout) -> None:
    cal = cdnow.calibration
    model = ParetoNBD().fit(cal.frequency, cal.recency, cal.T)
    published = {"r": 0.55, "alpha": 10.58, "s": 0.61, "beta": 11.67}
    for k, v in published.items():
        digits = len(str(v).replace(".", "").lstrip("0"))
        assert float(f"{model.params_[k]:.{digits}g}") == v, (k, model.params_)


def test_gamma_gamma_cdnow_matches_published(cdnow: CalibrationHoldout) -> None:
    cal = cdnow.calibration
    # Spend = mean value of each customer's repeat purchase days (repeaters only), as in the papers.
    model = GammaGamma().fit(cal.frequency, cal.monetary_value)
    assert model.n_customers_ == int((cal.frequency > 0).sum())
    published = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    for k, v in published.items():
        assert abs(model.params_[k] / v - 1) < 5e-3, (k, model.params_)


# Fader & Hardie (2007), "How to project customer retention": survivors at the start of years 0..7.
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]


@pytest.mark.parametrize(
    ("survivors", "published"),
    [(HIGH_END, (0.668, 3.806)), (REGULAR, (0.704, 1.182))],
    ids=["high-end", "regular"],
)
def test_sbg_matches_fader_hardie_2007(survivors: list[int], published: tuple[float, float]) -> None:
    model = ShiftedBetaGeo().fit(survivors)
    assert sig3(model.params_["alpha"], published[0]), model.params_
    assert sig3(model.params_["beta"], published[1]), model.params_


lifetimes = pytest.importorskip("lifetimes")


def _as_series(params: dict[str, float]):
    import pandas as pd

    return pd.Series(params)


@pytest.mark.parametrize("horizon", [1.0, 39.0, 104.0])
def test_bgnbd_agrees_with_lifetimes_on_every_customer(cdnow: CalibrationHoldout, horizon: float) -> None:
    cal = cdnow.calibration
    model = BetaGeo().fit(cal.frequency, cal.recency, cal.T)
    ref = lifetimes.BetaGeoFitter()
    ref.params_ = _as_series(model.params_)
    ours = model.probability_alive(cal.frequency, cal.recency, cal.T)
    theirs = ref.conditional_probability_alive(cal.frequency, cal.recency, cal.T)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=0)
    ours = model.expected_purchases(horizon, cal.frequency, cal.recency, cal.T)
    theirs = ref.conditional_expected_number_of_purchases_up_to_time(horizon, cal.frequency, cal.recency, cal.T)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=0)
    np.testing.assert_allclose(
        model.expected_purchases_new_customer(horizon), ref.expected_number_of_purchases_up_to_time(horizon), rtol=1e-9
    )
    for n in range(4):
        np.testing.assert_allclose(
            model.probability_of_purchases(n, horizon),
            ref.probability_of_n_purchases_up_to_time(horizon, n),
            rtol=1e-9,
        )


@pytest.mark.parametrize("horizon", [1.0, 39.0, 104.0])
def test_pareto_nbd_agrees_with_lifetimes_on_every_customer(cdnow: CalibrationHoldout, horizon: float) -> None:
    cal = cdnow.calibration
    model = ParetoNBD().fit(cal.frequency, cal.recency, cal.T)
    ref = lifetimes.ParetoNBDFitter()
    ref.params_ = _as_series(model.params_)
    ours = model.probability_alive(cal.frequency, cal.recency, cal.T)
    theirs = ref.conditional_probability_alive(cal.frequency, cal.recency, cal.T)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=0)
    ours = model.expected_purchases(horizon, cal.frequency, cal.recency, cal.T)
    theirs = ref.conditional_expected_number_of_purchases_up_to_time(horizon, cal.frequency, cal.recency, cal.T)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=0)
    np.testing.assert_allclose(
        model.expected_purchases_new_customer(horizon), ref.expected_number_of_purchases_up_to_time(horizon), rtol=1e-9
    )


def test_pareto_nbd_likelihood_agrees_with_lifetimes(cdnow: CalibrationHoldout) -> None:
    cal = cdnow.calibration
    model = ParetoNBD().fit(cal.frequency, cal.recency, cal.T)
    theta = np.array(list(model.params_.values()))
    theirs = lifetimes.ParetoNBDFitter._conditional_log_likelihood(theta, cal.frequency, cal.recency, cal.T).sum()
    assert model.log_likelihood_ == pytest.approx(theirs, rel=1e-10)
    assert round(model.log_likelihood_, 1) == -9595.0


def test_clv_agrees_with_lifetimes(cdnow: CalibrationHoldout) -> None:
    from kehu.models import customer_lifetime_value

    cal = cdnow.calibration
    bg = BetaGeo().fit(cal.frequency, cal.recency, cal.T)
    gg = GammaGamma().fit(cal.frequency, cal.monetary_value)
    ref_bg = lifetimes.BetaGeoFitter()
    ref_bg.params_ = _as_series(bg.params_)
    ref_bg.predict = ref_bg.conditional_expected_number_of_purchases_up_to_time  # normally set by fit
    ref_gg = lifetimes.GammaGammaFitter()
    ref_gg.params_ = _as_series({"p": gg.params_["p"], "q": gg.params_["q"], "v": gg.params_["gamma"]})
    import pandas as pd

    s = {k: pd.Series(getattr(cal, k)) for k in ("frequency", "recency", "T", "monetary_value")}
    theirs = ref_gg.customer_lifetime_value(
        ref_bg, s["frequency"], s["recency"], s["T"], s["monetary_value"],
        time=12, discount_rate=1.1 ** (1 / 12) - 1, freq="W",
    )  # fmt: skip
    ours = customer_lifetime_value(
        bg, gg, cal.frequency, cal.recency, cal.T, cal.monetary_value, periods_per_month=4.345, discount_rate=0.1
    )
    np.testing.assert_allclose(ours.value, theirs.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(
        ours.expected_average_value,
        ref_gg.conditional_expected_average_profit(s["frequency"], s["monetary_value"]).to_numpy(),
        rtol=1e-9,
    )
