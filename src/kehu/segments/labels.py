"""Segment labels (zh-CN and en) from the ``segments.`` section of the one catalog (:mod:`kehu.i18n`): schemes,
segments, export headers."""

from __future__ import annotations

from typing import Any

from kehu import i18n

__all__ = ["LOCALES", "export_header", "scheme_label", "segment_keys", "segment_label"]

#: the languages of these functions: ``zh`` reads the catalog's zh-CN text
LOCALES = ("zh", "en")
_CATALOG_LOCALE = {"zh": "zh-CN", "en": "en"}


def _pick(section: str, key: str, locale: str, fallback: str) -> str:
    if locale not in LOCALES:
        raise ValueError(f"unknown locale {locale!r}: use one of {', '.join(LOCALES)}")
    entries: dict[str, Any] = i18n.section(section, _CATALOG_LOCALE[locale])
    entry = entries.get(key)
    return fallback if entry is None else str(entry)


def segment_keys(scheme: str) -> list[str]:
    """The segment keys the catalog labels for a built-in scheme."""
    return list(i18n.section("segments.segments", "zh-CN").get(scheme, {}))


def scheme_label(scheme: str, locale: str = "zh") -> str:
    """A scheme's label; a custom segment's scheme (``custom.NAME``) is labelled as custom."""
    base = "custom" if scheme.startswith("custom.") else scheme
    return _pick("segments.schemes", base, locale, scheme)


def segment_label(scheme: str, segment: str, locale: str = "zh") -> str:
    """A segment's label (a custom segment is labelled by its own name, or the labels it was defined with)."""
    if locale not in LOCALES:
        raise ValueError(f"unknown locale {locale!r}: use one of {', '.join(LOCALES)}")
    entry = i18n.section("segments.segments", _CATALOG_LOCALE[locale]).get(scheme, {}).get(segment)
    return segment if entry is None else str(entry)


def export_header(column: str, locale: str = "zh") -> str:
    """The header of an export column."""
    return _pick("segments.export_headers", column, locale, column)
