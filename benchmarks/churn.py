"""Benchmark the churn models at scale: training, scoring everyone, reasons for the riskiest customers.

Usage::

    python benchmarks/churn.py --customers 1000000 [--repeat 3] [--data DIR]

Generates a seeded transaction log (BG/NBD purchasing with dropout, Gamma-Gamma spend, customers acquired
over the first year, two years observed) and derives, in NumPy, the purchase features of the pipeline
(:data:`kehu.models.churn.CHURN_FEATURES`; the interaction, ticket and contract features are empty, as for a
shop without a CRM) on the snapshot days ``kehu models train`` uses by default: 12 training days and 3
calibration days 30 days apart, labelled with "no order in the next 90 days", plus the newest day to score.
Building these features is the pipeline's job and is measured by ``benchmarks/pipeline.py``; this script
times what ``kehu models train`` and ``kehu run`` do with them, each step in its own subprocess so that peak
RSS is the step's own:

``train``
    the churn model and the 30-day propensity model, exactly as :func:`kehu.publish.churn_train.train_churn`
    fits its production models (rows of every snapshot stacked, sampled to ``max_rows``, LightGBM with
    early stopping on the calibration slice, isotonic calibration), plus writing both to a model file.
``score``
    loading the model file, then calibrated risk, tier and 30-day propensity for every customer.
``reasons``
    loading the model file, scoring everyone, then SHAP contributions (LightGBM ``pred_contrib``) and
    rendered zh/en reasons for the riskiest ``--reasons-share`` (10%) of all customers (at most every scored
    customer; customers lapsed beyond 180 days are not scored, see docs/churn.md).

The alternative a user would otherwise pick runs in the same session on the same rows: ``reasons_all`` (the same
SHAP reasons for *every* scored customer, i.e. explaining everyone instead of the customers who need it;
measured on the riskiest ``--reasons-share`` x 2 and scaled linearly, which the per-row cost of
``pred_contrib`` justifies) and, with ``--with-sklearn``, ``sklearn_train`` / ``sklearn_score``
(scikit-learn's HistGradientBoostingClassifier with the same number of trees, depth and learning rate,
isotonic calibration on the same slice; slow on two shared cores). Prints one JSON document: per step the
median seconds, CPU seconds and peak RSS over ``--repeat`` runs, and the ratios.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HORIZON, SHORT, STEP = 90, 30, 30
TRAIN_DAYS, CAL_DAYS = 12, 3
OBSERVATION_DAYS = 730
START = dt.date(2024, 1, 1)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# -- data ---------------------------------------------------------------------------------------------------------
def _snapshot_days() -> tuple[int, list[int], list[int]]:
    """Scoring day, calibration days and training days (day numbers), as train_churn's production fold."""
    score_day = OBSERVATION_DAYS - 1
    labelled = score_day - HORIZON
    grid = [labelled - STEP * k for k in range(CAL_DAYS + TRAIN_DAYS)]
    return score_day, grid[:CAL_DAYS], grid[CAL_DAYS:]


