"""Uplift of a campaign or a playbook rule: treatment minus holdout, with 95% confidence intervals.

- Rates (conversion, retention, win-back): difference of two proportions with the Agresti–Caffo interval
  (add one success and one failure to each arm, then the Wald interval of the difference), which keeps close
  to its nominal coverage with small arms and rates near 0 or 1 where the plain Wald interval falls short.
- Money (revenue per targeted customer, zeros included): difference of the two means with a Welch interval
  whose degrees of freedom are counted in *buyers* (Satterthwaite with ``buyers − 1`` per arm, not
  ``customers − 1``: the zeros carry no information about the spread of spend). Revenue is mostly zeros and
  a long tail, and no interval built from the data alone keeps its coverage when an arm has few buyers and
  their spend is very uneven: the arm's mean is then set by purchases the sample has most likely not seen,
  and the interval lies above the truth. So a revenue interval is given only when the arms can be expected to
  have :func:`required_buyers` buyers each (the rule below); otherwise the estimate carries no interval and a
  reason (``few_buyers``, ``uneven_spend``) that the verdict puts in plain words.

The rule, precisely: let ``s`` be the pooled within-arm standard deviation of the natural logarithm of spend
among buyers (customers with revenue > 0), and ``e`` the buyers the smaller arm would have at the pooled
conversion of both arms (its customers × all buyers / all customers; the pooled rate rather than the arm's own
buyers, so that the rule does not pick the campaigns whose holdout happened to buy unusually much). A
verdict needs ``e >= required_buyers(s)`` and at least 2 buyers in each arm, with
``required_buyers(s) = ceil(15 · 256 ** max(s − 0.5, 0))`` — 15 buyers for spend no more uneven than a
lognormal of σ 0.5, 60 at 0.75, 240 at 1, 960 at 1.25, 3,840 at 1.5. The constants were read off simulated
campaigns (``benchmarks/uplift_coverage.py``, docs/campaigns.md): with them the 95% interval covers the truth
at least 93% of the time in every simulated scenario where it is given.

The interval functions work on per-arm sums (:class:`ArmSums`) held in arrays, so the benchmark evaluates
thousands of simulated campaigns in one call; :func:`mean_difference` is the one-campaign entry point.

An effect is *significant* when its interval excludes 0.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.stats import norm
from scipy.stats import t as student_t

__all__ = [
    "BASE_BUYERS",
    "ArmSums",
    "Estimate",
    "RevenueIntervals",
    "mean_difference",
    "proportion_difference",
    "required_buyers",
    "revenue_intervals",
]

#: Buyers each arm needs at the least, whatever the spread of spend.
BASE_BUYERS = 15
_SPREAD_FREE = 0.5  # log-spend spread up to which BASE_BUYERS suffice
_GROWTH = 256.0  # required buyers multiply by this per unit of log-spend spread above _SPREAD_FREE


@dataclass(frozen=True)
class Estimate:
    """A treatment − holdout difference with its interval.

    ``low``/``high`` are None when an arm is empty, or — for revenue — when no interval can be trusted; then
    ``reason`` says why (``few_buyers``, ``uneven_spend``) and ``detail`` holds the numbers behind it
    (``buyers_treatment``, ``buyers_holdout``, ``expected``, ``required``, ``spread``).
    """

    treatment: float | None
    holdout: float | None
    difference: float | None
    low: float | None
    high: float | None
    level: float
    method: str
    reason: str | None = None
    detail: dict[str, float] = field(default_factory=dict)

    @property
    def significant(self) -> bool:
        """The interval excludes zero."""
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)

    def as_dict(self) -> dict[str, Any]:
        """All fields and ``significant``."""
        return {**asdict(self), "significant": self.significant}


def proportion_difference(x_t: int, n_t: int, x_c: int, n_c: int, *, level: float = 0.95) -> Estimate:
    """Difference of proportions ``x_t/n_t − x_c/n_c`` with the Agresti–Caffo interval."""
    if n_t == 0 or n_c == 0:
        pt = x_t / n_t if n_t else None
        pc = x_c / n_c if n_c else None
        return Estimate(pt, pc, None, None, None, level, "agresti-caffo")
    pt, pc = x_t / n_t, x_c / n_c
    at, ac = (x_t + 1) / (n_t + 2), (x_c + 1) / (n_c + 2)
    se = math.sqrt(at * (1 - at) / (n_t + 2) + ac * (1 - ac) / (n_c + 2))
    z = float(norm.ppf(0.5 + level / 2))
    centre = at - ac
    return Estimate(pt, pc, pt - pc, max(-1.0, centre - z * se), min(1.0, centre + z * se), level, "agresti-caffo")


@dataclass(frozen=True)
class ArmSums:
    """Sufficient sums of one arm's revenue per customer, as arrays (one entry per campaign).

    ``customers`` all customers of the arm, ``buyers`` those with revenue > 0; ``total``/``total_sq`` the sum
    of revenue and of its square over all customers; ``log_total``/``log_total_sq`` the sum of ``log(revenue)``
    and of its square over the buyers.
    """

    customers: np.ndarray
    buyers: np.ndarray
    total: np.ndarray
    total_sq: np.ndarray
    log_total: np.ndarray
    log_total_sq: np.ndarray

    @classmethod
    def of(cls, revenue: np.ndarray) -> ArmSums:
        """The sums of one arm's revenue per customer (a 1-D array, zeros included)."""
        y = np.asarray(revenue, dtype=np.float64)
        logs = np.log(y[y > 0])
        return cls(*(np.array([v], dtype=np.float64) for v in (
            y.size, logs.size, y.sum(), (y * y).sum(), logs.sum(), (logs * logs).sum())))  # fmt: skip


