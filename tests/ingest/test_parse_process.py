"""The bulk import path: parsing in a second process, references checked once per customer, plain amounts.

The bulk path (big files of an activity kind) must give exactly what the ordinary path gives — the same rows,
counts and quarantine — and fail as cleanly: a file problem found midway, or a parsing process that dies,
leaves the store as it was.
"""

from __future__ import annotations

import csv
import os
import signal
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from kehu.errors import ImportFileError, KehuError
from kehu.ingest import _numbers, importer
from kehu.ingest.bulk import check_references, import_connection
from kehu.service.workspace import Workspace
from kehu.store.db import SQLITE_MMAP_BYTES
from kehu.store.schema import customer_records, customers, import_runs, orders

HEADERS = ["订单编号", "客户编号", "下单时间", "订单金额", "数量", "商品名称"]


def _orders_file(path: Path, rows: int, *, bad_every: int = 0, ragged_at: int | None = None) -> Path:
    """Orders in several value formats; every ``bad_every``-th row has a problem; some rows repeat."""
    amounts = ["12.50", "¥1,234.50", "1234元", "0.5", "1e3", "7"]
    dates = ["2024-01-05", "2024/1/6 10:30", "2024年1月7日", "2024-02-05 10:00:00"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADERS)
        for i in range(rows):
            row = [f"O{i}", f"C{i * 7 % 23}", dates[i % 4], amounts[i % 6], str(1 + i % 3), f"商品{i % 5}"]
            if bad_every and i % bad_every == 3:
                row[3 + i % 2] = "abc"
            if ragged_at is not None and i == ragged_at:
                row.append("one too many")
            w.writerow(row)
            if i % 11 == 5:
                w.writerow(row)  # the same row twice: counted as unchanged
            if i % 13 == 6:
                w.writerow([*row[:4], "9", row[5]])  # the same key with other values: quarantined
    return path


def _stored(ws: Workspace, source: str) -> list[tuple[object, ...]]:
    j = orders.join(customer_records, customer_records.c.customer_id == orders.c.customer_id)
    q = (
        select(
            orders.c.order_id,
            customer_records.c.source_customer_id,
            orders.c.ordered_at,
            orders.c.amount_cents,
            orders.c.currency,
            orders.c.quantity,
            orders.c.product,
            orders.c.status,
            orders.c.row_hash,
            orders.c.source_row,
        )
        .select_from(j)
        .where(orders.c.source == source, customer_records.c.source == source)
        .order_by(orders.c.order_id)
    )
    with ws.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(q)]


def _quarantine_rows(path: str | None) -> list[list[str]]:
    assert path is not None
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


def _dump(ws: Workspace) -> dict[str, list[tuple[object, ...]]]:
    with ws.engine.connect() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(select(t).order_by(t.c.id))]
            for t in (orders, customers, customer_records, import_runs)
        }


def _bulk_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    """Take the bulk path for any file size (child process, references checked once, indexes built at the end)."""
    monkeypatch.setattr(importer, "_BULK_BYTES", 0)