def _features(ids: np.ndarray, day: np.ndarray, value: np.ndarray, n: int, at: int) -> dict[str, np.ndarray]:
    """Purchase features of every customer as of day ``at`` (NaN where the pipeline publishes NULL)."""
    from kehu.models.churn import CHURN_FEATURES

    past = day <= at
    i, d, v = ids[past], day[past], value[past]
    cents = np.round(v * 100.0)
    orders = np.bincount(i, minlength=n).astype(np.float64)
    buyer = orders > 0
    first = np.full(n, np.inf)
    np.minimum.at(first, i, d)
    last = np.full(n, -np.inf)
    np.maximum.at(last, i, d)
    revenue = np.bincount(i, weights=cents, minlength=n)

    def window(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        m = (d > at - hi) & (d <= at - lo)
        return (
            np.bincount(i[m], minlength=n).astype(np.float64),
            np.bincount(i[m], weights=cents[m], minlength=n),
        )

    # gaps between consecutive purchases of the same customer (the log is sorted by customer, then day)
    same = i[1:] == i[:-1]
    gaps = (d[1:] - d[:-1])[same].astype(np.float64)
    gi = i[1:][same]
    n_gaps = np.bincount(gi, minlength=n).astype(np.float64)
    gap_sum = np.bincount(gi, weights=gaps, minlength=n)
    gap_sq = np.bincount(gi, weights=gaps * gaps, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        gap_mean = np.where(n_gaps > 0, gap_sum / n_gaps, np.nan)
        gap_std = np.where(n_gaps > 1, np.sqrt(np.maximum(gap_sq / n_gaps - gap_mean**2, 0.0)), np.nan)
        dslo = np.where(buyer, at - last, np.nan)
        cols: dict[str, np.ndarray] = {
            "tenure_days": np.where(buyer, at - first, np.nan),
            "orders": orders,
            "purchase_days": orders,
            "frequency": np.where(buyer, orders - 1, np.nan),
            "recency_days": np.where(buyer, last - first, np.nan),
            "T_days": np.where(buyer, at - first, np.nan),
            "days_since_last_order": dslo,
            "total_revenue_cents": revenue,
            "mean_order_value_cents": np.where(buyer, revenue / orders, np.nan),
            "monetary_value_cents": np.where(orders > 1, revenue / orders, np.nan),
            "total_margin_cents": np.round(revenue * 0.3),
            "gap_mean_days": gap_mean,
            "gap_std_days": gap_std,
            "overdue_ratio": dslo / gap_mean,
            "refunded_orders": np.zeros(n),
            "refund_share": np.where(buyer, 0.0, np.nan),
            "discount_share": np.where(buyer, 0.0, np.nan),
            "category_count": np.where(buyer, np.minimum(orders, 5), 0.0),
        }
        for days in (30, 90, 180, 365):
            cols[f"orders_{days}d"], cols[f"revenue_{days}d_cents"] = window(0, days)
        cols["orders_prev_90d"], cols["revenue_prev_90d_cents"] = window(90, 180)
        cols["orders_90d"], cols["revenue_90d_cents"] = window(0, 90)
        cols["order_trend_90d"] = (cols["orders_90d"] - cols["orders_prev_90d"]) / np.where(
            cols["orders_prev_90d"] > 0, cols["orders_prev_90d"], np.nan
        )
        cols["revenue_trend_90d"] = (cols["revenue_90d_cents"] - cols["revenue_prev_90d_cents"]) / np.where(
            cols["revenue_prev_90d_cents"] > 0, cols["revenue_prev_90d_cents"], np.nan
        )
    return {f: cols.get(f, np.full(n, np.nan)).astype(np.float32) for f in CHURN_FEATURES}


def generate(n: int, seed: int, folder: Path) -> dict[str, Any]:
    """Write ``snap-<day>.npz`` (features and outcomes of the customers known that day) for every snapshot day."""
    from kehu.models.simulate import simulate_transactions

    log = simulate_transactions(
        n, r=0.9, alpha=6.0, a=0.9, b=4.0, p=6.0, q=4.0, gamma=15.0,
        acquisition_days=365, observation_days=OBSERVATION_DAYS, seed=seed,
    )  # fmt: skip
    order = np.lexsort((log.day, log.customer_id))
    ids, day, value = log.customer_id[order], log.day[order], log.value[order]
    score_day, cal, train = _snapshot_days()
    for at in [score_day, *cal, *train]:
        cols = _features(ids, day, value, n, at)
        known = cols["orders"] > 0
        future = (day > at) & (day <= at + HORIZON)
        soon = (day > at) & (day <= at + SHORT)
        ordered = np.bincount(ids[future], minlength=n) > 0
        ordered_short = np.bincount(ids[soon], minlength=n) > 0
        np.savez(
            folder / f"snap-{at}.npz",
            customer_id=np.flatnonzero(known),
            churned=~ordered[known],
            ordered_in_short=ordered_short[known],
            **{f: c[known] for f, c in cols.items()},
        )
    return {"customers": n, "transactions": int(day.size), "snapshot_days": 1 + len(cal) + len(train)}


def _load(folder: Path, at: int) -> Any:
    from kehu.models.churn import CHURN_FEATURES
    from kehu.publish.churn_data import Snapshot

    z = np.load(folder / f"snap-{at}.npz")
    return Snapshot(
        as_of=START + dt.timedelta(days=at),
        customer_id=z["customer_id"],
        columns={f: z[f].astype(np.float64) for f in CHURN_FEATURES},
        outcomes={"churned": z["churned"], "ordered_in_short": z["ordered_in_short"]},
    )


# -- steps (each runs in a child process) -------------------------------------------------------------------------
def step_train(folder: Path) -> dict[str, Any]:
    from kehu.models.churn import ChurnModel
    from kehu.models.propensity import PurchasePropensity
    from kehu.publish.churn import ChurnOptions
    from kehu.publish.churn_train import _eligible, _fit_classifier, _known

    opts = ChurnOptions()
    _, cal_days, train_days = _snapshot_days()
    train = [_load(folder, d) for d in train_days]
    cal = [_load(folder, d) for d in cal_days]
    t0, c0 = time.perf_counter(), time.process_time()
    churn = _fit_classifier(ChurnModel, train, cal, lambda s: _eligible(s, opts), "churned", opts)
    prop = _fit_classifier(PurchasePropensity, train, cal, _known, "ordered_in_short", opts)
    (folder / "model.json").write_text(
        json.dumps({"churn_model": churn.to_dict(), "propensity_model": prop.to_dict()}), encoding="utf-8"
    )
    return {
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,
        "rows": {"train": churn.n_train_, "calibration": churn.n_calibration_, "trees": churn.n_trees_},
    }


def _score(folder: Path) -> tuple[Any, np.ndarray, np.ndarray, dict[str, int]]:
    from kehu.models.churn import ChurnModel, churn_eligible
    from kehu.models.propensity import PurchasePropensity

    doc = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    churn = ChurnModel.from_dict(doc["churn_model"])
    prop = PurchasePropensity.from_dict(doc["propensity_model"])
    score_day, _, _ = _snapshot_days()
    snap = _load(folder, score_day)
    c = snap.columns
    X = np.column_stack([c[f] for f in churn.feature_names])
    elig = churn_eligible(c["orders"], c["days_since_last_order"])
    risk = churn.risk(X[elig])
    tiers = churn.tier(risk)
    prop.probability(X)
    counts = {str(t): int((tiers == t).sum()) for t in ("high", "medium", "low")}
    return churn, X[elig], risk, {"customers": int(X.shape[0]), "scored": int(elig.sum()), **counts}


def step_score(folder: Path) -> dict[str, Any]:
    _score(folder)  # warm: file cache and lazy imports
    t0, c0 = time.perf_counter(), time.process_time()
    _, _, _, counts = _score(folder)
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0, **counts}


def _reasons(folder: Path, share: float) -> dict[str, Any]:
    churn, X, risk, counts = _score(folder)
    t0, c0 = time.perf_counter(), time.process_time()
    k = min(X.shape[0], max(1, round(share * counts["customers"])))  # the riskiest share of all customers
    top = np.argsort(-risk, kind="stable")[:k]
    from kehu.models.reasons import reference_values

    reasons = churn.reasons(X[top], reference=reference_values(X, churn.feature_names))  # as kehu run does
    explained = sum(1 for r in reasons if r)
    return {
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,
        "explained": int(k),
        "with_reasons": explained,
        "scored": counts["scored"],
        "example": [r.as_dict() for r in reasons[0]],
    }


def step_reasons(folder: Path, share: float) -> dict[str, Any]:
    return _reasons(folder, share)


def step_reasons_all(folder: Path, share: float) -> dict[str, Any]:
    out = _reasons(folder, 2 * share)
    scale = out["scored"] / out["explained"]
    return {**out, "measured_seconds": out["seconds"], "seconds": out["seconds"] * scale, "scaled_by": scale}


def _sklearn_fit(folder: Path) -> tuple[Any, Any, np.ndarray]:
    from kehu.models.boosted import import_sklearn
    from kehu.publish.churn import ChurnOptions
    from kehu.publish.churn_train import _eligible, _sample, _stack

    sklearn = import_sklearn()
    from sklearn.ensemble import HistGradientBoostingClassifier

    opts = ChurnOptions()
    _, cal_days, train_days = _snapshot_days()
    train = [_load(folder, d) for d in train_days]
    cal = [_load(folder, d) for d in cal_days]
    X, y = _stack(train, lambda s: _eligible(s, opts), "churned")
    X, y = _sample(X, y, opts.max_rows, opts.seed)
    Xc, yc = _stack(cal, lambda s: _eligible(s, opts), "churned")
    keep = ~np.isnan(X).all(axis=0)  # scikit-learn cannot bin an all-empty column; LightGBM ignores it
    X, Xc = X[:, keep], Xc[:, keep]
    model = HistGradientBoostingClassifier(
        max_iter=400, learning_rate=0.05, max_depth=5, max_leaf_nodes=15, early_stopping=True, random_state=0
    ).fit(X, y)
    iso = sklearn.isotonic.IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    iso.fit(model.predict_proba(Xc)[:, 1], yc)
    return model, iso, keep


def step_sklearn_train(folder: Path) -> dict[str, Any]:
    t0, c0 = time.perf_counter(), time.process_time()
    model, _, _ = _sklearn_fit(folder)
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0, "trees": model.n_iter_}


