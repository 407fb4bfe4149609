"""Churn, propensity and cross-sell training: point-in-time snapshots, rolling-origin backtest, model file.

:func:`train_churn` (``kehu models train``)
    Builds point-in-time snapshots (:mod:`kehu.publish.churn_data`) on a grid of days ``step_days`` apart,
    ending ``horizon_days + grace_days`` before the latest order (so every label is observed). Three named
    models learn from them: purchase churn (recent buyers; no purchase in the horizon), contract non-renewal and
    win-back (:mod:`kehu.publish.churn_kinds`). It then

    1. backtests with a rolling origin: each of the newest ``test_snapshots`` labelled days (the test
       period) is scored by a model that knows only the labels observed by that day: trees on earlier
       snapshots, calibration on held-out snapshots of the same season a year before (purchase seasons
       move churn rates; see :class:`ChurnOptions`). The pooled test rows are scored next to four baselines
       (days since the last order; BG/NBD's and Pareto/NBD's probability of no purchase within the horizon
       given the history, fitted on each test day's features; logistic regression on R, F, M fitted on the
       fold's training rows), and the report states the model's lead over the best of them (``lead``; how
       each baseline's fit went is in ``baseline_fits``). The split is *strict*; with too little
       history (e.g. CDNOW with a 39-week horizon) label windows may overlap the test day and the report
       says ``"split": "overlapping"``;
    2. backtests the non-renewal and win-back models on the same folds (``backtest.renewal`` and
       ``backtest.winback``, each next to its baselines);
    3. measures next-purchase propensity and cross-sell hit rate@3 against popularity the same way;
    4. analyses where purchase churn concentrates (lifecycle stage, tenure month, months since contract end);
    5. fits the production models on the newest snapshots and writes everything to
       ``KEHU_HOME/models/churn-<as_of>.json`` (as_of = latest labelled day): options, features, model
       parameters, the LightGBM boosters, calibration maps, metrics.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kehu.config import Settings
from kehu.errors import ValidationError
from kehu.models.beta_geo import BetaGeo
from kehu.models.boosted import import_sklearn
from kehu.models.churn import CHURN_FEATURES, ChurnModel, assign_tiers, churn_eligible
from kehu.models.evaluation import capture_at, score_table
from kehu.models.pareto_nbd import ParetoNBD
from kehu.models.propensity import NextCategoryModel, PurchasePropensity, hit_rate_at_k, popularity_top_k
from kehu.publish.churn import _PREFIX, MODEL_FORMAT, ChurnOptions
from kehu.publish.churn_data import Snapshot, build_snapshots, category_matrix, data_end
from kehu.publish.churn_kinds import backtest_kinds, fit_kinds
from kehu.publish.run import Run, cut_tables

__all__ = ["ChurnTrainResult", "train_churn"]


# -- rows ---------------------------------------------------------------------------------------------------------
def _X(snap: Snapshot) -> np.ndarray:
    return np.column_stack([snap.columns[f] for f in CHURN_FEATURES])


def _eligible(snap: Snapshot, opts: ChurnOptions) -> np.ndarray:
    c = snap.columns
    return churn_eligible(c["orders"], c["days_since_last_order"], lapsed_days=opts.lapsed_days)


def _known(snap: Snapshot) -> np.ndarray:
    """Propensity population: customers with a purchase or a contract."""
    c = snap.columns
    return np.asarray((np.nan_to_num(c["orders"]) > 0) | ~np.isnan(c["contract_days_to_end"]))


def _stack(
    snaps: Sequence[Snapshot], mask_of: Any, label: str, *, max_rows: int | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The rows ``mask_of`` keeps in every snapshot, stacked; with ``max_rows``, a seeded sample of them.

    The sample is drawn over the stacked row numbers but only the drawn rows are ever copied, so a large store's
    training set never exists whole (the same rows as sampling the stack: one draw over the same total).
    """
    rows = [np.flatnonzero(mask_of(s)) for s in snaps]
    total = sum(r.size for r in rows)
    if max_rows is not None and total > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(total, max_rows, replace=False))
        starts = np.cumsum([0] + [r.size for r in rows])
        bounds = zip(rows, starts[:-1], starts[1:], strict=True)
        rows = [r[keep[(keep >= lo) & (keep < hi)] - lo] for r, lo, hi in bounds]
    xs = [np.column_stack([s.columns[f][r] for f in CHURN_FEATURES]) for s, r in zip(snaps, rows, strict=True)]
    ys = [s.outcomes[label][r].astype(np.float64) for s, r in zip(snaps, rows, strict=True)]
    if not xs:
        return np.empty((0, len(CHURN_FEATURES))), np.empty(0)
    return np.vstack(xs), np.concatenate(ys)


