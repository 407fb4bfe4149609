"""The one JSON encoding of the CLI, the REST API and the pages' .json twins."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from kehu.jsonable import dumps, to_jsonable

AT = dt.datetime(2024, 3, 31, 8, 15, tzinfo=dt.UTC)


def test_dates_money_and_paths_become_text() -> None:
    value = {
        "day": dt.date(2024, 3, 31),
        "at": AT,
        "revenue": Decimal("12.30"),
        "file": Path("/srv/kehu/quarantine/orders.csv"),
        "pair": (1, dt.date(2024, 1, 1)),
        "nested": [{"n": Decimal("-0.5")}],
        "plain": [None, True, 3, 2.5, "客户"],
    }
    assert to_jsonable(value) == {
        "day": "2024-03-31",
        "at": "2024-03-31T08:15:00+00:00",
        "revenue": "12.30",
        "file": "/srv/kehu/quarantine/orders.csv",
        "pair": [1, "2024-01-01"],
        "nested": [{"n": "-0.5"}],
        "plain": [None, True, 3, 2.5, "客户"],
    }


def test_keys_are_written_as_json_writes_them() -> None:
    value = {7: "a", 2.5: "b", True: "c", None: "d", dt.date(2024, 3, 31): "e", AT: "f", Decimal("1.10"): "g"}
    assert json.loads(dumps(value)) == {
        "7": "a",
        "2.5": "b",
        "true": "c",
        "null": "d",
        "2024-03-31": "e",
        "2024-03-31T08:15:00+00:00": "f",
        "1.10": "g",
    }


def test_dumps_keeps_chinese_and_indents_on_request() -> None:
    assert dumps({"名": "王芳"}) == '{"名": "王芳"}'
    assert dumps({"a": [1]}, indent=2) == '{\n  "a": [\n    1\n  ]\n}'


def test_what_has_no_json_form_is_refused() -> None:
    with pytest.raises(TypeError):
        dumps({"x": object()})
