"""A re-run of a segmented day writes only the memberships that changed, and ends where a first run would.

The writes are counted by triggers on ``segment_memberships`` (the bulk writer goes to the DBAPI cursor directly,
past SQLAlchemy's events): each inserted, updated or deleted row logs its operation and key. On each store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from segments_testkit import make_store, publish_profile, random_profile, random_scores

from kehu.config import Settings
from kehu.publish import segments as placement
from kehu.store.segments import record_run, save_definition, segment_memberships, segment_runs, sync_memberships

DAY = dt.date(2025, 6, 30)
_LOG = "CREATE TABLE membership_writes (op TEXT, run_id INTEGER, customer_id INTEGER, segment TEXT)"
_SQLITE_TRIGGERS = (
    "CREATE TRIGGER log_insert AFTER INSERT ON segment_memberships BEGIN INSERT INTO membership_writes "
    "VALUES ('insert', NEW.run_id, NEW.customer_id, NEW.segment); END",
    "CREATE TRIGGER log_update AFTER UPDATE ON segment_memberships BEGIN INSERT INTO membership_writes "
    "VALUES ('update', NEW.run_id, NEW.customer_id, NEW.segment); END",
    "CREATE TRIGGER log_delete AFTER DELETE ON segment_memberships BEGIN INSERT INTO membership_writes "
    "VALUES ('delete', OLD.run_id, OLD.customer_id, OLD.segment); END",
)
_POSTGRES_TRIGGERS = (
    "CREATE FUNCTION log_membership() RETURNS trigger AS $$ BEGIN IF TG_OP = 'DELETE' THEN "
    "INSERT INTO membership_writes VALUES ('delete', OLD.run_id, OLD.customer_id, OLD.segment); ELSE "
    "INSERT INTO membership_writes VALUES (lower(TG_OP), NEW.run_id, NEW.customer_id, NEW.segment); END IF; "
    "RETURN NULL; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER log_writes AFTER INSERT OR UPDATE OR DELETE ON segment_memberships "
    "FOR EACH ROW EXECUTE FUNCTION log_membership()",
)
_Store = tuple[Settings, sa.Engine]


@pytest.fixture
def seeded(settings: Settings, store_url: str) -> Iterator[_Store]:
    """Customers 1..200 published for DAY and segmented once; membership writes logged from then on."""
    settings = settings.model_copy(update={"database_url": store_url})
    engine = make_store(settings)
    profile = random_profile(7, range(1, 201), DAY)
    publish_profile(engine, profile, DAY, random_scores(8, profile))
    placement.segment_run(settings, "duckdb", DAY)
    with engine.begin() as conn:
        triggers = _SQLITE_TRIGGERS if engine.dialect.name == "sqlite" else _POSTGRES_TRIGGERS
        for statement in (_LOG, *triggers):
            conn.exec_driver_sql(statement)
    yield settings, engine
    engine.dispose()


def _writes(engine: sa.Engine) -> list[tuple[str, int, int, str]]:
    with engine.begin() as conn:
        rows = [
            tuple(r) for r in conn.exec_driver_sql("SELECT op, run_id, customer_id, segment FROM membership_writes")
        ]
        conn.exec_driver_sql("DELETE FROM membership_writes")
    return rows  # type: ignore[return-value]


def _memberships(engine: sa.Engine) -> dict[tuple[str, int, str], Any]:
    """(scheme, customer, segment) -> deciding values, of every run of DAY."""
    m, r = segment_memberships, segment_runs
    stmt = sa.select(r.c.scheme, m.c.customer_id, m.c.segment, m.c["values"]).join(r).where(r.c.as_of == DAY)
    with engine.connect() as conn:
        return {(s, int(c), g): v for s, c, g, v in conn.execute(stmt)}


def _run_ids(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {s: int(i) for s, i in conn.execute(sa.select(segment_runs.c.scheme, segment_runs.c.id))}


def test_rerun_with_unchanged_data_writes_no_membership(seeded: _Store) -> None:
    settings, store = seeded
    before, ids = _memberships(store), _run_ids(store)
    again = placement.segment_run(settings, "duckdb", DAY)
    assert _writes(store) == []
    assert _memberships(store) == before and len(before) >= 5 * 200 - 200  # every scheme placed (nearly) all
    assert _run_ids(store) == ids
    assert sum(again.schemes["lifecycle"]["sizes"].values()) == 200


def test_rerun_after_a_few_customers_change_writes_only_theirs(seeded: _Store) -> None:
    settings, store = seeded
    from kehu.store.published import customer_score_history as h

    before = _memberships(store)
    with store.begin() as conn:  # three buyers who have now not bought for four years
        buyers = sa.select(h.c.customer_id).where(h.c.as_of == DAY, h.c.orders > 1).order_by(h.c.customer_id)
        lapsed = [int(c) for c in conn.execute(buyers.limit(3)).scalars()]
        conn.execute(
            sa.update(h).where(h.c.as_of == DAY, h.c.customer_id.in_(lapsed)).values(days_since_last_order=1460)
        )
    placement.segment_run(settings, "duckdb", DAY)
    after = _memberships(store)
    writes = _writes(store)
    lifecycle = {(op, c, g) for op, run, c, g in writes if run == _run_ids(store)["lifecycle"]}
    moved = {c for (scheme, c, g) in set(before) ^ set(after) if scheme == "lifecycle"}
    assert moved and moved <= set(lapsed)
    assert {c for _, c, _ in lifecycle} <= set(lapsed)
    assert {("insert", c, g) for (s, c, g) in set(after) - set(before) if s == "lifecycle"} <= lifecycle
    # exactly the differences: rows that came, rows that went, rows whose deciding values changed
    names = {run: scheme for scheme, run in _run_ids(store).items()}
    written = {(op, names[run], c, g) for op, run, c, g in writes}
    expected = (
        {("insert", *k) for k in set(after) - set(before)}
        | {("delete", *k) for k in set(before) - set(after)}
        | {("update", *k) for k in set(before) & set(after) if before[k] != after[k]}
    )
    assert written == expected and len(writes) == len(expected)
    assert 0 < len(writes) < len(after) // 10
    # and the store holds what a first run of that day would write
    with store.begin() as conn:
        conn.execute(sa.delete(segment_memberships))
        conn.execute(sa.delete(segment_runs))
    placement.segment_run(settings, "duckdb", DAY)
    assert _memberships(store) == after


def test_sync_memberships_inserts_updates_and_deletes(settings: Settings, store_url: str) -> None:
    """On each store (SQLite and PostgreSQL): the differences only, and the run keeps its id."""
    engine = make_store(settings.model_copy(update={"database_url": store_url}))
    publish_profile(engine, random_profile(1, range(1, 6), DAY), DAY)
    rows = [{"customer_id": c, "segment": "a" if c < 4 else "b", "values": {"x": c}} for c in range(1, 6)]
    try:
        with engine.begin() as conn:
            definition, _ = save_definition(conn, "custom.t", "custom", {"segments": []})
            run = record_run(conn, scheme="custom.t", as_of=DAY, definition_id=definition, engine="duckdb",
                             rows=rows, population=5)  # fmt: skip
            assert sync_memberships(conn, run, rows) == {"inserted": 0, "updated": 0, "deleted": 0}
            changed = [*rows[:2], {**rows[2], "values": {"x": 30}}, {**rows[3], "segment": "a"}]
            assert sync_memberships(conn, run, changed) == {"inserted": 1, "updated": 1, "deleted": 2}
            again = record_run(conn, scheme="custom.t", as_of=DAY, definition_id=definition, engine="store",
                               rows=changed, population=4, stats={"n": 4})  # fmt: skip
            stored = conn.execute(
                sa.select(segment_memberships.c.customer_id, segment_memberships.c.segment,
                          segment_memberships.c["values"]).order_by(segment_memberships.c.customer_id)
            ).all()  # fmt: skip
            row = conn.execute(sa.select(segment_runs)).one()
        assert again == run
        assert [tuple(r) for r in stored] == [(1, "a", {"x": 1}), (2, "a", {"x": 2}), (3, "a", {"x": 30}),
                                              (4, "a", {"x": 4})]  # fmt: skip
        assert (row.engine, row.population, row.stats) == ("store", 4, {"n": 4})
    finally:
        engine.dispose()
