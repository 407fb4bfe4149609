"""Shared plumbing of the value models: input validation and history compression (fitting: :mod:`._fitting`).

Every model here follows the scikit-learn contract: hyper-parameters are keyword-only ``__init__``
arguments, ``fit`` validates its input, does the work and returns ``self``, learned state ends in ``_``
and every prediction first checks that the model was fitted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from kehu.errors import ValidationError

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
