"""The loop's user-visible text exists in both languages: every KPI has a zh and an en name, every verdict both."""

from __future__ import annotations

import datetime as dt

import pytest

from kehu.campaigns.results import verdict
from kehu.metrics.labels import kpi_label, kpi_text, label_keys
from kehu.metrics.periods import Period
from kehu.metrics.report import PeriodData, scalar_kpis
from kehu.models.uplift import Estimate


def test_every_kpi_has_both_labels() -> None:
    keys = set(scalar_kpis(PeriodData(Period("month", dt.date(2025, 1, 1), dt.date(2025, 2, 1)))))
    assert keys == set(label_keys())
    for key in keys:
        assert kpi_label(key, "zh") and kpi_label(key, "en")
        assert kpi_label(key, "zh") != kpi_label(key, "en")
    assert kpi_text("no_data", "zh") == "无数据"
    with pytest.raises(ValueError, match="locale"):
        kpi_label("nps", "fr")


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_verdicts_in_both_languages(locale: str) -> None:
    up = Estimate(0.3, 0.2, 0.1, 0.05, 0.15, 0.95, "agresti-caffo")
    down = Estimate(0.1, 0.2, -0.1, -0.15, -0.05, 0.95, "agresti-caffo")
    none = Estimate(0.2, 0.2, 0.0, -0.05, 0.05, 0.95, "agresti-caffo")
    empty = Estimate(None, 0.2, None, None, None, 0.95, "agresti-caffo")
    texts = {verdict("conversion", e, locale) for e in (up, down, none, empty)}
    assert len(texts) == 4
    assert ("10.0 个百分点" if locale == "zh" else "10.0 points") in verdict("conversion", up, locale)
    money = Estimate(5000.0, 3000.0, 2000.0, 500.0, 3500.0, 0.95, "bootstrap")
    assert ("20.00 元" if locale == "zh" else "¥20.00") in verdict("revenue_per_customer", money, locale)


def test_negative_money_keeps_the_minus_before_the_currency_sign() -> None:
    wide = Estimate(5000.0, 3000.0, 2000.0, -2093.0, 46807.0, 0.95, "bootstrap")
    assert "-¥20.93 to ¥468.07" in verdict("revenue_per_customer", wide, "en")
    assert "-20.93 元 至 468.07 元" in verdict("revenue_per_customer", wide, "zh")
