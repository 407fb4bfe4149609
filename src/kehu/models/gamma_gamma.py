"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves").

Each transaction value of a customer is ``Gamma(p, nu)``; ``nu ~ Gamma(q, gamma)`` across customers. The
model is fitted on repeat customers only, from ``frequency`` (x, number of repeat transactions) and
``monetary_value`` (the mean of those x repeat transaction values). Spend is assumed independent of the
purchase process.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import digamma, gammaln, polygamma

from kehu.errors import ValidationError
from kehu.models._base import (
    FloatArray,
    IntArray,
    as_float_array,
    check_integer,
    check_nonnegative,
    dot,
    factorize,
    validate_weights,
)
from kehu.models._fitting import Objective, ParametricModel, draw_interval, fit_by_newton

__all__ = ["GammaGamma"]


def _validate(frequency: Any, monetary_value: Any) -> tuple[FloatArray, FloatArray]:
    x = as_float_array("frequency", frequency)
    m = as_float_array("monetary_value", monetary_value)
    if len(x) != len(m):
        raise ValidationError(f"frequency and monetary_value must have the same length, got {len(x)} and {len(m)}")
    check_nonnegative("frequency", x)
    check_integer("frequency", x)
    check_nonnegative("monetary_value", m)
    bad = (x > 0) & (m <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"monetary_value: must be > 0 for repeat customers (frequency > 0), found {m[i]!r} at position {i}"
        )
    return x, m


def _objective(x: FloatArray, m: FloatArray, w: FloatArray) -> Objective:
    """Mean negative log-likelihood of repeat customers' spend, with exact gradient and Hessian.

    Per customer, the density of the mean ``m`` of ``x`` transaction values is the full one (the mean of
    ``x`` values ``Gamma(p, nu)`` is ``Gamma(p x, x nu)``; integrating ``nu ~ Gamma(q, gamma)`` out)::

        log f(m) = log Gamma(p x + q) - log Gamma(p x) - log Gamma(q) + q log gamma + p x log x
                   + (p x - 1) log m - (p x + q) log(gamma + x m)

    so the log-likelihood, AIC and BIC compare with other tools' (``-sum log m`` does not depend on the
    parameters but belongs to the density). The gamma-function terms are
    summed per distinct frequency; per customer only ``log(gamma + x m)`` and ``1 / (gamma + x m)`` are
    evaluated, into preallocated buffers.
    """
    total = float(w.sum())
    xi, ux = factorize(x)
    wx = np.bincount(xi, weights=w, minlength=len(ux))
    xm = x * m
    w_x = w * x
    sum_wx_logxm = dot(w_x, np.log(xm))
    sum_w_logm = dot(w, np.log(m))
    log_den, inv_den = np.empty(len(x)), np.empty(len(x))

    def objective(theta: FloatArray, with_hessian: bool) -> tuple[float, FloatArray, FloatArray | None]:
        p, q, gamma = (float(v) for v in theta)
        np.add(xm, gamma, out=inv_den)
        np.log(inv_den, out=log_den)
        np.reciprocal(inv_den, out=inv_den)
        px_q = p * ux + q
        s_wx_l, s_w_l = dot(w_x, log_den), dot(w, log_den)
        s_wx_r, s_w_r = dot(w_x, inv_den), dot(w, inv_den)
        ll = (
            dot(wx, gammaln(px_q) - gammaln(p * ux))
            - total * gammaln(q)
            + total * q * np.log(gamma)
            + p * sum_wx_logxm
            - p * s_wx_l
            - q * s_w_l
            - sum_w_logm
        )
        dig = digamma(px_q)
        g_p = dot(wx * ux, dig - digamma(p * ux)) + sum_wx_logxm - s_wx_l
        g_q = dot(wx, dig) - total * digamma(q) + total * np.log(gamma) - s_w_l
        g_gamma = total * q / gamma - p * s_wx_r - q * s_w_r
        grad = -np.array([g_p, g_q, g_gamma]) / total
        if not with_hessian:
            return -ll / total, grad, None
        tri = polygamma(1, px_q)
        np.multiply(inv_den, inv_den, out=inv_den)
        s_wx_r2, s_w_r2 = dot(w_x, inv_den), dot(w, inv_den)
        h_pp = dot(wx * ux * ux, tri - polygamma(1, p * ux))
        h_pq = dot(wx * ux, tri)
        h_qq = dot(wx, tri) - total * float(polygamma(1, q))
        h_pg = -s_wx_r
        h_qg = total / gamma - s_w_r
        h_gg = -total * q / gamma**2 + p * s_wx_r2 + q * s_w_r2
        h = np.array([[h_pp, h_pq, h_pg], [h_pq, h_qq, h_qg], [h_pg, h_qg, h_gg]])
        return -ll / total, grad, -h / total

    return objective


