"""Pareto/NBD: Poisson purchasing with an exponential lifetime (Schmittlein, Morrison & Colombo 1987).

While alive a customer buys at rate ``lambda ~ Gamma(r, alpha)``; the lifetime is exponential with rate
``mu ~ Gamma(s, beta)``. Following Fader & Hardie's derivation note (2005), the likelihood of a history
``(x, t_x, T)`` is, up to ``C(x) = Gamma(r + x) alpha^r beta^s / Gamma(r)``::

    (alpha+T)^-(r+x) (beta+T)^-s  +  s * integral_{t_x}^{T} (alpha+tau)^-(r+x) (beta+tau)^-(s+1) dtau

Writing ``A(t) = -(r+x) log(alpha+t) - s log(beta+t)`` and ``k = r + s + x``, the tail integral from
``t`` to infinity equals ``exp(A(t)) H(t) / k`` with ``H = 2F1(1, p; k + 1; z)`` (times ``(1 - z)`` when
``alpha < beta``) -- see :mod:`kehu.models._hypergeometric`. Then, with ``u = s / k``::

    L / (C exp(A(t_x))) = exp(A(T) - A(t_x)) (1 - u H(T))  +  u H(t_x)

Both terms are non-negative and bounded, so the log-likelihood is finite for any frequency and age.
``H`` is evaluated once per distinct (x, t_x) and (x, T) pair, and the gradient is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import digamma, gammaln

from kehu.models._base import (
    FloatArray,
    GradFn,
    IntArray,
    as_float_array,
    as_horizon,
    check_integer,
    check_nonnegative,
    compress_rows,
    dot,
    validate_rfm,
    validate_weights,
)
from kehu.models._fitting import ParametricModel, draw_interval, fit_by_bfgs
from kehu.models._hypergeometric import log_g_with_grad

__all__ = ["ParetoNBD"]


@dataclass(frozen=True)
class _Tables:
    """Distinct frequencies, (x, t_x) pairs and (x, T) pairs of a set of histories, with row indices."""

    ux: FloatArray
    xi: IntArray
    p_x: FloatArray
    p_t: FloatArray
    pi: IntArray
    q_x: FloatArray
    q_t: FloatArray
    qi: IntArray

    @classmethod
    def build(cls, x: FloatArray, tx: FloatArray, age: FloatArray) -> _Tables:
        ones = np.ones(len(x))
        ux, xi = np.unique(x, return_inverse=True)
        (p_x, p_t), _, pi = compress_rows([x, tx], ones)
        (q_x, q_t), _, qi = compress_rows([x, age], ones)
        return cls(ux, xi, p_x, p_t, pi, q_x, q_t, qi)


def _a_and_h(theta: FloatArray, x: FloatArray, t: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """``A(t)``, ``H(t)`` and their gradients (shape ``(4, n)``) for histories with frequency ``x``."""
    r, alpha, s, beta = theta
    la, lb = np.log(alpha + t), np.log(beta + t)
    a_val = -(r + x) * la - s * lb
    d_a = np.stack([-la, -(r + x) / (alpha + t), -lb, -s / (beta + t)])
    q = r + s + x + 1.0
    if alpha >= beta:
        z = (alpha - beta) / (alpha + t)
        log_h, gp, gq, gz = log_g_with_grad(r + x, q, z)
        d_h = np.stack([gp + gq, gz * (beta + t) / (alpha + t) ** 2, gq, -gz / (alpha + t)])
    else:
        z = (beta - alpha) / (beta + t)
        log_g, gp, gq, gz = log_g_with_grad(np.full_like(x, s + 1.0), q, z)
        log_h = log_g + la - lb
        d_h = np.stack(
            [
                gq,
                -gz / (beta + t) + 1.0 / (alpha + t),
                gp + gq,
                gz * (alpha + t) / (beta + t) ** 2 - 1.0 / (beta + t),
            ]
        )
    return a_val, np.exp(log_h), d_a, d_h


def _terms(theta: FloatArray, tab: _Tables) -> dict[str, Any]:
    """Row-level pieces of the likelihood: ``e_t = exp(A(T) - A(t_x))``, ``e1``, ``e2`` and table values."""
    r, _, s, _ = theta
    a_tx, h_tx, da_tx, dh_tx = _a_and_h(theta, tab.p_x, tab.p_t)
    a_T, h_T, da_T, dh_T = _a_and_h(theta, tab.q_x, tab.q_t)
    u_x = s / (r + s + tab.ux)
    u = u_x[tab.xi]
    e_t = np.exp(a_T[tab.qi] - a_tx[tab.pi])
    hT = h_T[tab.qi]
    e1 = e_t * np.maximum(1.0 - u * hT, 0.0)
    e2 = u * h_tx[tab.pi]
    return {
        "a_tx": a_tx, "da_tx": da_tx, "dh_tx": dh_tx, "da_T": da_T, "dh_T": dh_T,
        "u": u, "e_t": e_t, "hT": hT, "e1": e1, "e2": e2,
    }  # fmt: skip


def _matvec(matrix: npt.NDArray[Any], vector: npt.NDArray[Any]) -> FloatArray:
    """``matrix @ vector`` for a few rows of per-history values, summed in this thread (see :func:`dot`)."""
    return np.asarray(np.einsum("ij,j->i", matrix, vector), dtype=np.float64)


def _likelihood(x: FloatArray, tx: FloatArray, age: FloatArray, w: FloatArray) -> GradFn:
    """Mean negative log-likelihood of weighted histories and its exact gradient."""
    total = float(w.sum())
    tab = _Tables.build(x, tx, age)
    wx = np.bincount(tab.xi, weights=w, minlength=len(tab.ux))
    n_p, n_q = len(tab.p_x), len(tab.q_x)

    def nll(theta: FloatArray) -> tuple[float, FloatArray]:
        r, alpha, s, beta = theta
        t = _terms(theta, tab)
        big_s = t["e1"] + t["e2"]
        const = gammaln(r + tab.ux) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        ll = dot(wx, const) + dot(w, t["a_tx"][tab.pi] + np.log(big_s))
        ws = w / big_s
        c_p = np.bincount(tab.pi, weights=ws * t["e2"], minlength=n_p)
        c_qa = np.bincount(tab.qi, weights=ws * t["e1"], minlength=n_q)
        c_qh = np.bincount(tab.qi, weights=ws * t["e_t"] * t["u"] * t["hT"], minlength=n_q)
        v = ws * (t["e2"] / t["u"] - t["e_t"] * t["hT"])
        v_x = np.bincount(tab.xi, weights=v, minlength=len(tab.ux))
        k2 = (r + s + tab.ux) ** 2
        grad = _matvec(t["da_tx"] + t["dh_tx"], c_p) + _matvec(t["da_T"], c_qa) - _matvec(t["dh_T"], c_qh)
        grad[0] += dot(wx, digamma(r + tab.ux) - digamma(r)) + total * np.log(alpha) - dot(v_x, s / k2)
        grad[1] += total * r / alpha
        grad[2] += total * np.log(beta) + dot(v_x, (r + tab.ux) / k2)
        grad[3] += total * s / beta
        return -ll / total, -grad / total

    return nll


class ParetoNBD(ParametricModel):
    """Pareto/NBD model of repeat purchasing in a non-contractual setting.

    Parameters
    ----------
    max_iter
        Iteration limit of the optimiser.

    Attributes
    ----------
    params_ : dict
        Estimates of ``r``, ``alpha``, ``s`` and ``beta``.
    log_likelihood_ : float
        Maximised log-likelihood.
    n_customers_, n_unique_ : int
        Customers in the fit and distinct histories evaluated.
    """

    _param_names = ("r", "alpha", "s", "beta")

    def __init__(self, *, max_iter: int = 500) -> None:
        self.max_iter = max_iter

    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None) -> ParetoNBD:
        """Fit by maximum likelihood on the distinct histories.

        Parameters
        ----------
        frequency, recency, T
            Customer summaries.
        weights
            Optional number of customers sharing each row.

        Returns
        -------
        ParetoNBD
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
        result, nll = fit_by_bfgs(make, len(x), w, (1.0, scale, 1.0, scale), max_iter=self.max_iter)
        self._set_fit(result, nll, total)
        self._judge_fit((1.0, scale, 1.0, scale), result.converged, result.message)
        self.n_customers_ = round(total)
        self.n_unique_ = len(x)
        return self

    # -------------------------------------------------------------- predictions
    @staticmethod
    def _p_alive(theta: FloatArray, x: FloatArray, tx: FloatArray, age: FloatArray) -> FloatArray:
        t = _terms(theta, _Tables.build(x, tx, age))
        return np.asarray(t["e_t"] / (t["e1"] + t["e2"]))

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

    def probability_no_purchase(self, t: Any, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """Probability of no purchase in the next ``t`` periods, ``(T, T + t]``, given each history.

        Given alive at ``T`` (posteriors ``lambda ~ Gamma(r + x, alpha + T)``, ``mu ~ Gamma(s, beta + T)``),
        no purchase happens when the customer lives through the horizon without buying or dies before the
        next purchase: ``exp(-(lambda + mu) t) + integral_0^t mu exp(-(lambda + mu) tau) dtau``. Its
        expectation has the form of the likelihood with ``(t_x, T)`` replaced by ``(T, T + t)``:
        ``exp(A(T + t) - A(T)) (1 - u H(T + t)) + u H(T)`` (module docstring); the dead do not buy either.

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
        theta = self._theta
        r, _, s, _ = theta
        x_b, age_b, t_b = (np.ascontiguousarray(v, dtype=np.float64) for v in np.broadcast_arrays(x, age, horizon))
        a_now, h_now, _, _ = _a_and_h(theta, x_b, age_b)
        a_end, h_end, _, _ = _a_and_h(theta, x_b, age_b + t_b)
        u = s / (r + s + x_b)
        quiet_alive = np.exp(a_end - a_now) * np.maximum(1.0 - u * h_end, 0.0) + u * h_now
        alive = self._p_alive(theta, x, tx, age)
        return np.asarray(1.0 - alive * (1.0 - np.minimum(quiet_alive, 1.0)))

    @staticmethod
    def _conditional_expected(
        theta: FloatArray, t: FloatArray, x: FloatArray, tx: FloatArray, age: FloatArray
    ) -> FloatArray:
        r, alpha, s, beta = theta
        ratio = np.log1p(t / (beta + age))
        growth = ratio if abs(s - 1.0) < 1e-10 else -np.expm1(-(s - 1.0) * ratio) / (s - 1.0)
        rate = (r + x) * (beta + age) / (alpha + age)
        return ParetoNBD._p_alive(theta, x, tx, age) * rate * growth

    @staticmethod
    def _path_factor(theta: FloatArray, horizons: FloatArray, x: FloatArray, age: FloatArray) -> FloatArray:
        """Expected purchases within each horizon given alive, per (frequency, T): shape ``(h, n)``."""
        r, alpha, s, beta = theta
        ratio = np.log1p(horizons[:, None] / (beta + age[None, :]))
        growth = ratio if abs(s - 1.0) < 1e-10 else -np.expm1(-(s - 1.0) * ratio) / (s - 1.0)
        return np.asarray((r + x) * (beta + age) / (alpha + age) * growth)

    def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """Expected purchases in the next ``t`` periods given each customer's history.

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
        return self._conditional_expected(self._theta, as_horizon(t), x, tx, age)

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
        r, alpha, s, beta = self._theta
        ratio = np.log1p(as_horizon(t) / beta)
        growth = ratio if abs(s - 1.0) < 1e-10 else -np.expm1(-(s - 1.0) * ratio) / (s - 1.0)
        return np.asarray(r * beta / alpha * growth)

    def probability_of_purchases(self, n: Any, t: Any) -> FloatArray:
        """Probability that a new customer makes exactly ``n`` purchases in ``(0, t]``.

        The lifetime is integrated out numerically (Gauss-Legendre, 96 nodes; the integrand is analytic
        on the interval): ``P = S(t) NBD(n; t) + integral_0^t f(tau) NBD(n; tau) dtau``.

        Parameters
        ----------
        n
            Number(s) of purchases.
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
        r, alpha, s, beta = self._theta
        k, horizon = np.broadcast_arrays(k, as_horizon(t))
        nodes, gl_w = np.polynomial.legendre.leggauss(96)

        def log_nbd(kk: FloatArray, tau: FloatArray) -> FloatArray:
            safe = np.where(tau > 0, tau, 1.0)
            power = np.where(kk > 0, kk * np.log(safe / (alpha + tau)), 0.0)
            out = gammaln(r + kk) - gammaln(r) - gammaln(kk + 1) + r * np.log(alpha / (alpha + tau)) + power
            return np.where((tau == 0) & (kk > 0), -np.inf, out)

        survive = np.exp(s * np.log(beta / (beta + horizon)) + log_nbd(k, horizon))
        tau = (horizon[..., None] / 2.0) * (nodes + 1.0)
        log_f = np.log(s / beta) + (s + 1) * np.log(beta / (beta + tau))
        integral = (horizon / 2.0) * np.sum(gl_w * np.exp(log_f + log_nbd(k[..., None], tau)), axis=-1)
        return np.asarray(survive + integral)

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

        Parameters
        ----------
        t, frequency, recency, T
            As in :meth:`expected_purchases`.
        level
            Central coverage.
        n_draws
            Parameter draws from the asymptotic distribution.
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