def test_bulk_path_stores_exactly_what_the_ordinary_path_stores(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _orders_file(tmp_path / "orders.csv", 4000, bad_every=17)
    cfg = workspace.settings.model_copy(update={"import_chunk_rows": 64})  # several batches
    plain = importer.import_file(workspace.engine, cfg, "orders", path, source="plain")
    _bulk_everything(monkeypatch)
    bulk = importer.import_file(workspace.engine, cfg, "orders", path, source="bulk")
    assert plain.counts() == bulk.counts()
    assert plain.quarantined > 200 and plain.unchanged > 300 and plain.customers_created == 23
    assert _stored(workspace, "plain") == _stored(workspace, "bulk")
    assert _quarantine_rows(plain.quarantine_file) == _quarantine_rows(bulk.quarantine_file)
    again = importer.import_file(workspace.engine, cfg, "orders", path, source="bulk")  # idempotent
    assert (again.inserted, again.updated, again.quarantined) == (0, 0, plain.quarantined)
    assert again.unchanged == plain.inserted + plain.unchanged
    assert sa.inspect(workspace.engine).get_foreign_keys("orders") != []  # the schema keeps its foreign keys
    if workspace.engine.dialect.name == "sqlite":
        with workspace.engine.connect() as conn:  # connections go back to the pool as they were
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA mmap_size").scalar() == SQLITE_MMAP
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -16000
            assert conn.exec_driver_sql("PRAGMA temp_store").scalar() == 2  # MEMORY, as db.py sets it
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []


def test_a_file_problem_found_by_the_parsing_process_changes_nothing(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace.import_file("orders", _orders_file(tmp_path / "first.csv", 30))
    before = _dump(workspace)
    path = _orders_file(tmp_path / "ragged.csv", 3000, ragged_at=2500)
    cfg = workspace.settings.model_copy(update={"import_chunk_rows": 200})
    with pytest.raises(ImportFileError) as plain:
        importer.import_file(workspace.engine, cfg, "orders", path, parse_process=False)
    with pytest.raises(ImportFileError) as child:
        importer.import_file(workspace.engine, cfg, "orders", path, parse_process=True)
    assert str(child.value) == str(plain.value)
    assert "fields but the file has 6 columns" in str(child.value)
    assert _dump(workspace) == before
    assert not list(workspace.settings.quarantine_dir.glob("ragged*"))


def _parse_children() -> list[int]:
    """Process ids of this process's parsing children (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid() and b"kehu.ingest.parse_process" in cmdline:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the child through /proc")
def test_a_parsing_process_that_dies_midway_fails_the_import_and_changes_nothing(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace.import_file("orders", _orders_file(tmp_path / "first.csv", 30))
    before = _dump(workspace)
    path = _orders_file(tmp_path / "big.csv", 40_000)
    cfg = workspace.settings.model_copy(update={"import_chunk_rows": 500})
    killed: list[int] = []

    def kill_the_child(_read: int) -> None:
        if not killed:  # the first batch is written inside the open transaction
            for pid in _parse_children():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    _bulk_everything(monkeypatch)
    with pytest.raises(KehuError, match="parsing process stopped unexpectedly") as err:
        importer.import_file(workspace.engine, cfg, "orders", path, progress=kill_the_child)
    assert killed and str(path) in str(err.value)
    assert _dump(workspace) == before
    assert _parse_children() == []  # nothing left behind
    if workspace.engine.dialect.name == "sqlite":
        with workspace.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the child through /proc")
def test_an_unusable_file_stops_the_early_started_parsing_process_quietly(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    before = _dump(workspace)
    bad = tmp_path / "no_customer_column.csv"
    bad.write_text("订单编号,下单时间,订单金额\nO1,2024-01-05,12\n", encoding="utf-8")
    started: list[object] = []

    def start() -> object:  # the process starts before the file is opened, and so before its problem is known
        started.append(process := real())
        assert _parse_children(), "the parsing process runs while the importer opens the file"
        return process

    real = importer.ParseProcess
    monkeypatch.setattr(importer, "ParseProcess", start)
    _bulk_everything(monkeypatch)
    with pytest.raises(ImportFileError, match=r"no_customer_column\.csv"):
        workspace.import_file("orders", bad)
    assert len(started) == 1
    assert _parse_children() == []  # stopped, nothing left behind
    assert "Traceback" not in capfd.readouterr().err
    assert _dump(workspace) == before


def test_check_references_names_missing_rows(sqlite_workspace: Workspace) -> None:
    with sqlite_workspace.engine.begin() as conn:
        conn.execute(sa.insert(customers), [{"id": 1}, {"id": 2}])
        check_references(conn, customers, np.array([2, 1, 2, 1]), "orders rows")
        with pytest.raises(KehuError, match="orders rows refer to customers that do not exist"):
            check_references(conn, customers, np.array([1, 3]), "orders rows")
        conn.rollback()


_BULK_PRAGMAS = ("temp_store", "foreign_keys", "mmap_size")
SQLITE_MMAP = min(SQLITE_MMAP_BYTES, 0x7FFF0000)


def test_a_bulk_connection_sorts_in_files_checks_no_keys_and_is_restored(sqlite_workspace: Workspace) -> None:
    """Building indexes over millions of rows must not hold the whole sort in memory (temp_store=FILE)."""
    engine = sqlite_workspace.engine
    with import_connection(engine, bulk=True) as conn:
        settings_inside = [conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in _BULK_PRAGMAS]
    assert settings_inside == [1, 0, 0]  # FILE, no foreign keys, no memory map
    with import_connection(engine) as conn:  # an ordinary import changes none of them
        assert [conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in _BULK_PRAGMAS] == [2, 1, SQLITE_MMAP]
    with engine.connect() as conn:  # back in the pool as db.py set it up
        assert [conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in _BULK_PRAGMAS] == [2, 1, SQLITE_MMAP]


# -- plain amounts: Arrow's decimal conversion must agree with the patterns and money_cents ------------------
_money_text = st.text(alphabet="0123456789.,-+eE¥元 ", min_size=1, max_size=14)
_money_decimal = st.decimals(
    min_value=Decimal("-1e17"), max_value=Decimal("1e17"), allow_nan=False, allow_infinity=False, places=3
).map(lambda d: format(d, "f").rstrip("0") if "." in format(d, "f") else format(d, "f"))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_money_text, _money_decimal, st.none()), min_size=1, max_size=6))
def test_plain_amounts_fast_path_agrees_with_the_patterns(values: list[str | None]) -> None:
    arr = pa.array([None if v is None or not v.strip() else v.strip() for v in values], pa.string())
    slow_values, slow_errors = _numbers._money_patterns(arr)
    fast = _numbers._plain_money(arr)
    if fast is not None:  # accepted in bulk: exactly the same cents, and no value the slow path rejects
        assert slow_errors == {}
        assert fast.to_pylist() == slow_values.to_pylist()
    values_out, errors = _numbers.parse_money(arr)
    assert values_out.to_pylist() == slow_values.to_pylist() and errors == slow_errors


def test_plain_amounts_take_the_fast_path_and_edge_cases_do_not() -> None:
    assert _numbers._plain_money(pa.array(["456.00", "-12.5", ".5", None, "0."])).to_pylist() == [
        45600,
        -1250,
        50,
        None,
        0,
    ]
    for edge in ("5.e1", "1.005", "1,000.00", "9999999999999999.99", "¥5", "+-5"):
        assert _numbers._plain_money(pa.array(["1.00", edge])) is None, edge


def test_an_exponent_beyond_any_amount_is_quarantined_not_a_crash() -> None:
    values, errors = _numbers.parse_money(pa.array(["1e999999", "12.00"]))
    assert values.to_pylist() == [None, 1200] and errors == {0: "amount too large: '1e999999'"}


def test_the_first_batch_is_cut_small_and_no_record_is_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    from kehu.ingest import parse_process
    from kehu.ingest.sources import RawBatch

    monkeypatch.setattr(parse_process, "_FIRST_ROWS", 3)
    batches = [
        RawBatch(np.arange(2, 12), {"a": pa.array([str(i) for i in range(10)])}),
        RawBatch(np.arange(12, 20), {"a": pa.array([str(i) for i in range(10, 18)])}),
    ]
    out = list(parse_process._small_first(iter(batches)))
    assert [len(b) for b in out] == [3, 7, 8]
    assert np.concatenate([b.row_numbers for b in out]).tolist() == list(range(2, 20))
    assert [v for b in out for v in b.columns["a"].to_pylist()] == [str(i) for i in range(18)]
