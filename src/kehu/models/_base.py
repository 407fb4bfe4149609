"""Shared plumbing of the value models: input validation, history compression, fitting, uncertainty.

Every model here follows the scikit-learn contract: hyper-parameters are keyword-only ``__init__``
arguments, ``fit`` validates its input, does the work and returns ``self``, learned state ends in ``_``
and every prediction first checks that the model was fitted.

Fitting is maximum likelihood on the log of the (positive) parameters with an analytic gradient. The
covariance of the estimates is the inverse of the observed information (the Hessian of the negative
log-likelihood, obtained by central differences of the analytic gradient) and is computed lazily, on
first use, so a fit that only needs point estimates does not pay for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import optimize

from kehu.errors import NotFittedError, ValidationError

__all__ = [
    "FloatArray",
    "as_float_array",
    "compress_rows",
    "validate_rfm",
    "validate_weights",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
GradFn = Callable[[FloatArray], tuple[float, FloatArray]]


def as_float_array(name: str, values: Any, *, allow_scalar: bool = False) -> FloatArray:
    """Convert ``values`` to a finite float64 array (1-D unless ``allow_scalar``), naming ``name`` on error.

    Parameters
    ----------
    name
        The argument name used in error messages.
    values
        Anything NumPy can turn into a numeric array.
    allow_scalar
        Keep 0-d input 0-d instead of raising.

    Returns
    -------
    numpy.ndarray
        A float64 array.
    """
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{name}: expected numbers, got {type(values).__name__} ({exc})") from exc
    if arr.ndim == 0 and not allow_scalar:
        arr = arr.reshape(1)
    if arr.ndim > 1:
        raise ValidationError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(np.atleast_1d(arr)))[0])
        raise ValidationError(f"{name}: value at position {bad} is not a finite number")
    return arr


def _first_bad(mask: npt.NDArray[np.bool_]) -> int:
    return int(np.flatnonzero(mask)[0])


def check_nonnegative(name: str, arr: FloatArray) -> None:
    """Raise :class:`ValidationError` naming ``name`` and the first position if any value is negative."""
    neg = np.atleast_1d(arr) < 0
    if neg.any():
        i = _first_bad(neg)
        raise ValidationError(f"{name}: must be >= 0, found {np.atleast_1d(arr)[i]!r} at position {i}")


def check_integer(name: str, arr: FloatArray) -> None:
    """Raise :class:`ValidationError` if any value of ``arr`` is not a whole number."""
    flat = np.atleast_1d(arr)
    frac = flat != np.floor(flat)
    if frac.any():
        i = _first_bad(frac)
        raise ValidationError(f"{name}: must be whole numbers (counts), found {flat[i]!r} at position {i}")


def validate_rfm(frequency: Any, recency: Any, T: Any) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validate a (frequency, recency, T) customer summary and return it as float arrays.

    Parameters
    ----------
    frequency
        Number of repeat purchases per customer (whole numbers >= 0).
    recency
        Time of the last purchase since the first one (0 when ``frequency`` is 0).
    T
        Age of the customer: time from the first purchase to the end of observation.

    Returns
    -------
    tuple of numpy.ndarray
        ``(frequency, recency, T)`` as float64 arrays of equal length.

    Raises
    ------
    ValidationError
        Naming the offending input and the first offending position.
    """
    x = as_float_array("frequency", frequency)
    tx = as_float_array("recency", recency)
    age = as_float_array("T", T)
    if not (len(x) == len(tx) == len(age)):
        raise ValidationError(
            f"frequency, recency and T must have the same length, got {len(x)}, {len(tx)} and {len(age)}"
        )
    if len(x) == 0:
        raise ValidationError("frequency: no customers given")
    check_nonnegative("frequency", x)
    check_integer("frequency", x)
    check_nonnegative("recency", tx)
    check_nonnegative("T", age)
    late = tx > age
    if late.any():
        i = _first_bad(late)
        raise ValidationError(
            f"recency: must be <= T, found recency={tx[i]!r} > T={age[i]!r} at position {i}"
        )
    orphan = (x == 0) & (tx != 0)
    if orphan.any():
        i = _first_bad(orphan)
        raise ValidationError(
            f"recency: must be 0 when frequency is 0, found recency={tx[i]!r} at position {i}"
        )
    return x, tx, age


