"""The contract non-renewal and win-back models beside purchase churn: training, backtest and scoring.

``kehu models train`` (:func:`kehu.publish.churn_train.train_churn`) fits three named models on the same
point-in-time snapshots, each with its own population and label (definitions in :mod:`kehu.models.churn` and
:mod:`kehu.pipeline.outcomes`):

==================  =====================================  ===========================================
model               population on a snapshot day           positive label
==================  =====================================  ===========================================
purchase churn      buyers with a purchase in the last     no purchase in the horizon
                    ``lapsed_days``
non-renewal         contract customers up for renewal      the contract is not renewed within the grace
                                                           period after its end
win-back            buyers lapsed beyond ``lapsed_days``   a purchase in the horizon
==================  =====================================  ===========================================

This module trains and backtests the last two (:func:`fit_kinds`, :func:`backtest_kinds`) and scores them
(:func:`score_kinds`). Their backtest baselines: for non-renewal, the number of renewals so far (fewer →
riskier) and days to the contract end; for win-back, BG/NBD's probability of at least one purchase in the
horizon given the history (fitted on each test day's buyers) and days since the last order (fewer → likelier).

Published keys (``scores`` JSON; missing means "not in the model's population", never another quantity):

- ``renewal_risk``, ``renewal_tier``, ``renewal_reasons``, ``renewal_probability`` (= 1 - ``renewal_risk``):
  contract customers up for renewal. A renewal in hand (:mod:`kehu.pipeline.renewals`) is not at risk:
  ``renewal_risk`` 0, tier ``low``, ``renewal_state`` ``renewed`` or ``draft``, no reasons.
- ``winback``, ``winback_value``: lapsed buyers: the probability of a purchase in the horizon and the value at
  stake, the customer's revenue per year while buying (total revenue / the years from the first purchase to the
  last, at least one), in currency units. ``winback_value * winback`` ranks the 待挽回 list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kehu.errors import ValidationError
from kehu.models.beta_geo import BetaGeo
from kehu.models.churn import CHURN_FEATURES, ChurnModel, renewal_eligible, winback_eligible
from kehu.models.evaluation import score_table
from kehu.models.propensity import PurchasePropensity
from kehu.models.reasons import reference_values
from kehu.publish.churn_data import Snapshot

__all__ = ["KindModels", "backtest_kinds", "fit_kinds", "score_kinds", "winback_value"]

#: a fitter: (model class, train snapshots, calibration snapshots, population, label, **extra) -> fitted model
Fitter = Callable[..., Any]
_DAYS_PER_YEAR = 365.25


@dataclass
class KindModels:
    """The fitted non-renewal and win-back models (``None`` with the reason when the data could not fit one)."""

    renewal: ChurnModel | None
    winback: PurchasePropensity | None
    skipped: dict[str, str]

    def to_document(self) -> dict[str, Any]:
        """The model file's entries for these models."""
        out: dict[str, Any] = {"skipped_models": dict(self.skipped)}
        if self.renewal is not None:
            out["renewal_model"] = self.renewal.to_dict()
        if self.winback is not None:
            out["winback_model"] = self.winback.to_dict()
        return out

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> KindModels:
        """The models stored in a model file."""
        renewal = ChurnModel.from_dict(document["renewal_model"]) if "renewal_model" in document else None
        winback = None
        if "winback_model" in document:
            model = PurchasePropensity.from_dict(document["winback_model"])
            assert isinstance(model, PurchasePropensity)
            winback = model
        return cls(renewal, winback, dict(document.get("skipped_models", {})))


def _renewal_mask(opts: Any) -> Callable[[Snapshot], np.ndarray]:
    def mask(s: Snapshot) -> np.ndarray:
        return renewal_eligible(s.columns["contract_days_to_end"], horizon_days=opts.horizon_days,
                                grace_days=opts.grace_days)  # fmt: skip

    return mask


def _winback_mask(opts: Any) -> Callable[[Snapshot], np.ndarray]:
    def mask(s: Snapshot) -> np.ndarray:
        c = s.columns
        return winback_eligible(c["orders"], c["days_since_last_order"], lapsed_days=opts.lapsed_days)

    return mask


