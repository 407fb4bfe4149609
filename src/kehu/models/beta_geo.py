"""BG/NBD: the beta-geometric / negative binomial purchase model (Fader, Hardie & Lee 2005).

While alive a customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)``; after every
purchase they drop out with probability ``p ~ Beta(a, b)``. Sufficient statistics per customer are the
number of repeat purchases ``frequency`` (x), the time of the last one ``recency`` (t_x) and the age ``T``.

The fit works on the distinct (x, t_x, T) rows with their counts as weights; gamma and digamma functions
are evaluated once per distinct frequency and the gradient is exact.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import betainc, betaln, digamma, expit, gammaln, hyp2f1

from kehu.models._base import (
    FloatArray,
    ParametricModel,
    apply_on_unique,
    as_float_array,
    as_horizon,
    check_integer,
    check_nonnegative,
    compress_rows,
    draw_interval,
    maximize_loglik,
    validate_rfm,
    validate_weights,
)

__all__ = ["BetaGeo"]


class BetaGeo(ParametricModel):
    """BG/NBD model of repeat purchasing in a non-contractual setting.

    Parameters
    ----------
    max_iter
        Iteration limit of the optimiser.

    Attributes
    ----------
    params_ : dict
        Estimates of ``r``, ``alpha``, ``a`` and ``b``.
    log_likelihood_ : float
        Maximised log-likelihood.
    n_customers_ : int
        Customers (sum of weights) used in the fit.
    n_unique_ : int
        Distinct (frequency, recency, T) histories the fit actually evaluated.
    """

    _param_names = ("r", "alpha", "a", "b")

    def __init__(self, *, max_iter: int = 500) -> None:
        self.max_iter = max_iter

    # ------------------------------------------------------------------ fitting
    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None) -> BetaGeo:
        """Fit by maximum likelihood.

        Parameters
        ----------
        frequency, recency, T
            Customer summaries (see :func:`kehu.models.rfm_summary`).
        weights
            Optional number of customers sharing each row.

        Returns
        -------
        BetaGeo
            ``self``.
        """
        x, tx, age = validate_rfm(frequency, recency, T)
        w = validate_weights(weights, len(x))
        (x, tx, age), w, _ = compress_rows([x, tx, age], w)
        keep = w > 0
        x, tx, age, w = x[keep], tx[keep], age[keep], w[keep]
        total = float(w.sum())
        ux, xi = np.unique(x, return_inverse=True)
        uT, Ti = np.unique(age, return_inverse=True)
        utx, txi = np.unique(tx, return_inverse=True)
        wx = np.bincount(xi, weights=w, minlength=len(ux))
        pos = ux > 0
        xr = x  # per-row frequency

        def nll(theta: FloatArray) -> tuple[float, FloatArray]:
            r, alpha, a, b = theta
            log_aT = np.log(alpha + uT)[Ti]
            log_atx = np.log(alpha + utx)[txi]
            lb1 = np.zeros_like(ux)
            lb1[pos] = np.log(b + ux[pos] - 1)
            const = gammaln(r + ux) - gammaln(r) + r * np.log(alpha) + betaln(a, b + ux) - betaln(a, b)
            rx = r + xr
            a3 = -rx * log_aT
            d = np.where(xr > 0, np.log(a) - lb1[xi] - rx * log_atx - a3, -np.inf)
            pi = expit(d)
            ll = float(wx @ const) + float(w @ (a3 + np.logaddexp(0.0, d)))
            wpi = w * pi
            wq = w - wpi
            g_r = wx @ (digamma(r + ux) - digamma(r) + np.log(alpha)) - wq @ log_aT - wpi @ log_atx
            g_alpha = (
                total * r / alpha
                - (wq * rx) @ (1.0 / (alpha + uT))[Ti]
                - (wpi * rx) @ (1.0 / (alpha + utx))[txi]
            )
            inv_b1 = np.zeros_like(ux)
            inv_b1[pos] = 1.0 / (b + ux[pos] - 1)
            g_a = wx @ (digamma(a + b) - digamma(a + b + ux)) + wpi.sum() / a
            g_b = (
                wx @ (digamma(a + b) + digamma(b + ux) - digamma(b) - digamma(a + b + ux)) - wpi @ inv_b1[xi]
            )
            grad = -np.array([g_r, g_alpha, g_a, g_b]) / total
            return -ll / total, grad

        start = (1.0, max(float(np.average(age, weights=w)), 1e-3), 1.0, 1.0)
        result = maximize_loglik(nll, start, total_weight=total, max_iter=self.max_iter)
        self._set_fit(result, nll, total)
        self.n_customers_ = round(total)
        self.n_unique_ = len(x)
        return self

    # -------------------------------------------------------------- predictions
    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """Probability that each customer is still alive at the end of observation.

        Parameters
        ----------
        frequency, recency, T
            Customer summaries.

        Returns
        -------
        numpy.ndarray
            P(alive) per customer.
        """
        x, tx, age = validate_rfm(frequency, recency, T)
        return self._p_alive(self._theta, x, tx, age)

    @staticmethod
    def _p_alive(theta: FloatArray, x: FloatArray, tx: FloatArray, age: FloatArray) -> FloatArray:
        r, alpha, a, b = theta
        safe = np.where(x > 0, b + x - 1, 1.0)
        log_odds = np.log(a / safe) + (r + x) * (np.log(alpha + age) - np.log(alpha + tx))
        return np.where(x > 0, expit(-log_odds), 1.0)

    def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """Expected number of purchases in the next ``t`` periods, given each customer's history.

        Parameters
        ----------
        t
            Horizon (scalar, or one value per customer).
        frequency, recency, T
            Customer summaries.

        Returns
        -------
        numpy.ndarray
            Conditional expected purchases per customer.
        """
        x, tx, age = validate_rfm(frequency, recency, T)
        horizon = as_horizon(t)
        return self._conditional_expected(self._theta, horizon, x, tx, age)

    @staticmethod
    def _conditional_expected(
        theta: FloatArray, t: FloatArray, x: FloatArray, tx: FloatArray, age: FloatArray
    ) -> FloatArray:
        r, alpha, a, b = theta

        def growth(tt: FloatArray, xx: FloatArray, aa: FloatArray) -> FloatArray:
            # Euler-transformed 2F1 keeps the powers of (alpha+T)/(alpha+T+t) bounded for large x.
            z = tt / (alpha + aa + tt)
            f = hyp2f1(a + b - 1 - r, a - 1, a + b + xx - 1, z)
            return (a + b + xx - 1) / (a - 1) * (1 - np.exp((a - 1) * np.log1p(-z)) * f)

        numerator = apply_on_unique(growth, t, x, age)
        return numerator * BetaGeo._p_alive(theta, x, tx, age)

    @staticmethod
    def _expected_path(
        theta: FloatArray, horizons: FloatArray, x: FloatArray, tx: FloatArray, age: FloatArray
    ) -> FloatArray:
        """Conditional expected purchases at several horizons, shape ``(len(horizons), n)``."""
        r, alpha, a, b = theta
        (ux, uT), _, inverse = compress_rows([x, age], np.ones(len(x)))
        z = horizons[:, None] / (alpha + uT[None, :] + horizons[:, None])
        f = hyp2f1(a + b - 1 - r, a - 1, a + b + ux[None, :] - 1, z)
        numerator = (a + b + ux - 1) / (a - 1) * (1 - np.exp((a - 1) * np.log1p(-z)) * f)
        return np.asarray(numerator[:, inverse] * BetaGeo._p_alive(theta, x, tx, age)[None, :])

    def expected_purchases_new_customer(self, t: Any) -> FloatArray:
        """Expected purchases in ``(0, t]`` for a customer just acquired.

        Parameters
        ----------
        t
            Horizon(s).

        Returns
        -------
        numpy.ndarray
            Expected number of purchases.
        """
        horizon = as_horizon(t)
        r, alpha, a, b = self._theta
        z = horizon / (alpha + horizon)
        power = np.exp(r * np.log(alpha / (alpha + horizon)))
        return (a + b - 1) / (a - 1) * (1 - power * hyp2f1(r, b, a + b - 1, z))

    def probability_of_purchases(self, n: Any, t: Any) -> FloatArray:
        """Probability that a new customer makes exactly ``n`` purchases in ``(0, t]``.

        Parameters
        ----------
        n
            Number(s) of purchases (whole numbers >= 0).
        t
            Horizon(s).

        Returns
        -------
        numpy.ndarray
            P(X(t) = n).
        """
        k = as_float_array("n", n, allow_scalar=True)
        check_nonnegative("n", k)
        check_integer("n", k)
        horizon = as_horizon(t)
        r, alpha, a, b = self._theta
        k, horizon = np.broadcast_arrays(k, horizon)
        log_nb = (
            gammaln(r + k)
            - gammaln(r)
            - gammaln(k + 1)
            + r * np.log(alpha / (alpha + horizon))
            + np.where(k > 0, k * np.log(np.where(horizon > 0, horizon, 1.0) / (alpha + horizon)), 0.0)
        )
        log_nb = np.where((horizon == 0) & (k > 0), -np.inf, log_nb)
        first = np.exp(betaln(a, b + k) - betaln(a, b) + log_nb)
        kk = np.where(k > 0, k, 1.0)
        cdf_below = betainc(r, kk, alpha / (alpha + horizon))
        second = np.exp(betaln(a + 1, b + kk - 1) - betaln(a, b)) * (1 - cdf_below)
        return first + np.where(k > 0, second, 0.0)

    # ------------------------------------------------------------- uncertainty
    def expected_purchases_interval(
        self,
        t: Any,
        frequency: Any,
        recency: Any,
        T: Any,
        *,
        level: float = 0.9,
        n_draws: int = 200,
        seed: int | None = 0,
    ) -> tuple[FloatArray, FloatArray]:
        """Interval on conditional expected purchases reflecting parameter uncertainty.

        Parameters are drawn from their asymptotic (log-normal) distribution and the prediction is
        recomputed per draw.

        Parameters
        ----------
        t, frequency, recency, T
            As in :meth:`expected_purchases`.
        level
            Central coverage of the interval.
        n_draws
            Number of parameter draws.
        seed
            Random seed.

        Returns
        -------
        lower, upper : numpy.ndarray
        """
        x, tx, age = validate_rfm(frequency, recency, T)
        horizon = as_horizon(t)
        draws = self.sample_params(n_draws, seed)
        return draw_interval(lambda th: self._conditional_expected(th, horizon, x, tx, age), draws, level)