class GammaGamma(ParametricModel):
    """Gamma-Gamma model of the average transaction value.

    Parameters
    ----------
    max_iter
        Iteration limit of the optimiser.

    Attributes
    ----------
    params_ : dict
        Estimates of ``p``, ``q`` and ``gamma``.
    n_customers_ : int
        Repeat customers used in the fit.
    """

    _param_names = ("p", "q", "gamma")

    def __init__(self, *, max_iter: int = 500) -> None:
        self.max_iter = max_iter

    def fit(self, frequency: Any, monetary_value: Any, weights: Any = None) -> GammaGamma:
        """Fit on the customers with at least one repeat transaction (others are ignored).

        Parameters
        ----------
        frequency
            Number of repeat transactions per customer.
        monetary_value
            Mean value of those repeat transactions.
        weights
            Optional number of customers sharing each row.

        Returns
        -------
        GammaGamma
            ``self``.
        """
        x, m = _validate(frequency, monetary_value)
        w = validate_weights(weights, len(x))
        rep = (x > 0) & (w > 0)
        if not rep.any():
            raise ValidationError("frequency: no repeat customers (frequency > 0) to fit the spend model on")
        x, m, w = x[rep], m[rep], w[rep]
        total = float(w.sum())

        def make(rows: IntArray) -> Objective:
            return _objective(x[rows], m[rows], w[rows])

        mean_m = float(np.average(m, weights=w))
        result, objective = fit_by_newton(make, len(x), w, (1.0, 2.0, mean_m), max_iter=self.max_iter)
        self._set_fit(result, None, total, objective)
        self._judge_fit((1.0, 1.0, mean_m), result.converged, result.message)
        self.n_customers_ = round(total)
        return self

    @staticmethod
    def _expected(theta: FloatArray, x: FloatArray, m: FloatArray) -> FloatArray:
        p, q, gamma = theta
        return np.asarray(p * (gamma + x * m) / (p * x + q - 1.0))

    def expected_average_value(self, frequency: Any, monetary_value: Any) -> FloatArray:
        """Expected mean transaction value of each customer given their spend history.

        Customers without repeats get the population mean ``p gamma / (q - 1)``.

        Parameters
        ----------
        frequency
            Number of repeat transactions.
        monetary_value
            Mean value of the repeat transactions (ignored when ``frequency`` is 0).

        Returns
        -------
        numpy.ndarray
            Conditional expected average transaction value.
        """
        x, m = _validate(frequency, monetary_value)
        self._check_q()
        return self._expected(self._theta, x, m)

    def _check_q(self) -> None:
        if self._theta[1] <= 1:
            raise ValidationError(
                f"GammaGamma: q={self._theta[1]:.4g} <= 1, the mean spend is infinite; not enough spend data"
            )

    def expected_average_value_interval(
        self,
        frequency: Any,
        monetary_value: Any,
        *,
        level: float = 0.9,
        n_draws: int = 200,
        seed: int | None = 0,
    ) -> tuple[FloatArray, FloatArray]:
        """Interval on the expected average value reflecting parameter uncertainty.

        Parameters
        ----------
        frequency, monetary_value
            As in :meth:`expected_average_value`.
        level
            Central coverage.
        n_draws
            Parameter draws.
        seed
            Random seed.

        Returns
        -------
        lower, upper : numpy.ndarray
        """
        x, m = _validate(frequency, monetary_value)
        self._check_q()
        draws = self.sample_params(n_draws, seed)
        draws = draws[draws[:, 1] > 1]
        return draw_interval(lambda th: self._expected(th, x, m), draws, level)
