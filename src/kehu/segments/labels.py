"""The segment label catalog (zh-CN and en) in ``segments/labels.yaml``: schemes, segments, export headers."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

__all__ = ["LOCALES", "export_header", "scheme_label", "segment_keys", "segment_label"]

LOCALES = ("zh", "en")


@cache
def _catalog() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(Path(__file__).with_name("labels.yaml").read_text(encoding="utf-8"))
    return data


def _pick(entry: dict[str, str] | None, locale: str, fallback: str) -> str:
    if locale not in LOCALES:
        raise ValueError(f"unknown locale {locale!r}: use one of {', '.join(LOCALES)}")
    return fallback if entry is None else entry[locale]


def segment_keys(scheme: str) -> list[str]:
    """The segment keys the catalog labels for a built-in scheme."""
    return list(_catalog()["segments"].get(scheme, {}))


def scheme_label(scheme: str, locale: str = "zh") -> str:
    """A scheme's label; a custom segment's scheme (``custom.NAME``) is labelled as custom."""
    base = "custom" if scheme.startswith("custom.") else scheme
    return _pick(_catalog()["schemes"].get(base), locale, scheme)


def segment_label(scheme: str, segment: str, locale: str = "zh") -> str:
    """A segment's label (a custom segment is labelled by its own name, or the labels it was defined with)."""
    return _pick(_catalog()["segments"].get(scheme, {}).get(segment), locale, segment)


def export_header(column: str, locale: str = "zh") -> str:
    """The header of an export column."""
    return _pick(_catalog()["export_headers"].get(column), locale, column)
