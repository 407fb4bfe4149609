"""Benchmark the analytics pipeline on generated orders: Kehu on DuckDB vs pandas vs lifetimes.

    python benchmarks/pipeline.py --orders 10000000 --repeat 3     # ~1,000,000 customers

Orders are generated (seeded) straight to Parquet (``--data DIR`` keeps them for the next run). Each
contender runs in its own child process so that its peak RSS is its own, ``--repeat`` times, the
contenders alternating; the script prints every run (wall seconds, CPU seconds, peak RSS), the medians and
the ratios of the medians. CPU seconds are the user + sys seconds of the timed part (all threads); "whole
child" is the child's user + sys including start-up, imports and untimed loading:

- ``kehu-duckdb``: the whole Kehu pipeline from the Parquet files (all steps, audits included) plus fetching
  the feature table, with DuckDB's memory limit at ``--memory-limit``;
- ``pandas``: hand-written pandas groupby code for the same purchase features and the cohort table,
  reading the Parquet file included;
- ``kehu-rfm``: :func:`kehu.pipeline.rfm_summary` (frequency, recency, T, monetary value; audited) plus
  fetching it, from the orders already loaded into DuckDB (as after an extract);
- ``lifetimes``: ``lifetimes.utils.summary_data_from_transaction_data`` on the purchases already in a
  pandas frame (reading and filtering are not timed).

On a machine shared with other work, compare CPU seconds as well as wall seconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

AS_OF = dt.date(2024, 12, 31)
START = dt.date(2022, 1, 1)
MEMORY_LIMIT = "1GB"  # DuckDB's default buffer limit for the Kehu runs (it spills beyond it)


def _cpu() -> float:
    """CPU seconds (user + sys, all threads) of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def generate(orders: int, folder: Path, seed: int) -> None:
    """Write ``orders.parquet`` and ``customers.parquet`` (about 10 orders per customer)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    customers = max(1, orders // 10)
    # customers arrive over the period; each order falls between a customer's arrival and the end
    arrival = rng.integers(0, (AS_OF - START).days * 86_400, customers)
    cid = rng.integers(0, customers, orders)
    span = (AS_OF - START).days * 86_400 + 86_400 * 30 - arrival[cid]
    seconds = arrival[cid] + (rng.random(orders) * span).astype(np.int64)
    epoch = np.datetime64(START, "us")
    ordered_at = epoch + seconds.astype("timedelta64[s]").astype("timedelta64[us]")
    status = np.array(["paid", "completed", "refunded", "cancelled", "pending"])[
        rng.choice(5, orders, p=[0.6, 0.3, 0.05, 0.03, 0.02])
    ]
    category = np.array([f"cat{i:02d}" for i in range(20)])[rng.zipf(1.6, orders) % 20]
    discount = np.where(rng.random(orders) < 0.2, rng.integers(100, 2_000, orders), 0)
    table = pa.table({
        "id": np.arange(1, orders + 1, dtype=np.int64),
        "customer_id": cid.astype(np.int64) + 1,
        "ordered_at": pa.array(ordered_at, pa.timestamp("us")),
        "amount_cents": rng.lognormal(8.5, 0.8, orders).astype(np.int64),
        "gross_margin_cents": pa.nulls(orders, pa.int64()),
        "discount_cents": discount.astype(np.int64),
        "quantity": np.ones(orders, dtype=np.int64),
        "category": category,
        "channel": pa.nulls(orders, pa.string()),
        "status": status,
        "updated_at": pa.array(ordered_at, pa.timestamp("us")),
    })  # fmt: skip
    pq.write_table(table, folder / "orders.parquet", row_group_size=1_000_000)
    ids = np.arange(1, customers + 1, dtype=np.int64)
    first = np.full(customers, np.iinfo(np.int64).max)
    np.minimum.at(first, cid, seconds)
    first_seen = pa.array(epoch + first.astype("timedelta64[s]").astype("timedelta64[us]"), pa.timestamp("us"),
                          mask=first == np.iinfo(np.int64).max)  # fmt: skip
    pq.write_table(pa.table({"id": ids, "first_seen_at": first_seen}), folder / "customers.parquet")


def run_kehu(folder: Path, memory_limit: str) -> dict[str, Any]:
    from kehu import pipeline
    from kehu.config import load_settings
    from kehu.engine import arrow_schema, connect, register_arrow, to_arrow

    backend = connect(load_settings(home=folder / "home"), memory_limit=memory_limit or None)
    started, cpu = time.perf_counter(), _cpu()
    tables = {
        "orders": backend.read_parquet(str(folder / "orders.parquet"), table_name="kehu_orders"),
        "customers": backend.read_parquet(str(folder / "customers.parquet"), table_name="kehu_customers"),
    }
    tables["orders"] = tables["orders"].mutate(ordered_at=tables["orders"].ordered_at.cast("timestamp"))
    tables["customers"] = tables["customers"].mutate(first_seen_at=tables["customers"].first_seen_at.cast("timestamp"))
    for name in ("interactions", "tickets", "feedback", "contracts"):
        tables[name] = register_arrow(backend, f"kehu_{name}", arrow_schema(name).empty_table())
    step_cpu: dict[str, float] = {}

    def progress(event: Any) -> None:  # CPU seconds per step (user + sys of all threads)
        step_cpu[event.step.name] = _cpu() - step_cpu.get(event.step.name, 0.0)

    output = pipeline.run(backend, tables, AS_OF, progress=progress)
    steps = dict(output.step_seconds)
    t, c = time.perf_counter(), _cpu()
    features = to_arrow(backend, output.tables["customer_features"])
    steps["fetch"] = time.perf_counter() - t
    step_cpu["fetch"] = _cpu() - c
    return {"seconds": time.perf_counter() - started, "cpu_seconds": _cpu() - cpu, "steps": steps,
            "step_cpu": step_cpu, "customers": features.num_rows}  # fmt: skip


def run_kehu_rfm(folder: Path, memory_limit: str) -> dict[str, Any]:
    from kehu import pipeline
    from kehu.config import load_settings
    from kehu.engine import connect, to_arrow

    backend = connect(load_settings(home=folder / "home"), memory_limit=memory_limit or None)
    source = str(folder / "orders.parquet").replace("'", "''")
    backend.raw_sql(f"CREATE TEMP TABLE kehu_orders AS SELECT * FROM read_parquet('{source}')")
    orders = backend.table("kehu_orders")
    started, cpu = time.perf_counter(), _cpu()
    output = pipeline.rfm_summary(backend, orders, AS_OF)
    steps = dict(output.step_seconds)
    t = time.perf_counter()
    summary = to_arrow(backend, output.tables["rfm_summary"])
    steps["fetch"] = time.perf_counter() - t
    return {"seconds": time.perf_counter() - started, "cpu_seconds": _cpu() - cpu, "steps": steps,
            "customers": summary.num_rows}  # fmt: skip


def run_pandas(folder: Path, memory_limit: str) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    started, cpu = time.perf_counter(), _cpu()
    o = pd.read_parquet(folder / "orders.parquet", columns=["customer_id", "ordered_at", "amount_cents",
                                                            "discount_cents", "category", "status"])  # fmt: skip
    steps: dict[str, float] = {"read": time.perf_counter() - started}
    t = time.perf_counter()
    cutoff = pd.Timestamp(AS_OF + dt.timedelta(days=1))
    o = o[o.ordered_at < cutoff]
    o["day"] = o.ordered_at.dt.floor("D")
    purchase = o.status.isin(["paid", "completed"]).to_numpy()
    o["revenue"] = np.where(purchase, o.amount_cents, 0)
    o["purchase"] = purchase.astype(np.int64)
    o["refund"] = (o.status == "refunded").astype(np.int64)
    o["discounted"] = (purchase & (o.discount_cents > 0)).astype(np.int64)
    age = (pd.Timestamp(AS_OF) - o.day).dt.days.to_numpy()
    for n in (30, 90, 180, 365):
        o[f"rev{n}"] = np.where(age < n, o.revenue, 0)
        o[f"ord{n}"] = np.where(age < n, o.purchase, 0)
    prev = (age >= 90) & (age < 180)
    o["revprev"] = np.where(prev, o.revenue, 0)
    o["ordprev"] = np.where(prev, o.purchase, 0)
    summed = ["purchase", "refund", "discounted", "revenue", "revprev", "ordprev"]
    summed += [f"{kind}{n}" for n in (30, 90, 180, 365) for kind in ("rev", "ord")]
    sums = o.groupby("customer_id")[summed].sum()
    p = o[purchase]
    times = p.groupby("customer_id").ordered_at.agg(["min", "max"])
    days = p.groupby(["customer_id", "day"], sort=True).revenue.sum().reset_index()
    days["gap"] = days.groupby("customer_id").day.diff().dt.days
    per = days.groupby("customer_id").agg(purchase_days=("day", "size"), first=("day", "min"), last=("day", "max"),
                                          first_rev=("revenue", "first"), gap_std=("gap", "std"))  # fmt: skip
    cats = p.groupby(["customer_id", "category"]).revenue.agg(["size", "sum"]).reset_index()
    cats = cats.sort_values(["customer_id", "size", "sum", "category"], ascending=[True, False, False, True])
    top = cats.drop_duplicates("customer_id").set_index("customer_id").category
    ncat = cats.groupby("customer_id").size()
    f = sums.join(times).join(per).join(top.rename("top_category")).join(ncat.rename("category_count"))
    f["frequency"] = f.purchase_days - 1
    f["recency_days"] = (f["last"] - f["first"]).dt.days
    f["T_days"] = (pd.Timestamp(AS_OF) - f["first"]).dt.days
    f["recency_weeks"], f["T_weeks"] = f.recency_days / 7, f.T_days / 7
    f["mean_order_value"] = f.revenue / f.purchase.replace(0, np.nan)
    f["monetary_value"] = (f.revenue - f.first_rev) / f.frequency.replace(0, np.nan)
    f["gap_mean"] = f.recency_days / f.frequency.replace(0, np.nan)
    f["overdue"] = (pd.Timestamp(AS_OF) - f["last"]).dt.days / f.gap_mean
    f["refund_share"] = f.refund / (f.purchase + f.refund).replace(0, np.nan)
    f["discount_share"] = f.discounted / f.purchase.replace(0, np.nan)
    f["trend"] = (f.rev90 - f.revprev) / f.revprev.replace(0, np.nan)
    steps["features"] = time.perf_counter() - t
    t = time.perf_counter()
    month = p.ordered_at.dt.year * 12 + p.ordered_at.dt.month
    p = p.assign(month=month, cohort=month.groupby(p.customer_id).transform("min"))
    cohorts = p.groupby(["cohort", "month"]).agg(active=("customer_id", "nunique"), revenue=("revenue", "sum"))
    steps["cohorts"] = time.perf_counter() - t
    return {"seconds": time.perf_counter() - started, "cpu_seconds": _cpu() - cpu, "steps": steps,
            "customers": len(f), "cells": len(cohorts)}  # fmt: skip


def run_lifetimes(folder: Path, memory_limit: str) -> dict[str, Any]:
    import pandas as pd
    from lifetimes.utils import summary_data_from_transaction_data

    o = pd.read_parquet(folder / "orders.parquet", columns=["customer_id", "ordered_at", "status", "amount_cents"])
    o = o[o.status.isin(["paid", "completed"]) & (o.ordered_at < pd.Timestamp(AS_OF + dt.timedelta(days=1)))]
    started, cpu = time.perf_counter(), _cpu()
    summary = summary_data_from_transaction_data(
        o, "customer_id", "ordered_at", monetary_value_col="amount_cents",
        observation_period_end=pd.Timestamp(AS_OF), freq="D",
    )  # fmt: skip
    return {"seconds": time.perf_counter() - started, "cpu_seconds": _cpu() - cpu, "steps": {},
            "customers": len(summary)}  # fmt: skip


CHILDREN = {"kehu-duckdb": run_kehu, "pandas": run_pandas, "kehu-rfm": run_kehu_rfm, "lifetimes": run_lifetimes}
#: (Kehu contender, the contender it is compared with, the target speed-up)
COMPARISONS = (("kehu-duckdb", "pandas", 2.0), ("kehu-rfm", "lifetimes", 20.0))


def child(name: str, folder: Path, memory_limit: str) -> None:
    import warnings

    warnings.simplefilter("ignore")  # lifetimes and pandas 3 disagree on deprecations; not what we measure
    result = CHILDREN[name](folder, memory_limit)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def run_child(name: str, folder: Path, memory_limit: str) -> dict[str, Any]:
    """Run one contender in a fresh process; add its CPU seconds (user + sys of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, "--data", str(folder), "--memory-limit", memory_limit],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["child_cpu_seconds"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Medians per contender: seconds, child CPU seconds, peak RSS and each step's seconds."""
    medians: dict[str, dict[str, Any]] = {}
    for name, rs in runs.items():
        steps = {step: statistics.median(r["steps"][step] for r in rs) for step in rs[0]["steps"]}
        step_cpu = {step: statistics.median(r["step_cpu"][step] for r in rs) for step in rs[0].get("step_cpu", {})}
        medians[name] = {
            "runs": len(rs),
            "seconds": statistics.median(r["seconds"] for r in rs),
            "cpu_seconds": statistics.median(r["cpu_seconds"] for r in rs),
            "child_cpu_seconds": statistics.median(r["child_cpu_seconds"] for r in rs),
            "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in rs),
            "max_peak_rss_mb": max(r["peak_rss_mb"] for r in rs),
            "steps": steps,
            "step_cpu": step_cpu,
            "customers": rs[0]["customers"],
        }
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender (alternating); medians")
    parser.add_argument("--only", choices=sorted(CHILDREN), action="append", help="run only these contenders")
    parser.add_argument("--data", type=Path, help="folder for the generated data, reused when it holds it")
    parser.add_argument("--memory-limit", default=MEMORY_LIMIT, help="DuckDB memory limit ('' for DuckDB's)")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.data, args.memory_limit)
        return
    with tempfile.TemporaryDirectory(prefix="kehu-bench-pipeline-") as tmp:
        folder = args.data or Path(tmp)
        marker = folder / f"generated-{args.orders}-{args.seed}"
        if not marker.exists():
            folder.mkdir(parents=True, exist_ok=True)
            t = time.perf_counter()
            generate(args.orders, folder, args.seed)
            marker.touch()
            print(f"generated {args.orders:,} orders in {time.perf_counter() - t:.1f} s", flush=True)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in args.only or list(CHILDREN)}
        for i in range(args.repeat):
            for name in runs:
                r = run_child(name, folder, args.memory_limit)
                runs[name].append(r)
                print(f"run {i + 1} {name:<12} {r['seconds']:7.2f} s  CPU {r['cpu_seconds']:7.2f} s "
                      f"(whole child {r['child_cpu_seconds']:6.2f} s)  peak RSS {r['peak_rss_mb']:5.0f} MB  "
                      f"{r['customers']:,} customers", flush=True)  # fmt: skip
    medians = summarize(runs)
    print(f"\nmedians of {args.repeat} run(s), {args.orders:,} orders:")
    print(f"{'':14}{'wall s':>9}{'CPU s':>9}{'child CPU s':>13}{'peak RSS MB':>13}")
    for name, m in medians.items():
        print(f"{name:<14}{m['seconds']:9.2f}{m['cpu_seconds']:9.2f}{m['child_cpu_seconds']:13.2f}"
              f"{m['peak_rss_mb']:13.0f}")  # fmt: skip
        for step, seconds in m["steps"].items():
            cpu_text = f"  CPU {m['step_cpu'][step]:6.2f} s" if step in m["step_cpu"] else ""
            print(f"  {step:<22}{seconds:7.2f} s{cpu_text}")
    for ours, other, target in COMPARISONS:
        if ours in medians and other in medians:
            wall = medians[other]["seconds"] / medians[ours]["seconds"]
            cpu = medians[other]["cpu_seconds"] / medians[ours]["cpu_seconds"]
            print(f"{ours} vs {other}: {wall:.1f}x faster (wall), {cpu:.1f}x less CPU (target {target:g}x)")
    print(json.dumps({"orders": args.orders, "repeat": args.repeat, "medians": medians}))


if __name__ == "__main__":
    main()