def step_sklearn_score(folder: Path) -> dict[str, Any]:
    from kehu.models.churn import CHURN_FEATURES, churn_eligible

    model, iso, keep = _sklearn_fit(folder)
    score_day, _, _ = _snapshot_days()
    t0, c0 = time.perf_counter(), time.process_time()
    snap = _load(folder, score_day)
    c = snap.columns
    X = np.column_stack([c[f] for f in CHURN_FEATURES])[:, keep]
    elig = churn_eligible(c["orders"], c["days_since_last_order"])
    iso.predict(model.predict_proba(X[elig])[:, 1])
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}


STEPS = {
    "train": step_train,
    "sklearn_train": step_sklearn_train,
    "score": step_score,
    "sklearn_score": step_sklearn_score,
    "reasons": step_reasons,
    "reasons_all": step_reasons_all,
}


def child(step: str, folder: Path, share: float) -> None:
    fn: Any = STEPS[step]
    out = fn(folder, share) if step.startswith("reasons") else fn(folder)
    out["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps(out))


def run_child(step: str, folder: Path, share: float) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", step, "--data", str(folder), "--reasons-share", str(share)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env={**os.environ})
    if proc.returncode != 0:
        raise SystemExit(f"step {step} failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1, help="runs per step; medians are printed")
    parser.add_argument("--reasons-share", type=float, default=0.10, help="share of scored customers explained")
    parser.add_argument("--data", type=Path, help="folder for the generated snapshots, reused when it holds them")
    parser.add_argument("--skip", choices=sorted(STEPS), action="append", default=[], help="leave out a step")
    parser.add_argument(
        "--with-sklearn", action="store_true", help="also time scikit-learn's HistGradientBoosting (slow on 2 cores)"
    )
    parser.add_argument("--child", choices=sorted(STEPS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.data, args.reasons_share)
        return

    folder = args.data or Path(tempfile.mkdtemp(prefix="kehu-churn-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / "data.json"
    if marker.exists() and json.loads(marker.read_text())["customers"] == args.customers:
        data = json.loads(marker.read_text())
    else:
        t0 = time.perf_counter()
        data = generate(args.customers, args.seed, folder)
        data["generate_seconds"] = time.perf_counter() - t0
        marker.write_text(json.dumps(data))
    print(f"data: {data}", file=sys.stderr)

    runs: dict[str, list[dict[str, Any]]] = {}
    for k in range(args.repeat):
        for step in STEPS:
            if step in args.skip or (step.startswith("sklearn") and not args.with_sklearn):
                continue
            if step != "train" and not step.startswith("sklearn") and not (folder / "model.json").exists():
                continue
            runs.setdefault(step, []).append(run_child(step, folder, args.reasons_share))
            print(f"run {k + 1} {step}: {runs[step][-1]['seconds']:.1f} s", file=sys.stderr)

    summary: dict[str, Any] = {"customers": args.customers, "data": data, "repeat": args.repeat, "steps": {}}
    for step, rs in runs.items():
        summary["steps"][step] = {
            "median_seconds": round(statistics.median(r["seconds"] for r in rs), 2),
            "median_cpu_seconds": round(statistics.median(r["cpu_seconds"] for r in rs), 2),
            "peak_rss_mb": round(max(r["peak_rss_mb"] for r in rs), 1),
            **{k: v for k, v in rs[-1].items() if k not in ("seconds", "cpu_seconds", "peak_rss_mb")},
        }
    s = summary["steps"]
    ratios = {}
    for ours, theirs in (("train", "sklearn_train"), ("score", "sklearn_score"), ("reasons", "reasons_all")):
        if ours in s and theirs in s and s[ours]["median_seconds"] > 0:
            ratios[f"{theirs}/{ours}"] = round(s[theirs]["median_seconds"] / s[ours]["median_seconds"], 2)
    summary["ratios"] = ratios
    targets = {"train": 300, "score": 60, "reasons": 180}
    summary["targets_seconds"] = targets
    summary["within_targets"] = {k: s[k]["median_seconds"] < v for k, v in targets.items() if k in s}
    print(json.dumps(summary, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