def _try_fit(
    fit: Fitter,
    cls: type,
    train: Sequence[Snapshot],
    cal: Sequence[Snapshot],
    mask: Any,
    label: str,
    opts: Any,
    **extra: Any,
) -> tuple[Any, str | None]:
    """The fitted model, or ``None`` and why (a population without both outcomes in training or calibration)."""
    for what, snaps in (("training", train), ("calibration", cal)):
        y = np.concatenate([s.outcomes[label][mask(s)] for s in snaps]) if snaps else np.empty(0, dtype=bool)
        if y.size == 0 or y.all() or not y.any():
            return (
                None,
                f"{label}: the {what} snapshots hold {y.size} customers of this population, "
                f"{int(y.sum())} of them positive; both outcomes are needed",
            )
    try:
        return fit(cls, train, cal, mask, label, opts, **extra), None
    except ValidationError as exc:
        return None, str(exc)


def fit_kinds(fit: Fitter, train: Sequence[Snapshot], calibration: Sequence[Snapshot], opts: Any) -> KindModels:
    """Fit the non-renewal and win-back models on ``train`` (calibrated on ``calibration``)."""
    cutoffs = (opts.tier_high, opts.tier_medium)
    renewal, why_r = _try_fit(fit, ChurnModel, train, calibration, _renewal_mask(opts), "not_renewed", opts,
                              tier_cutoffs=cutoffs)  # fmt: skip
    winback, why_w = _try_fit(fit, PurchasePropensity, train, calibration, _winback_mask(opts),
                              "ordered_in_horizon", opts)  # fmt: skip
    skipped = {k: v for k, v in (("renewal", why_r), ("winback", why_w)) if v is not None}
    return KindModels(renewal, winback, skipped)


def _bgnbd_return(test: Snapshot, horizon_days: int) -> np.ndarray:
    """BG/NBD probability of at least one purchase in the next ``horizon_days`` given the history (1 - its
    :meth:`~kehu.models.beta_geo.BetaGeo.probability_no_purchase`), fitted on the test day's buyers (weeks); NaN
    for customers without purchases."""
    c = test.columns
    buyers = ~np.isnan(c["frequency"])
    out = np.full(len(test), np.nan)
    x, tx, T = c["frequency"][buyers], c["recency_weeks"][buyers], c["T_weeks"][buyers]
    model = BetaGeo().fit(x, tx, T)
    out[buyers] = 1.0 - model.probability_no_purchase(horizon_days / 7.0, x, tx, T)
    return out


def backtest_kinds(
    fit: Fitter, folds: Sequence[tuple[Sequence[Snapshot], Sequence[Snapshot], Snapshot]], opts: Any
) -> dict[str, Any]:
    """Rolling-origin backtest of both models on the folds' pooled test rows, next to their baselines.

    ``folds`` are (train, calibration, test) snapshots as for the purchase-churn backtest.
    """
    pooled: dict[str, dict[str, list[np.ndarray]]] = {"renewal": {}, "winback": {}}
    skipped: dict[str, str] = {}
    for train, cal, test in folds:
        models = fit_kinds(fit, train, cal, opts)
        skipped.update(models.skipped)
        c = test.columns
        if models.renewal is not None:
            m = _renewal_mask(opts)(test)
            p = pooled["renewal"]
            p.setdefault("y", []).append(test.outcomes["not_renewed"][m].astype(float))
            p.setdefault("model", []).append(models.renewal.risk(_X(test)[m]))
            p.setdefault("fewer_renewals", []).append(-np.nan_to_num(c["contract_renewals"][m]))
            p.setdefault("days_to_contract_end", []).append(-np.nan_to_num(c["contract_days_to_end"][m]))
        if models.winback is not None:
            m = _winback_mask(opts)(test)
            p = pooled["winback"]
            p.setdefault("y", []).append(test.outcomes["ordered_in_horizon"][m].astype(float))
            p.setdefault("model", []).append(models.winback.probability(_X(test)[m]))
            bg = _bgnbd_return(test, opts.horizon_days)[m]
            p.setdefault("bgnbd_p_purchase", []).append(np.where(np.isnan(bg), 0.0, bg))
            p.setdefault("fewer_days_since_last_order", []).append(-np.nan_to_num(c["days_since_last_order"][m]))
    out: dict[str, Any] = {}
    definitions = {
        "renewal": "contract customers up for renewal; positive = not renewed within the grace period",
        "winback": f"buyers lapsed more than {opts.lapsed_days} days; positive = a purchase within the horizon",
    }
    for kind, p in pooled.items():
        if kind in skipped or not p or sum(a.size for a in p["y"]) == 0:
            out[kind] = {"population": definitions[kind], "skipped": skipped.get(kind, "no test rows")}
            continue
        joined = {k: np.concatenate(v) for k, v in p.items()}
        y = joined.pop("y")
        probs = ("model", "bgnbd_p_purchase") if kind == "winback" else ("model",)
        table = score_table(y, joined, probabilities=probs)
        out[kind] = {"population": definitions[kind], "metrics": _clean(table)}
    return out


