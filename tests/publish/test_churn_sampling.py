"""Training rows are sampled per snapshot: the same rows, in the same order, as sampling the whole stack."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from kehu.models.churn import CHURN_FEATURES
from kehu.publish.churn_data import Snapshot
from kehu.publish.churn_train import _stack


def _snapshot(rng: np.random.Generator, n: int, day: int) -> Snapshot:
    columns = {f: rng.normal(size=n) for f in CHURN_FEATURES}
    columns["orders"] = rng.integers(0, 4, size=n).astype(float)
    return Snapshot(
        as_of=dt.date(2026, 1, 1) + dt.timedelta(days=day),
        customer_id=np.arange(n),
        columns=columns,
        outcomes={"churned": rng.random(n) < 0.3},
    )


def _whole_stack_then_sample(snaps: list[Snapshot], max_rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The obvious way: every kept row of every snapshot, stacked, then one seeded draw."""
    X = np.vstack([np.column_stack([s.columns[f] for f in CHURN_FEATURES])[s.columns["orders"] > 0] for s in snaps])
    y = np.concatenate([s.outcomes["churned"][s.columns["orders"] > 0].astype(float) for s in snaps])
    if len(y) > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(y), max_rows, replace=False))
        X, y = X[keep], y[keep]
    return X, y


@pytest.mark.parametrize("max_rows", [1, 37, 500, 10_000])
def test_sampling_per_snapshot_keeps_the_rows_of_sampling_the_stack(max_rows: int) -> None:
    rng = np.random.default_rng(5)
    snaps = [_snapshot(rng, n, i) for i, n in enumerate([300, 0, 451, 120])]
    X, y = _stack(snaps, lambda s: s.columns["orders"] > 0, "churned", max_rows=max_rows, seed=11)
    X0, y0 = _whole_stack_then_sample(snaps, max_rows, 11)
    assert X.shape == X0.shape and X.shape[0] == min(max_rows, int(sum((s.columns["orders"] > 0).sum() for s in snaps)))
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


def test_a_model_file_of_an_older_format_skips_churn_scoring_and_says_why(tmp_path: Path) -> None:
    import json as _json
    from types import SimpleNamespace

    from kehu.config import load_settings
    from kehu.errors import ValidationError
    from kehu.publish.churn import MODEL_FORMAT, load_model
    from kehu.service.workspace import Workspace

    settings = load_settings(home=tmp_path / "home")
    folder = settings.home / "models"
    folder.mkdir(parents=True)
    (folder / "churn-2025-01-01.json").write_text(_json.dumps({"format": MODEL_FORMAT - 1}), encoding="utf-8")
    with pytest.raises(ValidationError, match="train again"):
        load_model(settings)
    with Workspace(settings) as ws:
        result = ws._score_churn(SimpleNamespace(settings=settings, store=None), dt.date(2025, 1, 1))
    assert "train again" in result["skipped"]
