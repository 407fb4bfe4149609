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
from typing import Any

import numpy as np
from scipy.stats import norm
from scipy.stats import t as student_t

from kehu.models.uplift import ArmSums, revenue_intervals

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


def log_spend(rng: np.random.Generator, sigma: float, mean: float, size: Any, spend: str = "lognormal") -> np.ndarray:
    """Log of buyers' spend with the given mean: lognormal, or ``whales`` (one buyer in ten spends 8 times as
    much: a lognormal mixture, bimodal and heavier-tailed than the lognormal of the same σ)."""
    if spend == "whales":
        return rng.normal(np.log(mean / 1.7) - sigma**2 / 2, sigma, size) + np.log(8.0) * (rng.random(size) < 0.1)
    return rng.normal(np.log(mean) - sigma**2 / 2, sigma, size)


def simulate_arm(
    rng: np.random.Generator, customers: int, p: float, sigma: float, mean: float, reps: int, spend: str = "lognormal"
) -> ArmSums:
    """The sums of ``reps`` simulated arms: binomial buyers, then their spend (see :func:`log_spend`)."""
    buyers = rng.binomial(customers, p, reps)
    width = max(int(buyers.max()), 1)
    logs = log_spend(rng, sigma, mean, (reps, width), spend)
    logs = np.where(np.arange(width)[None, :] < buyers[:, None], logs, np.nan)
    money = np.exp(logs)
    sums = [np.nansum(v, axis=1) for v in (money, money * money, logs, logs * logs)]
    return ArmSums(np.full(reps, float(customers)), buyers.astype(np.float64), *sums)


def run_scenario(rng: np.random.Generator, s: Scenario, reps: int, spend: str = "lognormal") -> dict[str, float]:
    """Share with a verdict, coverage, one-sided misses, false positives / power over ``reps`` campaigns."""
    conv, mult = EFFECTS[s.effect]
    t = simulate_arm(rng, TREATMENT_RATIO * s.holdout, s.conversion * conv, s.sigma, MEAN_SPEND * mult, reps, spend)
    c = simulate_arm(rng, s.holdout, s.conversion, s.sigma, MEAN_SPEND, reps, spend)
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


CANDIDATES = ("percentile", "bootstrap-t", "welch-z", "welch-buyers", "lognormal-2part")
COMPARED = [Scenario(n, s, p, "none") for s in (0.5, 1.0, 2.0) for n in (50, 200, 1000) for p in (0.05, 0.20)]
Z = float(norm.ppf(0.975))


def candidate_intervals(
    rng: np.random.Generator, nt: int, st: np.ndarray, nc: int, sc: np.ndarray, resamples: int = 499
) -> dict[str, tuple[float, float]]:
    """Each candidate's 95% interval of mean(t) − mean(c) for one campaign (customers and buyers' spend per arm),
    all without the no-verdict rule."""
    mt, mc = st.sum() / nt, sc.sum() / nc
    d = mt - mc
    vt, vc = (np.var(np.concatenate([b, np.zeros(n - b.size)]), ddof=1) / n for n, b in ((nt, st), (nc, sc)))
    se = np.sqrt(vt + vc)
    means, variances = [], []
    for n, spend in ((nt, st), (nc, sc)):  # resample customers: binomial buyers, then buyers with replacement
        k = rng.binomial(n, spend.size / n, resamples)
        width = max(int(k.max()), 1)
        picked = spend[rng.integers(0, spend.size, (resamples, width))]
        draw = np.where(np.arange(width)[None, :] < k[:, None], picked, 0.0)
        m = draw.sum(axis=1) / n
        means.append(m)
        variances.append(np.maximum((draw * draw).sum(axis=1) - n * m * m, 0.0) / (n - 1) / n)
    star = means[0] - means[1]
    q_lo, q_hi = np.quantile((star - d) / np.sqrt(np.maximum(variances[0] + variances[1], 1e-300)), [0.025, 0.975])
    dof = (vt + vc) ** 2 / (vt**2 / max(st.size - 1, 1) + vc**2 / max(sc.size - 1, 1))
    half = float(student_t.ppf(0.975, max(dof, 1.0))) * se
    arms = []
    for n, spend in ((nt, st), (nc, sc)):  # two-part: conversion × lognormal mean spend (Cox), on the log scale
        logs = np.log(spend)
        p_hat, s2 = spend.size / n, logs.var(ddof=1)
        est = np.log(p_hat) + logs.mean() + s2 / 2
        sd = np.sqrt((1 - p_hat) / spend.size + s2 / spend.size + s2**2 / (2 * (spend.size - 1)))
        arms.append((np.exp(est), np.exp(est - Z * sd), np.exp(est + Z * sd)))
    (et, lt, ut), (ec, lc, uc) = arms
    lo, hi = np.quantile(star, [0.025, 0.975])
    return {
        "percentile": (float(lo), float(hi)),
        "bootstrap-t": (d - q_hi * se, d - q_lo * se),
        "welch-z": (d - Z * se, d + Z * se),
        "welch-buyers": (d - half, d + half),
        "lognormal-2part": (et - ec - np.hypot(et - lt, uc - ec), et - ec + np.hypot(ut - et, ec - lc)),
    }


