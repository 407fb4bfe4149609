"""KPI labels (zh-CN and en) from ``metrics/labels.yaml``."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

__all__ = ["LOCALES", "kpi_label", "kpi_text", "label_keys"]

LOCALES = ("zh", "en")


@cache
def _catalog() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(Path(__file__).with_name("labels.yaml").read_text(encoding="utf-8"))
    return data


def _check(locale: str) -> None:
    if locale not in LOCALES:
        raise ValueError(f"unknown locale {locale!r}: use one of {', '.join(LOCALES)}")


def label_keys() -> list[str]:
    """The KPI keys the catalog labels."""
    return list(_catalog()["kpis"])


def kpi_label(key: str, locale: str = "zh") -> str:
    """A KPI's name (KeyError for a KPI the catalog does not know: every KPI must have a label)."""
    _check(locale)
    return str(_catalog()["kpis"][key][locale])


def kpi_text(key: str, locale: str = "zh") -> str:
    """Other catalog text: ``no_data``, ``not_available``."""
    _check(locale)
    return str(_catalog()[key][locale])
