"""Benchmark ``kehu run`` end to end on two workspaces, per step, for one checkout or two (before vs after).

    python benchmarks/run.py --store-dir /work/bench-stores --only demo --repeat 3
    python benchmarks/run.py --store-dir /work/bench-stores --only big --repeat 2
    python benchmarks/run.py --store-dir /work/bench-stores --checkout /old/checkout --checkout . --repeat 2

The workspaces are built once (seeded) and kept in ``--store-dir``; a workspace is used only once its build
finished (it is built in ``NAME.building`` and renamed):

``demo``
    ``kehu demo --customers 20000 --no-serve``: the demo company imported through the normal import path, one
    run and the churn models trained with the defaults, as a user gets it.
``big``
    ``--big-customers`` (1,000,000) customers and ``--big-orders`` (10,000,000) orders: a customers CSV with
    id and name, and the orders of :func:`kehu.demo.bulk.write_orders_csv` (heavy-tailed customers, the demo's
    seasons, products and statuses), both imported with ``kehu import`` (the normal bulk import); then the
    default playbooks are installed, ``kehu run`` runs once and ``kehu models train`` trains the churn models
    with ``--train-option`` (default ``--snapshots 4 --max-rows 200000``: the default 12 + 3 snapshot days over
    1M customers would need the 2 shared cores for longer than a benchmark build should take).

Churn models are the checkout's own: a checkout scores only with a churn model file of its own format, so the
first time a checkout meets a store, it trains the churn models (untimed, with ``--train-option`` for the big store
and the defaults for the demo) on a copy of the built workspace and keeps that copy's ``models`` folder as
``NAME.models/format-N`` (``N``: the checkout's churn model file format, ``MODEL_FORMAT``); its measured runs, and
those of every later checkout of the same format, use that folder instead of the built one (scoring time does not
depend on which code of a format trained the model).

Every measured run copies the built workspace to a fresh folder first (``kehu run`` fires playbooks, which
write tasks, so each run starts from the same state) and runs ``kehu run --json --home COPY`` (the checkout's
``kehu`` entry point of its pyproject.toml, called by this interpreter) as a child process with
``PYTHONPATH=<checkout>/src``, so the same script measures the old and the new code. Printed
per store and checkout: wall seconds of the child, its peak RSS (``wait4``'s ``ru_maxrss``), its CPU seconds,
and the seconds the run's JSON reports: ``step_seconds`` of the pipeline and the ``seconds`` of value models,
churn and segments (playbooks report none: "rest" is the child's wall time besides the reported parts); with
``--repeat N`` the medians, with two ``--checkout`` the runs alternate and the ratio first/second (old/new)
is printed. The last line is one JSON document with every run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
#: result keys of ``kehu run --json`` whose ``seconds`` are steps after the pipeline, in the order they run
STAGES = ("value_models", "churn", "segments", "playbooks")
#: left out of the copy of a workspace: the demo's source files and quarantined rows are not read by a run
NOT_COPIED = ("demo", "quarantine")


def _env(checkout: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEHU_")}
    env["PYTHONPATH"] = str(checkout / "src")
    return env


def _entry(checkout: Path) -> list[str]:
    """The command line of the checkout's ``kehu`` entry point (``[project.scripts]`` of its pyproject.toml)."""
    with (checkout / "pyproject.toml").open("rb") as f:
        target = tomllib.load(f)["project"]["scripts"]["kehu"]
    module, _, func = target.partition(":")
    return [sys.executable, "-c", f"import sys; sys.argv[0] = 'kehu'; from {module} import {func}; sys.exit({func}())"]


