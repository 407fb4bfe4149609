"""RFM summaries against lifetimes, the hypergeometric series against SciPy, and diagnostics numbers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import hyp2f1

from kehu.errors import ValidationError
from kehu.models import BetaGeo, CalibrationHoldout, ParetoNBD, rfm_summary
from kehu.models._hypergeometric import log_g_with_grad
from kehu.models.diagnostics import (
    calibration_vs_holdout,
    compare_models,
    cumulative_repeat_transactions,
    probability_alive_grid,
)


def _small_log() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ids = np.array(["b", "a", "a", "a", "b", "c", "a", "b"])
    days = np.array(
        [
            "2024-01-03",
            "2024-01-01",
            "2024-01-01",
            "2024-01-15",
            "2024-01-10",
            "2024-02-01",
            "2024-02-20",
            "2024-03-01",
        ],
        dtype="datetime64[D]",
    )
    values = np.array([5.0, 10.0, 2.0, 4.0, 6.0, 7.0, 8.0, 1.0])
    return ids, days, values


def test_rfm_summary_by_hand() -> None:
    ids, days, values = _small_log()
    s = rfm_summary(ids, days, values, observation_end="2024-02-29", unit_days=1.0)
    assert list(s.customer_id) == ["a", "b", "c"]
    # a: occasions Jan 1 (10+2), Jan 15 (4), Feb 20 (8); b: Jan 3, Jan 10 (Mar 1 is after the end); c: Feb 1
    np.testing.assert_array_equal(s.frequency, [2, 1, 0])
    np.testing.assert_array_equal(s.recency, [50, 7, 0])
    np.testing.assert_array_equal(s.T, [59, 57, 28])
    np.testing.assert_array_equal(s.monetary_value, [6.0, 6.0, 0.0])
    with pytest.raises(ValidationError, match="unit_days"):
        rfm_summary(ids, days, values, unit_days=0)
    with pytest.raises(ValidationError, match="values: expected one value per transaction"):
        rfm_summary(ids, days, values[:3])


lifetimes = pytest.importorskip("lifetimes")


def test_calibration_holdout_matches_lifetimes(
    cdnow_transactions: dict[str, np.ndarray], cdnow: CalibrationHoldout
) -> None:
    import pandas as pd
    from lifetimes.utils import calibration_and_holdout_data

    frame = pd.DataFrame(
        {"id": cdnow_transactions["customer_id"], "date": cdnow_transactions["date"], "v": cdnow_transactions["value"]}
    )
    ref = calibration_and_holdout_data(
        frame, "id", "date", calibration_period_end="1997-09-30", observation_period_end="1998-06-30",
        freq="D", freq_multiplier=7, monetary_value_col="v",
    ).sort_index()  # fmt: skip
    cal = cdnow.calibration
    np.testing.assert_array_equal(cal.customer_id, ref.index.to_numpy())
    for ours, col in [
        (cal.frequency, "frequency_cal"),
        (cal.recency, "recency_cal"),
        (cal.T, "T_cal"),
        (cal.monetary_value, "monetary_value_cal"),
        (cdnow.frequency_holdout, "frequency_holdout"),
        (cdnow.monetary_value_holdout, "monetary_value_holdout"),
    ]:
        np.testing.assert_allclose(ours, ref[col].to_numpy(), rtol=1e-12, err_msg=col)
    assert cdnow.duration_holdout == ref["duration_holdout"].iloc[0]


def test_series_matches_scipy_and_its_gradient() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 40, 500)
    q = p + rng.uniform(0.05, 5, 500)
    z = rng.uniform(0, 0.97, 500)
    log_g, dp, dq, _ = log_g_with_grad(p, q, z)
    np.testing.assert_allclose(log_g, np.log(hyp2f1(1.0, p, q, z)), rtol=1e-12)
    h = 1e-6
    np.testing.assert_allclose(
        dp, (log_g_with_grad(p + h, q, z)[0] - log_g_with_grad(p - h, q, z)[0]) / (2 * h), rtol=1e-5, atol=1e-9
    )
    np.testing.assert_allclose(
        dq, (log_g_with_grad(p, q + h, z)[0] - log_g_with_grad(p, q - h, z)[0]) / (2 * h), rtol=1e-5, atol=1e-9
    )
    zz = np.clip(z, h, None)
    fd = (log_g_with_grad(p, q, zz + h)[0] - log_g_with_grad(p, q, zz - h)[0]) / (2 * h)
    np.testing.assert_allclose(log_g_with_grad(p, q, zz)[3], fd, rtol=1e-5, atol=1e-9)


@pytest.fixture(scope="module")
def fitted(cdnow: CalibrationHoldout) -> dict[str, BetaGeo | ParetoNBD]:
    cal = cdnow.calibration
    return {
        "BG/NBD": BetaGeo().fit(cal.frequency, cal.recency, cal.T),
        "Pareto/NBD": ParetoNBD().fit(cal.frequency, cal.recency, cal.T),
    }


def test_calibration_vs_holdout_numbers(cdnow: CalibrationHoldout, fitted) -> None:
    out = calibration_vs_holdout(fitted["BG/NBD"], cdnow, max_frequency=7)
    assert out["customers"].sum() == 2357
    assert out["customers"][0] == (cdnow.calibration.frequency == 0).sum()
    # Weighted group means add back up to the totals.
    total_actual = np.nansum(out["actual"] * out["customers"])
    assert total_actual == pytest.approx(cdnow.frequency_holdout.sum())
    # The model tracks the holdout (FHL 2005, fig. 4: within ~25% per group), rising with frequency.
    big = out["customers"] >= 50
    assert np.all(np.abs(out["predicted"][big] / out["actual"][big] - 1) < 0.3)
    assert np.all(np.diff(out["predicted"]) > 0)


def test_cumulative_repeat_transactions_track_cdnow(cdnow_transactions, fitted) -> None:
    out = cumulative_repeat_transactions(
        fitted["BG/NBD"], cdnow_transactions["customer_id"], cdnow_transactions["date"],
        start="1997-01-01", end="1998-06-30", unit_days=7.0,
    )  # fmt: skip
    assert len(out["period"]) == 78
    assert np.all(np.diff(out["actual"]) >= 0) and np.all(np.diff(out["predicted"]) >= 0)
    # At week 39 the actual count is the 2,457 calibration repeat purchases.
    assert out["actual"][38] == 2457
    # FHL (2005) figure: the model tracks cumulative repeat sales within a few percent by week 78.
    assert out["predicted"][-1] == pytest.approx(out["actual"][-1], rel=0.05)


def test_probability_alive_grid(fitted) -> None:
    grid = probability_alive_grid(fitted["Pareto/NBD"], max_frequency=10, T=39.0, n_recency=20)
    p = grid["p_alive"]
    assert p.shape == (20, 11)
    assert np.all(np.isnan(p[1:, 0])) and p[0, 0] > 0
    valid = p[:, 1:]
    assert np.all((valid > 0) & (valid <= 1))
    assert np.all(np.diff(valid, axis=0) > 0)  # more recent last purchase -> more likely alive


def test_compare_models(cdnow: CalibrationHoldout, fitted) -> None:
    rows = compare_models(fitted, cdnow)
    assert {r["model"] for r in rows} == set(fitted)
    assert rows[0]["rmse"] <= rows[1]["rmse"]
    for row in rows:
        assert 0 < row["mae"] <= row["rmse"]
        assert abs(row["total_error"]) < 0.15