def compare(campaigns: int, seed: int, spend: str) -> int:
    """Coverage of every candidate on a representative subset of the no-effect scenarios (campaigns with at least
    2 buyers in each arm; no rule), and of the chosen one under its no-verdict rule."""
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    print(f"{campaigns} campaigns per scenario, no effect, {spend} spend; coverage (share of intervals above 0)")
    print("holdout  sigma  conv  " + "  ".join(f"{c:>15}" for c in CANDIDATES) + "   chosen+rule (verdicts)")
    for s in COMPARED:
        hits = {c: [0, 0] for c in CANDIDATES}
        ruled, ruled_hits, counted = 0, 0, 0
        for _ in range(campaigns):
            arms = []
            for n in (TREATMENT_RATIO * s.holdout, s.holdout):
                arms.append((n, np.exp(log_spend(rng, s.sigma, MEAN_SPEND, rng.binomial(n, s.conversion), spend))))
            (nt, st), (nc, sc) = arms
            if min(st.size, sc.size) < 2:
                continue
            counted += 1
            for name, (lo, hi) in candidate_intervals(rng, nt, st, nc, sc).items():
                hits[name][0] += lo <= 0 <= hi
                hits[name][1] += lo > 0
            pad = [ArmSums.of(np.concatenate([b, np.zeros(n - b.size)])) for n, b in arms]
            r = revenue_intervals(*pad)
            if r.verdict[0]:
                ruled += 1
                ruled_hits += bool(r.low[0] <= 0 <= r.high[0])
        cells = (
            "  ".join(f"{h / counted:.3f} ({a / counted:.3f})".rjust(15) for h, a in hits.values()) if counted else ""
        )
        rule = f"{ruled_hits / ruled:.3f} ({ruled})" if ruled else "— (0)"
        print(f"{s.holdout:>7}  {s.sigma:>5.1f}  {s.conversion:>4.0%}  {cells}   {rule}")
    print(f"time: {time.perf_counter() - started:.1f} s")
    return 0


def _cell(out: dict[str, float], key: str) -> str:
    return f"{out[key]:.3f}" if key in out else "  —  "


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--campaigns", type=int, help="simulated campaigns per scenario (2,000; 400 with --candidates)")
    ap.add_argument("--seed", type=int, default=20261207)
    ap.add_argument("--min-verdicts", type=int, default=200, help="verdicts a scenario needs to be judged alone")
    ap.add_argument("--effects", default=",".join(EFFECTS), help="comma-separated subset of none,conversion,spend")
    ap.add_argument("--spend", choices=("lognormal", "whales"), default="lognormal", help="buyers' spend")
    ap.add_argument("--candidates", action="store_true", help="compare the candidate intervals instead")
    args = ap.parse_args(argv)
    if args.candidates:
        return compare(args.campaigns or 400, args.seed, args.spend)
    args.campaigns = args.campaigns or 2000
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    print(f"{args.campaigns} campaigns per scenario, treatment = {TREATMENT_RATIO} x holdout, seed {args.seed}, "
          f"{args.spend} spend")  # fmt: skip
    print("effect      holdout  sigma  conv  verdict  coverage  below  above  false+  power")
    worst_cov, worst_fp, judged, pooled_n, pooled_cov, failures = 1.0, 0.0, 0, 0.0, 0.0, 0
    for s in grid(tuple(args.effects.split(","))):
        out = run_scenario(rng, s, args.campaigns, args.spend)
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
