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
from scipy.special import betainc, betaln, digamma, expit, gammaln, hyp2f1, polygamma

from kehu.models._base import (
    FloatArray,
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
from kehu.models._fitting import Objective, ParametricModel, draw_interval, fit_by_newton

__all__ = ["BetaGeo"]


def _objective(x: FloatArray, tx: FloatArray, age: FloatArray, w: FloatArray) -> Objective:
    """Mean negative log-likelihood of weighted histories with its exact gradient and Hessian.

    Per customer ``log L = C(x) - (r + x) log(alpha + T) + softplus(d)`` with ``C(x) = log Gamma(r + x) -
    log Gamma(r) + r log alpha + log B(a, b + x) - log B(a, b)`` and, for repeaters,
    ``d = log a - log(b + x - 1) + (r + x) [log(alpha + T) - log(alpha + t_x)]`` (no term for x = 0).
    Terms in ``C`` are summed per distinct frequency and terms in ``T`` per distinct age; only the
    ``softplus(d)`` part is evaluated per history, and only for repeaters.
    """
    total = float(w.sum())
    xi, ux = factorize(x)
    wx = np.bincount(xi, weights=w, minlength=len(ux))
    Ti, uT = factorize(age)
    w_T = np.bincount(Ti, weights=w, minlength=len(uT))
    wx_T = np.bincount(Ti, weights=w * x, minlength=len(uT))
    rep = x > 0
    # repeat-customer rows: their own indices into the age, recency and frequency tables
    wr, xr = w[rep], x[rep]
    Tr = Ti[rep]
    txr, utx = factorize(tx[rep])
    xr_i, ux_pos = factorize(xr)
    buf = np.empty((6, len(xr)))

    memo: dict[str, Any] = {}

    def objective(theta: FloatArray, with_hessian: bool) -> tuple[float, FloatArray, FloatArray | None]:
        key = tuple(float(v) for v in theta)
        if not (with_hessian and memo.get("key") == key):
            memo.clear()
            memo.update(first_order(*key), key=key)
        if not with_hessian:
            return memo["value"], memo["grad"], None
        value, grad = memo["value"], memo["grad"]
        hess = second_order(memo)
        memo.clear()  # the buffers now hold scratch values
        return value, grad, hess

    def first_order(r: float, alpha: float, a: float, b: float) -> dict[str, Any]:
        # frequency-level terms
        lb = np.log(b + ux_pos - 1.0)
        ib = 1.0 / (b + ux_pos - 1.0)
        const = gammaln(r + ux) - gammaln(r) + r * np.log(alpha) + betaln(a, b + ux) - betaln(a, b)
        # age-level and recency-level tables
        lT, iT = np.log(alpha + uT), 1.0 / (alpha + uT)
        lt, it = np.log(alpha + utx), 1.0 / (alpha + utx)
        big_d, rx, d, pi, tmp, big_f = buf
        np.take(lT, Tr, out=big_d)
        np.take(lt, txr, out=tmp)
        big_d -= tmp  # D = log(alpha+T) - log(alpha+t_x) >= 0
        np.add(xr, r, out=rx)
        np.multiply(rx, big_d, out=d)
        np.take(np.log(a) - lb, xr_i, out=tmp)
        d += tmp
        ll = dot(wx, const) - dot(r * w_T + wx_T, lT) + dot(wr, np.logaddexp(0.0, d, out=tmp))
        expit(d, out=pi)
        pi *= wr  # now w * pi
        sum_wpi = float(pi.sum())
        wpi_x = np.bincount(xr_i, weights=pi, minlength=len(ux_pos))
        np.take(iT, Tr, out=big_f)
        np.take(it, txr, out=tmp)
        big_f -= tmp  # F = 1/(alpha+T) - 1/(alpha+t_x) <= 0
        g_r = dot(wx, digamma(r + ux) - digamma(r)) + total * np.log(alpha)
        g_r += -dot(w_T, lT) + dot(pi, big_d)
        np.multiply(rx, big_f, out=tmp)  # (r + x) F
        g_alpha = total * r / alpha - dot(r * w_T + wx_T, iT) + dot(pi, tmp)
        dig_ab = digamma(a + b) - digamma(a + b + ux)
        g_a = dot(wx, dig_ab) + sum_wpi / a
        g_b = dot(wx, dig_ab + digamma(b + ux) - digamma(b)) - dot(wpi_x, ib)
        grad = -np.array([g_r, g_alpha, g_a, g_b]) / total
        return {
            "value": -ll / total, "grad": grad, "theta": (r, alpha, a, b),
            "ib": ib, "iT": iT, "it": it, "sum_wpi": sum_wpi, "wpi_x": wpi_x,
        }  # fmt: skip

    def second_order(state: dict[str, Any]) -> FloatArray:
        """Hessian from the buffers left by :func:`first_order` at the same parameters."""
        r, alpha, a, b = state["theta"]
        ib, iT, it, sum_wpi, wpi_x = (state[k] for k in ("ib", "iT", "it", "sum_wpi", "wpi_x"))
        big_d, rx, d, pi, tmp, big_f = buf
        # second derivatives of C(x) and of the age terms
        tri_ab = polygamma(1, a + b) - polygamma(1, a + b + ux)
        h = np.zeros((4, 4))
        h[0, 0] = dot(wx, polygamma(1, r + ux) - polygamma(1, r))
        h[0, 1] = total / alpha - dot(w_T, iT)
        h[1, 1] = -total * r / alpha**2 + dot(r * w_T + wx_T, iT * iT)
        h[2, 2] = dot(wx, tri_ab)
        h[2, 3] = dot(wx, tri_ab)
        h[3, 3] = dot(wx, tri_ab + polygamma(1, b + ux) - polygamma(1, b))
        # pi * (second derivatives of d):  d_ra = F, d_aa(alpha) = (r+x)(1/(alpha+t_x)^2 - 1/(alpha+T)^2)
        h[0, 1] += dot(pi, big_f)
        np.take(it * it, txr, out=rx)
        np.take(iT * iT, Tr, out=d)
        rx -= d
        np.add(xr, r, out=d)
        rx *= d
        h[1, 1] += dot(pi, rx)
        h[2, 2] -= sum_wpi / a**2
        h[3, 3] += dot(wpi_x, ib * ib)
        # w pi (1 - pi) times outer products of the first derivatives of d: (D, (r+x) F, 1/a, -1/(b+x-1))
        u = rx
        np.multiply(pi, pi, out=u)
        u /= wr
        np.subtract(pi, u, out=u)  # w pi (1 - pi)
        c_alpha = d
        c_alpha *= big_f  # (r + x) F
        u_x = np.bincount(xr_i, weights=u, minlength=len(ux_pos))
        np.multiply(u, big_d, out=tmp)  # u D
        h[0, 0] += dot(tmp, big_d)
        h[0, 1] += dot(tmp, c_alpha)
        h[0, 2] += float(tmp.sum()) / a
        h[0, 3] -= dot(np.bincount(xr_i, weights=tmp, minlength=len(ux_pos)), ib)
        np.multiply(u, c_alpha, out=tmp)  # u (r+x) F
        h[1, 1] += dot(tmp, c_alpha)
        h[1, 2] += float(tmp.sum()) / a
        h[1, 3] -= dot(np.bincount(xr_i, weights=tmp, minlength=len(ux_pos)), ib)
        h[2, 2] += float(u_x.sum()) / a**2
        h[2, 3] -= dot(u_x, ib) / a
        h[3, 3] += dot(u_x, ib * ib)
        h = h + np.triu(h, 1).T
        return np.asarray(-h / total)

    return objective


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
        if not keep.all():
            x, tx, age, w = x[keep], tx[keep], age[keep], w[keep]
        total = float(w.sum())

        def make(rows: IntArray) -> Objective:
            return _objective(x[rows], tx[rows], age[rows], w[rows])

        scale = max(float(np.average(age, weights=w)), 1e-3)
        result, objective = fit_by_newton(make, len(x), w, (1.0, scale, 1.0, 1.0), max_iter=self.max_iter)
        self._set_fit(result, None, total, objective)
        self._judge_fit((1.0, scale, 1.0, 1.0), result.converged, result.message)
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

    def probability_no_purchase(self, t: Any, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """Probability of no purchase in the next ``t`` periods, ``(T, T + t]``, given each history.

        A customer who is still alive buys at rate ``lambda`` until a purchase gives the chance to drop
        out, so given alive the quiet spell has probability ``E[exp(-lambda t)]`` under the posterior
        ``lambda ~ Gamma(r + x, alpha + T)``: ``P = 1 - P(alive) (1 - ((alpha + T) / (alpha + T + t))^(r + x))``.

        Parameters
        ----------
        t
            Horizon (scalar, or one value per customer).
        frequency, recency, T
            Customer summaries.

        Returns
        -------
        numpy.ndarray
            P(no purchase in the horizon) per customer.
        """
        x, tx, age = validate_rfm(frequency, recency, T)
        horizon = as_horizon(t)
        r, alpha = self._theta[:2]
        alive = self._p_alive(self._theta, x, tx, age)
        quiet = np.exp((r + x) * (np.log(alpha + age) - np.log(alpha + age + horizon)))
        return np.asarray(1.0 - alive * (1.0 - quiet))

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
    def _path_factor(theta: FloatArray, horizons: FloatArray, x: FloatArray, age: FloatArray) -> FloatArray:
        """Expected purchases within each horizon given alive, per (frequency, T): shape ``(h, n)``.

        The conditional expectation is ``P(alive) * factor(t, x, T)``; recency enters only through P(alive).
        """
        r, alpha, a, b = theta
        z = horizons[:, None] / (alpha + age[None, :] + horizons[:, None])
        f = hyp2f1(a + b - 1 - r, a - 1, a + b + x[None, :] - 1, z)
        return np.asarray((a + b + x - 1) / (a - 1) * (1 - np.exp((a - 1) * np.log1p(-z)) * f))

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
