"""Known engine gaps, declared where they are: each capability flag is checked against the engine.

A gap is an ``xfail`` naming the exception the engine raises; when a new Ibis or Spark release closes it,
the strict xfail turns into a failure and the flag in ``kehu.engine.backends`` must be updated.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import ibis.common.exceptions as com
import ibis.expr.types as ir
import pyarrow as pa
import pytest

from kehu.config import load_settings
from kehu.engine import capabilities, connect, register_arrow, to_arrow


def first_by_order(t: ir.Table) -> ir.Table:
    return t.group_by("g").aggregate(x=t.v.first(order_by=t.k))


def mode(t: ir.Table) -> ir.Table:
    return t.group_by("g").aggregate(x=t.v.mode())


GAPS: dict[str, tuple[Callable[[ir.Table], ir.Table], type[Exception], list[int]]] = {
    "ordered_aggregates": (first_by_order, com.UnsupportedOperationError, [30, 5]),
    "mode_aggregate": (mode, com.OperationNotDefinedError, [10, 5]),
}


CASES = [pytest.param(flag, "duckdb", id=f"{flag}-duckdb") for flag in GAPS] + [
    pytest.param(
        flag, "spark", id=f"{flag}-spark",
        marks=[pytest.mark.spark, pytest.mark.xfail(raises=exception, strict=True, reason="known Spark gap")],
    )
    for flag, (_, exception, _) in GAPS.items()
]  # fmt: skip


@pytest.mark.parametrize(("flag", "engine"), CASES)
def test_capability(flag: str, engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if engine == "spark":
        request.getfixturevalue("spark_started")
    backend = connect(load_settings(home=tmp_path, spark_master="local[2]"), engine=engine)
    build, _, expected = GAPS[flag]
    data = register_arrow(backend, f"gap_{flag}", pa.table({"g": [1, 1, 1, 2], "k": [3, 1, 2, 1],
                                                            "v": [10, 30, 10, 5]}))  # fmt: skip
    result = to_arrow(backend, build(data).order_by("g")).column("x").to_pylist()
    assert result == expected
    assert getattr(capabilities(backend), flag) is True