def _fit_classifier(
    cls: type[ChurnModel] | type[PurchasePropensity],
    train: Sequence[Snapshot],
    calibration: Sequence[Snapshot],
    mask_of: Any,
    label: str,
    opts: ChurnOptions,
    **extra: Any,
) -> Any:
    X, y = _stack(train, mask_of, label, max_rows=opts.max_rows, seed=opts.seed)
    Xc, yc = _stack(calibration, mask_of, label)
    return cls(calibration=opts.calibration, seed=opts.seed, **extra).fit(X, y, calibration=(Xc, yc))


# -- baselines ----------------------------------------------------------------------------------------------------
def _rfm(snap: Snapshot) -> np.ndarray:
    c = snap.columns
    recency = np.where(np.isnan(c["days_since_last_order"]), c["tenure_days"], c["days_since_last_order"])
    freq = np.nan_to_num(c["frequency"])
    money = np.nan_to_num(c["monetary_value_cents"]) / 100.0
    return np.column_stack([np.log1p(np.nan_to_num(recency)), np.log1p(freq), np.log1p(np.maximum(money, 0))])


#: the churn backtest's baselines, in the order of the report (scores that are probabilities marked)
BASELINES = ("days_since_last_order", "bgnbd_no_purchase", "pareto_nbd_no_purchase", "logistic_rfm")
_PROBABILITIES = ("model", "bgnbd_no_purchase", "pareto_nbd_no_purchase", "logistic_rfm")


def _no_purchase(snap: Snapshot, model: BetaGeo | ParetoNBD, horizon_days: int) -> tuple[np.ndarray, dict[str, Any]]:
    """P(no purchase within the horizon | history) from a purchase model fitted on the snapshot's own features
    (weeks); NaN for customers without purchases. Also how the fit went (a baseline from a failed fit says so)."""
    c = snap.columns
    buyers = ~np.isnan(c["frequency"])
    out = np.full(len(snap), np.nan)
    x, tx, T = c["frequency"][buyers], c["recency_weeks"][buyers], c["T_weeks"][buyers]
    model.fit(x, tx, T)
    out[buyers] = model.probability_no_purchase(horizon_days / 7.0, x, tx, T)
    fit = {"converged": bool(model.converged_), "reason": model.convergence_reason_}
    return out, fit