def kehu(checkout: Path, *args: str, stdout: Any = None) -> dict[str, Any]:
    """Run the ``kehu`` entry point of ``checkout`` with ``ARGS``; wall and CPU seconds, peak RSS (MB) and return code.

    ``wait4`` gives the child's own resource use (with its waited-for descendants), so runs do not mix.
    """
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen([*_entry(checkout), *args], cwd=checkout, env=_env(checkout), stdout=stdout, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    if proc.returncode:
        raise SystemExit(f"kehu {' '.join(args)} failed ({proc.returncode}):\n{stderr[-4000:]}")
    return {
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


def _logged(checkout: Path, log: Path, *args: str) -> None:
    with log.open("ab") as out:
        out.write(f"$ kehu {' '.join(args)}\n".encode())
        out.flush()
        r = kehu(checkout, *args, stdout=out)
    what = " ".join(a for a in args[:2] if not a.startswith("-"))
    line = f"kehu {what}: {r['seconds']:.1f} s, CPU {r['cpu_seconds']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB"
    with log.open("a") as out:
        out.write(line + "\n")
    print(f"  {line}", flush=True)


def build_demo(checkout: Path, home: Path, args: argparse.Namespace) -> None:
    log = home.parent / f"{home.name}.log"
    _logged(checkout, log, "demo", "--customers", str(args.demo_customers), "--seed", str(args.seed), "--no-serve",
            "--home", str(home))  # fmt: skip


def build_big(checkout: Path, home: Path, args: argparse.Namespace) -> None:
    log = home.parent / f"{home.name}.log"
    files = home.parent / f"{home.name}.files"
    files.mkdir(parents=True, exist_ok=True)
    customers_csv, orders_csv = files / "customers.csv", files / "orders.csv"
    # the files are written by the building checkout's generator, in a child so its memory is freed after
    script = (
        "import sys; from pathlib import Path; import numpy as np, pyarrow as pa, pyarrow.compute as pc\n"
        "from kehu.demo.bulk import write_orders_csv\nfrom kehu.demo.formats import write_csv\n"
        "from kehu.demo.headers import HEADERS\n"
        "n, rows, seed = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])\n"
        "digits = pc.utf8_lpad(pa.array(np.arange(1, n + 1)).cast(pa.string()), width=max(6, len(str(n))), "
        "padding='0')\n"
        "h = HEADERS['customers']\n"
        "write_csv(Path(sys.argv[1]), {h['customer_id']: pc.binary_join_element_wise('C', digits, ''), "
        "h['name']: pc.binary_join_element_wise('客户', digits, '')})\n"
        "write_orders_csv(Path(sys.argv[2]), rows=rows, customers=n, seed=seed)\n"
    )
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", script, str(customers_csv), str(orders_csv), str(args.big_customers),
         str(args.big_orders), str(args.seed)],
        check=True, env=_env(checkout),
    )  # fmt: skip
    print(f"  wrote {args.big_customers:,} customers and {args.big_orders:,} orders in "
          f"{time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
    home_args = ("--home", str(home))
    _logged(checkout, log, "init", *home_args)
    _logged(checkout, log, "import", "customers", str(customers_csv), *home_args)
    _logged(checkout, log, "import", "orders", str(orders_csv), *home_args)
    _logged(checkout, log, "playbooks", "install-defaults", *home_args)
    _logged(checkout, log, "run", *home_args)
    _logged(checkout, log, "models", "train", *args.train_option.split(), *home_args)
    if not args.keep_files:
        shutil.rmtree(files)


BUILDERS = {"demo": build_demo, "big": build_big}


def store_name(store: str, args: argparse.Namespace) -> str:
    if store == "demo":
        return f"demo-{args.demo_customers}-{args.seed}"
    return f"big-{args.big_customers}-{args.big_orders}-{args.seed}"


def ensure_store(store: str, args: argparse.Namespace) -> Path:
    """The built workspace of ``store`` in ``--store-dir``, built first if it is not there yet."""
    home = args.store_dir / store_name(store, args)
    if home.exists():
        return home
    building = home.with_name(home.name + ".building")
    if building.exists():
        shutil.rmtree(building)  # an interrupted build
    args.store_dir.mkdir(parents=True, exist_ok=True)
    print(f"building {home} with {args.checkout[0]}", flush=True)
    started = time.perf_counter()
    BUILDERS[store](args.checkout[0], building, args)
    building.rename(home)
    print(f"built {home} in {time.perf_counter() - started:.1f} s", flush=True)
    return home


def _copy(home: Path, target: Path) -> None:
    shutil.copytree(home, target, ignore=lambda folder, names: [n for n in names if Path(folder) == home
                                                                 and n in NOT_COPIED])  # fmt: skip


def _model_format(checkout: Path) -> str:
    """The churn model file format the checkout writes and reads (its ``MODEL_FORMAT``), e.g. ``format-2``."""
    for path in sorted((checkout / "src" / "kehu").rglob("*.py")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("MODEL_FORMAT = "):
                return "format-" + line.split("=", 1)[1].strip()
    raise SystemExit(f"{checkout}: no MODEL_FORMAT in its src/kehu")


def checkout_models(checkout: Path, home: Path, scratch: Path, train_options: list[str]) -> Path:
    """Churn models of ``checkout``'s file format trained on ``home``: ``NAME.models/format-N``, trained (untimed) by
    the first checkout of that format that needs them."""
    models = home.with_name(home.name + ".models") / _model_format(checkout)
    if models.is_dir():
        return models
    copy = scratch / "train"
    if copy.exists():
        shutil.rmtree(copy)
    _copy(home, copy)
    print(f"  training the churn models of {checkout} on a copy of {home.name} (untimed)", flush=True)
    kehu(checkout, "init", "--home", str(copy), stdout=subprocess.DEVNULL)
    r = kehu(checkout, "models", "train", *train_options, "--home", str(copy), stdout=subprocess.DEVNULL)
    print(f"  trained in {r['seconds']:.1f} s", flush=True)
    models.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(copy / "models", models)
    shutil.rmtree(copy)
    return models


def measure(checkout: Path, home: Path, scratch: Path, models: Path) -> dict[str, Any]:
    """One ``kehu run --json`` of ``checkout`` on a fresh copy of ``home``, with the checkout's churn ``models``."""
    copy = scratch / "home"
    if copy.exists():
        shutil.rmtree(copy)
    _copy(home, copy)
    shutil.rmtree(copy / "models", ignore_errors=True)
    shutil.copytree(models, copy / "models")
    # untimed: bring the copy's app store to this checkout's migration head (a no-op when it is there already)
    kehu(checkout, "init", "--home", str(copy), stdout=subprocess.DEVNULL)
    out_path = scratch / "run.json"
    with out_path.open("wb") as out:
        r = kehu(checkout, "run", "--json", "--home", str(copy), stdout=out)
    text = out_path.read_text(encoding="utf-8")
    result = json.loads(text[text.index("{") :])
    steps = {f"pipeline: {k}": float(v) for k, v in result["step_seconds"].items()}
    steps["pipeline (reported)"] = float(result["seconds"])
    for stage in STAGES:
        part = result.get(stage)
        if isinstance(part, dict) and isinstance(part.get("seconds"), int | float):
            steps[stage] = float(part["seconds"])
    # playbooks report no seconds: what the child spent besides the reported parts (start-up and imports,
    # opening the workspace, playbooks, printing)
    steps["rest (start-up, playbooks, …)"] = r["seconds"] - sum(v for k, v in steps.items() if ":" not in k)
    r["steps"] = steps
    r["load_average"] = os.getloadavg()[0]  # the 1-minute load when the run ended: wall seconds on a shared machine
    r["customers"] = result.get("customers")
    parts = {stage: result.get(stage) for stage in STAGES}
    r["skipped"] = {stage: p["skipped"] for stage, p in parts.items() if isinstance(p, dict) and "skipped" in p}
    shutil.rmtree(copy)
    return r


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    steps: dict[str, float] = {}
    for step in runs[0]["steps"]:
        values = [r["steps"][step] for r in runs if step in r["steps"]]
        steps[step] = statistics.median(values)
    return {
        "runs": len(runs),
        "seconds": statistics.median(r["seconds"] for r in runs),
        "cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
        "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
        "max_peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "steps": steps,
    }


def report(store: str, checkouts: list[Path], result: dict[str, dict[str, Any]]) -> None:
    names = [str(c) for c in checkouts]
    print(f"\n{store}: medians of {result[names[0]]['runs']} run(s)")
    header = f"{'':34}" + "".join(f"{'#' + str(i + 1):>12}" for i in range(len(names)))
    print(header + (f"{'ratio #1/#2':>14}" if len(names) == 2 else ""))
    rows = [("wall s (child)", "seconds"), ("CPU s (child)", "cpu_seconds"), ("peak RSS MB", "peak_rss_mb")]
    lines: list[tuple[str, list[float | None]]] = [(label, [result[n][key] for n in names]) for label, key in rows]
    steps = list(dict.fromkeys(s for n in names for s in result[n]["steps"]))
    lines += [(f"  {s}", [result[n]["steps"].get(s) for n in names]) for s in steps]
    for label, values in lines:
        text = "".join(f"{v:12.2f}" if v is not None else f"{'-':>12}" for v in values)
        if len(values) == 2 and values[0] is not None and values[1]:
            text += f"{values[0] / values[1]:13.2f}x"
        print(f"{label:<34}{text}")
    for i, n in enumerate(names):
        print(f"#{i + 1} = {n}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store-dir", type=Path, required=True, help="folder of the built workspaces (kept)")
    parser.add_argument("--checkout", type=Path, action="append", help="checkout to measure (repeat for two)")
    parser.add_argument("--only", choices=sorted(BUILDERS), action="append", help="measure only these stores")
    parser.add_argument("--repeat", type=int, default=1, help="runs per store and checkout (alternating); medians")
    parser.add_argument("--build-only", action="store_true", help="build the stores, measure nothing")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--demo-customers", type=int, default=20_000)
    parser.add_argument("--big-customers", type=int, default=1_000_000)
    parser.add_argument("--big-orders", type=int, default=10_000_000)
    parser.add_argument("--train-option", default="--snapshots 4 --max-rows 200000",
                        help="options of `kehu models train` for the big store")  # fmt: skip
    parser.add_argument("--keep-files", action="store_true", help="keep the big store's generated CSV files")
    parser.add_argument("--scratch", type=Path, help="folder for the per-run copies (default: in --store-dir)")
    args = parser.parse_args()
    args.checkout = [c.resolve() for c in args.checkout or [REPO]]
    if len(args.checkout) > 2:
        parser.error("at most two --checkout")
    args.store_dir = args.store_dir.resolve()
    stores = args.only or list(BUILDERS)
    homes = {store: ensure_store(store, args) for store in stores}
    if args.build_only:
        return
    scratch_root = args.scratch or args.store_dir
    scratch_root.mkdir(parents=True, exist_ok=True)
    everything: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="kehu-bench-run-", dir=scratch_root) as tmp:
        for store, home in homes.items():
            runs: dict[str, list[dict[str, Any]]] = {str(c): [] for c in args.checkout}
            options = args.train_option.split() if store == "big" else []
            models = {c: checkout_models(c, home, Path(tmp), options) for c in args.checkout}
            for i in range(args.repeat):
                for k, checkout in enumerate(args.checkout):
                    r = measure(checkout, home, Path(tmp), models[checkout])
                    runs[str(checkout)].append(r)
                    skipped = f"  skipped: {r['skipped']}" if r["skipped"] else ""
                    print(f"{store} run {i + 1} #{k + 1}: {r['seconds']:7.1f} s  CPU {r['cpu_seconds']:7.1f} s  "
                          f"peak RSS {r['peak_rss_mb']:6.0f} MB  load {r['load_average']:4.1f}  "
                          f"{r['customers']} customers{skipped}",
                          flush=True)  # fmt: skip
            result = {name: medians(rs) for name, rs in runs.items()}
            report(store, args.checkout, result)
            everything[store] = {"home": str(home), "medians": result, "runs": runs}
    print(json.dumps(everything))


if __name__ == "__main__":
    main()
