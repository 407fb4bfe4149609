"""The `kehu` command line as a user runs it: real processes, exit codes, JSON output."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def kehu(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEHU_")}
    return subprocess.run(
        [sys.executable, "-m", "kehu.cli", *args, "--home", str(home)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def orders_csv(tmp_path: Path) -> Path:
    path = tmp_path / "订单.csv"
    with path.open("w", encoding="gb18030", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["订单编号", "客户编号", "下单时间", "订单金额"])
        w.writerow(["O1", "C001", "2024-01-05", "¥1,234.50"])
        w.writerow(["O2", "C001", "2024-02-30", "10"])
    return path


def test_init_import_show(tmp_path: Path, orders_csv: Path) -> None:
    home = tmp_path / "home"
    assert kehu(home, "init").returncode == 0
    out = kehu(home, "import", "orders", str(orders_csv), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert set(result) >= {
        "read",
        "inserted",
        "updated",
        "unchanged",
        "quarantined",
        "customers_created",
        "quarantine_file",
    }
    assert (result["read"], result["inserted"], result["quarantined"], result["customers_created"]) == (2, 1, 1, 1)
    assert Path(result["quarantine_file"]).exists()
    human = kehu(home, "import", "orders", str(orders_csv))
    assert "read 2 = inserted 0 + updated 0 + unchanged 1 + quarantined 1" in human.stdout
    shown = json.loads(kehu(home, "customers", "show", "C001", "--json").stdout)
    assert shown["orders"]["count"] == 1 and shown["orders"]["revenue"] == "1234.50"
    assert "orders   1" in kehu(home, "customers", "show", "C001").stdout
    assert kehu(home, "customers", "merges").stdout.strip() == "no merges"
    ran = kehu(home, "run", "--json")
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert (result["engine"], result["customers"]) == ("duckdb", 1)
    # a date-only order is midnight in the workspace zone (Asia/Shanghai, 16:00 UTC the day before): its local
    # day is the default as_of
    assert result["as_of"] == "2024-01-05"
    assert {"extract", "publish"} <= set(result["step_seconds"])
    assert "skipped" in result["value_models"]  # one customer is too few to fit a model: said, not hidden
    assert {"rfm_cn", "rfm_en", "lifecycle"} <= set(result["segments"]["schemes"])
    segs = json.loads(kehu(home, "segments", "list", "--json").stdout)
    assert sum(r["size"] for r in segs if r["scheme"] == "rfm_cn") == 1
    features = json.loads(kehu(home, "customers", "show", "C001", "--json").stdout)["features"]
    assert features["orders"] == 1 and features["total_revenue_cents"] == 123450
    bad = kehu(home, "run", "--as-of", "2024-13-01")
    assert bad.returncode == 2 and "not a date" in bad.stderr


def test_file_level_errors_exit_2_and_name_the_file(tmp_path: Path, orders_csv: Path) -> None:
    home = tmp_path / "home"
    kehu(home, "init")
    missing = kehu(home, "import", "orders", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "nope.csv" in missing.stderr
    wrong_kind = kehu(home, "import", "order", str(orders_csv))
    assert wrong_kind.returncode == 2 and "unknown kind" in wrong_kind.stderr
    no_col = tmp_path / "x.csv"
    no_col.write_text("订单编号,客户编号\nO1,C1\n", encoding="utf-8")
    res = kehu(home, "import", "orders", str(no_col))
    assert res.returncode == 2 and "x.csv" in res.stderr and "ordered_at" in res.stderr
    unknown = kehu(home, "customers", "show", "NOPE")
    assert unknown.returncode == 2 and "NOPE" in unknown.stderr


def test_commands_need_an_initialised_store(tmp_path: Path, orders_csv: Path) -> None:
    res = kehu(tmp_path / "fresh", "import", "orders", str(orders_csv))
    assert res.returncode == 2 and "kehu init" in res.stderr


def test_users_and_serve(tmp_path: Path) -> None:
    import socket
    import time
    import urllib.request

    home = tmp_path / "home"
    kehu(home, "init")
    added = kehu(home, "users", "add", "王经理", "--role", "manager", "--team", "华东", "--password", "s3cret-pw")
    assert added.returncode == 0 and "王经理" in added.stdout
    assert kehu(home, "users", "password", "王经理", "--password", "n3w-passw0rd").returncode == 0
    assert kehu(home, "users", "password", "nobody", "--password", "x").returncode == 2
    listed = json.loads(kehu(home, "users", "list", "--json").stdout)
    assert [(u["name"], u["role"], u["team"]) for u in listed] == [("王经理", "manager", "华东")]
    assert all("password" not in k for u in listed for k in u)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEHU_")}
    with subprocess.Popen(
        [sys.executable, "-m", "kehu.cli", "serve", "--port", str(port), "--home", str(home)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as proc:
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as resp:
                        assert resp.status == 200
                        break
                except OSError:
                    assert time.monotonic() < deadline, "kehu serve did not answer"
                    time.sleep(0.5)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
