"""Extract: store -> Arrow -> Parquet cache -> engine, incremental refresh, data-lake Parquet."""

from __future__ import annotations

import datetime as dt
import types
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from kehu.config import load_settings
from kehu.engine import arrow_schema, connect, extract, read_store_table, to_arrow
from kehu.errors import ConfigError
from kehu.store import schema

UTC = dt.UTC


@pytest.fixture
def store(tmp_path: Path) -> Any:
    settings = load_settings(home=tmp_path / "home", timezone="UTC")
    settings.home.mkdir()
    engine = sa.create_engine(settings.resolved_database_url)
    schema.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(schema.customers.insert(), [{"id": i, "signup_at": dt.datetime(2024, 1, i, tzinfo=UTC)}
                                                 for i in (1, 2, 3)])  # fmt: skip
        conn.execute(schema.orders.insert(), [order(10 + i, 1 + i % 3, i) for i in range(6)])
    yield types.SimpleNamespace(settings=settings, engine=engine)
    engine.dispose()


def order(oid: int, customer_id: int, day: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": oid, "source": "s", "order_id": f"o{oid}", "customer_id": customer_id, "row_hash": 0,
        "ordered_at": dt.datetime(2024, 2, 1 + day, 8, 30, 15, 250_000, tzinfo=UTC), "amount_cents": 100 * oid,
        "currency": "CNY", "status": "paid", "category": None, "discount_cents": None, **extra,
    }  # fmt: skip


def engine_rows(store: Any, name: str) -> list[dict[str, Any]]:
    backend = connect(store.settings)
    tables = extract(store.engine, backend, settings=store.settings)
    return to_arrow(backend, tables[name].order_by("id")).to_pylist()


def test_read_store_table_types_and_values(store: Any) -> None:
    with store.engine.connect() as conn:
        data = read_store_table(conn, "orders", chunk_rows=4)  # two chunks
    assert data.schema == arrow_schema("orders")
    assert data.num_rows == 6
    first = data.sort_by("id").to_pylist()[0]
    assert first["ordered_at"] == dt.datetime(2024, 2, 1, 8, 30, 15, 250_000)  # naive UTC, microseconds kept
    assert first["amount_cents"] == 1_000 and first["category"] is None


def test_extract_gives_naive_utc_tables_with_first_seen(store: Any) -> None:
    customers = {r["id"]: r for r in engine_rows(store, "customers")}
    assert customers[1]["first_seen_at"] == dt.datetime(2024, 1, 1)  # signup before any order


def test_incremental_refresh_follows_updates_deletes_and_merges(store: Any) -> None:
    assert len(engine_rows(store, "orders")) == 6
    later = dt.datetime.now(UTC) + dt.timedelta(seconds=1)
    with store.engine.begin() as conn:
        conn.execute(schema.orders.update().where(schema.orders.c.id == 10).values(amount_cents=1, updated_at=later))
        conn.execute(schema.orders.delete().where(schema.orders.c.id == 11))
        # identity resolution moves an order to another customer without touching updated_at
        conn.execute(schema.orders.update().where(schema.orders.c.id == 12).values(customer_id=1))
        conn.execute(schema.orders.insert(), [order(20, 2, 9)])
    rows = {r["id"]: r for r in engine_rows(store, "orders")}
    assert sorted(rows) == [10, 12, 13, 14, 15, 20]
    assert rows[10]["amount_cents"] == 1 and rows[12]["customer_id"] == 1
    state = (store.settings.home / "cache" / "extract" / "state.json").read_text()
    assert '"rows": 6' in state
    with store.engine.connect() as conn:
        fresh = read_store_table(conn, "orders").sort_by("id")
    cached = pq.read_table(store.settings.home / "cache" / "extract" / "orders.parquet").sort_by("id")
    assert cached.equals(fresh)


def test_incremental_refresh_reads_only_rows_the_cache_lacks(store: Any, caplog: pytest.LogCaptureFixture) -> None:
    engine_rows(store, "orders")  # every row was written just now: all of them are inside the look-back
    path = store.settings.home / "cache" / "extract" / "orders.parquet"
    written = path.stat().st_mtime_ns
    with caplog.at_level("INFO", logger="kehu.engine.extract"):
        assert len(engine_rows(store, "orders")) == 6
    assert "extract orders: 0 rows read from the store" in caplog.text
    assert path.stat().st_mtime_ns == written  # nothing changed: the cached file is left as it is
    later = dt.datetime.now(UTC) + dt.timedelta(seconds=1)
    with store.engine.begin() as conn:
        conn.execute(schema.orders.update().where(schema.orders.c.id == 13).values(amount_cents=7, updated_at=later))
    caplog.clear()
    with caplog.at_level("INFO", logger="kehu.engine.extract"):
        rows = {r["id"]: r for r in engine_rows(store, "orders")}
    assert "extract orders: 1 rows read from the store" in caplog.text
    assert rows[13]["amount_cents"] == 7 and rows[14]["amount_cents"] == 1_400
    with store.engine.connect() as conn:
        fresh = read_store_table(conn, "orders").sort_by("id")
    assert pq.read_table(path).sort_by("id").equals(fresh)


def test_extract_as_of_filters_later_rows(store: Any) -> None:
    backend = connect(store.settings)
    tables = extract(store.engine, backend, dt.date(2024, 2, 2), settings=store.settings)
    assert to_arrow(backend, tables["orders"]).num_rows == 2  # 2024-02-01 and 2024-02-02


def test_orders_from_a_data_lake(store: Any, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()
    times = [
        dt.datetime(2024, 3, 1, 23, tzinfo=dt.timezone(dt.timedelta(hours=8))),
        dt.datetime(2024, 3, 2, tzinfo=UTC),
    ]
    pq.write_table(pa.table({"customer_id": pa.array([1, 2], pa.int32()), "ordered_at": times,
                             "amount_cents": [500, 700]}), lake / "part-0.parquet")  # fmt: skip
    settings = types.SimpleNamespace(home=store.settings.home, orders_path=str(lake), interactions_path=None)
    backend = connect(store.settings)
    tables = extract(store.engine, backend, settings=settings)
    rows = to_arrow(backend, tables["orders"].order_by("ordered_at")).to_pylist()
    assert [r["ordered_at"] for r in rows] == [dt.datetime(2024, 3, 1, 15), dt.datetime(2024, 3, 2)]
    assert [r["status"] for r in rows] == ["paid", "paid"]
    assert sorted(r["id"] for r in rows) == [1, 2]


def test_lake_file_without_required_column(store: Any, tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    pq.write_table(pa.table({"customer_id": [1], "amount_cents": [5]}), path)
    settings = types.SimpleNamespace(home=store.settings.home, orders_path=str(path), interactions_path=None)
    with pytest.raises(ConfigError, match="ordered_at"):
        extract(store.engine, connect(store.settings), settings=settings)


def test_booleans_convert_from_either_store() -> None:
    import pyarrow as pa

    from kehu.engine.extract import _to_arrow

    assert _to_arrow([1, 0, None], pa.bool_()).to_pylist() == [True, False, None]  # SQLite
    assert _to_arrow([True, False, None], pa.bool_()).to_pylist() == [True, False, None]  # PostgreSQL
