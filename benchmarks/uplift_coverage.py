"""Coverage of the revenue-per-customer uplift interval on simulated campaigns.

Usage::

    python benchmarks/uplift_coverage.py [--campaigns 2000] [--seed 20261207] [--effects none,conversion,spend]

Each scenario simulates ``--campaigns`` campaigns with a holdout of 20, 50, 200 or 1,000 customers and a
treatment arm nine times as large (the campaigns' default 10% holdout). A customer buys in the window with
probability ``conversion`` (2%, 5%, 10%, 20% in the holdout); a buyer's revenue is lognormal with mean ¥300 and
log-standard deviation σ (0.5, 1, 1.5, 2). Effects: ``none`` (both arms alike), ``conversion`` (the treatment
converts 1.5 times as often) and ``spend`` (treatment buyers spend 1.3 times as much). The true uplift is
``p_t · m_t − p_c · m_c``. Only buyers are drawn (their count from the binomial, then their spend), so a
scenario of 2,000 campaigns with 9,000 treated customers takes milliseconds.

Printed per scenario: the share of campaigns given a verdict (an interval), and among those the coverage of
the truth, the share of intervals entirely below / above the truth, the false-positive rate (no-effect
scenarios: intervals excluding 0) and the power (real effects: intervals above 0). The summary line gives the
worst coverage and false-positive rate over the scenarios with at least ``--min-verdicts`` verdicts (the
coverage of fewer is too noisy to judge one by one; they are pooled in a line of their own), and the timing.
Exits with status 1 when a judged scenario misses the bounds (coverage >= 0.93, false positives <= 0.06).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import numpy as np

from kehu.campaigns.uplift import ArmSums, revenue_intervals

HOLDOUTS = (20, 50, 200, 1000)
SIGMAS = (0.5, 1.0, 1.5, 2.0)
CONVERSIONS = (0.02, 0.05, 0.10, 0.20)
EFFECTS = {"none": (1.0, 1.0), "conversion": (1.5, 1.0), "spend": (1.0, 1.3)}  # (conversion, spend) multipliers
TREATMENT_RATIO = 9
MEAN_SPEND = 300.0


@dataclass(frozen=True)
class Scenario:
    holdout: int
    sigma: float
    conversion: float
    effect: str

    @property
    def truth(self) -> float:
        conv, spend = EFFECTS[self.effect]
        return self.conversion * conv * MEAN_SPEND * spend - self.conversion * MEAN_SPEND


def grid(effects: tuple[str, ...] = tuple(EFFECTS)) -> list[Scenario]:
    """Every scenario of the grid, in print order."""
    return [Scenario(n, s, p, e) for e in effects for s in SIGMAS for n in HOLDOUTS for p in CONVERSIONS]


def simulate_arm(rng: np.random.Generator, customers: int, p: float, sigma: float, mean: float, reps: int) -> ArmSums:
    """The sums of ``reps`` simulated arms: binomial buyers, lognormal spend with the given mean."""
    buyers = rng.binomial(customers, p, reps)
    width = max(int(buyers.max()), 1)
    logs = rng.normal(np.log(mean) - sigma**2 / 2, sigma, (reps, width))
    logs = np.where(np.arange(width)[None, :] < buyers[:, None], logs, np.nan)
    spend = np.exp(logs)
    sums = [np.nansum(v, axis=1) for v in (spend, spend * spend, logs, logs * logs)]
    return ArmSums(np.full(reps, float(customers)), buyers.astype(np.float64), *sums)


def run_scenario(rng: np.random.Generator, s: Scenario, reps: int) -> dict[str, float]:
    """Share with a verdict, coverage, one-sided misses, false positives / power over ``reps`` campaigns."""
    conv, mult = EFFECTS[s.effect]
    t = simulate_arm(rng, TREATMENT_RATIO * s.holdout, s.conversion * conv, s.sigma, MEAN_SPEND * mult, reps)
    c = simulate_arm(rng, s.holdout, s.conversion, s.sigma, MEAN_SPEND, reps)
    r = revenue_intervals(t, c)
    low, high, verdict = r.low[r.verdict], r.high[r.verdict], r.verdict
    k = int(verdict.sum())
    out = {"verdicts": float(k), "share": k / reps}
    if k:
        truth = s.truth
        out.update(coverage=float(np.mean((low <= truth) & (truth <= high))), below=float(np.mean(high < truth)),
                   above=float(np.mean(low > truth)), significant=float(np.mean((low > 0) | (high < 0))),
                   positive=float(np.mean(low > 0)))  # fmt: skip
    return out


def _cell(out: dict[str, float], key: str) -> str:
    return f"{out[key]:.3f}" if key in out else "  —  "


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--campaigns", type=int, default=2000, help="simulated campaigns per scenario")
    ap.add_argument("--seed", type=int, default=20261207)
    ap.add_argument("--min-verdicts", type=int, default=200, help="verdicts a scenario needs to be judged alone")
    ap.add_argument("--effects", default=",".join(EFFECTS), help="comma-separated subset of none,conversion,spend")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    print(f"{args.campaigns} campaigns per scenario, treatment = {TREATMENT_RATIO} x holdout, seed {args.seed}")
    print("effect      holdout  sigma  conv  verdict  coverage  below  above  false+  power")
    worst_cov, worst_fp, judged, pooled_n, pooled_cov, failures = 1.0, 0.0, 0, 0.0, 0.0, 0
    for s in grid(tuple(args.effects.split(","))):
        out = run_scenario(rng, s, args.campaigns)
        fp = _cell(out, "significant") if s.effect == "none" else "  —  "
        power = _cell(out, "positive") if s.effect != "none" else "  —  "
        cov, below, above = (_cell(out, k) for k in ("coverage", "below", "above"))
        print(f"{s.effect:<11} {s.holdout:>7}  {s.sigma:>5.1f}  {s.conversion:>4.0%}  {out['share']:>7.3f}  "
              f"{cov:>8}  {below}  {above}  {fp:>6}  {power:>5}")  # fmt: skip
        if out["verdicts"] >= args.min_verdicts:
            judged += 1
            worst_cov = min(worst_cov, out["coverage"])
            bad = out["coverage"] < 0.93
            if s.effect == "none":
                worst_fp = max(worst_fp, out["significant"])
                bad = bad or out["significant"] > 0.06
            failures += bad
        elif out["verdicts"]:
            pooled_n += out["verdicts"]
            pooled_cov += out["verdicts"] * out["coverage"]
    elapsed = time.perf_counter() - started
    print(
        f"summary: {judged} scenarios with >= {args.min_verdicts} verdicts: worst coverage {worst_cov:.3f}, "
        f"worst false-positive rate {worst_fp:.3f}, {failures} outside coverage >= 0.93 / false+ <= 0.06"
    )
    if pooled_n:
        print(f"pooled over scenarios with fewer verdicts: {int(pooled_n)} verdicts, coverage "
              f"{pooled_cov / pooled_n:.3f}")  # fmt: skip
    print(f"time: {elapsed:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
