"""The bulk helpers the importer's fast path rests on: column conversion, constants per INSERT, seen keys."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from kehu.ingest.bulk import db_array, insert_rows
from kehu.ingest.quarantine import Problem
from kehu.ingest.rows import _currency
from kehu.ingest.staging import SeenKeys


def test_db_array_converts_each_type_for_sqlite_and_others() -> None:
    ints = pa.array([1, None, 3], pa.int64())
    assert db_array(ints, sqlite=True).tolist() == [1, None, 3]
    assert all(type(v) is int for v in db_array(ints, sqlite=False).tolist() if v is not None)
    text = pa.array(["a", None, "a", "b"], pa.string())
    out = db_array(text, sqlite=True)
    assert out.tolist() == ["a", None, "a", "b"] and out[0] is out[2]  # one shared string per distinct value
    ts = pa.array([dt.datetime(2024, 1, 5, 5, 45, 10, tzinfo=dt.UTC), None], pa.timestamp("us", tz="UTC"))
    assert db_array(ts, sqlite=True).tolist() == ["2024-01-05 05:45:10.000000", None]
    assert db_array(ts, sqlite=False)[0] == dt.datetime(2024, 1, 5, 5, 45, 10, tzinfo=dt.UTC)
    days = pa.array([dt.date(2024, 2, 29), None], pa.date32())
    assert db_array(days, sqlite=True).tolist() == ["2024-02-29", None]
    flags = pa.array([True, None, False], pa.bool_())
    assert db_array(flags, sqlite=True).tolist() == [1, None, 0]
    assert db_array(flags, sqlite=False).tolist() == [True, None, False]


def test_insert_rows_binds_constants_once_per_statement() -> None:
    engine = sa.create_engine("sqlite://")
    meta = sa.MetaData()
    table = sa.Table(
        "t",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("src", sa.String),
        sa.Column("run", sa.Integer),
        sa.Column("v", sa.String),
        sa.Column("n", sa.Integer),
    )
    meta.create_all(engine)
    n = 64 * 3 + 5  # full 64-row statements and a shorter last one
    with engine.begin() as conn:
        cols = {"v": np.array([f"v{i}" for i in range(n)], dtype=object), "n": list(range(n))}
        assert insert_rows(conn, table, cols, constants={"src": "crm", "run": 7}) == n
        rows = conn.execute(sa.select(table.c.src, table.c.run, table.c.v, table.c.n).order_by(table.c.id)).all()
    assert rows == [("crm", 7, f"v{i}", i) for i in range(n)]


def test_seen_keys_finds_earlier_keys_across_batches() -> None:
    seen = SeenKeys()
    first = np.array(["b", "a", "c"], dtype=object)
    seen.add(seen.hash(first), np.array([10, 11, 12]), np.array([2, 3, 4]))
    second = np.array(["d", "a", "e"], dtype=object)
    pos = seen.find(seen.hash(second))
    assert pos[0] == -1 and pos[2] == -1 and seen.at(int(pos[1])) == (11, 3)
    seen.add(seen.hash(second[[0, 2]]), np.array([20, 21]), np.array([5, 6]))
    found = seen.find(seen.hash(np.array(["e", "b", "z"], dtype=object)))
    assert [seen.at(int(p)) if p >= 0 else None for p in found] == [(21, 6), (10, 2), None]


def test_currency_codes_synonyms_default_and_problems() -> None:
    problems: dict[int, list[Problem]] = {}
    raw = pa.array([None, " usd ", "人民币", "", "EURO", "¥", "EURO", "jpy"], pa.string())
    out = _currency(raw, "CNY", problems, ("币种", None))
    assert out.to_pylist() == ["CNY", "USD", "CNY", "CNY", "CNY", "CNY", "CNY", "JPY"]
    assert sorted(problems) == [4, 6]
    assert problems[4] == [Problem("币种", "EURO", "not a currency code (e.g. CNY, USD)")]
