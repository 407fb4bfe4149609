"""What the views need of a translator: the language and the formatting of labels, numbers, money and dates
(:class:`kehu.web.i18n.Translator` is one)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Protocol

__all__ = ["Translate"]


class Translate(Protocol):
    """Labels and numbers in one language."""

    @property
    def lang(self) -> str:
        """The language's short code (``zh`` or ``en``)."""
        ...

    def __call__(self, key: str, **values: Any) -> str:
        """The text of ``key`` in this language."""
        ...

    def number(self, value: float | int | Decimal | None, digits: int = 0) -> str:
        """``value`` with grouped thousands and ``digits`` decimals."""
        ...

    def money(self, value: Decimal | float | int | None, currency: str = "CNY") -> str:
        """An amount with its currency."""
        ...

    def date(self, value: dt.date | dt.datetime | None) -> str:
        """A date."""
        ...

    def month(self, key: str) -> str:
        """A month key (``YYYY-MM``) as the language writes it."""
        ...
