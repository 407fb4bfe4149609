"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves").

Each transaction value of a customer is ``Gamma(p, nu)``; ``nu ~ Gamma(q, gamma)`` across customers. The
model is fitted on repeat customers only, from ``frequency`` (x, number of repeat transactions) and
``monetary_value`` (the mean of those x repeat transaction values). Spend is assumed independent of the
purchase process.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import digamma, gammaln

from kehu.errors import ValidationError
from kehu.models._base import (
    FloatArray,
    ParametricModel,
    as_float_array,
    check_integer,
    check_nonnegative,
    compress_rows,
    draw_interval,
    maximize_loglik,
    validate_weights,
)

__all__ = ["GammaGamma"]


def _validate(frequency: Any, monetary_value: Any) -> tuple[FloatArray, FloatArray]:
    x = as_float_array("frequency", frequency)
    m = as_float_array("monetary_value", monetary_value)
    if len(x) != len(m):
        raise ValidationError(
            f"frequency and monetary_value must have the same length, got {len(x)} and {len(m)}"
        )
    check_nonnegative("frequency", x)
    check_integer("frequency", x)
    check_nonnegative("monetary_value", m)
    bad = (x > 0) & (m <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"monetary_value: must be > 0 for repeat customers (frequency > 0), "
            f"found {m[i]!r} at position {i}"
        )
    return x, m


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
        (x, m), w, _ = compress_rows([x[rep], m[rep]], w[rep])
        total = float(w.sum())
        ux, xi = np.unique(x, return_inverse=True)
        wx = np.bincount(xi, weights=w, minlength=len(ux))
        log_m = np.log(m)
        log_x = np.log(x)
        xm = x * m
        sum_wlogm_x = float((w * x) @ log_m)
        sum_wxlogx = float((w * x) @ log_x)
        sum_w_logm = float(w @ log_m)

        def nll(theta: FloatArray) -> tuple[float, FloatArray]:
            p, q, gamma = theta
            px = p * x
            log_den = np.log(gamma + xm)
            const_x = gammaln(p * ux + q) - gammaln(p * ux) - gammaln(q)
            ll = (
                float(wx @ const_x)
                + total * q * np.log(gamma)
                + p * sum_wlogm_x
                - sum_w_logm
                + p * sum_wxlogx
                - float(w @ ((px + q) * log_den))
            )
            dig = digamma(p * ux + q)
            g_p = (
                float((wx * ux) @ (dig - digamma(p * ux)))
                + sum_wlogm_x
                + sum_wxlogx
                - float((w * x) @ log_den)
            )
            g_q = float(wx @ (dig - digamma(q))) + total * np.log(gamma) - float(w @ log_den)
            g_gamma = total * q / gamma - float(w @ ((px + q) / (gamma + xm)))
            return -ll / total, -np.array([g_p, g_q, g_gamma]) / total

        mean_m = float(np.average(m, weights=w))
        result = maximize_loglik(nll, (1.0, 2.0, mean_m), total_weight=total, max_iter=self.max_iter)
        self._set_fit(result, nll, total)
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
