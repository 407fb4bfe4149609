"""Churn early warning, next-purchase propensity and cross-sell: options, model files, scoring, report.

Training is in :mod:`kehu.publish.churn_train` (``kehu models train``).

:func:`score_churn` (part of ``kehu run``, after the value models and before segmentation)
    Scores the published features of one day with the latest models and merges into the ``scores`` JSON:
    purchase churn (no purchase in the horizon) ``churn_risk``, ``churn_tier``, ``churn_reasons`` (for the high
    and medium tiers) for recent buyers (:func:`kehu.models.churn.churn_eligible`); contract non-renewal
    ``renewal_risk`` … and win-back ``winback``, ``winback_value`` for lapsed buyers (:mod:`kehu.publish.churn_kinds`);
    ``p_order_30d`` and ``next_categories``; and ``risk_days`` (``horizon``, ``grace``, ``lapsed``: the days the
    definitions name). A key a customer is not in the population of is published as null, so a re-scored day keeps
    no figure of an earlier model.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy import Engine

from kehu.config import Settings
from kehu.errors import NotFoundError, ValidationError
from kehu.models.churn import CHURN_FEATURES, ChurnModel, churn_eligible
from kehu.models.propensity import NextCategoryModel, PurchasePropensity
from kehu.models.reasons import reference_values
from kehu.publish.churn_data import category_matrix
from kehu.publish.churn_kinds import KindModels, score_kinds
from kehu.publish.run import Run

__all__ = [
    "ChurnOptions",
    "ChurnScoreResult",
    "LoadedModels",
    "churn_report",
    "latest_model_file",
    "load_model",
    "score_churn",
]

MODEL_FORMAT = 2
_PREFIX = "churn-"


@dataclass(frozen=True)
class ChurnOptions:
    """Settings of a training run (stored with the model).

    Attributes
    ----------
    horizon_days
        Churn = no purchase within this many days after the snapshot (default 90).
    short_days
        Next-purchase propensity horizon (default 30).
    grace_days
        Contract non-renewal = not renewed within this many days after the contract end.
    lapsed_days
        Buyers without a purchase for longer get a win-back figure instead of a purchase-churn risk.
    snapshots
        Snapshot days used to grow the trees.
    calibration_snapshots
        Snapshot days held out from the trees that calibrate the probabilities: those nearest to the scored
        day one year earlier (the same season) when the history reaches back that far, else the newest
        labelled ones.
    seasonal_calibration
        Set to False to always calibrate on the newest labelled days.
    test_snapshots
        Backtest: the newest labelled days pooled as the test period.
    step_days
        Days between snapshots.
    tier_high, tier_medium
        Lower bounds of the calibrated risk for the 高 and 中 tiers.
    calibration
        ``"isotonic"`` or ``"platt"``.
    max_rows
        Training rows are sampled down to this many (seeded) on large stores.
    seed
        Seed of LightGBM and of the sampling.
    """

    horizon_days: int = 90
    short_days: int = 30
    grace_days: int = 30
    lapsed_days: int = 180
    snapshots: int = 12
    calibration_snapshots: int = 3
    seasonal_calibration: bool = True
    test_snapshots: int = 3
    step_days: int = 30
    tier_high: float = 0.5
    tier_medium: float = 0.25
    calibration: str = "isotonic"
    max_rows: int = 500_000
    seed: int = 0

    def check(self) -> None:
        """Raise :class:`ValidationError` naming the first unusable option."""
        names = ("horizon_days", "short_days", "snapshots", "calibration_snapshots", "test_snapshots", "step_days")
        for name in (*names, "max_rows"):
            if getattr(self, name) < 1:
                raise ValidationError(f"{name}: must be at least 1, got {getattr(self, name)}")
        for name in ("grace_days", "lapsed_days"):
            if getattr(self, name) < 0:
                raise ValidationError(f"{name}: must not be negative, got {getattr(self, name)}")
        if not 0 <= self.tier_medium < self.tier_high <= 1:
            raise ValidationError(
                f"tier cut-offs: need 1 >= tier_high > tier_medium >= 0, got {self.tier_high} and {self.tier_medium}"
            )
        if self.calibration not in ("isotonic", "platt"):
            raise ValidationError(f"calibration: {self.calibration!r} is not one of isotonic, platt")


# -- model files --------------------------------------------------------------------------------------------------
def latest_model_file(settings: Settings) -> Path | None:
    """The newest ``KEHU_HOME/models/churn-<as_of>.json`` (by as_of), or ``None``."""
    folder = settings.home / "models"
    files = sorted(folder.glob(f"{_PREFIX}*.json")) if folder.is_dir() else []
    return files[-1] if files else None


@dataclass
class LoadedModels:
    """The models of one model file."""

    path: Path
    document: dict[str, Any]
    churn: ChurnModel
    propensity: PurchasePropensity
    cross_sell: NextCategoryModel | None
    kinds: KindModels


def load_model(settings: Settings, path: Path | None = None) -> LoadedModels:
    """Load the latest (or the given) churn model file.

    Raises
    ------
    NotFoundError
        When no model has been trained yet.
    """
    path = path or latest_model_file(settings)
    if path is None:
        raise NotFoundError("no churn model yet: run `kehu models train` first")
    document = json.loads(path.read_text(encoding="utf-8"))
    if document.get("format") != MODEL_FORMAT:
        raise ValidationError(f"{path}: model format {document.get('format')} is not {MODEL_FORMAT}; train again")
    churn = ChurnModel.from_dict(document["churn_model"])
    prop = PurchasePropensity.from_dict(document["propensity_model"])
    cross = None
    if "cross_sell_model" in document:
        cs = document["cross_sell_model"]
        cross = NextCategoryModel(categories=cs["categories"], **cs["params"])
        cross.transition_ = np.asarray(cs["transition"])
        cross.popularity_ = np.asarray(cs["popularity"])
        cross.n_customers_ = 0
    assert isinstance(prop, PurchasePropensity)
    return LoadedModels(path, document, churn, prop, cross, KindModels.from_document(document))


def churn_report(settings: Settings) -> dict[str, Any]:
    """The latest model's version, options, rows and backtest (``kehu models report``)."""
    loaded = load_model(settings)
    doc = loaded.document
    return {
        "model_file": str(loaded.path),
        "as_of": doc["as_of"],
        "data_end": doc["data_end"],
        "trained_at": doc["trained_at"],
        "options": doc["options"],
        "features": doc["features"],
        "snapshot_days": doc["snapshot_days"],
        "rows": doc["rows"],
        "trees": doc["churn_model"]["n_trees"],
        "params": doc["churn_model"]["params"],
        "importance": dict(sorted(doc["churn_model"]["importance"].items(), key=lambda kv: -kv[1])[:15]),
        "backtest": doc["backtest"],
        "skipped_models": doc.get("skipped_models", {}),
    }


