"""Whether a maximum-likelihood fit found a maximum the data determine, and why not.

A search can end "successfully" where the likelihood only flattens out: one customer, a thousand identical
histories or nobody with a repeat purchase leave some parameters free to run off towards 0 or infinity,
where the optimiser stops because nothing changes any more. :func:`judge` looks at the end point itself:

1. every parameter divided by its data scale lies strictly between ``1 / BOX`` and ``BOX``;
2. the information matrix (Hessian of the negative log-likelihood) is finite and, on the log scale of the
   parameters and in correlation form, positive definite with its smallest eigenvalue above ``1e-12``;
3. every standard error (square root of the diagonal of the inverse information) is finite;
4. the Newton step that remains is negligible: it moves no log-parameter by more than ``1e-6``, or its
   length in the metric of the information (the Newton decrement, ``sqrt(g' H^-1 g)``: how many standard
   errors the estimates would still move) is below 0.1. The second clause accepts a likelihood that is
   only known to a few digits, as Pareto/NBD's far out on a ridge where its series is cut short.

:func:`newton_polish` finishes a search that stopped short in the rounding noise next to the maximum.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from kehu.models._base import FloatArray, GradFn

__all__ = ["BOX", "at_bound", "hessian_from_gradient", "judge", "log_newton_step", "newton_polish"]

#: a parameter divided by its data scale must lie strictly between 1 / BOX and BOX
BOX = 1e6
#: a fit has converged when the remaining Newton step moves no log-parameter by more than this
_STEP_TOL = 1e-6
#: ... or when it moves the estimates by less than this many standard errors
_DECREMENT_TOL = 0.1
#: the smallest eigenvalue of the information matrix in correlation form below which it is singular
_SINGULAR = 1e-12
_POLISH_STEPS = 4
#: only a search that ended this close (largest log-parameter step) is finished with Newton steps
_POLISH_REACH = 1e-2


def _log_scale(theta: FloatArray, info: FloatArray, grad: FloatArray) -> tuple[FloatArray, FloatArray]:
    g = grad * theta
    h = info * np.outer(theta, theta)
    h[np.diag_indices_from(h)] += g
    return g, h


def log_newton_step(theta: FloatArray, info: FloatArray, grad: FloatArray) -> FloatArray | None:
    """The Newton step on ``log theta`` (None when the information is not finite and positive definite)."""
    if not (np.all(np.isfinite(info)) and np.all(np.isfinite(grad))):
        return None
    g, h = _log_scale(theta, info, grad)
    try:
        chol = np.linalg.cholesky(h)
    except np.linalg.LinAlgError:
        return None
    return np.asarray(np.linalg.solve(chol.T, np.linalg.solve(chol, -g)))


def newton_polish(
    value_and_grad: Callable[[FloatArray], tuple[float, FloatArray]],
    information: Callable[[], FloatArray],
    theta: FloatArray,
    converged: bool,
) -> tuple[FloatArray, float] | None:
    """Finish a search that stopped near the maximum with Newton steps on the log-parameters.

    Parameters
    ----------
    value_and_grad
        Total negative log-likelihood and gradient at a parameter vector.
    information
        The information matrix at ``theta``.
    theta
        The search's end point.
    converged
        Whether the search reported convergence (then nothing is done).

    Returns
    -------
    tuple or None
        ``(theta, negative log-likelihood)`` after the polish, or None when no step was taken.
    """
    if converged:
        return None
    value = value_and_grad(theta)[0]
    moved = False
    for _ in range(_POLISH_STEPS):
        grad = value_and_grad(theta)[1]
        info = hessian_from_gradient(value_and_grad, theta, 1.0) if moved else information()
        step = log_newton_step(theta, info, grad)
        if step is None:
            break
        size = float(np.max(np.abs(step)))
        if size > _POLISH_REACH or size < 1e-10:
            break
        trial = theta * np.exp(step)
        t_value = value_and_grad(trial)[0]
        # at the maximum the change drowns in rounding noise: accept what is not clearly worse
        if not np.isfinite(t_value) or t_value > value + 1e-12 * max(1.0, abs(value)):
            break
        theta, value, moved = trial, t_value, True
    return (theta, value) if moved else None


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


def at_bound(names: Sequence[str], theta: FloatArray, scales: FloatArray) -> tuple[str, str] | None:
    """``("at_bound", reason)`` when a parameter is not strictly inside its box, else None (see :func:`judge`)."""
    ratio = theta / scales
    edge = (ratio <= 1.0 / BOX) | (ratio >= BOX) | ~np.isfinite(theta)
    if not edge.any():
        return None
    j = int(np.flatnonzero(edge)[0])
    return (
        "at_bound",
        f"parameter {names[j]} = {theta[j]:.3g} sits at the edge of its range ({scales[j] / BOX:.3g} to "
        f"{scales[j] * BOX:.3g}): the data do not determine it (too few customers, or histories too alike)",
    )


def judge(
    names: Sequence[str], theta: FloatArray, scales: FloatArray, info: FloatArray, grad: FloatArray
) -> tuple[str, str] | None:
    """None when the fit is a determined maximum, else ``(issue code, plain-words reason)``.

    Parameters
    ----------
    names
        Parameter names, in order.
    theta
        Estimates.
    scales
        Data scale per parameter (the box is ``scale / BOX`` to ``scale * BOX``).
    info
        Hessian of the total negative log-likelihood at ``theta``.
    grad
        Gradient of the total negative log-likelihood at ``theta``.
    """
    edge = at_bound(names, theta, scales)
    if edge is not None:
        return edge
    singular = (
        "singular_hessian",
        "the likelihood is flat in some direction (singular Hessian): the data do not determine every parameter "
        "(too few customers, or histories too alike)",
    )
    if not np.all(np.isfinite(info)) or not np.all(np.isfinite(grad)):
        return singular
    _, h = _log_scale(theta, info, grad)
    d = np.sqrt(np.abs(np.diag(h)))
    if np.any(d == 0) or np.any(np.diag(h) <= 0):
        return singular
    if float(np.linalg.eigvalsh(h / np.outer(d, d))[0]) <= _SINGULAR:
        return singular
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return singular
    variance = np.diag(cov)
    bad = ~np.isfinite(variance) | (variance <= 0)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        return (
            "standard_errors",
            f"the standard error of {names[j]} is not a finite number: the estimate cannot be trusted",
        )
    step = log_newton_step(theta, info, grad)
    if step is None:
        return singular
    size = float(np.max(np.abs(step)))
    g, _ = _log_scale(theta, info, grad)
    decrement = float(np.sqrt(max(-float(g @ step), 0.0)))
    if size > _STEP_TOL and decrement > _DECREMENT_TOL:
        return (
            "optimizer",
            f"the search stopped before the maximum (a further step would still move the estimates by "
            f"{decrement:.2g} standard errors)",
        )
    return None
