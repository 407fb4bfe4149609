"""Benchmark Kehu's value models against ``lifetimes`` on the same generated transactions.

Usage::

    python benchmarks/value_models.py --customers 1000000

Generates a seeded transaction log (BG/NBD purchasing, Gamma-Gamma spend; about 10 transactions per
customer), then times, for each side in its own subprocess (so peak RSS is honest): the RFM summary
(daily purchase occasions, weeks as unit), BG/NBD fit, Pareto/NBD fit, Gamma-Gamma fit and 12-month CLV
scoring (BG/NBD + Gamma-Gamma, 10% annual discount). Each ``lifetimes`` step runs in its own subprocess
and is stopped after ``--timeout`` seconds; a stopped step is reported as a lower bound (">").
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

STEPS = ("rfm", "bgnbd", "pnbd", "gamma_gamma", "clv")
PARAMS = {
    "bgnbd": ("r", "alpha", "a", "b"),
    "pnbd": ("r", "alpha", "s", "beta"),
    "gamma_gamma": ("p", "q", "gamma"),
}
MONTHLY_DISCOUNT = 1.10 ** (1 / 12) - 1
WEEKS_PER_MONTH = 4.345  # lifetimes' factor for freq="W"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def generate(n: int, seed: int, path: Path) -> int:
    from kehu.models.simulate import simulate_transactions

    log = simulate_transactions(
        n, r=2.0, alpha=8.0, a=0.3, b=6.0, p=6.0, q=4.0, gamma=15.0,
        acquisition_days=182, observation_days=546, seed=seed,
    )  # fmt: skip
    np.savez(path, customer_id=log.customer_id, day=log.day, value=log.value)
    return len(log.day)


def run_kehu(data: Path, repeat: int = 1) -> dict[str, object]:
    import pandas  # noqa: F401  (imported before timing, as the lifetimes children do: a one-time cost)
    import scipy.optimize
    import scipy.special  # noqa: F401

    from kehu.models import BetaGeo, GammaGamma, ParetoNBD, customer_lifetime_value, rfm_summary

    arrays = np.load(data)
    ids, day, value = arrays["customer_id"], arrays["day"], arrays["value"]
    runs: dict[str, list[float]] = {step: [] for step in STEPS}
    cpu: dict[str, list[float]] = {step: [] for step in STEPS}
    params: dict[str, dict[str, float]] = {}
    clv_total = 0.0

    for _ in range(repeat):
        marks = [(time.perf_counter(), time.process_time())]
        s = rfm_summary(ids, day, value, observation_end=int(day.max()), unit_days=7.0)
        marks.append((time.perf_counter(), time.process_time()))
        bg = BetaGeo().fit(s.frequency, s.recency, s.T)
        marks.append((time.perf_counter(), time.process_time()))
        pn = ParetoNBD().fit(s.frequency, s.recency, s.T)
        marks.append((time.perf_counter(), time.process_time()))
        gg = GammaGamma().fit(s.frequency, s.monetary_value)
        marks.append((time.perf_counter(), time.process_time()))
        clv = customer_lifetime_value(
            bg, gg, s.frequency, s.recency, s.T, s.monetary_value,
            months=12, periods_per_month=WEEKS_PER_MONTH, discount_rate=0.10,
        )  # fmt: skip
        marks.append((time.perf_counter(), time.process_time()))
        for i, step in enumerate(STEPS):
            runs[step].append(marks[i + 1][0] - marks[i][0])
            cpu[step].append(marks[i + 1][1] - marks[i][1])
        params = {"bgnbd": bg.params_, "pnbd": pn.params_, "gamma_gamma": gg.params_}
        clv_total = float(clv.value.sum())
    return {
        "seconds": {step: min(v) for step, v in runs.items()},
        "median": {step: float(np.median(v)) for step, v in runs.items()},
        "cpu": {step: min(v) for step, v in cpu.items()},
        "cpu_median": {step: float(np.median(v)) for step, v in cpu.items()},
        "repeat": repeat,
        "params": params,
        "clv_total": clv_total,
        "peak_rss_mb": _peak_rss_mb(),
    }


def run_lifetimes_step(step: str, data: Path, work: Path) -> dict[str, object]:
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter
    from lifetimes.utils import summary_data_from_transaction_data

    out: dict[str, object] = {}
    summary_path = work / "lifetimes_summary.parquet"
    if step == "rfm":
        arrays = np.load(data)
        frame = pd.DataFrame(
            {
                "customer_id": arrays["customer_id"],
                "date": np.datetime64("2020-01-01") + arrays["day"].astype("timedelta64[D]"),
                "value": arrays["value"],
            }
        )
        t0, c0 = time.perf_counter(), time.process_time()
        s = summary_data_from_transaction_data(
            frame, "customer_id", "date", monetary_value_col="value", freq="D", freq_multiplier=7
        )
        out["seconds"] = time.perf_counter() - t0
        out["cpu"] = time.process_time() - c0
        s.to_parquet(summary_path)
    else:
        s = pd.read_parquet(summary_path)
        f, r, T, m = (s[c].to_numpy() for c in ("frequency", "recency", "T", "monetary_value"))
        t0, c0 = time.perf_counter(), time.process_time()
        if step == "bgnbd":
            model = BetaGeoFitter().fit(f, r, T)
            out["params"] = dict(model.params_)
        elif step == "pnbd":
            model = ParetoNBDFitter().fit(f, r, T)
            out["params"] = dict(model.params_)
        elif step == "gamma_gamma":
            rep = f > 0
            model = GammaGammaFitter().fit(f[rep], m[rep])
            p = dict(model.params_)
            out["params"] = {"p": p["p"], "q": p["q"], "gamma": p["v"]}
        else:
            fitted = json.loads((work / "lifetimes_params.json").read_text())
            bg = BetaGeoFitter()
            bg.params_ = pd.Series(fitted["bgnbd"])
            bg.predict = bg.conditional_expected_number_of_purchases_up_to_time  # set by fit normally
            gg = GammaGammaFitter()
            g = fitted["gamma_gamma"]
            gg.params_ = pd.Series({"p": g["p"], "q": g["q"], "v": g["gamma"]})
            t0, c0 = time.perf_counter(), time.process_time()
            clv = gg.customer_lifetime_value(
                bg, s["frequency"], s["recency"], s["T"], s["monetary_value"],
                time=12, discount_rate=MONTHLY_DISCOUNT, freq="W",
            )  # fmt: skip
            out["clv_total"] = float(clv.sum())
        out["seconds"] = time.perf_counter() - t0
        out["cpu"] = time.process_time() - c0
    out["peak_rss_mb"] = _peak_rss_mb()
    return out


def _child(args: list[str], timeout: float | None) -> dict[str, object] | None:
    cmd = [sys.executable, __file__, *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--timeout", type=float, default=600.0, help="per lifetimes step, seconds")
    parser.add_argument("--skip-lifetimes", action="store_true")
    parser.add_argument(
        "--repeat", type=int, default=1, help="run Kehu's steps this many times and report the fastest (and median)"
    )
    parser.add_argument("--child", choices=["kehu", *STEPS], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child == "kehu":
        print(json.dumps(run_kehu(args.data, args.repeat)))
        return
    if args.child:
        print(json.dumps(run_lifetimes_step(args.child, args.data, args.work)))
        return

    with tempfile.TemporaryDirectory(prefix="kehu-bench-") as tmp:
        work = Path(tmp)
        data = work / "transactions.npz"
        t0 = time.perf_counter()
        n_tx = generate(args.customers, args.seed, data)
        print(f"{args.customers:,} customers, {n_tx:,} transactions (generated in {time.perf_counter() - t0:.1f} s)")
        kehu = _child(["--child", "kehu", "--data", str(data), "--repeat", str(args.repeat)], None)
        assert kehu is not None
        life: dict[str, dict[str, object] | None] = {}
        if not args.skip_lifetimes:
            fitted: dict[str, object] = {}
            for step in STEPS:
                if step == "clv":
                    if fitted.get("bgnbd") is None or fitted.get("gamma_gamma") is None:
                        life[step] = None
                        continue
                    (work / "lifetimes_params.json").write_text(json.dumps(fitted))
                res = _child(["--child", step, "--data", str(data), "--work", str(work)], args.timeout)
                life[step] = res
                if step in PARAMS:
                    fitted[step] = None if res is None else res["params"]
                if step == "rfm" and res is None:
                    break
        report(kehu, life, args.timeout, args.skip_lifetimes)


def report(kehu: dict, life: dict, timeout: float, skipped: bool) -> None:
    ks, km = kehu["seconds"], kehu["median"]
    if kehu["repeat"] > 1:
        print(f"\nkehu s: fastest of {kehu['repeat']} runs (kehu med: their median); lifetimes: one run per step")
    print(f"\n{'step':<14}{'kehu s':>10}{'kehu med':>10}{'lifetimes s':>14}{'ratio':>10}{'ratio med':>11}")
    for step in STEPS:
        res = life.get(step)
        if skipped:
            print(f"{step:<14}{ks[step]:>10.2f}{km[step]:>10.2f}")
            continue
        lt = f">{timeout:.0f}" if res is None else f"{res['seconds']:.2f}"
        other = timeout if res is None else res["seconds"]
        bound = ">" if res is None else ""
        ratios = f"{bound + f'{other / ks[step]:.1f}x':>10}{bound + f'{other / km[step]:.1f}x':>11}"
        print(f"{step:<14}{ks[step]:>10.2f}{km[step]:>10.2f}{lt:>14}{ratios}")
    path = ("bgnbd", "gamma_gamma", "clv")
    complete = not skipped and all(life.get(s) is not None for s in path)
    if complete:
        k_sum = sum(ks[s] for s in path)
        l_sum = sum(life[s]["seconds"] for s in path)
        m_sum = sum(km[s] for s in path)
        ratios = f"{l_sum / k_sum:>9.1f}x{l_sum / m_sum:>10.1f}x"
        print(f"{'BG+GG+CLV':<14}{k_sum:>10.2f}{m_sum:>10.2f}{l_sum:>14.2f}{ratios}")
    kc, kcm = kehu["cpu"], kehu["cpu_median"]
    print("\nCPU seconds (less sensitive to other load on the machine; ratios: lifetimes / kehu median):")
    print(f"{'step':<14}{'kehu':>10}{'kehu med':>10}{'lifetimes':>14}{'ratio':>10}")
    for step in STEPS:
        res = life.get(step)
        if skipped or res is None:
            print(f"{step:<14}{kc[step]:>10.2f}{kcm[step]:>10.2f}{'-':>14}")
            continue
        print(f"{step:<14}{kc[step]:>10.2f}{kcm[step]:>10.2f}{res['cpu']:>14.2f}{res['cpu'] / kcm[step]:>9.1f}x")
    if complete:
        k_cpu, k_cpu_med = sum(kc[s] for s in path), sum(kcm[s] for s in path)
        l_cpu = sum(life[s]["cpu"] for s in path)
        print(f"{'BG+GG+CLV':<14}{k_cpu:>10.2f}{k_cpu_med:>10.2f}{l_cpu:>14.2f}{l_cpu / k_cpu_med:>9.1f}x")
    rss = [r["peak_rss_mb"] for r in life.values() if r is not None]
    life_rss = f", lifetimes {max(rss):.0f} MB" if rss else ""
    print(f"\npeak RSS: kehu {kehu['peak_rss_mb']:.0f} MB{life_rss}")
    print(f"\n{'model':<12}{'param':<7}{'kehu':>14}{'lifetimes':>14}{'rel diff':>11}")
    for model, names in PARAMS.items():
        res = life.get(model)
        for name in names:
            k = kehu["params"][model][name]
            if res is None:
                print(f"{model:<12}{name:<7}{k:>14.6g}{'-':>14}")
                continue
            v = res["params"][name]
            print(f"{model:<12}{name:<7}{k:>14.6g}{v:>14.6g}{abs(k / v - 1):>11.1e}")
    clv_life = life.get("clv")
    if clv_life is not None:
        print(f"\n12-month CLV total: kehu {kehu['clv_total']:,.2f}  lifetimes {clv_life['clv_total']:,.2f}")
    print(f"(pid {os.getpid()})")


if __name__ == "__main__":
    main()
