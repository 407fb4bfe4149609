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
- **floor** (``--floor``): SQLite's own work for the rows Kehu stores, with nothing else — the lower bound of
  any importer that writes them through Python's ``sqlite3``. The child imports the file with Kehu (untimed),
  reads the stored ``orders`` rows back as Python values (untimed), and times only writing exactly those rows
  into a new store the way the bulk path does (multi-row ``INSERT`` statements through the DBAPI, the two
  indexes of ``orders`` built at the end, commit with its WAL checkpoint); once with the timestamps as stored
  (text) and once with them as integers (microseconds since the epoch, a possible future schema). Parsing,
  validation, customers and hashes cost nothing here.

With ``--changed SHARE``, Kehu's side then re-imports the file with that share of the orders' statuses changed
(refunded, or completed if they were refunded): the import that updates rows and keeps their earlier values
(:mod:`kehu.store.history`).

Usage::

    .venv/bin/python benchmarks/import_orders.py --rows 1000000 --customers 100000 --repeat 3 [--floor]
    .venv/bin/python benchmarks/import_orders.py --rows 8000000 --customers 800000 --repeat 1 --kehu-only
    .venv/bin/python benchmarks/import_orders.py --rows 1000000 --customers 100000 --repeat 3 --kehu-only --changed 0.1
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
from typing import Any


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


