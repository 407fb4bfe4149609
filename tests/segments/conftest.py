"""Fixtures for the segmentation suite: one analytics backend per engine, and a store with segment tables.

The ``engine`` fixture (DuckDB, and Spark in the run's one session) comes from ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from segments_testkit import SPARK_MASTER

from kehu.config import Settings, load_settings


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
