"""Seeded simulation from the value models: customer summaries and whole transaction logs.

Used to check parameter recovery and to generate benchmark and demo data; nothing here reads or writes
files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from kehu.errors import ValidationError
from kehu.models._base import FloatArray, as_float_array

__all__ = ["TransactionLog", "simulate_beta_geo", "simulate_pareto_nbd", "simulate_transactions"]


@dataclass(frozen=True)
class TransactionLog:
    """A generated transaction log: customer id, day number (days since the start) and value."""

    customer_id: npt.NDArray[np.int64]
    day: npt.NDArray[np.int64]
    value: FloatArray


def _ages(n: int, T: Any) -> FloatArray:
    age = as_float_array("T", T, allow_scalar=True)
    age = np.broadcast_to(age, (n,)).astype(np.float64)
    if (age <= 0).any():
        raise ValidationError("T: customer ages must be > 0")
    return age


def _positive(**params: float) -> None:
    for name, value in params.items():
        if not value > 0:
            raise ValidationError(f"{name}: must be > 0, got {value!r}")


def simulate_beta_geo(
    n: int, r: float, alpha: float, a: float, b: float, T: Any, seed: int | None = 0
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Draw (frequency, recency, T) for ``n`` customers from a BG/NBD process.

    Parameters
    ----------
    n
        Number of customers.
    r, alpha, a, b
        BG/NBD parameters.
    T
        Age of each customer (scalar or array of length ``n``).
    seed
        Random seed.

    Returns
    -------
    frequency, recency, T : numpy.ndarray
    """
    _positive(r=r, alpha=alpha, a=a, b=b)
    age = _ages(n, T)
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    freq = np.zeros(n)
    rec = np.zeros(n)
    clock = np.zeros(n)
    active = np.arange(n)
    while active.size:
        clock[active] += rng.exponential(1.0, active.size) / lam[active]
        bought = clock[active] <= age[active]
        buyers = active[bought]
        freq[buyers] += 1
        rec[buyers] = clock[buyers]
        survives = rng.random(buyers.size) >= p[buyers]
        active = buyers[survives]
    return freq, rec, age


def simulate_pareto_nbd(
    n: int, r: float, alpha: float, s: float, beta: float, T: Any, seed: int | None = 0
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Draw (frequency, recency, T) for ``n`` customers from a Pareto/NBD process.

    Parameters
    ----------
    n
        Number of customers.
    r, alpha, s, beta
        Pareto/NBD parameters.
    T
        Age of each customer (scalar or array of length ``n``).
    seed
        Random seed.

    Returns
    -------
    frequency, recency, T : numpy.ndarray
    """
    _positive(r=r, alpha=alpha, s=s, beta=beta)
    age = _ages(n, T)
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, n)
    mu = rng.gamma(s, 1.0 / beta, n)
    lifetime = rng.exponential(1.0, n) / mu
    window = np.minimum(lifetime, age)
    freq = rng.poisson(lam * window).astype(np.float64)
    # The last of k uniform purchase times on (0, window) is window * U^(1/k).
    safe = np.where(freq > 0, freq, 1.0)
    rec = np.where(freq > 0, window * rng.random(n) ** (1.0 / safe), 0.0)
    return freq, rec, age


def simulate_transactions(
    n: int,
    *,
    r: float,
    alpha: float,
    a: float,
    b: float,
    p: float,
    q: float,
    gamma: float,
    acquisition_days: int,
    observation_days: int,
    seed: int | None = 0,
) -> TransactionLog:
    """Generate a transaction log from BG/NBD purchasing (rates per week) and Gamma-Gamma spend.

    Customers are acquired uniformly over the first ``acquisition_days`` days (their first purchase) and
    observed until day ``observation_days - 1``. Transaction times are rounded down to whole days.

    Parameters
    ----------
    n
        Number of customers.
    r, alpha, a, b
        BG/NBD parameters with time measured in weeks.
    p, q, gamma
        Gamma-Gamma spend parameters.
    acquisition_days, observation_days
        Length of the acquisition window and of the whole observation window, in days.
    seed
        Random seed.

    Returns
    -------
    TransactionLog
        Sorted by customer and day.
    """
    _positive(r=r, alpha=alpha, a=a, b=b, p=p, q=q, gamma=gamma)
    if not 0 < acquisition_days < observation_days:
        raise ValidationError("acquisition_days: must be > 0 and < observation_days")
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, n) / 7.0  # per day
    drop = rng.beta(a, b, n)
    nu = rng.gamma(q, 1.0 / gamma, n)
    first = rng.integers(0, acquisition_days, n).astype(np.float64)
    ids = [np.arange(n)]
    times = [first.copy()]
    clock = first.copy()
    active = np.arange(n)
    end = float(observation_days)
    while active.size:
        clock[active] += rng.exponential(1.0, active.size) / lam[active]
        bought = clock[active] < end
        buyers = active[bought]
        ids.append(buyers)
        times.append(clock[buyers].copy())
        active = buyers[rng.random(buyers.size) >= drop[buyers]]
    cust = np.concatenate(ids)
    day = np.floor(np.concatenate(times)).astype(np.int64)
    value = rng.gamma(p, 1.0, len(cust)) / nu[cust]
    order = np.lexsort((day, cust))
    return TransactionLog(customer_id=cust[order], day=day[order], value=np.round(value[order], 2))
