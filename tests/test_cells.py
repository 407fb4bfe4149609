"""The one spreadsheet-cell rule (kehu.cells): text that would start a formula is kept as text."""

from __future__ import annotations

import datetime as dt

import pytest

from kehu.cells import FORMULA_START, spreadsheet_text, spreadsheet_value


@pytest.mark.parametrize("text", ["=cmd|' /C calc'!A0", "@SUM(1)", "+1", "-1", "\tTAB", "\rCR", "=1+1"])
def test_formula_text_gets_an_apostrophe(text: str) -> None:
    assert spreadsheet_text(text) == "'" + text
    assert spreadsheet_value(text) == "'" + text


@pytest.mark.parametrize("text", ["", "王涛", "a=1", " =1", "'=1", "C000082", "1-2"])
def test_other_text_is_unchanged(text: str) -> None:
    assert spreadsheet_text(text) == text


def test_values_that_are_not_text_are_unchanged() -> None:
    day = dt.date(2024, 3, 1)
    assert [spreadsheet_value(v) for v in (-1, -2.5, None, day)] == [-1, -2.5, None, day]
    assert set(FORMULA_START) == {"=", "+", "-", "@", "\t", "\r"}
