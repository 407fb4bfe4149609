"""Scoring a binary early-warning score on known outcomes: AUC, PR-AUC, Brier, calibration, capture and lift.

Every function takes the observed 0/1 outcomes ``y`` and a score per row where higher means "more likely 1".
Scores that are not probabilities (e.g. days since the last order) get ranking metrics only
(:func:`score_table` leaves their Brier score and calibration out).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.stats import rankdata

from kehu.errors import ValidationError

__all__ = [
    "average_precision",
    "brier_score",
    "calibration_deciles",
    "capture_at",
    "roc_auc",
    "score_table",
]


def _check(y: Any, score: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    if y.shape != score.shape or y.ndim != 1:
        raise ValidationError(f"outcomes and scores must be 1-D and of one length, got {y.shape} and {score.shape}")
    if np.isnan(score).any():
        raise ValidationError("scores: NaN found; fill or drop those rows before evaluating")
    return y, score


def roc_auc(y: Any, score: Any) -> float:
    """Area under the ROC curve (ties count one half), the Mann-Whitney statistic."""
    y, score = _check(y, score)
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(y: Any, score: Any) -> float:
    """PR-AUC as average precision: the mean of the precision at each positive, rows ranked by score.

    Tied scores are taken as one block (the precision at the block's end applies to all its positives).
    """
    y, score = _check(y, score)
    n_pos = y.sum()
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-score, kind="stable")
    s, t = score[order], y[order]
    tp = np.cumsum(t)
    ends = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1]
    tp_end = tp[ends]
    pos_in_block = np.diff(np.r_[0.0, tp_end])
    precision = tp_end / (ends + 1)
    return float((pos_in_block * precision).sum() / n_pos)


def brier_score(y: Any, probability: Any) -> float:
    """Mean squared difference between the probability and the outcome."""
    y, p = _check(y, probability)
    return float(np.mean((p - y) ** 2))


def calibration_deciles(y: Any, probability: Any, bins: int = 10) -> list[dict[str, float]]:
    """Rows ranked by probability and cut into ``bins`` equal-count groups: mean predicted vs observed rate.

    Returns
    -------
    list of dict
        One per group, lowest probabilities first: ``bin`` (1..bins), ``rows``, ``predicted``, ``observed``,
        ``gap`` (predicted - observed).
    """
    y, p = _check(y, probability)
    order = np.argsort(p, kind="stable")
    out = []
    for k, idx in enumerate(np.array_split(order, bins), start=1):
        if idx.size == 0:
            continue
        pred, obs = float(p[idx].mean()), float(y[idx].mean())
        out.append({"bin": k, "rows": int(idx.size), "predicted": pred, "observed": obs, "gap": pred - obs})
    return out


def capture_at(y: Any, score: Any, share: float) -> float:
    """Share of all positives found among the ``share`` highest-scored rows (ties broken by row order)."""
    y, score = _check(y, score)
    n_pos = y.sum()
    if n_pos == 0:
        return float("nan")
    k = max(1, round(share * y.size))
    top = np.argsort(-score, kind="stable")[:k]
    return float(y[top].sum() / n_pos)


def score_table(
    y: Any, scores: Mapping[str, Any], *, probabilities: tuple[str, ...] = (), shares: tuple[float, ...] = (0.1, 0.2)
) -> list[dict[str, Any]]:
    """One row of metrics per score, all on the same rows.

    Parameters
    ----------
    y
        Observed outcomes (0/1).
    scores
        Name -> score per row (higher = more likely 1).
    probabilities
        The names whose scores are probabilities: they also get ``brier`` and ``calibration``.
    shares
        Top shares for ``capture_<pct>`` and ``lift_<pct>`` (capture / share).

    Returns
    -------
    list of dict
        ``name``, ``auc``, ``pr_auc``, ``brier`` (or None), ``capture_10``, ``lift_10``, … and ``calibration``
        (deciles, or None).
    """
    y = np.asarray(y, dtype=np.float64)
    rows = []
    for name, score in scores.items():
        row: dict[str, Any] = {
            "name": name,
            "rows": int(y.size),
            "positives": int(y.sum()),
            "auc": roc_auc(y, score),
            "pr_auc": average_precision(y, score),
            "brier": brier_score(y, score) if name in probabilities else None,
        }
        for share in shares:
            pct = round(share * 100)
            cap = capture_at(y, score, share)
            row[f"capture_{pct}"] = cap
            row[f"lift_{pct}"] = cap / share
        row["calibration"] = calibration_deciles(y, score) if name in probabilities else None
        rows.append(row)
    return rows
