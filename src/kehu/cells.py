"""Spreadsheet cells that stay text: the one rule every CSV and XLSX writer of Kehu applies (formula injection).

Excel, WPS and LibreOffice run a cell as a formula when its text starts with ``=``, ``+``, ``-`` or ``@``; some
of them first drop a leading tab or carriage return, so those count too. A customer's name such as
``=cmd|' /C calc'!A0`` would otherwise run when a manager opens the export. Such text gets a leading apostrophe,
which the spreadsheet shows as plain text (and does not display). Numbers, dates and empty cells are left as
they are: only text can carry a formula.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FORMULA_START", "spreadsheet_text", "spreadsheet_value"]

#: the first characters that make a spreadsheet program read a text cell as a formula
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(text: str) -> str:
    """``text`` with a leading apostrophe when a spreadsheet would read it as a formula.

    Parameters
    ----------
    text
        The cell's text.

    Returns
    -------
    str
        ``text`` unchanged, or ``"'" + text`` when it starts with one of :data:`FORMULA_START`.
    """
    return "'" + text if text.startswith(FORMULA_START) else text


def spreadsheet_value(value: Any) -> Any:
    """A cell value for a CSV or XLSX writer: text through :func:`spreadsheet_text`, anything else unchanged."""
    return spreadsheet_text(value) if isinstance(value, str) else value
