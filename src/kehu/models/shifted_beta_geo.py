"""Shifted-beta-geometric (sBG) retention model for contractual customers (Fader & Hardie 2007).

Each customer renews at the end of every period with a constant probability ``1 - theta``;
``theta ~ Beta(alpha, beta)`` across customers. Fitted from one cohort's survivor counts ``n_0, ..., n_T``
(customers still active at the start of period 0..T, ``n_0`` the cohort size), or jointly from several
cohorts observed for different numbers of periods.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import optimize
from scipy.special import betaln, hyp2f1

from kehu.errors import ValidationError
from kehu.models._base import FloatArray, GradFn, as_float_array, check_integer, check_nonnegative
from kehu.models._fitting import FitResult, ParametricModel

__all__ = ["ShiftedBetaGeo"]

#: Distance kept from the edges of the unit square searched for the mean churn probability
#: ``mu = alpha/(alpha+beta)`` and the polarization ``phi = 1/(alpha+beta+1)``. The sBG likelihood can rise
#: without bound towards phi -> 0 (alpha, beta -> infinity at a fixed ratio: no heterogeneity, every
#: customer churns with the same probability, e.g. when churn does not fall over time) or phi -> 1
#: (alpha, beta -> 0: two extreme types, leave at once or never). Such a fit ends on the edge, where its
#: predictions equal the limiting model's to about one part in a billion.
_EDGE = 1e-9


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
    at_bound_ : bool
        True when the fit ends on an edge of the parameter space (the data show no heterogeneity, or only
        two extreme types); standard errors are then NaN, as Wald theory does not hold there.
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
        before = np.concatenate([np.arange(len(n) - 1, dtype=np.int64) for n in cohorts])  # t - 1
        still = np.array([n[-1] for n in cohorts])
        horizon = np.array([len(n) - 1 for n in cohorts], dtype=np.int64)
        total = float(sum(n[0] for n in cohorts))
        k = np.arange(int(horizon.max()), dtype=np.float64)

        def nll(theta: FloatArray) -> tuple[float, FloatArray]:
            # Products of ratios instead of differences of log-beta functions (Fader & Hardie's recursion):
            # S(t) = prod_{k<t} (b+k)/(a+b+k) and P(churn at t) = a/(a+b+t-1) S(t-1). Every term stays
            # finite and accurate from a, b near 0 (two extreme types) to a, b huge (no heterogeneity).
            a, b = theta
            log_s, ds_a, ds_b = _cumulative(-np.log1p(a / (b + k)), -1.0 / (a + b + k), a / ((b + k) * (a + b + k)))
            t1 = before.astype(np.float64)
            log_p = log_s[before] - np.log1p((b + t1) / a)
            dp_a = ds_a[before] + (b + t1) / (a * (a + b + t1))
            dp_b = ds_b[before] - 1.0 / (a + b + t1)
            ll = float(churned @ log_p) + float(still @ log_s[horizon])
            grad = np.array([churned @ dp_a + still @ ds_a[horizon], churned @ dp_b + still @ ds_b[horizon]])
            return -ll / total, -grad / total

        result, self.at_bound_ = _maximize_on_mean_and_polarization(nll, total, self.max_iter)
        self._set_fit(result, nll, total)
        if self.at_bound_:
            # the likelihood rises towards the edge of the parameter space: no Wald standard errors there
            self._cov = np.full((2, 2), np.nan)
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


def _natural(x: FloatArray) -> FloatArray:
    """``(alpha, beta)`` from the mean churn probability ``mu`` and the polarization ``phi = 1/(alpha+beta+1)``."""
    mu, phi = x
    kappa = (1.0 - phi) / phi
    return np.array([mu * kappa, (1.0 - mu) * kappa])


def _mean_and_polarization(theta: FloatArray) -> FloatArray:
    a, b = theta
    return np.array([a / (a + b), 1.0 / (a + b + 1.0)])


def _maximize_on_mean_and_polarization(nll: GradFn, total: float, max_iter: int) -> tuple[FitResult, bool]:
    """Maximise the sBG likelihood over ``(mu, phi)`` in a box inside the unit square.

    In ``(alpha, beta)`` the two limits the likelihood can rise towards (no heterogeneity; two extreme
    types) lie at infinity and at 0, where an unbounded search overflows; on the log scale they are flat
    ridges the search never reaches. As ``phi -> 0`` and ``phi -> 1`` they are ordinary edges with a
    finite slope, so a box-constrained search stops on them, ``_EDGE`` away from the limit.

    Returns
    -------
    result, at_bound
        The fit in ``(alpha, beta)``, and whether it ended on an edge of the box.
    """

    def objective(x: FloatArray) -> tuple[float, FloatArray]:
        mu, phi = x
        kappa = (1.0 - phi) / phi
        value, grad = nll(_natural(x))
        d_kappa = -1.0 / (phi * phi)
        return value, np.array([(grad[0] - grad[1]) * kappa, (grad[0] * mu + grad[1] * (1.0 - mu)) * d_kappa])

    res = optimize.minimize(
        objective,
        _mean_and_polarization(np.array([1.0, 1.0])),
        jac=True,
        method="L-BFGS-B",
        bounds=[(_EDGE, 1.0 - _EDGE)] * 2,
        options={"maxiter": max_iter, "gtol": 1e-10, "ftol": 1e-15, "maxcor": 20},
    )
    theta = _natural(res.x)
    low, high = res.x <= _EDGE, res.x >= 1.0 - _EDGE
    # the line search may give up in the rounding noise at the optimum: judge by the projected gradient
    slope = np.where((low & (res.jac > 0)) | (high & (res.jac < 0)), 0.0, res.jac)
    result = FitResult(
        params=theta,
        log_likelihood=-float(nll(theta)[0]) * total,
        converged=bool(res.success or np.max(np.abs(slope)) < 1e-6),
        message=str(res.message),
        n_iterations=int(res.nit),
    )
    return result, bool(np.any(low | high))


def _cumulative(*terms: FloatArray) -> list[FloatArray]:
    """Running sums starting at 0 (``out[t] = sum(term[:t])``) of each term."""
    return [np.concatenate(([0.0], np.cumsum(term))) for term in terms]


def _periods(t: Any) -> FloatArray:
    periods = as_float_array("t", t, allow_scalar=True)
    check_nonnegative("t", periods)
    check_integer("t", periods)
    return periods
