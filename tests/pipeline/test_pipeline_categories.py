"""Category cleaning: the edge test that lets most values skip ``strip()`` must not change any result."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from kehu.config import load_settings
from kehu.engine import connect, register_arrow, to_arrow
from kehu.pipeline.orders import clean_category

VALUES = ["tea", " tea", "tea ", "\ttea", "tea\n", "\rtea", "tea\x0b", "\x0ctea"]
VALUES += ["te a", "t\tea", "  ", "", "\n", None, "茶 "]


def test_clean_category_equals_strip_then_nullif(engine: str, tmp_path: Path) -> None:
    backend = connect(load_settings(home=tmp_path / "home", spark_master="local[2]"), engine=engine)
    table = register_arrow(backend, "categories_test", pa.table({"i": range(len(VALUES)), "c": VALUES}))
    got = to_arrow(backend, table.select("i", clean=clean_category(table.c)).order_by("i")).column("clean")
    # Python's strip() removes more kinds of white space than the engines; restrict it to theirs
    expected = [None if v is None else (v.strip(" \t\n\r\x0b\x0c") or None) for v in VALUES]
    assert got.to_pylist() == expected