# -- scoring ------------------------------------------------------------------------------------------------------
def _read_published(store: Engine, as_of: dt.date) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    from kehu.store.published import customer_score_history as h

    cols = [h.c.customer_id, *(h.c[f] for f in CHURN_FEATURES)]
    with store.connect() as conn:
        rows = conn.execute(sa.select(*cols).where(h.c.as_of == as_of).order_by(h.c.customer_id)).all()
    if not rows:
        raise NotFoundError(f"no features published for {as_of}: run `kehu run --as-of {as_of}` first")
    data = list(zip(*rows, strict=True))
    ids = np.asarray(data[0], dtype=np.int64)
    # NumPy makes None (a NULL) NaN in a float64 array
    columns = {f: np.array(data[i + 1], dtype=np.float64) for i, f in enumerate(CHURN_FEATURES)}
    return ids, columns


@dataclass
class ChurnScoreResult:
    """What :func:`score_churn` published."""

    as_of: dt.date
    model_file: Path
    customers: int
    scored: int
    tiers: dict[str, int]
    reasons: int
    seconds: float
    renewal: dict[str, Any]
    winback: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["as_of"] = self.as_of.isoformat()
        data["model_file"] = str(self.model_file)
        return data


def score_churn(
    run: Run,
    *,
    as_of: dt.date,
    reasons_for: Sequence[str] = ("high", "medium"),
) -> ChurnScoreResult:
    """Score the features published for ``as_of`` with the latest model and publish (see the module docstring).

    Parameters
    ----------
    run
        The run: its settings, its store engine (scores are written there) and, for cross-sell, its backend and
        extract cut at ``as_of``.
    as_of
        The published day to score.
    reasons_for
        The tiers whose customers get ``churn_reasons`` (SHAP is the expensive part).
    """
    from kehu.publish.scores import write_scores

    settings, store = run.settings, run.store
    started = time.perf_counter()
    loaded = load_model(settings)
    opts = ChurnOptions(**loaded.document["options"])
    ids, columns = _read_published(store, as_of)
    X = np.column_stack([columns[f] for f in CHURN_FEATURES])
    elig = churn_eligible(columns["orders"], columns["days_since_last_order"], lapsed_days=opts.lapsed_days)
    known = (np.nan_to_num(columns["orders"]) > 0) | ~np.isnan(columns["contract_days_to_end"])
    # the days the definitions name (the page states them with each figure)
    days = {"horizon": opts.horizon_days, "grace": opts.grace_days, "lapsed": opts.lapsed_days}
    scores: dict[int, dict[str, Any]] = {int(c): {**dict.fromkeys(_KINDS_KEYS), "risk_days": days} for c in ids[known]}
    tiers_count = {"high": 0, "medium": 0, "low": 0}
    n_reasons = 0
    in_hand = _renewals_in_hand(run, as_of)
    if elig.any():
        Xe = X[elig]
        # a renewal in hand runs the contract on: the purchase model sees its end, not the current one's (the
        # published features keep the signed contracts; the contract reasons are then not this customer's)
        Xp, extended = _with_renewals(Xe, ids[elig], in_hand, as_of)
        risk = loaded.churn.risk(Xp)
        tiers = loaded.churn.tier(risk)
        explain = np.isin(tiers, list(reasons_for))
        reason_lists: list[list[Any]] = [[] for _ in range(Xe.shape[0])]
        if explain.any():
            reference = reference_values(Xe, CHURN_FEATURES)  # "typical" = the median scored customer
            explained = loaded.churn.reasons(Xp[explain], reference=reference)
            for i, rs in zip(np.flatnonzero(explain), explained, strict=True):
                kept = [r for r in rs if not (extended[i] and r.code in _CONTRACT_REASONS)]
                reason_lists[i] = [r.as_dict() for r in kept]
                n_reasons += 1
        for cid, r, t, rs in zip(ids[elig].tolist(), risk.tolist(), tiers.tolist(), reason_lists, strict=True):
            scores[cid].update(churn_risk=round(r, 6), churn_tier=t, churn_reasons=rs)
            tiers_count[t] += 1
    states = {cid: state for cid, (state, _end) in in_hand.items()}
    kinds, kind_summary = score_kinds(loaded.kinds, ids, columns, X, states, opts, reasons_for=reasons_for)
    for cid, values in kinds.items():
        scores.setdefault(cid, {**dict.fromkeys(_KINDS_KEYS), "risk_days": days}).update(values)
    if known.any():
        p = loaded.propensity.probability(X[known])
        for cid, v in zip(ids[known].tolist(), p.tolist(), strict=True):
            scores[cid]["p_order_30d"] = round(v, 6)
        if loaded.cross_sell is not None:
            names = loaded.cross_sell.top_k_names(_category_history(run, as_of, ids[known], loaded), 3)
            for cid, top in zip(ids[known].tolist(), names, strict=True):
                scores[cid]["next_categories"] = top
    with store.begin() as conn:
        write_scores(conn, as_of, scores)
    return ChurnScoreResult(
        as_of=as_of,
        model_file=loaded.path,
        customers=int(ids.size),
        scored=int(elig.sum()),
        tiers=tiers_count,
        reasons=n_reasons,
        seconds=time.perf_counter() - started,
        renewal=kind_summary["renewal"],
        winback=kind_summary["winback"],
    )


