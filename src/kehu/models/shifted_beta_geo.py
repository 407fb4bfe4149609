"""Shifted-beta-geometric (sBG) retention model for contractual customers (Fader & Hardie 2007).

Each customer renews at the end of every period with a constant probability ``1 - theta``;
``theta ~ Beta(alpha, beta)`` across customers. Fitted from one cohort's survivor counts ``n_0, ..., n_T``
(customers still active at the start of period 0..T, ``n_0`` the cohort size), or jointly from several
cohorts observed for different numbers of periods.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import betaln, digamma, hyp2f1

from kehu.errors import ValidationError
from kehu.models._base import (
    FloatArray,
    ParametricModel,
    as_float_array,
    check_integer,
    check_nonnegative,
    maximize_loglik,
)

__all__ = ["ShiftedBetaGeo"]


def _validate_survivors(survivors: Any, name: str = "survivors") -> FloatArray:
    n = as_float_array(name, survivors)
    if len(n) < 2:
        raise ValidationError(f"{name}: need the cohort size and at least one later count")
    check_nonnegative(name, n)
    check_integer(name, n)
    if n[0] <= 0:
        raise ValidationError(f"{name}: the first value (cohort size) must be > 0")
    rising = np.diff(n) > 0
    if rising.any():
        i = int(np.flatnonzero(rising)[0]) + 1
        raise ValidationError(f"{name}: counts cannot increase, found {n[i]!r} after {n[i - 1]!r} at position {i}")
    return n


def _cohorts(survivors: Any) -> list[FloatArray]:
    """One cohort's counts, or a list of cohorts' counts, validated, as a list of arrays."""
    if isinstance(survivors, np.ndarray) and survivors.ndim == 1:
        return [_validate_survivors(survivors)]
    items = list(survivors) if not isinstance(survivors, str | bytes) else [survivors]
    if items and all(np.ndim(item) == 1 for item in items):
        if not items:
            raise ValidationError("survivors: no cohorts given")
        return [_validate_survivors(item, f"survivors[{i}]") for i, item in enumerate(items)]
    return [_validate_survivors(survivors)]


class ShiftedBetaGeo(ParametricModel):
    """sBG model of contract renewals.

    Parameters
    ----------
    max_iter
        Iteration limit of the optimiser.

    Attributes
    ----------
    params_ : dict
        Estimates of ``alpha`` and ``beta``.
    n_customers_ : int
        Cohort size.
    """

    _param_names = ("alpha", "beta")

    def __init__(self, *, max_iter: int = 500) -> None:
        self.max_iter = max_iter

    def fit(self, survivors: Any) -> ShiftedBetaGeo:
        """Fit from survivor counts ``n_0 >= n_1 >= ... >= n_T``, of one cohort or of several.

        Parameters
        ----------
        survivors
            Customers active at the start of each period, the first value being the cohort size; or a
            list of such sequences (cohorts observed for different numbers of periods), fitted jointly.

        Returns
        -------
        ShiftedBetaGeo
            ``self``.
        """
        cohorts = _cohorts(survivors)
        # every cohort contributes churn counts at periods 1..T_c and its survivors past T_c
        churned = np.concatenate([-np.diff(n) for n in cohorts])
        periods = np.concatenate([np.arange(1, len(n), dtype=np.float64) for n in cohorts])
        still = np.array([n[-1] for n in cohorts])
        horizon = np.array([len(n) - 1 for n in cohorts], dtype=np.float64)
        total = float(sum(n[0] for n in cohorts))

        def nll(theta: FloatArray) -> tuple[float, FloatArray]:
            a, b = theta
            base = betaln(a, b)
            # P(churn at t) = B(a+1, b+t-1)/B(a,b); P(survive T) = B(a, b+T)/B(a,b)
            log_p = betaln(a + 1, b + periods - 1) - base
            log_s = betaln(a, b + horizon) - base
            ll = float(churned @ log_p) + float(still @ log_s)
            d_base_a = digamma(a) - digamma(a + b)
            d_base_b = digamma(b) - digamma(a + b)
            dp_a = digamma(a + 1) - digamma(a + b + periods) - d_base_a
            dp_b = digamma(b + periods - 1) - digamma(a + b + periods) - d_base_b
            ds_a = digamma(a) - digamma(a + b + horizon) - d_base_a
            ds_b = digamma(b + horizon) - digamma(a + b + horizon) - d_base_b
            grad = np.array([churned @ dp_a + still @ ds_a, churned @ dp_b + still @ ds_b])
            return -ll / total, -grad / total

        result = maximize_loglik(nll, (1.0, 1.0), total_weight=total, max_iter=self.max_iter)
        self._set_fit(result, nll, total)
        self.n_customers_ = int(total)
        self.n_cohorts_ = len(cohorts)
        return self

    def survival(self, t: Any) -> FloatArray:
        """Share of a new cohort still active after ``t`` renewal opportunities, ``S(t)``.

        Parameters
        ----------
        t
            Whole numbers of periods (>= 0).

        Returns
        -------
        numpy.ndarray
            ``B(alpha, beta + t) / B(alpha, beta)``.
        """
        periods = _periods(t)
        a, b = self._theta
        return np.asarray(np.exp(betaln(a, b + periods) - betaln(a, b)))

    def retention_rate(self, t: Any) -> FloatArray:
        """Renewal rate at the end of period ``t`` among those active in it, ``(beta+t-1)/(alpha+beta+t-1)``.

        Parameters
        ----------
        t
            Periods (whole numbers >= 1).

        Returns
        -------
        numpy.ndarray
            Retention rate, rising with ``t`` (survivors are the loyal ones).
        """
        periods = _periods(t)
        if (periods < 1).any():
            raise ValidationError("t: retention is defined from period 1 on")
        a, b = self._theta
        return np.asarray((b + periods - 1) / (a + b + periods - 1))

    def discounted_expected_residual_lifetime(self, renewals: Any, discount_rate: float) -> FloatArray:
        """Discounted expected residual lifetime (DERL) of a customer who has renewed ``renewals`` times.

        Counts the periods the customer will still pay for, the coming renewal undiscounted and each later
        one discounted, ``sum_{t>=n} S(t) / S(n-1) / (1 + d)^(t-n)`` with ``n = renewals + 1``; the closed
        form is ``(beta+n-1)/(alpha+beta+n-1) 2F1(1, beta+n; alpha+beta+n; 1/(1+d))`` (Fader & Hardie
        2010). Multiply by the margin per period to get a residual value.

        Parameters
        ----------
        renewals
            Renewals made so far (0 for a customer in their first period).
        discount_rate
            Discount rate per period (e.g. 0.1).

        Returns
        -------
        numpy.ndarray
            Expected discounted number of future paid periods.
        """
        n = _periods(renewals) + 1.0
        if not discount_rate > 0:
            raise ValidationError(f"discount_rate: must be > 0 for a finite sum, got {discount_rate!r}")
        a, b = self._theta
        first = (b + n - 1) / (a + b + n - 1)
        return np.asarray(first * hyp2f1(1.0, b + n, a + b + n, 1.0 / (1 + discount_rate)))


def _periods(t: Any) -> FloatArray:
    periods = as_float_array("t", t, allow_scalar=True)
    check_nonnegative("t", periods)
    check_integer("t", periods)
    return periods