def required_buyers(spread: np.ndarray | float) -> np.ndarray:
    """Buyers each arm needs for a trustworthy revenue interval, given the log-spend ``spread`` (see module)."""
    s = np.asarray(spread, dtype=np.float64)
    excess = np.clip(np.nan_to_num(s, nan=0.0) - _SPREAD_FREE, 0.0, 6.0)  # beyond 6 the count is astronomical
    return np.ceil(BASE_BUYERS * _GROWTH**excess)


@dataclass(frozen=True)
class RevenueIntervals:
    """Per campaign: the difference of means, the interval (NaN without a verdict), whether a verdict is given,
    the log-spend spread, the buyers each arm needs and the buyers the smaller arm has at the pooled conversion."""

    difference: np.ndarray
    low: np.ndarray
    high: np.ndarray
    verdict: np.ndarray
    spread: np.ndarray
    required: np.ndarray
    expected: np.ndarray


def revenue_intervals(t: ArmSums, c: ArmSums, *, level: float = 0.95) -> RevenueIntervals:
    """Welch intervals of ``mean(t) − mean(c)`` for many campaigns at once, with the no-verdict rule applied."""
    mean_t, var_t = _mean_and_variance_of_mean(t)
    mean_c, var_c = _mean_and_variance_of_mean(c)
    difference = mean_t - mean_c
    var = var_t + var_c
    kt, kc = t.buyers, c.buyers
    with np.errstate(divide="ignore", invalid="ignore"):
        dof = var**2 / (var_t**2 / np.maximum(kt - 1, 1) + var_c**2 / np.maximum(kc - 1, 1))
        within = _log_squares(t) + _log_squares(c)
        spread = np.sqrt(within / (kt + kc - 2))
    dof = np.where(np.isfinite(dof), np.maximum(dof, 1.0), 1.0)
    half = student_t.ppf(0.5 + level / 2, dof) * np.sqrt(var)
    required = np.maximum(required_buyers(spread), BASE_BUYERS)
    expected = _expected_buyers(t, c)
    verdict = (expected >= required) & (np.minimum(kt, kc) >= 2)
    low = np.where(verdict, difference - half, np.nan)
    high = np.where(verdict, difference + half, np.nan)
    return RevenueIntervals(difference, low, high, verdict, spread, required, expected)


def _expected_buyers(t: ArmSums, c: ArmSums) -> np.ndarray:
    """Buyers the smaller arm has at the pooled conversion of both arms."""
    pooled = (t.buyers + c.buyers) / np.maximum(t.customers + c.customers, 1)
    return np.minimum(t.customers, c.customers) * pooled


def _mean_and_variance_of_mean(a: ArmSums) -> tuple[np.ndarray, np.ndarray]:
    n = np.maximum(a.customers, 1)
    mean = a.total / n
    var = np.maximum(a.total_sq - n * mean * mean, 0.0) / np.maximum(n - 1, 1)
    return mean, var / n


def _log_squares(a: ArmSums) -> np.ndarray:
    """Sum of squared deviations of log spend from the arm's own mean, over its buyers."""
    return np.maximum(a.log_total_sq - a.log_total**2 / np.maximum(a.buyers, 1), 0.0)


def mean_difference(treatment: np.ndarray, holdout: np.ndarray, *, level: float = 0.95) -> Estimate:
    """Difference of mean revenue per customer, with its Welch interval when the no-verdict rule allows one."""
    t = np.asarray(treatment, dtype=np.float64)
    c = np.asarray(holdout, dtype=np.float64)
    if t.size == 0 or c.size == 0:
        mt = float(t.mean()) if t.size else None
        mc = float(c.mean()) if c.size else None
        return Estimate(mt, mc, None, None, None, level, "welch-buyers")
    st, sc = ArmSums.of(t), ArmSums.of(c)
    r = revenue_intervals(st, sc, level=level)
    diff = float(r.difference[0])
    if bool(r.verdict[0]):
        return Estimate(float(t.mean()), float(c.mean()), diff, float(r.low[0]), float(r.high[0]), level,
                        "welch-buyers")  # fmt: skip
    kt, kc, required, expected = int(st.buyers[0]), int(sc.buyers[0]), int(r.required[0]), float(r.expected[0])
    reason = "few_buyers" if expected < BASE_BUYERS or min(kt, kc) < 2 else "uneven_spend"
    spread = float(r.spread[0]) if np.isfinite(r.spread[0]) else 0.0
    detail = {"buyers_treatment": kt, "buyers_holdout": kc, "expected": round(expected, 1), "required": required,
              "spread": round(spread, 3)}  # fmt: skip
    return Estimate(float(t.mean()), float(c.mean()), diff, None, None, level, "welch-buyers", reason,
                    detail)  # fmt: skip
