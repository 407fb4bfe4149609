"""merged_json: the merged scores document is the text json.dumps writes for ``{**old, **values}``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kehu.publish.scores import merged_json

CASES: list[tuple[str | None, dict[str, Any]]] = [
    (None, {"clv_12m": 1.5}),
    ("null", {"clv_12m": 1}),
    ("{}", {"clv_12m": 1}),
    ('{"p_alive": 0.2, "reasons": [1, {"c": 3}]}', {"churn_tier": None, "next": ["a", "b"]}),
    ('{"p_alive": 0.2, "z": 1}', {"p_alive": 0.3, "y": 2}),  # a key written again keeps its place
    ('{"p_alive": 0.2}', {}),
    ('{"note": "\\"p_alive\\": 1"}', {"p_alive": 0.5}),  # the key inside a string value
    ('{"nested": {"p_alive": 1}}', {"p_alive": 0.5}),  # the key at a deeper level
    ('{"p_alive":0.2}', {"p_alive": 0.4}),  # written without spaces
    ('{"a": NaN}', {"b": float("inf"), "c": "中"}),
]


@pytest.mark.parametrize(("old", "values"), CASES)
def test_merged_json_is_json_dumps_of_the_merge(old: str | None, values: dict[str, Any]) -> None:
    reference = json.dumps({**((json.loads(old) if old is not None else None) or {}), **values})
    merged = merged_json(old, values)
    assert json.loads(merged) == json.loads(reference) or merged == reference
    if old is None or (old.startswith('{"') and ": " in old) or old in ("{}", "null"):
        assert merged == reference  # old written by json.dumps: the same bytes
