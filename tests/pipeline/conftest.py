"""Fixtures for the pipeline suite: a SQLite store to fill by hand, and one backend per engine.

Every engine-dependent test takes the ``engine`` fixture, parametrized over DuckDB and Spark; Spark runs
in ONE session for the whole test run (``local[2]``, 2 shuffle partitions, UI off).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pipeline_testkit import SPARK_MASTER, Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "home")
    yield s
    s.engine.dispose()


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
    """The engine name; for Spark, the shared session is started first."""
    if request.param == "spark":
        request.getfixturevalue("spark_started")
    return str(request.param)
