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
    "dot",
    "factorize",
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


def dot(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> float:
    """Inner product of two 1-D arrays, summed in the calling thread.

    ``a @ b`` hands long vectors to the BLAS, and OpenBLAS splits them over threads that spin while they
    wait: on a machine whose cores are busy with other work that cost 4-8 ms of CPU per million values
    instead of 0.4 ms (and made the fits' CPU time swing tenfold). ``einsum`` sums in this thread, and the
    result does not depend on the BLAS thread count.
    """
    return float(np.einsum("i,i->", a, b))


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
        raise ValidationError(f"recency: must be <= T, found recency={tx[i]!r} > T={age[i]!r} at position {i}")
    orphan = (x == 0) & (tx != 0)
    if orphan.any():
        i = _first_bad(orphan)
        raise ValidationError(f"recency: must be 0 when frequency is 0, found recency={tx[i]!r} at position {i}")
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


def factorize(values: npt.NDArray[Any]) -> tuple[IntArray, npt.NDArray[Any]]:
    """Codes and distinct values of ``values`` (hash based, in order of first appearance).

    Parameters
    ----------
    values
        A 1-D array.

    Returns
    -------
    codes, uniques
        ``uniques[codes]`` reproduces ``values``.
    """
    import pandas as pd

    codes, uniques = pd.factorize(values, sort=False)
    return np.asarray(codes, dtype=np.int64), np.asarray(uniques)


def compress_rows(columns: Sequence[FloatArray], weights: FloatArray) -> tuple[list[FloatArray], FloatArray, IntArray]:
    """Collapse identical rows into unique rows with summed weights.

    Rows are matched by hashing (no sort), so the unique rows come in order of first appearance.

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
    key, uniques = factorize(np.asarray(columns[0]))
    bound = max(len(uniques), 1)
    for col in columns[1:]:
        codes, uniques = factorize(np.asarray(col))
        if bound * len(uniques) >= 2**62:  # keep the combined key inside int64
            key, _ = factorize(key)
            bound = int(key.max()) + 1
        key *= len(uniques)
        key += codes
        bound *= max(len(uniques), 1)
    inverse = _dense_codes(key, bound) if len(columns) > 1 else key
    first = _firsts(inverse, n)
    unique_cols = [np.asarray(col)[first] for col in columns]
    unique_w = np.bincount(inverse, weights=weights, minlength=len(first)).astype(np.float64)
    return unique_cols, unique_w, inverse


def _firsts(codes: IntArray, n: int) -> IntArray:
    """Position of the first row of each code (codes numbered in order of first appearance)."""
    k = int(codes.max()) + 1 if n else 0
    first = np.empty(k, dtype=np.int64)
    first[codes[::-1]] = np.arange(n - 1, -1, -1, dtype=np.int64)
    return first


def _dense_codes(key: IntArray, bound: int) -> IntArray:
    """Renumber non-negative integer keys below ``bound`` as 0..k-1.

    A presence table and its running count do it in linear time when ``bound`` is at most 16 times the
    number of keys (a hash table is slower there: almost every key is distinct and misses the cache);
    otherwise the keys are hashed.
    """
    if bound > max(16 * len(key), 2**20) or bound >= 2**31:
        return factorize(key)[0]
    present = np.zeros(bound, dtype=np.bool_)
    present[key] = True
    rank = np.cumsum(present, dtype=np.int32)
    codes = rank[key].astype(np.int64)
    codes -= 1
    return codes


@dataclass(frozen=True)
class FitResult:
    """Outcome of one maximum-likelihood fit (natural parameter scale)."""

    params: FloatArray
    log_likelihood: float
    converged: bool
    message: str
    n_iterations: int
    hessian: FloatArray | None = None


def maximize_loglik(
    nll: GradFn, x0: Sequence[float] | FloatArray, *, total_weight: float, max_iter: int = 500
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


#: ``objective(theta, with_hessian)`` -> mean negative log-likelihood per unit of weight, its gradient and
#: (when asked, else None) its Hessian, all in the natural parameters
Objective = Callable[[FloatArray, bool], tuple[float, FloatArray, FloatArray | None]]

_WARM_START_ROWS = 20_000


def _log_scale(theta: FloatArray, grad: FloatArray, hess: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Gradient and Hessian with respect to ``log theta``."""
    g = grad * theta
    h = hess * np.outer(theta, theta)
    h[np.diag_indices_from(h)] += g
    return g, h


def _newton_step(grad: FloatArray, hess: FloatArray) -> FloatArray:
    """Solve ``H step = -g``, shifting the diagonal until ``H`` is positive definite."""
    shift = 0.0
    scale = float(np.max(np.abs(np.diag(hess)))) or 1.0
    eye = np.eye(len(grad))
    for _ in range(60):
        try:
            chol = np.linalg.cholesky(hess + shift * eye)
        except np.linalg.LinAlgError:
            shift = max(shift * 10.0, 1e-8 * scale)
            continue
        y = np.linalg.solve(chol, -grad)
        return np.asarray(np.linalg.solve(chol.T, y))
    return -grad / scale


def newton_maximize(
    objective: Objective, x0: Sequence[float] | FloatArray, *, total_weight: float, max_iter: int = 100
) -> FitResult | None:
    """Maximise a log-likelihood over positive parameters by damped Newton steps on their logs.

    Each step solves with the exact Hessian (shifted when not positive definite), is capped at a factor of
    ``e^2`` per parameter and halved until the likelihood improves. Convergence is declared after a full
    step that moves every parameter by less than one part in a million, whose predicted gain is below the
    rounding noise of the objective, or after which quadratic convergence (the ratio of the last two step
    sizes) predicts a remaining error below 1e-8. Trial points are evaluated without the Hessian; it is
    computed only where another step follows (and later, lazily, for standard errors).

    Parameters
    ----------
    objective
        See :data:`Objective`.
    x0
        Positive starting values.
    total_weight
        Sum of the weights (turns the mean back into a total log-likelihood and Hessian).
    max_iter
        Iteration limit.

    Returns
    -------
    FitResult or None
        None when the iteration did not converge (the caller falls back to a quasi-Newton search).
    """
    theta = np.asarray(x0, dtype=np.float64)
    value, grad, hess = objective(theta, True)
    if not np.isfinite(value) or hess is None:
        return None
    previous: float | None = None  # size of the last full step, for the quadratic-convergence estimate
    for it in range(1, max_iter + 1):
        g, h = _log_scale(theta, grad, hess)
        step = _newton_step(g, h)
        biggest = float(np.max(np.abs(step)))
        if biggest > 2.0:
            step *= 2.0 / biggest
        # Below this predicted decrease the change of the objective drowns in rounding noise: the
        # quadratic model is exact there, so the full step is taken without a line search.
        decrease = -float(g @ step)
        tiny = decrease < 1e-11 * max(1.0, abs(value))
        t = 1.0
        while True:
            trial = theta * np.exp(t * step)
            t_value, t_grad, _ = objective(trial, False)
            finite = np.isfinite(t_value) and bool(np.all(np.isfinite(t_grad)))
            if finite and (tiny or t_value <= value - 1e-4 * t * decrease):
                break
            t *= 0.5
            if t < 1e-8:
                return None
        theta, value, grad = trial, t_value, t_grad
        # Quadratic convergence: the next step would be about C * biggest^2 with C = biggest / previous^2.
        predicted = biggest**3 / previous**2 if (t == 1.0 and previous) else np.inf
        if tiny or (t == 1.0 and biggest < 1e-6) or predicted < 1e-8:
            return FitResult(
                params=theta,
                log_likelihood=-float(value) * total_weight,
                converged=True,
                message="Newton converged",
                n_iterations=it,
            )
        previous = biggest if t == 1.0 else None
        _, _, hess = objective(theta, True)
        if hess is None or not np.all(np.isfinite(hess)):
            return None
    return None


def fit_by_newton(
    make_objective: Callable[[IntArray], Objective],
    n_rows: int,
    weights: FloatArray,
    x0: Sequence[float],
    *,
    max_iter: int,
    seed: int = 0,
) -> tuple[FitResult, Objective]:
    """Fit with Newton steps, warm-started on a random subset of the rows when there are many.

    With more than 40,000 rows the model is first fitted on 20,000 of them drawn at random (the estimate
    of an unbiased subsample likelihood, typically within several per cent of the answer), with more than
    200,000 rows then on 100,000, and finally polished on all rows, which then takes two or three Newton
    steps. If Newton does not converge the search falls
    back to L-BFGS-B.

    Parameters
    ----------
    make_objective
        Builds the objective on the rows given by an index array.
    n_rows
        Number of rows.
    weights
        Row weights (for the total log-likelihood).
    x0
        Positive starting values.
    max_iter
        Iteration limit of each search.
    seed
        Seed of the subsample (fits are deterministic).

    Returns
    -------
    result, objective
        The fit and the full-data objective (for later Hessians).
    """
    every = np.arange(n_rows, dtype=np.int64)
    start = np.asarray(x0, dtype=np.float64)
    rng = np.random.default_rng(seed)
    for size in (_WARM_START_ROWS, 5 * _WARM_START_ROWS):
        if n_rows <= 2 * size:
            break
        subset = np.sort(rng.choice(n_rows, size, replace=False)).astype(np.int64)
        warm = newton_maximize(
            make_objective(subset), start, total_weight=float(weights[subset].sum()), max_iter=max_iter
        )
        if warm is not None:
            start = warm.params
    objective = make_objective(every)
    total = float(weights.sum())
    result = newton_maximize(objective, start, total_weight=total, max_iter=max_iter)
    if result is None:

        def nll(theta: FloatArray) -> tuple[float, FloatArray]:
            value, grad, _ = objective(theta, False)
            return value, grad

        result = maximize_loglik(nll, start, total_weight=total, max_iter=max_iter)
    return result, objective


def fit_by_bfgs(
    make_nll: Callable[[IntArray], GradFn],
    n_rows: int,
    weights: FloatArray,
    x0: Sequence[float] | FloatArray,
    *,
    max_iter: int,
    seed: int = 0,
) -> tuple[FitResult, GradFn]:
    """Fit a model with an exact gradient but no Hessian, warm-started on a subsample.

    With more than 40,000 rows the model is fitted on 20,000 random rows first; the Hessian there (central
    differences of the gradient, cheap at that size) seeds a BFGS search on all rows, which then needs
    a handful of full gradients instead of the dozens a cold quasi-Newton search takes. Falls back to
    L-BFGS-B when the search fails; small problems go to L-BFGS-B directly.

    Parameters
    ----------
    make_nll
        Builds the mean negative log-likelihood (with gradient) on the rows given by an index array.
    n_rows
        Number of rows.
    weights
        Row weights.
    x0
        Positive starting values.
    max_iter
        Iteration limit.
    seed
        Seed of the subsample.

    Returns
    -------
    result, nll
        The fit and the full-data likelihood.
    """
    total = float(weights.sum())
    nll = make_nll(np.arange(n_rows, dtype=np.int64))
    if n_rows <= 2 * _WARM_START_ROWS:
        return maximize_loglik(nll, x0, total_weight=total, max_iter=max_iter), nll
    rng = np.random.default_rng(seed)
    subset = np.sort(rng.choice(n_rows, _WARM_START_ROWS, replace=False)).astype(np.int64)
    sub_nll = make_nll(subset)
    warm = maximize_loglik(sub_nll, x0, total_weight=1.0, max_iter=max_iter)
    theta = warm.params
    hess = hessian_from_gradient(sub_nll, theta, 1.0)
    metric = hess * np.outer(theta, theta)
    result = _bfgs(nll, theta, metric, total, max_iter)
    if result is None:
        result = maximize_loglik(nll, theta, total_weight=total, max_iter=max_iter)
    return result, nll


def _bfgs(nll: GradFn, theta: FloatArray, metric: FloatArray, total: float, max_iter: int) -> FitResult | None:
    """BFGS on ``log theta`` from an initial Hessian ``metric``; None if it fails."""
    try:
        inv = np.linalg.inv(metric)
        np.linalg.cholesky(metric)
    except np.linalg.LinAlgError:
        return None
    phi = np.log(theta)
    value, grad = nll(theta)
    g = grad * theta
    for it in range(1, max_iter + 1):
        step = -inv @ g
        biggest = float(np.max(np.abs(step)))
        if biggest > 2.0:
            step *= 2.0 / biggest
        decrease = -float(g @ step)
        if decrease <= 0:
            return None
        tiny = decrease < 1e-11 * max(1.0, abs(value))
        t = 1.0
        while True:
            trial = phi + t * step
            t_value, t_grad = nll(np.exp(trial))
            finite = np.isfinite(t_value) and bool(np.all(np.isfinite(t_grad)))
            if finite and (tiny or t_value <= value - 1e-4 * t * decrease):
                break
            t *= 0.5
            if t < 1e-8:
                return None
        t_g = t_grad * np.exp(trial)
        s_vec, y_vec = trial - phi, t_g - g
        phi, value, g = trial, t_value, t_g
        if tiny or float(np.max(np.abs(s_vec))) < 1e-9:
            return FitResult(
                params=np.exp(phi),
                log_likelihood=-float(value) * total,
                converged=True,
                message="BFGS step below 1e-9",
                n_iterations=it,
            )
        sy = float(s_vec @ y_vec)
        if sy > 1e-300:
            rho = 1.0 / sy
            eye = np.eye(len(phi))
            left = eye - rho * np.outer(s_vec, y_vec)
            inv = left @ inv @ left.T + rho * np.outer(s_vec, s_vec)
    return None


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
    return np.asarray(np.linalg.inv(hess), dtype=np.float64)


class ParametricModel:
    """Mixin holding what every fitted value model shares: parameters, information criteria, draws."""

    _param_names: tuple[str, ...] = ()
    params_: dict[str, float]
    log_likelihood_: float
    n_observations_: float
    _nll: GradFn | None
    _objective: Objective | None = None
    _hess: FloatArray | None = None
    _cov: FloatArray | None

    def _set_fit(
        self, result: FitResult, nll: GradFn | None, n_observations: float, objective: Objective | None = None
    ) -> None:
        self.params_ = {k: float(v) for k, v in zip(self._param_names, result.params, strict=True)}
        self.log_likelihood_ = result.log_likelihood
        self.n_observations_ = float(n_observations)
        self.converged_ = result.converged
        self.n_iterations_ = result.n_iterations
        self._nll = nll
        self._objective = objective
        self._hess = result.hessian
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
            hess = self._hess
            if hess is None and self._objective is not None:
                exact = self._objective(self._theta, True)[2]
                hess = None if exact is None else exact * self.n_observations_
            if hess is None:
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
            raise ValidationError(f"{type(self).__name__}: the information matrix is singular, cannot draw parameters")
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
