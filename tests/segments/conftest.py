"""Fixtures for the segmentation suite: one analytics backend per engine, and a store with segment tables.

The Spark session is the process's one session (``kehu.engine.spark_session`` returns the running session
when the master matches), started with the same small-test settings as the pipeline suite's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from segments_testkit import SPARK_MASTER

from kehu.config import Settings, load_settings


@pytest.fixture(scope="session")
def spark_session_started() -> Iterator[None]:
    """The shared Spark session (local[2], 2 shuffle partitions), stopped at the end of the run."""
    pytest.importorskip("pyspark")
    from kehu.engine import spark_session

    session = spark_session(SPARK_MASTER, shuffle_partitions=2)
    yield
    session.stop()


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def engine(request: pytest.FixtureRequest) -> str:
    """The engine name; for Spark, the shared session is started first."""
    if request.param == "spark":
        request.getfixturevalue("spark_session_started")
    return str(request.param)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with KEHU_HOME in tmp_path and the test Spark master."""
    return load_settings(home=tmp_path / "home", spark_master=SPARK_MASTER)


@pytest.fixture
def backend(settings: Settings, engine: str) -> Iterator[Any]:
    """An Ibis backend on the engine under test."""
    from kehu.engine import connect, engine_name

    con = connect(settings, engine=engine)
    yield con
    if engine_name(con) == "duckdb":
        con.disconnect()
