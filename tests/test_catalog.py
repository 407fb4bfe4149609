"""One translation catalog: every label function gives exactly the strings it gave before the catalogs were
merged (recorded in ``golden_catalog/labels.json`` from the five separate catalogs), and both locales have the
same keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from catalog_kit import outputs
from kehu import i18n
from kehu.vocabulary import LOCALES

RECORDED = Path(__file__).parent / "golden_catalog" / "labels.json"


def test_every_label_is_what_the_separate_catalogs_said() -> None:
    assert json.loads(json.dumps(outputs(), ensure_ascii=False)) == json.loads(RECORDED.read_text(encoding="utf-8"))


def test_both_locales_have_the_same_keys() -> None:
    zh, en = (i18n.keys(loc) for loc in LOCALES)
    assert zh == en
    assert {key.split(".", 1)[0] for key in zh} == {
        "web",
        "metrics",
        "segments",
        "campaigns",
        "reasons",
        "notify",
        "asof",
        "effects",
        "outcomes",
        "limits",  # issue 23: refusals of oversized input (kehu.user_yaml)
        "files",  # hostile files, uploads and the store's turns (issue 23, part D)
        "scope",  # issue 23: what a manager may act on
    }


def test_text_looks_up_a_namespaced_key() -> None:
    assert i18n.text("metrics.no_data", "zh-CN") == "无数据"
    assert i18n.text("metrics.no_data", "en") == "no data"
    with pytest.raises(KeyError):
        i18n.text("metrics.no_such_key", "en")
    with pytest.raises(KeyError):
        i18n.text("metrics.no_data", "fr")
