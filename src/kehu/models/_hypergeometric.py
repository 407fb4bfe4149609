"""The special function Pareto/NBD needs: ``G(p, q, z) = 2F1(1, p; q; z)``, ``q > p > 0``, ``0 <= z < 1``.

The Pareto/NBD likelihood contains ``2F1(k, b; k + 1; z)`` with ``k = r + s + x``; Euler's transformation
turns it into ``(1 - z)^(1 - b) * 2F1(1, k + 1 - b; k + 1; z)``. The remaining series has positive terms
whose ratio ``(p + n) / (q + n) * z`` is below ``z``, so it is bounded by ``1 / (1 - z)``, never
overflows, and large frequencies (large ``q``) make it converge *faster*. Only when ``z`` is within
about 1e-3 of 1 (alpha and beta orders of magnitude apart, which the optimiser may visit on its way) is
the sum cut at 4,000 terms and the rest bounded geometrically, which keeps every evaluation finite and
fast. The series is summed for all arguments at once, dropping arguments as they converge, together with
its exact derivatives in ``p``, ``q`` and ``z`` (used by the analytic gradient of the likelihood).
"""

from __future__ import annotations

import numpy as np

from kehu.models._base import FloatArray

__all__ = ["log_g_with_grad"]

_TOL = 2e-16
_MAX_TERMS = 4_000


def log_g_with_grad(
    p: FloatArray, q: FloatArray, z: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Return ``log G`` and the derivatives of ``log G`` in ``p``, ``q`` and ``z``.

    Parameters
    ----------
    p, q, z
        Equal-length arrays with ``q > p > 0`` and ``0 <= z < 1``.

    Returns
    -------
    log_g, dlog_dp, dlog_dq, dlog_dz : numpy.ndarray
    """
    n = len(p)
    total = np.ones(n)
    d_p = np.zeros(n)
    d_q = np.zeros(n)
    d_z = np.zeros(n)
    # Work on local copies of the still-active arguments; write results back only when compacting.
    active = np.arange(n)
    pa, qa, za = p.copy(), q.copy(), z.copy()
    ta, tpa, tqa, tza = total.copy(), d_p.copy(), d_q.copy(), d_z.copy()
    term = np.ones(n)
    sp = np.zeros(n)
    sq = np.zeros(n)
    k = 0
    while True:
        ratio = (pa + k) / (qa + k) * za
        sp += 1.0 / (pa + k)
        sq += 1.0 / (qa + k)
        term *= ratio
        k += 1
        ta += term
        tpa += term * sp
        tqa -= term * sq
        tza += term * k
        if k % 8 and k < _MAX_TERMS:
            continue
        # Terms decrease geometrically with ratio below ``ratio``: bound the tail (the derivative tails
        # carry at most an extra factor of about k).
        tail = term * ratio / (1.0 - ratio)
        done = (tail * (1.0 + k) <= _TOL * ta) | (k >= _MAX_TERMS)
        if k >= _MAX_TERMS:
            ta += tail
        if done.any():
            idx = active[done]
            total[idx], d_p[idx], d_q[idx], d_z[idx] = ta[done], tpa[done], tqa[done], tza[done]
            keep = ~done
            if not keep.any():
                break
            active, pa, qa, za = active[keep], pa[keep], qa[keep], za[keep]
            ta, tpa, tqa, tza = ta[keep], tpa[keep], tqa[keep], tza[keep]
            term, sp, sq = term[keep], sp[keep], sq[keep]
    safe_z = np.where(z > 0, z, 1.0)
    dz = np.where(z > 0, d_z / safe_z, p / q)
    return np.log(total), d_p / total, d_q / total, dz / total
