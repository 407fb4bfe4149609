"""The label catalog: every entry has exactly a zh and an en text (a YAML slip such as an unquoted comma fails)."""

from __future__ import annotations

from pathlib import Path

import yaml

import kehu.segments

CATALOG = Path(kehu.segments.__file__).with_name("labels.yaml")


def _entries(node: object, path: str = "") -> list[tuple[str, object]]:
    if isinstance(node, dict) and ({"zh", "en"} & set(node) or not node):
        return [(path, node)]
    if isinstance(node, dict):
        return [e for k, v in node.items() for e in _entries(v, f"{path}.{k}" if path else str(k))]
    return [(path, node)]


def test_every_label_has_zh_and_en() -> None:
    entries = _entries(yaml.safe_load(CATALOG.read_text(encoding="utf-8")))
    assert len(entries) > 40
    bad = [
        (p, e)
        for p, e in entries
        if not isinstance(e, dict) or set(e) != {"zh", "en"} or not all(isinstance(v, str) and v for v in e.values())
    ]
    assert not bad, bad
