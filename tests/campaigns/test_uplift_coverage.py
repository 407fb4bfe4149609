"""Acceptance: on simulated campaigns with a known truth, the revenue interval covers it at least 93% of the time
and a zero effect is called significant at most 6% of the time, in every scenario of the benchmark's grid where
a verdict is given (``benchmarks/uplift_coverage.py``, with 1,000 instead of 2,000 campaigns per scenario)."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from kehu.models.uplift import proportion_difference

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "uplift_coverage.py"
CAMPAIGNS = 1000
MIN_VERDICTS = 200  # a scenario's coverage is judged alone when it rests on at least this many intervals


def _benchmark():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("uplift_coverage", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["uplift_coverage"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_revenue_interval_keeps_coverage_over_the_whole_grid() -> None:
    bench = _benchmark()
    rng = np.random.default_rng(7)
    started = time.perf_counter()
    judged, pooled, pooled_covered, no_effect_verdicts = 0, 0.0, 0.0, 0.0
    for s in bench.grid():
        out = bench.run_scenario(rng, s, CAMPAIGNS)
        if s.effect == "none":
            no_effect_verdicts += out["verdicts"]
        if out["verdicts"] >= MIN_VERDICTS:
            judged += 1
            assert out["coverage"] >= 0.93, (s, out)
            if s.effect == "none":
                assert out["significant"] <= 0.06, (s, out)
        elif out["verdicts"]:
            pooled += out["verdicts"]
            pooled_covered += out["verdicts"] * out["coverage"]
        if s.sigma >= 1.5 or (s.holdout == 20 and s.conversion <= 0.1):
            assert out["share"] == 0.0, s  # no method keeps coverage there: no verdict
        if s.sigma == 0.5 and s.holdout == 1000 and s.conversion >= 0.05:
            assert out["share"] == 1.0, s  # and plenty of buyers with even spend always get one
    assert judged >= 15 and no_effect_verdicts > 0
    assert pooled_covered / pooled >= 0.93  # the scenarios with few verdicts, together
    assert time.perf_counter() - started < 60


@pytest.mark.slow
def test_conversion_interval_keeps_coverage_for_small_holdouts() -> None:
    """Agresti–Caffo on the same holdout sizes and rates: coverage of the true difference of rates."""
    rng = np.random.default_rng(11)
    for holdout in (20, 50, 200):
        for p, lift in ((0.02, 0.0), (0.05, 0.0), (0.2, 0.0), (0.05, 0.05), (0.2, 0.1)):
            xt = rng.binomial(9 * holdout, p + lift, 1000)
            xc = rng.binomial(holdout, p, 1000)
            est = [proportion_difference(int(a), 9 * holdout, int(b), holdout) for a, b in zip(xt, xc, strict=True)]
            covered = np.mean([e.low <= lift <= e.high for e in est])  # type: ignore[operator]
            assert covered >= 0.93, (holdout, p, lift, covered)
