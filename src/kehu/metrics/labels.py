"""KPI labels (zh-CN and en) from the ``metrics.`` section of the one catalog (:mod:`kehu.i18n`)."""

from __future__ import annotations

from kehu import i18n

__all__ = ["LOCALES", "kpi_label", "kpi_text", "label_keys"]

#: the languages of these functions: ``zh`` reads the catalog's zh-CN text
LOCALES = ("zh", "en")
_CATALOG_LOCALE = {"zh": "zh-CN", "en": "en"}


def _locale(locale: str) -> str:
    if locale not in LOCALES:
        raise ValueError(f"unknown locale {locale!r}: use one of {', '.join(LOCALES)}")
    return _CATALOG_LOCALE[locale]


def label_keys() -> list[str]:
    """The KPI keys the catalog labels."""
    return list(i18n.section("metrics.kpis", "zh-CN"))


def kpi_label(key: str, locale: str = "zh") -> str:
    """A KPI's name (KeyError for a KPI the catalog does not know: every KPI must have a label)."""
    return str(i18n.section("metrics.kpis", _locale(locale))[key])


def kpi_text(key: str, locale: str = "zh") -> str:
    """Other catalog text: ``no_data``, ``not_available``."""
    return i18n.text(f"metrics.{key}", _locale(locale))