def _with_changed_statuses(csv_path: Path, out: Path, share: float) -> int:
    """A copy of the orders file where every ``1/share``-th order is refunded (or completed, if it was refunded)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    from kehu.demo.headers import HEADERS

    header = HEADERS["orders"]["status"]
    with csv_path.open(encoding="utf-8-sig") as fh:
        names = fh.readline().rstrip("\r\n").split(",")
    as_text = pcsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False)
    table = pcsv.read_csv(csv_path, convert_options=as_text)
    status = table.column(header).combine_chunks()
    picked = pa.array([i % round(1 / share) == 0 for i in range(len(status))])
    flipped = pc.if_else(pc.equal(status, "已退款"), "已完成", "已退款")
    table = table.set_column(table.column_names.index(header), header, pc.if_else(picked, flipped, status))
    pcsv.write_csv(table, out)
    return int(pc.sum(picked).as_py())


def child_kehu(csv_path: Path, workdir: Path, changed: float = 0.0) -> dict[str, float]:
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
    again, again_cpu = time.perf_counter(), _cpu() + _children_cpu()
    s2 = ws.import_file("orders", csv_path, source="bench")
    reimport, reimport_cpu = time.perf_counter() - again, _cpu() + _children_cpu() - again_cpu
    assert s2.unchanged == s.inserted, s2
    extra: dict[str, float] = {}
    if changed:
        changed_path = workdir / "orders-changed.csv"
        n_changed = _with_changed_statuses(csv_path, changed_path, changed)
        again, again_cpu = time.perf_counter(), _cpu() + _children_cpu()
        s3 = ws.import_file("orders", changed_path, source="bench")
        extra = {
            "changed_rows": n_changed,
            "changed_seconds": time.perf_counter() - again,
            "changed_cpu_seconds": _cpu() + _children_cpu() - again_cpu,
        }
        assert s3.updated == n_changed and s3.unchanged == s.inserted - n_changed, s3
    return extra | {
        "rows": s.read,
        "seconds": seconds,
        "cpu_seconds": cpu,
        # both processes at once, as if their peaks coincided (an upper bound of what the import holds)
        "peak_rss_mb": main_rss + parse_rss,
        "main_rss_mb": main_rss,
        "parse_rss_mb": parse_rss,
        "reimport_peak_rss_mb": _vm_hwm_mb() or _peak_rss_mb(),
        "reimport_seconds": reimport,
        "reimport_cpu_seconds": reimport_cpu,
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


def child_floor(csv_path: Path, workdir: Path) -> dict[str, float]:
    import datetime as dt
    import sqlite3

    from kehu.config import load_settings
    from kehu.ingest.bulk import deferred_indexes, import_connection, insert_rows, tune_for_bulk
    from kehu.service.workspace import Workspace
    from kehu.store.schema import orders

    source = Workspace(load_settings(home=workdir / "source"))
    source.init()
    source.import_file("orders", csv_path, source="bench")
    names = [c.name for c in orders.columns]
    with sqlite3.connect(str(source.engine.url.database)) as raw:
        rows = raw.execute(f"SELECT {', '.join(names)} FROM orders ORDER BY id").fetchall()
    columns = {name: [row[j] for row in rows] for j, name in enumerate(names)}
    del rows
    # as the importer binds them: a column with one value for every row once per statement, and each distinct
    # text value as one Python object shared by its rows (its UTF-8 form is then made once, not once a row)
    constants = {name: values[0] for name, values in columns.items() if len(set(values)) == 1}
    for name in constants:
        del columns[name]
    for name, values in columns.items():
        if any(isinstance(v, str) for v in values):
            shared: dict[Any, Any] = {}
            columns[name] = [shared.setdefault(v, v) for v in values]
    times = {c.name for c in orders.columns if c.type.__class__.__name__ == "UTCDateTime"}

    def as_integer(values: list[Any]) -> list[Any]:
        epoch = dt.datetime(1970, 1, 1)
        return [None if v is None else (dt.datetime.fromisoformat(v) - epoch) // dt.timedelta(microseconds=1)
                for v in values]  # fmt: skip

    out: dict[str, float] = {"rows": len(columns["id"])}
    integer_columns = {k: as_integer(v) if k in times else v for k, v in columns.items()}
    integer_constants = {k: as_integer([v])[0] if k in times else v for k, v in constants.items()}
    for label, cols, consts in (("text", columns, constants), ("integer", integer_columns, integer_constants)):
        ws = Workspace(load_settings(home=workdir / label))
        ws.init()
        started, cpu = time.perf_counter(), _cpu()
        with import_connection(ws.engine, bulk=True) as conn, conn.begin():
            tune_for_bulk(conn, appending=True)
            with deferred_indexes(conn, orders, enabled=True):
                for start in range(0, int(out["rows"]), 65_536):  # in batches, as the importer writes them
                    insert_rows(conn, orders, {k: v[start : start + 65_536] for k, v in cols.items()}, consts)
        out[f"{label}_seconds"], out[f"{label}_cpu_seconds"] = time.perf_counter() - started, _cpu() - cpu
        ws.close()
    return out


def _run_child(side: str, csv_path: Path, changed: float = 0.0) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{side}-") as tmp:
        out = subprocess.run(
            [sys.executable, __file__, "--child", side, "--csv", str(csv_path), "--workdir", tmp]
            + (["--changed", str(changed)] if side == "kehu" and changed else []),
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
    parser.add_argument("--floor", action="store_true", help="also time SQLite's own work for the same rows")
    parser.add_argument(
        "--kehu-only", action="store_true", help="only Kehu's import (big files: pandas would need the whole frame)"
    )
    parser.add_argument(
        "--changed",
        type=float,
        default=0.0,
        help="then re-import the file with this share of the orders' statuses changed (e.g. 0.1)",
    )
    parser.add_argument("--child", choices=["kehu", "pandas", "floor"], help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child == "kehu":
            print(json.dumps(child_kehu(args.csv, args.workdir, args.changed)))
            return
        fn = {"pandas": child_pandas, "floor": child_floor}[args.child]
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
        results: dict[str, list[dict[str, float]]] = {"kehu": [], "pandas": [], "floor": []}
        sides = ("pandas", "kehu", "floor") if args.floor else ("pandas", "kehu")
        if args.kehu_only:
            sides = ("kehu",)
        for i in range(args.repeat):
            for side in sides:  # alternate so machine noise hits all
                r = _run_child(side, csv_path, args.changed)
                results[side].append(r)
                if side == "floor":
                    print(
                        f"run {i + 1} floor : SQLite's own work for the {r['rows']:,.0f} stored rows "
                        f"{r['text_seconds']:.2f} s (CPU {r['text_cpu_seconds']:.2f} s); with integer timestamps "
                        f"{r['integer_seconds']:.2f} s (CPU {r['integer_cpu_seconds']:.2f} s)"
                    )
                    continue
                extra = (
                    f" (importer {r['main_rss_mb']:.0f} + parsing process {r['parse_rss_mb']:.0f}), "
                    f"re-import (all unchanged) {r['reimport_seconds']:.2f} s (CPU {r['reimport_cpu_seconds']:.2f} s), "
                    f"importer's peak RSS by then {r['reimport_peak_rss_mb']:.0f} MB"
                    + (
                        f", re-import with {r['changed_rows']:,.0f} statuses changed {r['changed_seconds']:.2f} s "
                        f"(CPU {r['changed_cpu_seconds']:.2f} s)"
                        if "changed_seconds" in r
                        else ""
                    )
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
        if side != "floor" and rs
    }
    print()
    print(f"{'':8}{'median s':>10}{'rows/s':>12}{'CPU s':>8}{'peak RSS MB':>13}")
    for side in med:
        m = med[side]
        print(
            f"{side:8}{m['seconds']:>10.2f}{args.rows / m['seconds']:>12,.0f}{m['cpu_seconds']:>8.2f}"
            f"{m['peak_rss_mb']:>13.0f}"
        )
    if "pandas" not in med:
        return
    ratio = med["pandas"]["seconds"] / med["kehu"]["seconds"]
    print(
        f"\nkehu rows/s ÷ naive pandas rows/s = {ratio:.2f}x  (target ≥ 2x); "
        f"CPU-time ratio {med['pandas']['cpu_seconds'] / med['kehu']['cpu_seconds']:.2f}x; "
        f"kehu peak RSS {med['kehu']['peak_rss_mb']:.0f} MB (target < 1024 MB)"
    )
    if results["floor"]:
        budget = med["pandas"]["seconds"] / 2
        text = statistics.median(r["text_seconds"] for r in results["floor"])
        integer = statistics.median(r["integer_seconds"] for r in results["floor"])
        print(
            f"2x needs the whole import in {budget:.2f} s; SQLite's own work for the stored rows alone takes "
            f"{text:.2f} s ({text / budget:.0%} of that), {integer:.2f} s ({integer / budget:.0%}) with integer "
            "timestamps (medians)"
        )


if __name__ == "__main__":
    main()