#: the keys of the three named scores: each customer's are rewritten whole on every scoring
_KINDS_KEYS = (
    "churn_risk", "churn_tier", "churn_reasons",
    "renewal_risk", "renewal_probability", "renewal_tier", "renewal_reasons", "renewal_state",
    "winback", "winback_value",
)  # fmt: skip


#: the contract group's reason codes (kehu.models.reasons), not shown where a renewal in hand runs the contract on
_CONTRACT_REASONS = frozenset({"contract_ends_today", "contract_ending", "contract_ended"})


def _renewals_in_hand(run: Run, as_of: dt.date) -> dict[int, tuple[str, dt.date | None]]:
    """Customer id -> (``renewed`` / ``draft``, the draft renewal's end or None) for the renewals in hand on
    ``as_of`` (the run's extract, cut there)."""
    from kehu.engine.backends import to_arrow
    from kehu.pipeline.renewals import renewals_in_hand

    table = to_arrow(run.backend, renewals_in_hand(run.tables_as_of(as_of)["contracts"], as_of))
    cols = [table.column(n).to_pylist() for n in ("customer_id", "renewal_state", "renewal_end")]
    return {int(c): (str(s), e) for c, s, e in zip(*cols, strict=True)}


def _with_renewals(
    X: np.ndarray, ids: np.ndarray, in_hand: dict[int, tuple[str, dt.date | None]], as_of: dt.date
) -> tuple[np.ndarray, np.ndarray]:
    """``X`` with ``contract_days_to_end`` counted to the end of a draft renewal in hand, and which rows changed."""
    col = CHURN_FEATURES.index("contract_days_to_end")
    out = X.copy()
    extended = np.zeros(X.shape[0], dtype=bool)
    for i, cid in enumerate(ids.tolist()):
        _state, end = in_hand.get(int(cid), ("", None))
        if end is not None:
            day = end if isinstance(end, dt.date) else dt.date.fromisoformat(str(end))
            out[i, col] = float((day - as_of).days)
            extended[i] = True
    return out, extended


def _category_history(run: Run, as_of: dt.date, ids: np.ndarray, loaded: LoadedModels) -> np.ndarray:
    """The recency-weighted category history of ``ids`` as of ``as_of``, from the run's extract (cut there)."""
    from kehu.engine.backends import to_arrow
    from kehu.pipeline.outcomes import category_history

    assert loaded.cross_sell is not None
    history = to_arrow(run.backend, category_history(run.tables_as_of(as_of)["orders"], as_of))
    return category_matrix(ids, history, list(loaded.cross_sell.categories), "weight")
