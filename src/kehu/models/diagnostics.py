"""Numbers for checking purchase models: calibration vs holdout, tracking of repeat transactions, P(alive)
grid and model comparison by holdout error. Plots of these numbers live in :mod:`kehu.reports`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kehu.errors import ValidationError
from kehu.models._base import FloatArray
from kehu.models.beta_geo import BetaGeo
from kehu.models.pareto_nbd import ParetoNBD
from kehu.models.rfm import CalibrationHoldout, _day_number, _day_numbers

__all__ = [
    "calibration_vs_holdout",
    "compare_models",
    "cumulative_repeat_transactions",
    "probability_alive_grid",
]

PurchaseModel = BetaGeo | ParetoNBD


def calibration_vs_holdout(
    model: PurchaseModel, data: CalibrationHoldout, *, max_frequency: int = 7
) -> dict[str, FloatArray]:
    """Mean holdout purchases, actual and predicted, by calibration frequency.

    Parameters
    ----------
    model
        A fitted purchase model.
    data
        Calibration summaries and holdout outcomes.
    max_frequency
        Frequencies at or above this value share the last group.

    Returns
    -------
    dict
        ``frequency`` (group label, the last meaning "at least"), ``customers``, ``actual`` and
        ``predicted`` (mean purchases per customer in the holdout window).
    """
    if max_frequency < 1:
        raise ValidationError(f"max_frequency: must be >= 1, got {max_frequency!r}")
    cal = data.calibration
    predicted = model.expected_purchases(data.duration_holdout, cal.frequency, cal.recency, cal.T)
    group = np.minimum(cal.frequency, max_frequency).astype(np.int64)
    counts = np.bincount(group, minlength=max_frequency + 1).astype(np.float64)
    safe = np.where(counts > 0, counts, 1.0)
    actual = np.bincount(group, weights=data.frequency_holdout, minlength=max_frequency + 1) / safe
    pred = np.bincount(group, weights=predicted, minlength=max_frequency + 1) / safe
    empty = counts == 0
    actual[empty] = np.nan
    pred[empty] = np.nan
    return {
        "frequency": np.arange(max_frequency + 1, dtype=np.float64),
        "customers": counts,
        "actual": actual,
        "predicted": pred,
    }


def cumulative_repeat_transactions(
    model: PurchaseModel,
    customer_ids: Any,
    times: Any,
    *,
    start: Any,
    end: Any,
    unit_days: float = 7.0,
) -> dict[str, FloatArray]:
    """Cumulative repeat purchases per period since ``start``: actual vs expected from the model.

    The expectation for each customer is the model's purchases-of-a-new-customer curve started at their
    first purchase (the "tracking plot" of Fader, Hardie & Lee 2005). A purchase occasion is a customer-day.

    Parameters
    ----------
    model
        A fitted purchase model whose time unit is ``unit_days`` days.
    customer_ids, times
        The transaction log.
    start, end
        First and last day (inclusive) of the tracked window.
    unit_days
        Length of one period in days.

    Returns
    -------
    dict
        ``period`` (1..n, end of each period in units since ``start``), ``actual`` and ``predicted``
        cumulative repeat purchases.
    """
    ids = np.asarray(customer_ids)
    days = _day_numbers("times", times)
    first_day, last_day = _day_number("start", start), _day_number("end", end)
    if last_day < first_day:
        raise ValidationError("end: must not be before start")
    keep = (days >= first_day) & (days <= last_day)
    ids, days = ids[keep], days[keep]
    _, code = np.unique(ids, return_inverse=True)
    order = np.lexsort((days, code))
    c, d = code[order], days[order]
    occasion = np.ones(len(c), dtype=bool)
    occasion[1:] = (c[1:] != c[:-1]) | (d[1:] != d[:-1])
    is_first = np.ones(len(c), dtype=bool)
    is_first[1:] = c[1:] != c[:-1]
    repeat_days = d[occasion & ~is_first] - first_day
    acquired = d[is_first] - first_day
    n_periods = int(np.ceil((last_day - first_day + 1) / unit_days))
    period = np.arange(1, n_periods + 1, dtype=np.float64)
    boundary = period * unit_days  # days since start at the end of each period (exclusive)
    actual = np.searchsorted(np.sort(repeat_days), boundary, side="left").astype(np.float64)
    uniq_first, n_first = np.unique(acquired, return_counts=True)
    elapsed = np.maximum(boundary[:, None] - uniq_first[None, :] - 1, 0.0) / unit_days
    curve = model.expected_purchases_new_customer(elapsed.ravel()).reshape(elapsed.shape)
    predicted = curve @ n_first.astype(np.float64)
    return {"period": period, "actual": actual, "predicted": predicted}


def probability_alive_grid(
    model: PurchaseModel, *, max_frequency: int, T: float, n_recency: int = 40
) -> dict[str, FloatArray]:
    """P(alive) for every (frequency, recency) combination of customers of age ``T``.

    Parameters
    ----------
    model
        A fitted purchase model.
    max_frequency
        Largest frequency on the grid.
    T
        Customer age at which the grid is evaluated.
    n_recency
        Number of recency values, evenly spaced on ``[0, T]``.

    Returns
    -------
    dict
        ``frequency`` (length F), ``recency`` (length R) and ``p_alive`` with shape (R, F); cells that
        cannot occur (frequency 0 with recency > 0) are NaN.
    """
    if max_frequency < 1 or not T > 0 or n_recency < 2:
        raise ValidationError("probability_alive_grid: need max_frequency >= 1, T > 0 and n_recency >= 2")
    freq = np.arange(max_frequency + 1, dtype=np.float64)
    rec = np.linspace(0.0, T, n_recency)
    f_grid, r_grid = np.meshgrid(freq, rec)
    valid = ~((f_grid == 0) & (r_grid > 0))
    out = np.full(f_grid.shape, np.nan)
    out[valid] = model.probability_alive(f_grid[valid], r_grid[valid], np.full(valid.sum(), T))
    return {"frequency": freq, "recency": rec, "p_alive": out}


def compare_models(models: dict[str, PurchaseModel], data: CalibrationHoldout) -> list[dict[str, float | str]]:
    """Rank fitted purchase models by their error in predicting each customer's holdout purchases.

    Parameters
    ----------
    models
        Fitted models by name, all fitted on ``data.calibration``.
    data
        Calibration summaries and holdout outcomes.

    Returns
    -------
    list of dict
        One row per model, best (lowest RMSE) first: ``model``, ``log_likelihood``, ``aic``, ``bic``,
        ``rmse``, ``mae``, ``bias`` (mean predicted minus actual) and ``total_error`` (relative error
        of the total number of holdout purchases).
    """
    if not models:
        raise ValidationError("models: give at least one fitted model")
    cal = data.calibration
    actual = data.frequency_holdout
    rows: list[dict[str, float | str]] = []
    for name, model in models.items():
        pred = model.expected_purchases(data.duration_holdout, cal.frequency, cal.recency, cal.T)
        err = pred - actual
        rows.append(
            {
                "model": name,
                "log_likelihood": model.log_likelihood_,
                "aic": model.aic_,
                "bic": model.bic_,
                "rmse": float(np.sqrt(np.mean(err**2))),
                "mae": float(np.mean(np.abs(err))),
                "bias": float(np.mean(err)),
                "total_error": float(pred.sum() / max(actual.sum(), 1.0) - 1.0),
            }
        )
    rows.sort(key=lambda row: float(row["rmse"]))
    return rows
