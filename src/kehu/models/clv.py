"""Customer lifetime value over a finite horizon: a purchase model times a spend model, discounted monthly.

``CLV_i = margin * E[value_i] * sum_{m=1..M} (E[X_i(m)] - E[X_i(m-1)]) / (1 + d)^m``, where ``E[X_i(m)]``
is the purchase model's conditional expected number of purchases within ``m`` months (converted to the
model's time unit with ``periods_per_month``), ``E[value_i]`` the spend model's expected average
transaction value and ``d`` the monthly rate equivalent to the annual ``discount_rate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kehu.errors import ValidationError
from kehu.models._base import FloatArray, IntArray, compress_rows, validate_rfm
from kehu.models.beta_geo import BetaGeo
from kehu.models.gamma_gamma import GammaGamma, _validate
from kehu.models.pareto_nbd import ParetoNBD

__all__ = ["CLVResult", "customer_lifetime_value"]

WEEKS_PER_MONTH = 365.25 / 12 / 7
_CHUNK = 65_536


@dataclass(frozen=True)
class CLVResult:
    """Per-customer CLV with its ingredients and, when asked for, an interval from parameter draws."""

    value: FloatArray
    expected_purchases: FloatArray
    expected_average_value: FloatArray
    lower: FloatArray | None = None
    upper: FloatArray | None = None


def _discounted_purchases(
    model: BetaGeo | ParetoNBD,
    theta: FloatArray,
    horizons: FloatArray,
    factors: FloatArray,
    rows: tuple[FloatArray, FloatArray, FloatArray],
    pairs: tuple[FloatArray, FloatArray, IntArray],
) -> tuple[FloatArray, FloatArray]:
    """Discounted and undiscounted expected purchases over the horizon, per customer.

    Both purchase models factor the conditional expectation as ``P(alive) * g(t; x, T)``, so the path
    ``g`` and its discounted increments are computed once per distinct (frequency, T) pair and P(alive)
    once per customer.
    """
    ux, uT, pair = pairs
    path = model._path_factor(theta, horizons, ux, uT)
    increments = np.diff(path, axis=0, prepend=0.0)
    alive = model._p_alive(theta, *rows)
    return alive * (factors @ increments)[pair], alive * path[-1][pair]


def customer_lifetime_value(
    purchase_model: BetaGeo | ParetoNBD,
    spend_model: GammaGamma,
    frequency: Any,
    recency: Any,
    T: Any,
    monetary_value: Any,
    *,
    months: int = 12,
    periods_per_month: float = WEEKS_PER_MONTH,
    discount_rate: float = 0.10,
    margin: float = 1.0,
    level: float | None = None,
    n_draws: int = 200,
    seed: int | None = 0,
) -> CLVResult:
    """Expected discounted margin per customer over the next ``months`` months.

    Parameters
    ----------
    purchase_model
        A fitted :class:`BetaGeo` or :class:`ParetoNBD`.
    spend_model
        A fitted :class:`GammaGamma`.
    frequency, recency, T, monetary_value
        Customer summaries in the purchase model's time unit.
    months
        Horizon in months.
    periods_per_month
        Model time units per month (weeks by default; 30.4375 for days).
    discount_rate
        Annual discount rate; cash flows are discounted monthly at the equivalent rate.
    margin
        Share of revenue that is profit (1.0 = revenue CLV).
    level
        If given, also return a central interval of this coverage that reflects the uncertainty of both
        models' parameters (``n_draws`` draws from their asymptotic distributions).
    n_draws
        Number of parameter draws for the interval.
    seed
        Random seed of the draws.

    Returns
    -------
    CLVResult
        ``value`` (CLV), ``expected_purchases`` (undiscounted, over the horizon), ``expected_average_value``
        and optional ``lower`` / ``upper``.
    """
    if not isinstance(months, int | np.integer) or months < 1:
        raise ValidationError(f"months: must be a whole number >= 1, got {months!r}")
    if not periods_per_month > 0:
        raise ValidationError(f"periods_per_month: must be > 0, got {periods_per_month!r}")
    if not discount_rate > -1:
        raise ValidationError(f"discount_rate: must be > -1, got {discount_rate!r}")
    if not 0 < margin <= 1:
        raise ValidationError(f"margin: must be in (0, 1], got {margin!r}")
    x, tx, age = validate_rfm(frequency, recency, T)
    x2, m = _validate(frequency, monetary_value)
    purchase_theta = purchase_model._theta
    spend_model._check_q()
    spend_theta = spend_model._theta

    monthly = (1.0 + discount_rate) ** (1.0 / 12.0) - 1.0
    steps = np.arange(1, months + 1, dtype=np.float64)
    horizons = steps * periods_per_month
    factors = (1.0 + monthly) ** -steps
    rows = (x, tx, age)
    (ux, uT), _, pair = compress_rows([x, age], np.ones(len(x)))
    pairs = (ux, uT, pair)

    disc, total = _discounted_purchases(purchase_model, purchase_theta, horizons, factors, rows, pairs)
    spend = GammaGamma._expected(spend_theta, x2, m)
    value = margin * spend * disc
    if level is None:
        return CLVResult(value=value, expected_purchases=total, expected_average_value=spend)

    if not 0 < level < 1:
        raise ValidationError(f"level: must be between 0 and 1, got {level!r}")
    p_draws = purchase_model.sample_params(n_draws, seed)
    s_draws = spend_model.sample_params(n_draws, None if seed is None else seed + 1)
    s_draws = s_draws[s_draws[:, 1] > 1]
    k = min(len(p_draws), len(s_draws))
    tail = (1 - level) / 2
    lower, upper = np.empty(len(x)), np.empty(len(x))
    # customers in chunks, so the draws x customers matrix stays small at any number of customers
    for lo in range(0, len(x), _CHUNK):
        part = slice(lo, lo + _CHUNK)
        c_rows = (x[part], tx[part], age[part])
        (cx, cT), _, c_pair = compress_rows([x[part], age[part]], np.ones(len(c_rows[0])))
        sims = np.empty((k, len(c_rows[0])))
        for i in range(k):
            d_i, _ = _discounted_purchases(purchase_model, p_draws[i], horizons, factors, c_rows, (cx, cT, c_pair))
            sims[i] = margin * GammaGamma._expected(s_draws[i], x2[part], m[part]) * d_i
        lower[part], upper[part] = np.quantile(sims, [tail, 1 - tail], axis=0)
    return CLVResult(
        value=value,
        expected_purchases=total,
        expected_average_value=spend,
        lower=lower,
        upper=upper,
    )
