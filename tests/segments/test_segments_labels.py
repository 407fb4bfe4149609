"""The label catalog: every segment entry has a zh and an en text (a YAML slip such as an unquoted comma fails)."""

from __future__ import annotations

from pathlib import Path

import yaml

import kehu

CATALOGS = {
    lang: Path(kehu.__file__).with_name("locale") / f"{loc}.yaml" for lang, loc in (("zh", "zh-CN"), ("en", "en"))
}


def _entries(node: object, path: str = "") -> list[tuple[str, object]]:
    if isinstance(node, dict) and node:
        return [e for k, v in node.items() for e in _entries(v, f"{path}.{k}" if path else str(k))]
    return [(path, node)]


def test_every_label_has_zh_and_en() -> None:
    by_lang = {
        lang: dict(_entries(yaml.safe_load(p.read_text(encoding="utf-8"))["segments"])) for lang, p in CATALOGS.items()
    }
    entries = [
        (k, {lang: by_lang[lang].get(k) for lang in by_lang}) for k in by_lang["zh"].keys() | by_lang["en"].keys()
    ]
    assert len(entries) > 40
    bad = [(p, e) for p, e in entries if not all(isinstance(v, str) and v for v in e.values())]
    assert not bad, bad
