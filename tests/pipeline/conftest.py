"""Fixtures for the pipeline suite: a SQLite store to fill by hand, and one backend per engine.

Every engine-dependent test takes the ``engine`` fixture of ``tests/conftest.py``, parametrized over DuckDB and
Spark; Spark runs in ONE session for the whole test run (``local[2]``, 2 shuffle partitions, UI off).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pipeline_testkit import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "home")
    yield s
    s.engine.dispose()
