"""The audit after each step: declared columns, unique grain (by a bitmap or by grouping), not-null keys;
and the run's release of intermediate tables once no later step reads them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pytest

from kehu import pipeline
from kehu.config import load_settings
from kehu.engine import connect, register_arrow
from kehu.pipeline import AuditError, Context, Step

if TYPE_CHECKING:
    import ibis.expr.types as ir

AS_OF = dt.date(2024, 6, 30)


def _passthrough(name: str, grain: tuple[str, ...], columns: dict[str, str], inputs: tuple[str, ...] = ("t",)) -> Step:
    def build(tables: Mapping[str, ir.Table], ctx: Context) -> ir.Table:
        return tables[inputs[0]]

    return Step(name=name, inputs=inputs, grain=grain, columns=columns, build=build)


def _run(engine: str, tmp_path: Path, data: dict[str, list[object]], step: Step) -> pipeline.PipelineOutput:
    backend = connect(load_settings(home=tmp_path, spark_master="local[2]"), engine=engine)
    table = register_arrow(backend, f"audit_{step.name}", pa.table(data))
    return pipeline.run(backend, {"t": table}, AS_OF, steps=(step,))


@pytest.mark.parametrize(
    ("keys", "duplicates"),
    [
        ([1, 2, 3, 4, 5, 6], 0),  # dense range: bitmap on DuckDB
        ([1, 2, 2, 4, 5, 5], 2),
        ([1, 10**15, 5 * 10**15, 7, 8, 9], 0),  # a range far wider than the rows: grouped
        ([1, 10**15, 10**15, 7, 8, 1], 2),
        ([-3, -2, -3, 0, 1, 2], 1),  # negative keys
    ],
)
def test_a_single_integer_grain_is_checked_for_duplicates(
    engine: str, tmp_path: Path, keys: list[int], duplicates: int
) -> None:
    step = _passthrough("single_key", ("k",), {"k": "int64", "v": "int64"})
    data: dict[str, list[object]] = {"k": keys, "v": list(range(len(keys)))}
    if not duplicates:
        assert _run(engine, tmp_path, data, step).rows("single_key") == len(keys)
        return
    with pytest.raises(AuditError, match=rf"grain \(k\) is not unique: {duplicates} duplicate row\(s\) in 6"):
        _run(engine, tmp_path, data, step)


def test_a_null_key_and_a_composite_grain_are_checked(engine: str, tmp_path: Path) -> None:
    step = _passthrough("pair", ("a", "b"), {"a": "int64", "b": "string"})
    with pytest.raises(AuditError, match=r"grain \(a, b\) is not unique: 1 duplicate"):
        _run(engine, tmp_path, {"a": [1, 1, 2], "b": ["x", "x", "x"]}, step)
    assert _run(engine, tmp_path, {"a": [1, 1, 2], "b": ["x", "y", "x"]}, step).rows("pair") == 3
    single = _passthrough("nullable", ("k",), {"k": "int64"})
    with pytest.raises(AuditError, match=r"1 row\(s\) have NULL in key column 'k'"):
        _run(engine, tmp_path, {"k": pa.array([1, None, 3], pa.int64())}, single)


def test_intermediate_tables_are_released_after_their_last_reader(tmp_path: Path) -> None:
    backend = connect(load_settings(home=tmp_path), engine="duckdb")
    table = register_arrow(backend, "audit_release", pa.table({"k": [1, 2, 3]}))
    first = _passthrough("first", ("k",), {"k": "int64"})
    second = _passthrough("second", ("k",), {"k": "int64"}, inputs=("first",))
    output = pipeline.run(backend, {"t": table}, AS_OF, steps=(first, second))
    assert set(output.tables) == {"second"} and output.rows("first") == 3
    names = {name for (name,) in backend.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert "kehu_step_second" in names and "kehu_step_first" not in names
    kept = pipeline.run(backend, {"t": table}, AS_OF, steps=(first, second), keep=("first", "second"))
    assert set(kept.tables) == {"first", "second"}
    assert kept.to_arrow("first").column("k").to_pylist() == [1, 2, 3]