def _clean(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def clean(v: Any) -> Any:
        if isinstance(v, float) and not np.isfinite(v):
            return None
        if isinstance(v, list):
            return [{k: clean(x) for k, x in r.items()} for r in v]
        return v

    return [{k: clean(v) for k, v in r.items()} for r in rows]


def _X(snap: Snapshot) -> np.ndarray:
    return np.column_stack([snap.columns[f] for f in CHURN_FEATURES])


def winback_value(columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """Value at stake of a lapsed buyer: revenue per year while buying, in currency units (see the module
    docstring); NaN without revenue."""
    revenue = columns["total_revenue_cents"] / 100.0
    years = np.maximum(np.nan_to_num(columns["recency_days"]), _DAYS_PER_YEAR) / _DAYS_PER_YEAR
    return np.asarray(revenue / years)


def score_kinds(
    models: KindModels,
    ids: np.ndarray,
    columns: Mapping[str, np.ndarray],
    X: np.ndarray,
    in_hand: Mapping[int, str],
    opts: Any,
    *,
    reasons_for: Sequence[str] = ("high", "medium"),
) -> tuple[dict[int, dict[str, Any]], dict[str, Any]]:
    """Non-renewal and win-back scores of the customers ``ids`` (rows of ``X``; see the module docstring).

    ``in_hand`` maps customer id -> ``"renewed"`` / ``"draft"`` (:func:`kehu.pipeline.renewals.renewals_in_hand`).
    Returns the per-customer scores and a summary (customers, tiers, states).
    """
    scores: dict[int, dict[str, Any]] = {}
    summary: dict[str, Any] = {"renewal": {"scored": 0, "in_hand": 0, "tiers": {}}, "winback": {"scored": 0}}
    due = renewal_eligible(columns["contract_days_to_end"], horizon_days=opts.horizon_days,
                           grace_days=opts.grace_days)  # fmt: skip
    if models.renewal is not None and due.any():
        rows = np.flatnonzero(due)
        held = np.array([int(ids[i]) in in_hand for i in rows], dtype=bool)
        open_rows = rows[~held]
        risk = models.renewal.risk(X[open_rows]) if open_rows.size else np.empty(0)
        tiers = models.renewal.tier(risk) if open_rows.size else np.empty(0, dtype=object)
        explain = np.isin(tiers, list(reasons_for))
        reasons: dict[int, list[Any]] = {}
        if explain.any():
            reference = reference_values(X[open_rows], CHURN_FEATURES)  # "typical" = the median scored customer
            explained = models.renewal.reasons(X[open_rows[explain]], reference=reference)
            for i, rs in zip(open_rows[explain], explained, strict=True):
                reasons[int(i)] = [r.as_dict() for r in rs]
        for i, r, t in zip(open_rows.tolist(), risk.tolist(), tiers.tolist(), strict=True):
            scores[int(ids[i])] = {"renewal_risk": round(r, 6), "renewal_probability": round(1.0 - r, 6),
                                   "renewal_tier": t, "renewal_reasons": reasons.get(i, []),
                                   "renewal_state": "open"}  # fmt: skip
            summary["renewal"]["tiers"][t] = summary["renewal"]["tiers"].get(t, 0) + 1
        for i in rows[held].tolist():
            cid = int(ids[i])
            scores[cid] = {"renewal_risk": 0.0, "renewal_probability": 1.0, "renewal_tier": "low",
                           "renewal_reasons": [], "renewal_state": in_hand[cid]}  # fmt: skip
        summary["renewal"]["scored"] = int(rows.size)
        summary["renewal"]["in_hand"] = int(held.sum())
    lapsed = winback_eligible(columns["orders"], columns["days_since_last_order"], lapsed_days=opts.lapsed_days)
    if models.winback is not None and lapsed.any():
        rows = np.flatnonzero(lapsed)
        chance = models.winback.probability(X[rows])
        value = winback_value({k: columns[k][rows] for k in ("total_revenue_cents", "recency_days")})
        for i, p, v in zip(rows.tolist(), chance.tolist(), value.tolist(), strict=True):
            entry = scores.setdefault(int(ids[i]), {})
            entry["winback"] = round(p, 6)
            entry["winback_value"] = None if not np.isfinite(v) else round(v, 2)
        summary["winback"]["scored"] = int(rows.size)
    return scores, summary
