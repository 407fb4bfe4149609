"""Benchmark the capacity stage of a playbook run: value at stake, merging, ranking and fitting into capacity.

Usage::

    python benchmarks/capacity.py --customers 1000000 --firings 100000 --owners 1000 --repeat 5

Generates seeded published scores for ``--customers`` (12-month CLV, churn risk, renewal risk for a contract
share, win-back chance and value for lapsed buyers, p_alive) and ``--firings`` task firings over them (a
customer may fire several rules), each for one of ``--owners`` owners with 15 slots a day over 5 working days
minus a random existing load. Times, as medians of ``--repeat`` runs: reading the firings' scores out of the
1M-customer arrays plus :func:`kehu.playbooks.capacity.value_at_stake` plus :func:`~kehu.playbooks.capacity.allocate`
(Kehu), against merging, ranking and fitting written with pandas (``groupby`` / ``sort_values`` / ``cumcount``, what
a user would otherwise write; the same value at stake), whose fates must be identical. Peak memory is the peak
traced by ``tracemalloc`` during one Kehu run (NumPy reports its buffers to it) and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
import tracemalloc
from typing import Any

import numpy as np

from kehu.playbooks.capacity import Slots, allocate, value_at_stake

DAYS = 5
PER_DAY = 15


def generate(customers: int, firings: int, owners: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    nan = np.full(customers, np.nan)
    lapsed = rng.random(customers) < 0.2
    contract = rng.random(customers) < 0.15
    scores = {
        "clv": rng.lognormal(7.0, 1.2, customers),
        "churn": np.where(lapsed, nan, rng.beta(2, 5, customers)),
        "renewal": np.where(contract, rng.beta(2, 3, customers), nan),
        "winback": np.where(lapsed, rng.beta(1, 6, customers), nan),
        "winback_value": np.where(lapsed, rng.lognormal(6.5, 1.0, customers), nan),
        "p_alive": rng.beta(5, 2, customers),
    }
    cust = rng.integers(0, customers, firings)
    owner_of_customer = rng.integers(1, owners + 1, customers)
    fire = {
        "customer": cust.astype(np.int64),
        "assignee": np.where(rng.random(firings) < 0.02, -1, owner_of_customer[cust]).astype(np.int64),
        "priority": rng.choice(4, firings, p=[0.05, 0.35, 0.5, 0.1]).astype(np.int8),
        "due_in_days": rng.integers(0, 4, firings).astype(np.int64),
        "messages": rng.random(firings) < 0.1,
        "contract_rule": rng.random(firings) < 0.1,
        "effect": rng.choice([1.0, 0.5, 1.5], firings),
    }
    free = PER_DAY - rng.integers(0, 8, (owners, DAYS))
    return {"scores": scores, "fire": fire, "slots": Slots(np.arange(1, owners + 1, dtype=np.int64), free)}


def kehu(data: dict[str, Any]) -> np.ndarray:
    s, f = data["scores"], data["fire"]
    c = f["customer"]
    value, _ = value_at_stake(
        s["clv"][c], s["churn"][c], s["renewal"][c], s["winback"][c], s["winback_value"][c], s["p_alive"][c],
        contract=f["contract_rule"], effect=f["effect"],
    )  # fmt: skip
    alloc = allocate(c, f["assignee"], f["priority"], f["due_in_days"], value, f["messages"], data["slots"])
    return alloc.fate


def pandas_way(data: dict[str, Any]) -> np.ndarray:
    import pandas as pd

    s, f = data["scores"], data["fire"]
    c = f["customer"]
    value, _ = value_at_stake(
        s["clv"][c], s["churn"][c], s["renewal"][c], s["winback"][c], s["winback_value"][c], s["p_alive"][c],
        contract=f["contract_rule"], effect=f["effect"],
    )  # fmt: skip
    df = pd.DataFrame({k: f[k] for k in ("customer", "assignee", "priority", "due_in_days", "messages")})
    df["value"] = value
    df["i"] = np.arange(len(df))
    df = df.sort_values(["customer", "priority", "due_in_days", "i"])
    df["head"] = df.groupby("customer")["i"].transform("first")
    heads = df.groupby("customer").agg(
        i=("i", "first"), assignee=("assignee", "first"), priority=("priority", "first"),
        due=("due_in_days", "first"), value=("value", "max"), messages=("messages", "any"),
    ).reset_index()  # fmt: skip
    heads["not_urgent"] = heads["priority"] != 0
    heads["neg"] = -heads["value"]
    heads = heads.sort_values(["not_urgent", "neg", "priority", "due", "customer"])
    heads["nth"] = heads.groupby("assignee").cumcount()
    slots = data["slots"]
    total = pd.Series(np.clip(slots.free, 0, None).sum(axis=1), index=slots.owners)
    heads["slots"] = heads["assignee"].map(total).fillna(0)
    heads["fate"] = np.where(heads["nth"] < heads["slots"], 0, np.where(heads["messages"], 3, 2))
    fate = np.ones(len(df), dtype=np.int8)
    fate[heads["i"].to_numpy()] = heads["fate"].to_numpy()
    return fate


def _median_seconds(fn: Any, data: dict[str, Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(data)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--firings", type=int, default=100_000)
    ap.add_argument("--owners", type=int, default=1_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    data = generate(args.customers, args.firings, args.owners, args.seed)
    tracemalloc.start()
    fates = kehu(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    seconds, fates = _median_seconds(kehu, data, args.repeat)
    pd_seconds, pd_fates = _median_seconds(pandas_way, data, args.repeat)
    assert np.array_equal(fates, pd_fates), "the pandas version decides differently"
    counts = {
        name: int(np.count_nonzero(fates == i)) for i, name in enumerate(("task", "merged", "backlog", "automated"))
    }
    print(
        f"capacity stage: {args.customers:,} customers, {args.firings:,} task firings, {args.owners:,} owners "
        f"({PER_DAY}/day x {DAYS} days), median of {args.repeat}"
    )
    print(f"  fates: {counts}")
    print(f"  kehu   (value at stake + merge + rank + fit) {seconds:8.3f} s   peak traced {peak / 2**20:7.1f} MB")
    print(f"  pandas (same steps, same fates)            {pd_seconds:8.3f} s")
    print(f"  process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
