"""Fitting and uncertainty of the value models, and the mixin every fitted model shares.

Fitting is maximum likelihood on the log of the (positive) parameters with an analytic gradient. The
covariance of the estimates is the inverse of the observed information (the Hessian of the negative
log-likelihood: exact where the model has it, else central differences of the analytic gradient).

A fit is *judged* after the search (:meth:`ParametricModel._judge_fit`), whatever the optimiser reported: it
has converged only when every parameter lies well inside its box (``1e-6`` to ``1e6`` times the parameter's
data scale; :mod:`._convergence`), the information matrix is finite and positive definite (not singular),
every standard error is finite, and the remaining Newton step is negligible. A quasi-Newton search that stops
in the rounding noise next to the maximum (as L-BFGS-B's line search may) is finished with a Newton step or
two, so that a fit does not fail for want of precision in the last digits. A failed fit says why, in plain
words, in ``convergence_reason_``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import numpy as np
from scipy import optimize

from kehu.errors import NotFittedError, ValidationError
from kehu.models._base import FloatArray, GradFn, IntArray
from kehu.models._convergence import at_bound, hessian_from_gradient, judge, newton_polish

__all__ = [
    "FitResult",
    "Objective",
    "ParametricModel",
    "fit_by_bfgs",
    "fit_by_newton",
    "maximize_loglik",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")


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


def _quiet(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``fn`` with NumPy's floating-point warnings off.

    A search on data that cannot determine the parameters visits points where the likelihood overflows; the
    objective turns those into infinite values the line search rejects, and the end point is judged afterwards
    (:meth:`ParametricModel._judge_fit`), so warnings there would say nothing new.
    """

    @functools.wraps(fn)
    def quiet(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)

    return quiet


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


@_quiet
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


@_quiet
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


def covariance_from_hessian(hess: FloatArray) -> FloatArray:
    """Invert an observed-information matrix; NaN entries when it is not positive definite."""
    try:
        np.linalg.cholesky(hess)
    except np.linalg.LinAlgError:
        return np.full_like(hess, np.nan)
    return np.asarray(np.linalg.inv(hess), dtype=np.float64)


class ParametricModel:
    """Mixin holding what every fitted value model shares: parameters, information criteria, draws.

    Attributes set by every fit: ``converged_`` (bool), ``convergence_issue_`` (None, or a short code:
    ``"at_bound"``, ``"singular_hessian"``, ``"standard_errors"``, ``"optimizer"``) and
    ``convergence_reason_`` (None, or a plain sentence saying what went wrong).
    """

    _param_names: tuple[str, ...] = ()
    params_: dict[str, float]
    log_likelihood_: float
    n_observations_: float
    converged_: bool
    convergence_issue_: str | None
    convergence_reason_: str | None
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
        self.convergence_issue_ = None if result.converged else "optimizer"
        self.convergence_reason_ = None if result.converged else f"the optimiser stopped early ({result.message})"
        self.n_iterations_ = result.n_iterations
        self._nll = nll
        self._objective = objective
        self._hess = result.hessian
        self._cov = None

    def _total_value_and_gradient(self, theta: FloatArray) -> tuple[float, FloatArray]:
        """Total negative log-likelihood and its gradient (natural parameters) at ``theta``."""
        if self._objective is not None:
            value, grad, _ = self._objective(theta, False)
        elif self._nll is not None:
            value, grad = self._nll(theta)
        else:
            raise NotFittedError(f"{type(self).__name__}: parameters were set by hand, no likelihood")
        return float(value) * self.n_observations_, np.asarray(grad) * self.n_observations_

    def _information(self) -> FloatArray:
        """Observed information (Hessian of the total negative log-likelihood) at the estimates, cached."""
        if self._hess is None:
            if self._objective is not None:
                exact = self._objective(self._theta, True)[2]
                self._hess = None if exact is None else exact * self.n_observations_
            if self._hess is None:
                if self._nll is None:
                    raise NotFittedError(f"{type(self).__name__}: parameters were set by hand, no covariance")
                self._hess = hessian_from_gradient(self._nll, self._theta, self.n_observations_)
        return self._hess

    def _judge_fit(self, scales: Sequence[float], optimizer_converged: bool, message: str) -> None:
        """Set ``converged_`` and the reason from the estimates, the information and the remaining step.

        Parameters
        ----------
        scales
            Data scale of each parameter (1 for shapes; e.g. the mean age for a time scale): the box of a
            parameter is ``scale / BOX`` to ``scale * BOX``.
        optimizer_converged
            What the search reported.
        message
            The search's message, quoted when it stopped early.
        """
        with np.errstate(all="ignore"):
            self._judge(np.asarray(scales, dtype=np.float64), optimizer_converged, message)

    def _judge(self, box: FloatArray, optimizer_converged: bool, message: str) -> None:
        theta = self._theta
        edge = at_bound(self._param_names, theta, box)
        if edge is not None:  # no need for the information matrix (and no way to polish)
            self.converged_ = False
            self.convergence_issue_, self.convergence_reason_ = edge
            return
        polished = newton_polish(self._total_value_and_gradient, self._information, theta, optimizer_converged)
        if polished is not None:
            theta, value = polished
            self.params_ = {k: float(v) for k, v in zip(self._param_names, theta, strict=True)}
            self.log_likelihood_ = -value
            self._hess, self._cov = None, None
        grad = self._total_value_and_gradient(theta)[1]
        # the end point decides, not the search's message: a line search that gives up in the rounding
        # noise at the maximum has converged, a search stopped far from it has not
        verdict = judge(self._param_names, theta, box, self._information(), grad)
        if verdict is not None and verdict[0] == "optimizer" and not optimizer_converged:
            verdict = (verdict[0], f"{verdict[1]}; the optimiser said: {message}")
        self.converged_ = verdict is None
        self.convergence_issue_, self.convergence_reason_ = verdict if verdict is not None else (None, None)

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
            self._cov = covariance_from_hessian(self._information())
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
