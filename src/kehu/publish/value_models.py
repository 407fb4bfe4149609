"""Value models on the published features: fit, score every customer, publish the scores, version the fit.

:func:`score_value_models` reads the features the analytics pipeline published for one ``as_of``
(``customer_score_history``), fits a purchase model (BG/NBD by default, Pareto/NBD or MBG/NBD:
``KEHU_PURCHASE_MODEL``) and the Gamma-Gamma spend model, and for contract customers an sBG retention model on
yearly contract cohorts, then merges per customer into the ``scores`` JSON (of that day's history row and,
when it is the latest day, of ``customer_scores``):

==========================  =====================================================================
``p_alive``                 probability the customer is still active (purchase model)
``expected_purchases_90d``  expected purchase days in the next 90 days, given the history
``expected_purchases_365d`` the same over 365 days
``expected_order_value``    Gamma-Gamma expected value of a purchase day, in currency units
``clv_12m``                 12-month discounted margin (currency units) with ``clv_12m_lower`` and
                            ``clv_12m_upper``: a central interval from parameter uncertainty
``cohort_renewal_rate``     contract customers: the sBG renewal rate of their contract cohort at their next
                            anniversary, the cohort's baseline (the customer's own renewal probability is
                            the non-renewal model's, :mod:`kehu.publish.churn_kinds`)
``expected_residual_years`` contract customers: discounted expected number of further paid years
==========================  =====================================================================

A purchase or spend fit that did not converge (a parameter at the edge of its range, a singular Hessian,
a standard error that is not a number: :mod:`kehu.models._convergence`) publishes nothing: the
error names the model and the cause.

The fitted parameters, their standard errors, log-likelihoods, AIC/BIC and the settings used are written to
``KEHU_HOME/models/value-<as_of>.json``, one file per ``as_of`` (the model version).

:func:`kehu.publish.value_report.write_models_report` writes the purchase-model diagnostics
(``kehu report models``).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from kehu.config import Settings
from kehu.errors import StoreError, ValidationError
from kehu.models import BetaGeo, GammaGamma, ModifiedBetaGeo, ParetoNBD, ShiftedBetaGeo, customer_lifetime_value
from kehu.publish.scores import write_scores
from kehu.store.published import customer_score_history, customer_scores
from kehu.store.schema import contracts

__all__ = [
    "PURCHASE_MODELS",
    "PURCHASE_MODEL_LABELS",
    "UNIT_DAYS",
    "ValueModelResult",
    "contract_cohorts",
    "score_value_models",
]

#: time unit name -> days
UNIT_DAYS = {"weeks": 7.0, "days": 1.0}
#: setting value -> purchase model
PURCHASE_MODELS: dict[str, type[BetaGeo] | type[ParetoNBD]] = {
    "bgnbd": BetaGeo,
    "pareto_nbd": ParetoNBD,
    "mbgnbd": ModifiedBetaGeo,
}
#: setting value -> the model's name in the literature
PURCHASE_MODEL_LABELS = {"bgnbd": "BG/NBD", "pareto_nbd": "Pareto/NBD", "mbgnbd": "MBG/NBD"}
_DAYS_PER_YEAR = 365.25
_DAYS_PER_MONTH = _DAYS_PER_YEAR / 12
#: a contract year counts as completed up to this many days early (terms end the day before the anniversary)
_GRACE_DAYS = 14


@dataclass(frozen=True)
class ValueModelResult:
    """What :func:`score_value_models` fitted and published.

    Attributes
    ----------
    as_of
        The day of the published features that were scored.
    unit
        Time unit of the purchase model (``"weeks"`` or ``"days"``).
    purchase_model
        ``"bgnbd"``, ``"pareto_nbd"`` or ``"mbgnbd"``.
    customers
        Customers that received purchase-model scores (those with at least one purchase).
    repeat_customers
        Customers with repeat purchases (the Gamma-Gamma fit).
    contract_customers
        Customers with an active contract that received the sBG outlook.
    models
        Model name -> ``params``, ``standard_errors``, ``log_likelihood``, ``aic``, ``bic``,
        ``n_customers`` (and ``cohorts`` for the retention model).
    model_file
        The JSON file with the fit (``KEHU_HOME/models/value-<as_of>.json``).
    seconds
        Wall seconds.
    """

    as_of: dt.date
    unit: str
    purchase_model: str
    customers: int
    repeat_customers: int
    contract_customers: int
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    model_file: Path = Path()
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "as_of": self.as_of.isoformat(),
            "unit": self.unit,
            "purchase_model": self.purchase_model,
            "customers": self.customers,
            "repeat_customers": self.repeat_customers,
            "contract_customers": self.contract_customers,
            "models": self.models,
            "model_file": str(self.model_file),
            "seconds": self.seconds,
        }


def _model_record(model: BetaGeo | ParetoNBD | GammaGamma | ShiftedBetaGeo) -> dict[str, Any]:
    try:
        errors = model.standard_errors_
    except ValidationError:
        errors = {}
    return {
        "params": dict(model.params_),
        "standard_errors": {k: (None if not np.isfinite(v) else v) for k, v in errors.items()},
        "log_likelihood": model.log_likelihood_,
        "aic": model.aic_,
        "bic": model.bic_,
        "n_customers": int(getattr(model, "n_customers_", 0)),
        "converged": bool(getattr(model, "converged_", True)),
        "convergence_reason": getattr(model, "convergence_reason_", None),
    }


def _check_converged(label: str, model: BetaGeo | ParetoNBD | GammaGamma) -> None:
    """Refuse to publish from a fit that did not converge, naming the model and the cause."""
    if not model.converged_:
        raise ValidationError(
            f"the {label} fit did not converge, so no value scores were published: {model.convergence_reason_}"
        )


def _check_choice(name: str, value: str, allowed: Any) -> None:
    if value not in allowed:
        raise ValidationError(f"{name}: {value!r} is not one of {', '.join(sorted(allowed))}")


def _resolve_as_of(conn: Connection, as_of: dt.date | None) -> dt.date:
    if as_of is None:
        newest = conn.execute(sa.select(sa.func.max(customer_scores.c.as_of))).scalar()
        if newest is None:
            raise StoreError("no published features yet: run `kehu run` before fitting the value models")
        return newest if isinstance(newest, dt.date) else dt.date.fromisoformat(str(newest))
    found = conn.execute(
        sa.select(sa.func.count()).select_from(customer_score_history).where(customer_score_history.c.as_of == as_of)
    ).scalar_one()
    if not found:
        raise StoreError(f"no features published for as_of {as_of.isoformat()}: run `kehu run --as-of {as_of}` first")
    return as_of


def _read_features(conn: Connection, as_of: dt.date, unit: str) -> dict[str, np.ndarray]:
    h = customer_score_history.c
    rec, age = (h.recency_weeks, h.T_weeks) if unit == "weeks" else (h.recency_days, h.T_days)
    rows = conn.execute(
        sa.select(h.customer_id, h.frequency, rec, age, h.monetary_value_cents)
        .where(h.as_of == as_of)
        .order_by(h.customer_id)
    ).all()
    cols = list(zip(*rows, strict=True)) if rows else [(), (), (), (), ()]
    ids = np.asarray(cols[0], dtype=np.int64)
    # NumPy makes None (a NULL) NaN in a float64 array
    freq, recency, T, money = (np.array(col, dtype=np.float64) for col in cols[1:])
    return {"customer_id": ids, "frequency": freq, "recency": recency, "T": T, "monetary_cents": money}


def contract_cohorts(
    rows: list[tuple[int, dt.date, dt.date]], as_of: dt.date
) -> tuple[dict[int, list[int]], dict[int, int]]:
    """Yearly contract cohorts' survivor counts, and the renewals made by each customer under contract.

    A customer's contract relationship starts with their first contract's start day and lasts to the end
    of their last contract; it is active when a contract covers ``as_of``. Customers are grouped by the
    calendar year of the start; a cohort is observed for the number of whole years its latest member
    has been observable, and ``n_t`` counts the members whose relationship lasted at least ``t`` years
    (a term ending up to two weeks before the anniversary counts as a full year).

    Parameters
    ----------
    rows
        ``(customer_id, start_date, end_date)`` of every non-draft contract started by ``as_of``.
    as_of
        The day of observation.

    Returns
    -------
    cohorts, renewals
        Start year -> survivor counts ``[n_0, ..., n_T]`` (cohorts observed at least one year), and
        customer id -> completed contract years, for the customers with an active contract.
    """
    start: dict[int, dt.date] = {}
    end: dict[int, dt.date] = {}
    active: set[int] = set()
    for cid, s, e in rows:
        if s > as_of:
            continue
        start[cid] = min(s, start.get(cid, s))
        end[cid] = max(e, end.get(cid, e))
        if s <= as_of <= e:
            active.add(cid)
    members: dict[int, list[tuple[int, int]]] = {}
    renewals: dict[int, int] = {}
    for cid, s in start.items():
        observed = int(((as_of - s).days + 1 + _GRACE_DAYS) // _DAYS_PER_YEAR)
        if cid in active:
            lasted = 10**9
            renewals[cid] = observed
        else:
            lasted = int(((end[cid] - s).days + 1 + _GRACE_DAYS) // _DAYS_PER_YEAR)
        members.setdefault(s.year, []).append((observed, lasted))
    cohorts: dict[int, list[int]] = {}
    for year, group in sorted(members.items()):
        horizon = min(observed for observed, _ in group)
        if horizon < 1:
            continue
        years = np.array([min(years, horizon) for _, years in group])
        cohorts[year] = [int((years >= t).sum()) for t in range(horizon + 1)]
    return cohorts, renewals


def _fit_retention(
    conn: Connection, as_of: dt.date, discount_rate: float
) -> tuple[dict[int, dict[str, float]], dict[str, Any] | None]:
    c = contracts.c
    rows = conn.execute(
        sa.select(c.customer_id, c.start_date, c.end_date).where(sa.func.lower(c.status) != "draft")
    ).all()
    cohorts, renewals = contract_cohorts([(int(r[0]), r[1], r[2]) for r in rows], as_of)
    churned = sum(n[0] - n[-1] for n in cohorts.values())
    if not cohorts or not renewals or churned == 0:
        return {}, None
    model = ShiftedBetaGeo().fit(list(cohorts.values()))
    ids = np.fromiter(renewals, dtype=np.int64, count=len(renewals))
    made = np.fromiter(renewals.values(), dtype=np.float64, count=len(renewals))
    rate = model.retention_rate(made + 1.0)
    residual = model.discounted_expected_residual_lifetime(made, discount_rate)
    scores = {
        int(cid): {"cohort_renewal_rate": float(p), "expected_residual_years": float(y)}
        for cid, p, y in zip(ids, np.round(rate, 6), np.round(residual, 4), strict=True)
    }
    record = _model_record(model) | {
        "cohorts": {str(y): n for y, n in cohorts.items()},
        "at_bound": model.at_bound_,
    }
    return scores, record


def score_value_models(
    settings: Settings,
    engine: Engine,
    *,
    as_of: dt.date | None = None,
    unit: str = "weeks",
    purchase_model: str = "bgnbd",
    margin: float = 1.0,
    annual_discount_rate: float = 0.10,
    clv_months: int = 12,
    interval_level: float = 0.9,
    interval_draws: int = 100,
    seed: int = 0,
) -> ValueModelResult:
    """Fit the value models on published features and publish per-customer scores.

    Parameters
    ----------
    settings
        Kehu settings (``home`` receives ``models/value-<as_of>.json``).
    engine
        The app store.
    as_of
        Score the features published for this day; default the latest published day.
    unit
        Time unit of the purchase model: ``"weeks"`` (the literature's) or ``"days"``.
    purchase_model
        ``"bgnbd"`` (BG/NBD), ``"pareto_nbd"`` (Pareto/NBD) or ``"mbgnbd"`` (MBG/NBD: one-time buyers can
        have dropped out).
    margin
        Share of revenue that is profit, in (0, 1]; 1 publishes revenue CLV.
    annual_discount_rate
        Discount rate per year for CLV (applied monthly) and for the contract residual lifetime.
    clv_months
        CLV horizon in months (the published key stays ``clv_12m`` only for 12).
    interval_level
        Coverage of the CLV interval.
    interval_draws
        Parameter draws behind the CLV interval.
    seed
        Seed of those draws (scores are reproducible).

    Returns
    -------
    ValueModelResult

    Raises
    ------
    StoreError
        When nothing (or nothing for ``as_of``) has been published yet.
    ValidationError
        For unusable settings, or data the models cannot be fitted on (e.g. no repeat customers), or when
        the purchase or spend fit did not converge (the message says why).
    """
    started = time.perf_counter()
    _check_choice("unit", unit, UNIT_DAYS)
    _check_choice("purchase_model", purchase_model, PURCHASE_MODELS)
    if not annual_discount_rate > 0:
        raise ValidationError(f"annual_discount_rate: must be > 0, got {annual_discount_rate!r}")
    if not 0 < margin <= 1:
        raise ValidationError(f"margin: must be in (0, 1], got {margin!r}")
    if not 0 < interval_level < 1:
        raise ValidationError(f"interval_level: must be between 0 and 1, got {interval_level!r}")
    if interval_draws < 2:
        raise ValidationError(f"interval_draws: must be at least 2, got {interval_draws!r}")
    unit_days = UNIT_DAYS[unit]
    with engine.connect() as conn:
        day = _resolve_as_of(conn, as_of)
        data = _read_features(conn, day, unit)
    buyers = ~np.isnan(data["frequency"])
    ids = data["customer_id"][buyers]
    if len(ids) == 0:
        raise ValidationError(f"no customer has a purchase on or before {day.isoformat()}: nothing to fit")
    x, tx, T = data["frequency"][buyers], data["recency"][buyers], data["T"][buyers]
    money = data["monetary_cents"][buyers] / 100.0
    spender = (x > 0) & (money > 0)

    purchase = PURCHASE_MODELS[purchase_model]().fit(x, tx, T)
    _check_converged(PURCHASE_MODEL_LABELS[purchase_model], purchase)
    spend = GammaGamma().fit(x[spender], money[spender])
    _check_converged("Gamma-Gamma", spend)
    # repeaters without positive spend (only free or refunded repeats) are valued at the population mean
    population_mean = float(spend.expected_average_value([0.0], [0.0])[0])
    m = np.where(spender, money, np.where(x > 0, population_mean, 0.0))
    clv_args = (purchase, spend, x, tx, T, m)
    clv_kwargs: dict[str, Any] = {
        "months": clv_months,
        "periods_per_month": _DAYS_PER_MONTH / unit_days,
        "discount_rate": annual_discount_rate,
        "margin": margin,
    }
    try:
        clv = customer_lifetime_value(*clv_args, **clv_kwargs, level=interval_level, n_draws=interval_draws, seed=seed)
    except ValidationError:  # singular information matrix: publish the point values only
        clv = customer_lifetime_value(*clv_args, **clv_kwargs)
    alive = purchase.probability_alive(x, tx, T)
    e90 = purchase.expected_purchases(90.0 / unit_days, x, tx, T)
    e365 = purchase.expected_purchases(365.0 / unit_days, x, tx, T)

    scores: dict[int, dict[str, float | None]] = {}
    cols = {
        "p_alive": np.round(alive, 6),
        "expected_purchases_90d": np.round(e90, 6),
        "expected_purchases_365d": np.round(e365, 6),
        "expected_order_value": np.round(clv.expected_average_value, 2),
        "clv_12m": np.round(clv.value, 2),
    }
    if clv.lower is not None and clv.upper is not None:
        cols["clv_12m_lower"] = np.round(clv.lower, 2)
        cols["clv_12m_upper"] = np.round(clv.upper, 2)
    names = list(cols)
    for cid, *vals in zip(ids.tolist(), *(cols[n].tolist() for n in names), strict=True):
        # a model value that is not a number (e.g. 0 * inf for a customer with P(alive) = 0) is published as
        # missing: JSON has no NaN, and PostgreSQL refuses it
        scores[cid] = {n: (v if v == v and abs(v) != float("inf") else None) for n, v in zip(names, vals, strict=True)}

    models = {purchase_model: _model_record(purchase), "gamma_gamma": _model_record(spend)}
    with engine.begin() as conn:
        retention, record = _fit_retention(conn, day, annual_discount_rate)
        for cid, values in retention.items():
            scores.setdefault(cid, {}).update(values)
        if record is not None:
            models["shifted_beta_geo"] = record
        write_scores(conn, day, scores)

    model_file = settings.home / "models" / f"value-{day.isoformat()}.json"
    model_file.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "as_of": day.isoformat(),
        "fitted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "unit": unit,
        "purchase_model": purchase_model,
        "settings": {
            "margin": margin,
            "annual_discount_rate": annual_discount_rate,
            "clv_months": clv_months,
            "interval_level": interval_level,
            "interval_draws": interval_draws,
            "seed": seed,
        },
        "customers": len(ids),
        "repeat_customers": int(spender.sum()),
        "models": models,
    }
    model_file.write_text(json.dumps(document, indent=2, sort_keys=False), encoding="utf-8")
    return ValueModelResult(
        as_of=day,
        unit=unit,
        purchase_model=purchase_model,
        customers=len(ids),
        repeat_customers=int(spender.sum()),
        contract_customers=len(retention),
        models=models,
        model_file=model_file,
        seconds=time.perf_counter() - started,
    )
