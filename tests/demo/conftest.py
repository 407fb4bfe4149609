"""Demo companies generated once per test session."""

from __future__ import annotations

import pytest

from kehu.demo import DemoCompany, generate_demo


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory: pytest.TempPathFactory) -> DemoCompany:
    """200 customers: the size the importer tests use."""
    return generate_demo(tmp_path_factory.mktemp("demo_small"), customers=200, seed=1)


@pytest.fixture(scope="session")
def shape_demo(tmp_path_factory: pytest.TempPathFactory) -> DemoCompany:
    """5,000 customers: enough for the behavioural shape to show through sampling noise."""
    return generate_demo(tmp_path_factory.mktemp("demo_shape"), customers=5_000, seed=3)
