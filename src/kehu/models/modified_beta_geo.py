"""MBG/NBD: the modified BG/NBD, in which one-time buyers can be dead too (Batislam, Denizel & Filiztekin 2007).

As in BG/NBD a customer buys at rate ``lambda ~ Gamma(r, alpha)`` while alive, but the drop-out coin
(``p ~ Beta(a, b)``) is also tossed right after the *first* purchase, so a customer who never came back
can be gone (in BG/NBD such a customer is alive for sure, which flatters one-time buyers). Per customer::

    log L = log Gamma(r + x) - log Gamma(r) + r log alpha + log B(a, b + x + 1) - log B(a, b)
            - (r + x) log(alpha + T) + softplus(d),
    d = log a - log(b + x) + (r + x) [log(alpha + T) - log(alpha + t_x)]

for every frequency, zero included. Given alive, the posterior of ``p`` is ``Beta(a, b + x + 1)`` where
BG/NBD has ``Beta(a, b + x)``, so the conditional expectation is BG/NBD's with ``b`` raised by one. The
fit works on distinct histories with their counts as weights and an exact gradient.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import betainc, betaln, digamma, expit, gammaln, hyp2f1

from kehu.models._base import (
    FloatArray,
    GradFn,
    IntArray,
    apply_on_unique,
    as_float_array,
    as_horizon,
    check_integer,
    check_nonnegative,
    compress_rows,
    dot,
    factorize,
    validate_rfm,
    validate_weights,
)
from kehu.models._fitting import fit_by_bfgs
from kehu.models.beta_geo import BetaGeo

__all__ = ["ModifiedBetaGeo"]


def _likelihood(x: FloatArray, tx: FloatArray, age: FloatArray, w: FloatArray) -> GradFn:
    """Mean negative log-likelihood of weighted histories and its exact gradient."""
    total = float(w.sum())
    xi, ux = factorize(x)
    wx = np.bincount(xi, weights=w, minlength=len(ux))

    def nll(theta: FloatArray) -> tuple[float, FloatArray]:
        r, alpha, a, b = (float(v) for v in theta)
        lT, lt = np.log(alpha + age), np.log(alpha + tx)
        big_d = lT - lt
        rx = r + x
        d = np.log(a) - np.log(b + x) + rx * big_d
        const = gammaln(r + ux) - gammaln(r) + r * np.log(alpha) + betaln(a, b + ux + 1) - betaln(a, b)
        ll = dot(wx, const) - dot(w, rx * lT) + dot(w, np.logaddexp(0.0, d))
        wpi = w * expit(d)
        g_r = dot(wx, digamma(r + ux) - digamma(r)) + total * np.log(alpha) - dot(w, lT) + dot(wpi, big_d)
        g_alpha = total * r / alpha - dot(w, rx / (alpha + age)) + dot(wpi, rx * (1 / (alpha + age) - 1 / (alpha + tx)))
        dig_ab = digamma(a + b) - digamma(a + b + ux + 1)
        g_a = dot(wx, dig_ab) + float(wpi.sum()) / a
        g_b = dot(wx, dig_ab + digamma(b + ux + 1) - digamma(b)) - dot(wpi, 1 / (b + x))
        return -ll / total, -np.array([g_r, g_alpha, g_a, g_b]) / total

    return nll


class ModifiedBetaGeo(BetaGeo):
    """MBG/NBD model of repeat purchasing in which one-time buyers can have dropped out.

    A variant of :class:`BetaGeo` with the same parameters (``r``, ``alpha``, ``a``, ``b``) and the same
    prediction methods; choose it when many customers buy once and never return.

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
    n_customers_, n_unique_ : int
        Customers in the fit and distinct histories evaluated.
    """

    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None) -> ModifiedBetaGeo:
        """Fit by maximum likelihood on the distinct histories.

        Parameters
        ----------
        frequency, recency, T
            Customer summaries (see :func:`kehu.models.rfm_summary`).
        weights
            Optional number of customers sharing each row.

        Returns
        -------
        ModifiedBetaGeo
            ``self``.
        """
        x, tx, age = validate_rfm(frequency, recency, T)
        w = validate_weights(weights, len(x))
        (x, tx, age), w, _ = compress_rows([x, tx, age], w)
        keep = w > 0
        x, tx, age, w = x[keep], tx[keep], age[keep], w[keep]
        total = float(w.sum())

        def make(rows: IntArray) -> GradFn:
            return _likelihood(x[rows], tx[rows], age[rows], w[rows])

        scale = max(float(np.average(age, weights=w)), 1e-3)
        result, nll = fit_by_bfgs(make, len(x), w, (1.0, scale, 1.0, 1.0), max_iter=self.max_iter)
        self._set_fit(result, nll, total)
        self._judge_fit((1.0, scale, 1.0, 1.0), result.converged, result.message)
        self.n_customers_ = round(total)
        self.n_unique_ = len(x)
        return self

    @staticmethod
    def _p_alive(theta: FloatArray, x: FloatArray, tx: FloatArray, age: FloatArray) -> FloatArray:
        r, alpha, a, b = theta
        log_odds = np.log(a / (b + x)) + (r + x) * (np.log(alpha + age) - np.log(alpha + tx))
        return np.asarray(expit(-log_odds))

    @staticmethod
    def _conditional_expected(
        theta: FloatArray, t: FloatArray, x: FloatArray, tx: FloatArray, age: FloatArray
    ) -> FloatArray:
        r, alpha, a, b = theta

        def growth(tt: FloatArray, xx: FloatArray, aa: FloatArray) -> FloatArray:
            z = tt / (alpha + aa + tt)
            f = hyp2f1(a + b - r, a - 1, a + b + xx, z)
            return (a + b + xx) / (a - 1) * (1 - np.exp((a - 1) * np.log1p(-z)) * f)

        return apply_on_unique(growth, t, x, age) * ModifiedBetaGeo._p_alive(theta, x, tx, age)

    @staticmethod
    def _path_factor(theta: FloatArray, horizons: FloatArray, x: FloatArray, age: FloatArray) -> FloatArray:
        """Expected purchases within each horizon given alive, per (frequency, T): shape ``(h, n)``."""
        r, alpha, a, b = theta
        z = horizons[:, None] / (alpha + age[None, :] + horizons[:, None])
        f = hyp2f1(a + b - r, a - 1, a + b + x[None, :], z)
        return np.asarray((a + b + x) / (a - 1) * (1 - np.exp((a - 1) * np.log1p(-z)) * f))

    def expected_purchases_new_customer(self, t: Any) -> FloatArray:
        """Expected purchases in ``(0, t]`` for a customer just acquired: ``b / (a - 1) [1 - ...]``.

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
        power = np.exp(r * np.log(alpha / (alpha + horizon)))
        return np.asarray(b / (a - 1) * (1 - power * hyp2f1(r, b + 1, a + b, horizon / (alpha + horizon))))

    def probability_of_purchases(self, n: Any, t: Any) -> FloatArray:
        """Probability that a new customer makes exactly ``n`` purchases in ``(0, t]``.

        Either the customer survives all ``n + 1`` drop-out chances and buys exactly ``n`` times, or drops
        out right after the ``n``-th purchase (at the first one, for ``n = 0``) and reached it by ``t``.

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
        safe_t = np.where(horizon > 0, horizon, 1.0)
        log_nb = (
            gammaln(r + k)
            - gammaln(r)
            - gammaln(k + 1)
            + r * np.log(alpha / (alpha + horizon))
            + np.where(k > 0, k * np.log(safe_t / (alpha + horizon)), 0.0)
        )
        log_nb = np.where((horizon == 0) & (k > 0), -np.inf, log_nb)
        first = np.exp(betaln(a, b + k + 1) - betaln(a, b) + log_nb)
        kk = np.where(k > 0, k, 1.0)
        reached = np.where(k > 0, 1 - betainc(r, kk, alpha / (alpha + horizon)), 1.0)
        return np.asarray(first + np.exp(betaln(a + 1, b + k) - betaln(a, b)) * reached)
