"""An import killed midway leaves the store exactly as before; random bad rows never break the invariant."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from kehu.service.workspace import Workspace
from kehu.store.schema import customer_records, customers, import_runs, orders

HEADERS = ["订单编号", "客户编号", "下单时间", "订单金额", "数量"]


def _dump(ws: Workspace) -> dict[str, list[tuple[object, ...]]]:
    with ws.engine.connect() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(select(t).order_by(t.c.id))]
            for t in (orders, customers, customer_records, import_runs)
        }


@pytest.mark.slow
def test_killed_import_leaves_store_unchanged(workspace: Workspace, tmp_path: Path) -> None:
    first = tmp_path / "first.csv"
    with first.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADERS)
        w.writerows([[f"A{i}", f"C{i % 7}", "2024-01-05", "10.00", "1"] for i in range(50)])
    workspace.import_file("orders", first)
    before = _dump(workspace)
    big = tmp_path / "big.csv"
    with big.open("w", newline="") as fh:  # ~1M rows: several read blocks, so the kill lands midway
        fh.write(",".join(HEADERS) + "\n")
        fh.writelines(f"B{i},K{i % 5000},2024-02-05 10:00,{i % 500}.5,2\n" for i in range(1_000_000))
    env = {
        **os.environ,
        "KEHU_HOME": str(workspace.settings.home),
        "KEHU_DATABASE_URL": workspace.settings.resolved_database_url,
    }
    with subprocess.Popen(
        [sys.executable, "-m", "kehu.cli", "import", "orders", str(big)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        deadline = time.monotonic() + 120
        progressed = 0
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if "rows read" in line:
                progressed += 1
                break  # a batch is written inside the open transaction, more are coming
            elif not line and proc.poll() is not None:
                break
        assert progressed, "the import never got going"
        assert proc.poll() is None, "the import finished before it could be killed: make the file bigger"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    workspace.close()  # reconnect: nothing of the killed transaction may be visible
    assert _dump(workspace) == before


bad_value = st.sampled_from(["", "abc", "2024-13-45", "-5", "1e999", "¥", "０", "NaN", "2099-01-01", "<script>"])


@st.composite
def order_rows(draw: st.DrawFn) -> list[tuple[list[str], bool]]:
    n = draw(st.integers(1, 30))
    rows = []
    for i in range(n):
        row = [
            f"O{i}",
            f"C{draw(st.integers(0, 5))}",
            f"2024-0{draw(st.integers(1, 9))}-1{draw(st.integers(0, 9))}",
            f"{draw(st.integers(0, 10**7)) / 100:.2f}",
            str(draw(st.integers(1, 9))),
        ]
        bad = draw(st.booleans())
        if bad:
            col = draw(st.sampled_from([1, 2, 3, 4]))
            value = draw(bad_value)
            # values that are valid for a column are replaced by one that is not
            valid_here = {
                1: {"abc", "2024-13-45", "-5", "1e999", "¥", "０", "NaN", "2099-01-01", "<script>"},
                2: {"０"},
                3: {"０"},
                4: {""},
            }[col]
            if value in valid_here:
                value = "" if col == 1 else "abc"
            row[col] = value
        rows.append((row, bad))
    return rows


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=order_rows())
def test_random_bad_rows_keep_the_invariant(
    sqlite_workspace: Workspace, tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[list[str], bool]]
) -> None:
    ws = sqlite_workspace
    path = tmp_path_factory.mktemp("prop") / "orders.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADERS)
        w.writerows([r for r, _ in rows])
    with ws.engine.connect() as conn:
        already = {r.order_id: r for r in conn.execute(select(orders))}
    s = ws.import_file("orders", path, source="prop")
    assert s.read == len(rows) == s.inserted + s.updated + s.unchanged + s.quarantined
    good = [r for r, bad in rows if not bad]
    assert s.quarantined == len(rows) - len(good)
    with ws.engine.connect() as conn:
        stored = {r.order_id: r for r in conn.execute(select(orders).where(orders.c.source == "prop"))}
    for r in good:  # every valid row is there, unaltered
        o = stored[r[0]]
        assert o.amount_cents == round(float(r[3]) * 100) and o.quantity == int(r[4])
        assert o.ordered_at.astimezone().date is not None
    for order_id, o in stored.items():  # and nothing else changed under our feet
        if order_id not in {r[0] for r in good} and order_id in already:
            assert o == already[order_id]