def validate_weights(weights: Any, n: int) -> FloatArray:
    """Return positive-or-zero weights of length ``n`` (all ones when ``weights`` is None).

    Parameters
    ----------
    weights
        Customer counts per row, or None.
    n
        Number of rows.

    Returns
    -------
    numpy.ndarray
        Float64 weights.
    """
    if weights is None:
        return np.ones(n)
    w = as_float_array("weights", weights)
    if len(w) != n:
        raise ValidationError(f"weights: expected {n} values (one per row), got {len(w)}")
    check_nonnegative("weights", w)
    if w.sum() <= 0:
        raise ValidationError("weights: all weights are zero")
    return w


def compress_rows(
    columns: Sequence[FloatArray], weights: FloatArray
) -> tuple[list[FloatArray], FloatArray, IntArray]:
    """Collapse identical rows into unique rows with summed weights.

    Parameters
    ----------
    columns
        Equal-length arrays; a row is the tuple of their values.
    weights
        Weight per row.

    Returns
    -------
    unique_columns, unique_weights, inverse
        ``unique_columns[j][inverse]`` reproduces ``columns[j]``.
    """
    n = len(weights)
    order = np.lexsort(tuple(reversed(list(columns))))
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for col in columns:
        s = col[order]
        change[1:] |= s[1:] != s[:-1]
    starts = np.flatnonzero(change)
    unique_cols = [col[order][starts] for col in columns]
    unique_w = np.add.reduceat(weights[order], starts)
    group = np.cumsum(change) - 1
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = group
    return unique_cols, unique_w, inverse


@dataclass(frozen=True)
class FitResult:
    """Outcome of one maximum-likelihood fit (natural parameter scale)."""

    params: FloatArray
    log_likelihood: float
    converged: bool
    message: str
    n_iterations: int


def maximize_loglik(
    nll: GradFn, x0: Sequence[float], *, total_weight: float, max_iter: int = 500
) -> FitResult:
    """Maximise a log-likelihood over positive parameters.

    Parameters
    ----------
    nll
        Function of the natural parameters returning the *mean* negative log-likelihood per unit of
        weight and its gradient.
    x0
        Positive starting values.
    total_weight
        Sum of the weights, used to turn the mean back into a total log-likelihood.
    max_iter
        Iteration limit of the optimiser.

    Returns
    -------
    FitResult
        The estimates and the maximised total log-likelihood.
    """

    def objective(phi: FloatArray) -> tuple[float, FloatArray]:
        theta = np.exp(phi)
        value, grad = nll(theta)
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return np.inf, np.zeros_like(phi)
        return value, grad * theta

    start = np.log(np.asarray(x0, dtype=np.float64))
    res = optimize.minimize(
        objective,
        start,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": 1e-9, "ftol": 1e-15, "maxcor": 20},
    )
    theta = np.exp(res.x)
    value, _ = nll(theta)
    return FitResult(
        params=theta,
        log_likelihood=-float(value) * total_weight,
        converged=bool(res.success),
        message=str(res.message),
        n_iterations=int(res.nit),
    )


def hessian_from_gradient(nll: GradFn, theta: FloatArray, total_weight: float) -> FloatArray:
    """Hessian of the *total* negative log-likelihood by central differences of its analytic gradient."""
    k = len(theta)
    hess = np.empty((k, k))
    for j in range(k):
        h = 1e-5 * theta[j]
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        hess[:, j] = (nll(up)[1] - nll(down)[1]) / (2 * h)
    hess = 0.5 * (hess + hess.T)
    return hess * total_weight


def covariance_from_hessian(hess: FloatArray) -> FloatArray:
    """Invert an observed-information matrix; NaN entries when it is not positive definite."""
    try:
        np.linalg.cholesky(hess)
    except np.linalg.LinAlgError:
        return np.full_like(hess, np.nan)
    return np.linalg.inv(hess)