def _baselines(
    train: Sequence[Snapshot], test: Snapshot, mask: np.ndarray, opts: ChurnOptions
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The baselines' scores of the test rows, and how their purchase-model fits went.

    A statistician's choices: days since the last order; BG/NBD's and Pareto/NBD's probability of no purchase
    within the churn horizon given each history (fitted on the test day's own features, so they know no
    label); logistic regression on log R, F, M fitted on the fold's training rows. Customers without a purchase
    (contract-only) get the mean of a model's probabilities.
    """
    sklearn = import_sklearn()
    c = test.columns
    dslo = np.where(np.isnan(c["days_since_last_order"]), c["tenure_days"], c["days_since_last_order"])[mask]
    scores: dict[str, np.ndarray] = {"days_since_last_order": np.nan_to_num(dslo)}
    fits: dict[str, Any] = {}
    for name, model in (("bgnbd_no_purchase", BetaGeo()), ("pareto_nbd_no_purchase", ParetoNBD())):
        quiet, fits[name] = _no_purchase(test, model, opts.horizon_days)
        quiet = quiet[mask]
        fill = np.nanmean(quiet) if np.isfinite(quiet).any() else 0.5
        scores[name] = np.where(np.isnan(quiet), fill, quiet)
    Xr = np.vstack([_rfm(s)[_eligible(s, opts)] for s in train])
    yr = np.concatenate([s.outcomes["churned"][_eligible(s, opts)] for s in train]).astype(int)
    mean, std = Xr.mean(axis=0), Xr.std(axis=0) + 1e-9
    logit = sklearn.linear_model.LogisticRegression(max_iter=1000).fit((Xr - mean) / std, yr)
    scores["logistic_rfm"] = logit.predict_proba((_rfm(test)[mask] - mean) / std)[:, 1]
    return {k: scores[k] for k in BASELINES}, fits


def _lead(table: list[dict[str, Any]]) -> dict[str, Any]:
    """The model's lead over the best baseline, by AUC and by PR-AUC (each against its own best baseline)."""
    rows = {r["name"]: r for r in table}
    model = rows["model"]
    lead: dict[str, Any] = {}
    for metric in ("auc", "pr_auc", "capture_10"):
        known = [n for n in BASELINES if rows[n][metric] is not None]
        if not known or model[metric] is None:
            continue
        best = max(known, key=lambda n: rows[n][metric])
        lead[metric] = {
            "best_baseline": best,
            "baseline": rows[best][metric],
            "model": model[metric],
            "lead": model[metric] - rows[best][metric],
        }
    return lead


# -- analyses -----------------------------------------------------------------------------------------------------
def _rate_rows(keys: np.ndarray, y: np.ndarray, order: Sequence[str] | None = None) -> list[dict[str, Any]]:
    rows = []
    names = order if order is not None else sorted({str(k) for k in keys})
    for k in names:
        m = keys == k
        if m.any():
            rows.append({"key": k, "customers": int(m.sum()), "churn_rate": float(y[m].mean())})
    return rows


def _tenure_bucket(days: np.ndarray) -> np.ndarray:
    months = np.floor(np.nan_to_num(days) / 30.4375).astype(int)
    edges = [(0, 3, "0-2"), (3, 6, "3-5"), (6, 12, "6-11"), (12, 24, "12-23"), (24, 36, "24-35"), (36, 10**6, "36+")]
    out = np.empty(days.size, dtype=object)
    for lo, hi, name in edges:
        out[(months >= lo) & (months < hi)] = name
    return out


_TENURE_ORDER = ("0-2", "3-5", "6-11", "12-23", "24-35", "36+")
_CONTRACT_ORDER = (
    "ends in 4+ months",
    "ends in 2-3 months",
    "ends in 0-1 month",
    "ended 0-1 month ago",
    "ended 2-3 months ago",
    "ended 4+ months ago",
)


def _contract_bucket(to_end: np.ndarray) -> np.ndarray:
    out = np.full(to_end.size, None, dtype=object)
    months = np.floor(np.abs(to_end) / 30.4375)
    future, past = to_end >= 0, to_end < 0
    out[future & (months >= 4)] = _CONTRACT_ORDER[0]
    out[future & (months >= 2) & (months < 4)] = _CONTRACT_ORDER[1]
    out[future & (months < 2)] = _CONTRACT_ORDER[2]
    out[past & (months < 2)] = _CONTRACT_ORDER[3]
    out[past & (months >= 2) & (months < 4)] = _CONTRACT_ORDER[4]
    out[past & (months >= 4)] = _CONTRACT_ORDER[5]
    return out


def _concentration(settings: Settings, snaps: Sequence[Snapshot], opts: ChurnOptions) -> dict[str, Any]:
    """Churn rate by lifecycle stage, tenure month and months since contract end, over labelled snapshots."""
    from kehu.segments.config import load_config, read_overrides

    lifecycle = load_config(read_overrides(settings.home / "segments.yaml")).schemes["lifecycle"]
    stages, tenure, contract, ys = [], [], [], []
    for s in snaps:
        c = s.columns
        y = s.outcomes["churned"].astype(float)
        known = _known(s)
        names = [f for f in lifecycle.all_fields() if f in c]
        for i in np.flatnonzero(known):
            values: dict[str, Any] = {f: (None if np.isnan(c[f][i]) else float(c[f][i])) for f in names}
            to_end = values.get("contract_days_to_end")
            values["days_since_contract_end"] = -to_end if to_end is not None and to_end < 0 else None
            values.update(churn_risk=None, renewal_risk=None)
            stages.append(lifecycle.classify(values, as_of=s.as_of) or "none")
        tenure.append(_tenure_bucket(c["tenure_days"][known]))
        contract.append(_contract_bucket(np.nan_to_num(c["contract_days_to_end"][known], nan=np.inf)))
        contract[-1][np.isnan(c["contract_days_to_end"][known])] = None
        ys.append(y[known])
    y_all = np.concatenate(ys) if ys else np.empty(0)
    stage_arr = np.asarray(stages, dtype=object)
    contract_arr = np.concatenate(contract) if contract else np.empty(0, dtype=object)
    has_contract = np.asarray([v is not None for v in contract_arr], dtype=bool)
    return {
        "population": "customers with a purchase or a contract, every labelled snapshot",
        "lifecycle_stage": _rate_rows(stage_arr, y_all, [sg.key for sg in lifecycle.segments]),
        "tenure_months": _rate_rows(np.concatenate(tenure) if tenure else np.empty(0), y_all, _TENURE_ORDER),
        "contract_end": _rate_rows(contract_arr[has_contract], y_all[has_contract], _CONTRACT_ORDER),
    }


def _cross_sell(train: Sequence[Snapshot], categories: list[str]) -> tuple[np.ndarray, np.ndarray]:
    hist = np.vstack([category_matrix(s.customer_id, s.history, categories, "weight") for s in train])
    bought = np.vstack([category_matrix(s.customer_id, s.bought, categories) for s in train])
    return hist, bought


def _categories(snaps: Sequence[Snapshot]) -> list[str]:
    names: set[str] = set()
    for s in snaps:
        for t in (s.history, s.bought):
            if t is not None:
                names.update(v for v in t.column("category").to_pylist() if v is not None)
    return sorted(names)


# -- training -----------------------------------------------------------------------------------------------------
@dataclass
class ChurnTrainResult:
    """What :func:`train_churn` fitted, measured and wrote."""

    as_of: dt.date
    model_file: Path
    snapshot_days: list[str]
    backtest: dict[str, Any]
    seconds: float
    rows: dict[str, int] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["as_of"] = self.as_of.isoformat()
        data["model_file"] = str(self.model_file)
        return data


def _grid(last: dt.date, step: int, first_order: dt.date) -> list[dt.date]:
    """Snapshot days back from ``last`` every ``step`` days, newest first, at least ``step`` after the first order."""
    days = []
    day = last
    while day >= first_order + dt.timedelta(days=step):
        days.append(day)
        day -= dt.timedelta(days=step)
    return days


@dataclass(frozen=True)
class _Fold:
    """Which snapshot days calibrate and grow the trees for a model that will score ``target``."""

    target: dt.date
    calibration: list[dt.date]
    train: list[dt.date]
    seasonal: bool


def _fold(grid: list[dt.date], target: dt.date, labelled_to: dt.date, opts: ChurnOptions) -> _Fold | None:
    """Calibration slices near ``target`` one year earlier (same season) when the history reaches back that
    far, else the newest labelled days; the trees learn from the newest other labelled days."""
    candidates = [d for d in grid if d <= labelled_to]
    n_cal = opts.calibration_snapshots
    if len(candidates) < n_cal + 1:
        return None
    year_ago = target - dt.timedelta(days=365)
    nearest = sorted(candidates, key=lambda d: (abs((d - year_ago).days), d))[:n_cal]
    seasonal = opts.seasonal_calibration and max(abs((d - year_ago).days) for d in nearest) <= opts.step_days * n_cal
    calibration = sorted(nearest, reverse=True) if seasonal else candidates[:n_cal]
    train = [d for d in candidates if d not in calibration][: opts.snapshots]
    return _Fold(target, calibration, train, seasonal)


def _first_order(backend: Any, tables: dict[str, Any]) -> dt.date:
    from kehu.engine.backends import to_arrow

    o = tables["orders"]
    first = to_arrow(backend, o.aggregate(first=o.ordered_at.min())).column("first")[0].as_py()
    if first is None:
        raise ValidationError("orders: the store has no orders to learn churn from")
    return first.date() if isinstance(first, dt.datetime) else first


def _metrics_json(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def clean(v: Any) -> Any:
        if isinstance(v, float) and not np.isfinite(v):
            return None
        if isinstance(v, list):
            return [{k: clean(x) for k, x in r.items()} for r in v]
        return v

    return [{k: clean(v) for k, v in r.items()} for r in rows]


def train_churn(run: Run, *, options: ChurnOptions | None = None, as_of: dt.date | None = None) -> ChurnTrainResult:
    """Train, backtest and version the churn, propensity and cross-sell models (see the module docstring).

    Parameters
    ----------
    run
        The run whose backend and extract (of the whole store, without a cut-off) the snapshots are built from;
        its settings give ``KEHU_HOME`` for the model file. It is left open.
    options
        :class:`ChurnOptions`.
    as_of
        Pretend the data ends on this day (default: the latest order's day); later data is not used at all.

    Raises
    ------
    ValidationError
        When the history is too short for two labelled snapshots, or a label has only one outcome.
    """
    started = time.perf_counter()
    opts = options or ChurnOptions()
    opts.check()
    timings: dict[str, float] = {}
    settings = run.settings
    backend, tables = run.backend, run.tables
    end = as_of or data_end(backend, tables)
    if as_of is not None:
        tables = cut_tables(tables, as_of)
    first = _first_order(backend, tables)
    margin = dt.timedelta(days=opts.horizon_days + opts.grace_days)
    last = end - margin
    grid = _grid(last, opts.step_days, first)
    production = _fold(grid, end, last, opts)
    if production is None:
        raise ValidationError(
            f"history too short: the latest labelled day is {last} ({margin.days} days before the last order on "
            f"{end}); at least {opts.calibration_snapshots + 1} snapshots {opts.step_days} days apart after the "
            f"first order ({first}) are needed. Use a shorter --horizon or --step, or fewer "
            "--calibration-snapshots."
        )
    test_days = grid[: opts.test_snapshots]
    # rolling origin: each test day gets a model that only knows the labels observed by that day
    folds = [_fold(grid, t, t - margin, opts) for t in test_days]
    split = "strict"
    if any(f is None for f in folds):
        # too little history for strict folds (e.g. CDNOW with a 39-week horizon): labels may overlap
        split = "overlapping"
        folds = [_fold(grid, t, t - dt.timedelta(days=opts.step_days), opts) for t in test_days]
    if any(f is None for f in folds):
        raise ValidationError(f"history too short for a backtest before {test_days[-1]}: use a shorter --horizon")
    backtest_folds = [f for f in folds if f is not None]
    wanted = {*production.calibration, *production.train, *test_days}
    for f in backtest_folds:
        wanted |= {*f.calibration, *f.train}
    t0 = time.perf_counter()
    snaps = {
        s.as_of: s
        for s in build_snapshots(
            backend,
            tables,
            sorted(wanted),
            horizon_days=opts.horizon_days,
            short_days=opts.short_days,
            grace_days=opts.grace_days,
        )
    }
    timings["snapshots"] = time.perf_counter() - t0

    def elig(s: Snapshot) -> np.ndarray:
        return _eligible(s, opts)

    t0 = time.perf_counter()
    cutoffs = (opts.tier_high, opts.tier_medium)
    pooled: dict[str, list[np.ndarray]] = {}
    categories = _categories(list(snaps.values()))
    cross_hits: dict[str, list[float]] = {"model": [], "popularity": [], "buyers": []}
    baseline_fits: list[dict[str, Any]] = []
    for fold in backtest_folds:
        test = snaps[fold.target]
        cal, train = [snaps[d] for d in fold.calibration], [snaps[d] for d in fold.train]
        model = _fit_classifier(ChurnModel, train, cal, elig, "churned", opts, tier_cutoffs=cutoffs)
        mask = elig(test)
        pooled.setdefault("y", []).append(test.outcomes["churned"][mask].astype(float))
        pooled.setdefault("model", []).append(model.risk(_X(test)[mask]))
        base, fits = _baselines([*train, *cal], test, mask, opts)
        for name, values in base.items():
            pooled.setdefault(name, []).append(values)
        baseline_fits.append({"test_day": fold.target.isoformat(), **fits})
        prop = _fit_classifier(PurchasePropensity, train, cal, _known, "ordered_in_short", opts)
        known = _known(test)
        pooled.setdefault("y_short", []).append(test.outcomes["ordered_in_short"][known].astype(float))
        pooled.setdefault("propensity", []).append(prop.probability(_X(test)[known]))
        pooled.setdefault("orders_last_30d", []).append(np.nan_to_num(test.columns["orders_30d"][known]))
        if categories:
            h_tr, b_tr = _cross_sell([*train, *cal], categories)
            h_te, b_te = _cross_sell([test], categories)
            if b_tr.any() and b_te.any():
                ncm = NextCategoryModel(categories=categories).fit(h_tr, b_tr)
                buyers = int((b_te.sum(axis=1) > 0).sum())
                cross_hits["buyers"].append(buyers)
                cross_hits["model"].append(hit_rate_at_k(ncm.top_k(h_te, 3), b_te) * buyers)
                cross_hits["popularity"].append(hit_rate_at_k(popularity_top_k(b_tr, h_te.shape[0], 3), b_te) * buyers)
    kind_folds = [([snaps[d] for d in f.train], [snaps[d] for d in f.calibration], snaps[f.target])
                  for f in backtest_folds]  # fmt: skip
    kinds_backtest = backtest_kinds(_fit_classifier, kind_folds, opts)
    joined = {k: np.concatenate(v) for k, v in pooled.items()}
    y_test = joined["y"]
    scores = {k: joined[k] for k in ("model", *BASELINES)}
    table = score_table(y_test, scores, probabilities=_PROBABILITIES)
    shares = [round(0.05 * k, 2) for k in range(1, 21)]
    gains = {name: [capture_at(y_test, sc, q) for q in shares] for name, sc in scores.items()}
    tiers = assign_tiers(scores["model"], cutoffs)
    tier_rows = [
        {
            "tier": t,
            "customers": int((tiers == t).sum()),
            "churn_rate": float(y_test[tiers == t].mean()) if (tiers == t).any() else None,
        }
        for t in ("high", "medium", "low")
    ]
    prop_table = score_table(
        joined["y_short"],
        {"model": joined["propensity"], "orders_last_30d": joined["orders_last_30d"]},
        probabilities=("model",),
    )
    cross: dict[str, Any] = {"categories": len(categories)}
    if cross_hits["buyers"]:
        n_buyers = sum(cross_hits["buyers"])
        cross.update(
            window_days=opts.horizon_days,
            buyers=n_buyers,
            hit_rate_at_3=sum(cross_hits["model"]) / n_buyers,
            popularity_hit_rate_at_3=sum(cross_hits["popularity"]) / n_buyers,
        )
    timings["backtest"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    labelled = [snaps[d] for d in sorted({*production.calibration, *production.train})]
    concentration = _concentration(settings, labelled, opts)
    timings["concentration"] = time.perf_counter() - t0
    backtest = {
        "split": split,
        "test_days": [d.isoformat() for d in test_days],
        "folds": [
            {
                "test_day": f.target.isoformat(),
                "calibration_days": [d.isoformat() for d in f.calibration],
                "seasonal_calibration": f.seasonal,
                "train_days": [d.isoformat() for d in f.train],
            }
            for f in backtest_folds
        ],
        "horizon_days": opts.horizon_days,
        "churn": _metrics_json(table),
        "lead": _lead(_metrics_json(table)),
        "baseline_fits": baseline_fits,
        "gains": {"shares": shares, **gains},
        "tiers": tier_rows,
        "propensity": _metrics_json(prop_table),
        "cross_sell": cross,
        "concentration": concentration,
        **kinds_backtest,
    }

    # production models: trees on the labelled snapshots, calibration on the same season a year before
    t0 = time.perf_counter()
    prod_cal, prod_train = [snaps[d] for d in production.calibration], [snaps[d] for d in production.train]
    final = _fit_classifier(ChurnModel, prod_train, prod_cal, elig, "churned", opts, tier_cutoffs=cutoffs)
    final_prop = _fit_classifier(PurchasePropensity, prod_train, prod_cal, _known, "ordered_in_short", opts)
    document: dict[str, Any] = {
        "format": MODEL_FORMAT,
        "as_of": last.isoformat(),
        "data_end": end.isoformat(),
        "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "options": asdict(opts),
        "features": list(CHURN_FEATURES),
        "snapshot_days": [d.isoformat() for d in production.train],
        "calibration_days": [d.isoformat() for d in production.calibration],
        "seasonal_calibration": production.seasonal,
        "rows": {"train": final.n_train_, "calibration": final.n_calibration_, "test": int(y_test.size)},
        "backtest": backtest,
        "churn_model": final.to_dict(),
        "propensity_model": final_prop.to_dict(),
        **fit_kinds(_fit_classifier, prod_train, prod_cal, opts).to_document(),
    }
    if categories:
        h_all, b_all = _cross_sell(labelled, categories)
        if b_all.any():
            ncm = NextCategoryModel(categories=categories).fit(h_all, b_all)
            document["cross_sell_model"] = {
                "categories": categories,
                "transition": ncm.transition_.tolist(),
                "popularity": ncm.popularity_.tolist(),
                "params": {"smoothing": ncm.smoothing, "popularity_weight": ncm.popularity_weight},
            }
    timings["fit"] = time.perf_counter() - t0
    document["seconds"] = timings
    folder = settings.home / "models"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{_PREFIX}{last.isoformat()}.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return ChurnTrainResult(
        as_of=last,
        model_file=path,
        snapshot_days=[d.isoformat() for d in production.train],
        backtest=backtest,
        seconds=time.perf_counter() - started,
        rows=document["rows"],
        step_seconds=timings,
    )
