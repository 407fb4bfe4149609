"""The demo goes through the real import path: the quarantine catches exactly the rows made bad on purpose,
and identity resolution merges exactly the store members that share a phone or e-mail with the CRM.
Also: generation and bulk-file timings (slow)."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest

from kehu.config import load_settings
from kehu.demo import DemoCompany, generate_demo, write_orders_csv
from kehu.demo.headers import HEADERS
from kehu.service.workspace import Workspace


def test_demo_imports_with_expected_quarantine_and_merges(small_demo: DemoCompany, tmp_path: Path) -> None:
    with Workspace(load_settings(home=tmp_path / "home")) as ws:
        ws.init()
        for f in small_demo.files:
            summary = ws.import_file(f.kind, f.path, source=f.source, sheet=f.sheet).as_dict()
            assert summary["quarantined"] == small_demo.expected_bad_rows[f.path.name], f.path.name
            assert summary["read"] == summary["inserted"] + summary["quarantined"], f.path.name
            if f.kind != "customers":
                assert summary["customers_created"] == 0, f.path.name  # every activity row links to a customer
        assert len(ws.system().customers.merges(limit=None)) == small_demo.expected_merges


def test_bulk_orders_file_is_valid_and_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write_orders_csv(a, rows=3_000, customers=500, seed=4)
    write_orders_csv(b, rows=3_000, customers=500, seed=4)
    assert a.read_bytes() == b.read_bytes()
    with a.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == list(HEADERS["orders"].values())
    assert len(rows) == 3_001
    assert len({r[0] for r in rows[1:]}) == 3_000
    assert 100 < len({r[1] for r in rows[1:]}) <= 500
    assert all(float(r[3]) > 0 and int(r[6]) >= 1 for r in rows[1:])


@pytest.mark.slow
def test_default_company_generates_quickly(tmp_path: Path) -> None:
    started = time.perf_counter()
    demo = generate_demo(tmp_path, customers=20_000, seed=0)
    elapsed = time.perf_counter() - started
    assert elapsed < 30, elapsed
    assert sum(demo.expected_bad_rows.values()) > 500


@pytest.mark.slow
def test_million_order_rows_in_seconds(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    started = time.perf_counter()
    write_orders_csv(path, rows=1_000_000, customers=100_000, seed=0)
    elapsed = time.perf_counter() - started
    assert elapsed < 20, elapsed
    with path.open("rb") as fh:
        assert sum(1 for _ in fh) == 1_000_001