class ParametricModel:
    """Mixin holding what every fitted value model shares: parameters, information criteria, draws."""

    _param_names: tuple[str, ...] = ()
    params_: dict[str, float]
    log_likelihood_: float
    n_observations_: float
    _nll: GradFn | None
    _cov: FloatArray | None

    def _set_fit(self, result: FitResult, nll: GradFn, n_observations: float) -> None:
        self.params_ = {k: float(v) for k, v in zip(self._param_names, result.params, strict=True)}
        self.log_likelihood_ = result.log_likelihood
        self.n_observations_ = float(n_observations)
        self.converged_ = result.converged
        self.n_iterations_ = result.n_iterations
        self._nll = nll
        self._cov = None

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise NotFittedError(
                f"{type(self).__name__} is not fitted yet: call fit(...) before asking for predictions"
            )

    @property
    def _theta(self) -> FloatArray:
        self._check_fitted()
        return np.array([self.params_[k] for k in self._param_names])

    @property
    def covariance_(self) -> FloatArray:
        """Asymptotic covariance of the estimates (inverse observed information), in parameter order."""
        self._check_fitted()
        if self._cov is None:
            if self._nll is None:
                raise NotFittedError(f"{type(self).__name__}: parameters were set by hand, no covariance")
            hess = hessian_from_gradient(self._nll, self._theta, self.n_observations_)
            self._cov = covariance_from_hessian(hess)
        return self._cov

    @property
    def standard_errors_(self) -> dict[str, float]:
        """Standard error of each parameter from the Hessian (NaN if the information is singular)."""
        se = np.sqrt(np.diag(self.covariance_))
        return {k: float(v) for k, v in zip(self._param_names, se, strict=True)}

    @property
    def aic_(self) -> float:
        """Akaike information criterion, ``2k - 2 log L``."""
        self._check_fitted()
        return 2 * len(self._param_names) - 2 * self.log_likelihood_

    @property
    def bic_(self) -> float:
        """Bayesian information criterion, ``k log n - 2 log L``."""
        self._check_fitted()
        return len(self._param_names) * np.log(self.n_observations_) - 2 * self.log_likelihood_

    def summary(self) -> list[dict[str, float | str]]:
        """One row per parameter: name, estimate, standard error and a 95% Wald interval on the log scale.

        Returns
        -------
        list of dict
            Keys ``parameter``, ``estimate``, ``std_error``, ``lower_95``, ``upper_95``.
        """
        se = self.standard_errors_
        rows: list[dict[str, float | str]] = []
        for k in self._param_names:
            est, s = self.params_[k], se[k]
            spread = 1.959963984540054 * s / est
            rows.append(
                {
                    "parameter": k,
                    "estimate": est,
                    "std_error": s,
                    "lower_95": est * float(np.exp(-spread)),
                    "upper_95": est * float(np.exp(spread)),
                }
            )
        return rows

    def sample_params(self, n_draws: int, seed: int | None = 0) -> FloatArray:
        """Draw parameter vectors from the asymptotic normal distribution of the log-parameters.

        Parameters
        ----------
        n_draws
            Number of draws.
        seed
            Seed of the random generator.

        Returns
        -------
        numpy.ndarray
            Shape ``(n_draws, n_params)``, positive values in parameter order.
        """
        theta = self._theta
        cov = self.covariance_
        if not np.all(np.isfinite(cov)):
            raise ValidationError(
                f"{type(self).__name__}: the information matrix is singular, cannot draw parameters"
            )
        cov_log = cov / np.outer(theta, theta)
        rng = np.random.default_rng(seed)
        return np.exp(rng.multivariate_normal(np.log(theta), cov_log, size=n_draws))


def draw_interval(
    fn: Callable[[FloatArray], FloatArray], draws: FloatArray, level: float
) -> tuple[FloatArray, FloatArray]:
    """Evaluate ``fn`` at each parameter draw and return the central ``level`` interval per element."""
    if not 0 < level < 1:
        raise ValidationError(f"level: must be between 0 and 1, got {level!r}")
    values = np.stack([np.asarray(fn(d), dtype=np.float64) for d in draws])
    tail = (1 - level) / 2
    lower, upper = np.quantile(values, [tail, 1 - tail], axis=0)
    return lower, upper


def apply_on_unique(fn: Callable[..., FloatArray], *columns: FloatArray) -> FloatArray:
    """Evaluate an element-wise ``fn`` once per distinct row of ``columns`` and spread the results back.

    Parameters
    ----------
    fn
        Element-wise function of the columns.
    *columns
        Arrays broadcastable to a common 1-D shape.

    Returns
    -------
    numpy.ndarray
        ``fn(*columns)`` with the expensive evaluations done once per distinct row.
    """
    cols = [np.asarray(c, dtype=np.float64) for c in np.broadcast_arrays(*columns)]
    if cols[0].ndim == 0 or cols[0].size < 64:
        return np.asarray(fn(*cols), dtype=np.float64)
    shape = cols[0].shape
    flat = [c.ravel() for c in cols]
    uniq, _, inverse = compress_rows(flat, np.ones(flat[0].size))
    return np.asarray(fn(*uniq), dtype=np.float64)[inverse].reshape(shape)


def as_horizon(t: Any) -> FloatArray:
    """Validate a prediction horizon (scalar or array of non-negative times)."""
    horizon = as_float_array("t", t, allow_scalar=True)
    check_nonnegative("t", horizon)
    return horizon
