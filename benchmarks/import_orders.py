"""Benchmark: importing order rows from CSV into SQLite — Kehu's importer vs naive pandas.

Each side runs in a fresh child process (so peak RSS is its own), on the same generated file, ``--repeat``
times; the script prints each run, the medians and the ratios.

- **kehu**: ``Workspace.import_file("orders", …)`` into a new SQLite store: header recognition, parsing of every
  value, validation, quarantine, customer resolution (minimal customers are created), change detection and
  an upsert in one transaction, with the store's indexes in place. The import parses in a second process
  (:mod:`kehu.ingest.parse_process`): its CPU time is counted, and its peak RSS is added to the importer's.
- **pandas**: ``pd.read_csv(path)`` + ``DataFrame.to_sql("orders", sqlite_engine, index=False)`` — what a
  user would write by hand: no validation, no types beyond pandas' guesses, no keys, no customers. Settings:
  all defaults (C parser reading the whole file, ``to_sql`` in one ``executemany`` without ``chunksize`` or
  ``method``, a plain ``sqlite:///`` SQLAlchemy engine, so SQLite's default rollback journal and
  ``synchronous=FULL``); nothing is tuned against it or for it.

Usage::

    .venv/bin/python benchmarks/import_orders.py --rows 1000000 --customers 100000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _vm_hwm_mb(pid: int | str = "self") -> float:
    """A process's own peak RSS since it started its program (Linux ``VmHWM``), 0 if unknown.

    ``ru_maxrss`` also counts what the parent held when it started the process (Linux keeps the high-water
    mark across exec), which would charge the importer with the benchmark's generator and the parsing
    process with the importer.
    """
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class _ParsePeak:
    """Follows the import's parsing processes (children running kehu.ingest.parse_process): their peak RSS."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _children(self) -> list[str]:
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and b"kehu.ingest.parse_process" in (entry / "cmdline").read_bytes():
                    found.append(entry.name)
            except OSError:
                continue
        return found

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            for pid in self._children():
                self.peak = max(self.peak, _vm_hwm_mb(pid))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


def child_kehu(csv_path: Path, workdir: Path) -> dict[str, float]:
    from kehu.config import load_settings
    from kehu.service.workspace import Workspace

    ws = Workspace(load_settings(home=workdir / "home"))
    ws.init()
    watch = _ParsePeak()
    started, cpu = time.perf_counter(), _cpu() + _children_cpu()
    s = ws.import_file("orders", csv_path, source="bench")
    seconds, cpu = time.perf_counter() - started, _cpu() + _children_cpu() - cpu
    # peaks of this import (own peaks, see _vm_hwm_mb; the parsing process: kehu.ingest.parse_process)
    main_rss, parse_rss = _vm_hwm_mb() or _peak_rss_mb(), watch.stop()
    assert s.read == s.inserted + s.quarantined, s
    again = time.perf_counter()
    s2 = ws.import_file("orders", csv_path, source="bench")
    reimport = time.perf_counter() - again
    assert s2.unchanged == s.inserted, s2
    return {
        "rows": s.read,
        "seconds": seconds,
        "cpu_seconds": cpu,
        # both processes at once, as if their peaks coincided (an upper bound of what the import holds)
        "peak_rss_mb": main_rss + parse_rss,
        "main_rss_mb": main_rss,
        "parse_rss_mb": parse_rss,
        "reimport_peak_rss_mb": _vm_hwm_mb() or _peak_rss_mb(),
        "reimport_seconds": reimport,
        "customers_created": s.customers_created,
        "quarantined": s.quarantined,
    }


def child_pandas(csv_path: Path, workdir: Path) -> dict[str, float]:
    import pandas as pd
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{workdir / 'pandas.db'}")
    started, cpu = time.perf_counter(), _cpu()
    df = pd.read_csv(csv_path)
    df.to_sql("orders", engine, index=False)
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    return {"rows": len(df), "seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": _peak_rss_mb()}


def _run_child(side: str, csv_path: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{side}-") as tmp:
        out = subprocess.run(
            [sys.executable, __file__, "--child", side, "--csv", str(csv_path), "--workdir", tmp],
            check=True,
            capture_output=True,
            text=True,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=["kehu", "pandas"], help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        fn = child_kehu if args.child == "kehu" else child_pandas
        print(json.dumps(fn(args.csv, args.workdir)))
        return

    from kehu.demo import write_orders_csv

    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        csv_path = Path(tmp) / "orders.csv"
        t = time.perf_counter()
        write_orders_csv(csv_path, rows=args.rows, customers=args.customers, seed=args.seed)
        size_mb = csv_path.stat().st_size / 1e6
        print(
            f"generated {args.rows:,} order rows for {args.customers:,} customers "
            f"({size_mb:.0f} MB, Chinese headers, UTF-8) in {time.perf_counter() - t:.1f} s"
        )
        results: dict[str, list[dict[str, float]]] = {"kehu": [], "pandas": []}
        for i in range(args.repeat):
            for side in ("pandas", "kehu"):  # alternate so machine noise hits both
                r = _run_child(side, csv_path)
                results[side].append(r)
                extra = (
                    f" (importer {r['main_rss_mb']:.0f} + parsing process {r['parse_rss_mb']:.0f}), "
                    f"re-import (all unchanged) {r['reimport_seconds']:.2f} s, importer's peak RSS by then "
                    f"{r['reimport_peak_rss_mb']:.0f} MB"
                    if side == "kehu"
                    else ""
                )
                print(
                    f"run {i + 1} {side:6}: {r['seconds']:6.2f} s  {r['rows'] / r['seconds']:>10,.0f} rows/s  "
                    f"CPU {r['cpu_seconds']:6.2f} s  peak RSS {r['peak_rss_mb']:6.0f} MB{extra}"
                )
    med = {
        side: {k: statistics.median(r[k] for r in rs) for k in ("seconds", "cpu_seconds", "peak_rss_mb")}
        for side, rs in results.items()
    }
    print()
    print(f"{'':8}{'median s':>10}{'rows/s':>12}{'CPU s':>8}{'peak RSS MB':>13}")
    for side in ("kehu", "pandas"):
        m = med[side]
        print(
            f"{side:8}{m['seconds']:>10.2f}{args.rows / m['seconds']:>12,.0f}{m['cpu_seconds']:>8.2f}"
            f"{m['peak_rss_mb']:>13.0f}"
        )
    ratio = med["pandas"]["seconds"] / med["kehu"]["seconds"]
    print(
        f"\nkehu rows/s ÷ naive pandas rows/s = {ratio:.2f}x  (target ≥ 2x); "
        f"CPU-time ratio {med['pandas']['cpu_seconds'] / med['kehu']['cpu_seconds']:.2f}x; "
        f"kehu peak RSS {med['kehu']['peak_rss_mb']:.0f} MB (target < 1024 MB)"
    )


if __name__ == "__main__":
    main()
