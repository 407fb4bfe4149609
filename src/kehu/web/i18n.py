"""The web app's labels (the ``web.`` section of the one catalog, :mod:`kehu.i18n`) and formatting of numbers,
money and dates per locale.

Labels are looked up by dotted key (``t("customers.title")``); a missing key is a bug, so it raises ``KeyError``
(a test checks both catalogs have the same keys). Each catalog's ``_format`` section says how that language
writes dates, months and currency symbols.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from kehu import i18n
from kehu.vocabulary import LOCALES

__all__ = ["DEFAULT_LOCALE", "Translator", "catalog", "flat_keys", "negotiate", "translator_for"]

DEFAULT_LOCALE = LOCALES[0]


_STEPS = tuple(Decimal(1).scaleb(-n) for n in range(7))  # 1, 0.1, 0.01, ... for quantize


@cache
def catalog(locale: str) -> dict[str, Any]:
    """The web app's part of the catalog of ``locale`` (one of :data:`kehu.vocabulary.LOCALES`)."""
    return i18n.section("web", locale)


@cache
def _labels(locale: str) -> dict[str, str]:
    """Every label of ``locale``'s catalog by dotted key (the ``_format`` section left out)."""
    out: dict[str, str] = {}

    def walk(tree: dict[str, Any], prefix: str) -> None:
        for k, v in tree.items():
            if isinstance(v, dict):
                if not k.startswith("_"):
                    walk(v, f"{prefix}{k}.")
            elif isinstance(v, str):
                out[prefix + k] = v

    walk(catalog(locale), "")
    return out


@cache
def translator_for(locale: str, timezone: str) -> Translator:
    """The (shared, cached) translator of a locale and display time zone."""
    return Translator(locale, timezone)


def flat_keys(tree: dict[str, Any], prefix: str = "") -> set[str]:
    """Every dotted key of a catalog (leaves only)."""
    keys: set[str] = set()
    for k, v in tree.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict) and not k.startswith("_"):
            keys |= flat_keys(v, path + ".")
        else:
            keys.add(path)
    return keys


def negotiate(accept_language: str | None) -> str:
    """The best of :data:`kehu.vocabulary.LOCALES` for an ``Accept-Language`` header (default
    :data:`DEFAULT_LOCALE`)."""
    if not accept_language:
        return DEFAULT_LOCALE
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            name, _, value = p.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranked.append((-q, i, tag.strip().lower()))
    for neg_q, _, tag in sorted(ranked):
        if -neg_q <= 0:
            continue
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LOCALE


class Translator:
    """Labels and formatting for one locale.

    Parameters
    ----------
    locale
        One of :data:`kehu.vocabulary.LOCALES`.
    timezone
        Time zone dates and times are shown in.
    """

    def __init__(self, locale: str, timezone: str = "Asia/Shanghai") -> None:
        self.locale = locale
        self._tree = catalog(locale)
        self._labels = _labels(locale)
        self._fmt: dict[str, Any] = self._tree["_format"]
        self._tz = ZoneInfo(timezone)
        self._symbols: dict[str, str] = self._fmt["currency_symbols"]
        # the separators Python writes ("," and "."), when the language writes others
        point, group = self._fmt["decimal_point"], self._fmt["group_separator"]
        self._separators = None if (point, group) == (".", ",") else str.maketrans({".": point, ",": group})
        self._date_format = str(self._fmt["date"])
        self._month_abbr = list(self._fmt["month_abbr"])
        self._dates: dict[tuple[int, int, int], str] = {}

    @property
    def html_lang(self) -> str:
        """The ``lang`` attribute of pages in this locale."""
        return str(self._fmt["html_lang"])

    def __call__(self, key: str, **values: Any) -> str:
        """The label for ``key`` with ``{placeholders}`` filled from ``values``."""
        node = self._labels.get(key)
        if node is None:
            raise KeyError(key)
        return node.format(**values) if values else node

    @property
    def lang(self) -> str:
        """``"zh"`` or ``"en"``: the key of the segment and reason catalogs' labels for this language."""
        return "zh" if self.locale.startswith("zh") else "en"

    def scheme(self, name: str) -> str:
        """A segment scheme's label (``rfm_cn``, ``lifecycle``, ``custom.NAME`` ...)."""
        from kehu.segments.labels import scheme_label

        return scheme_label(name, self.lang)

    def section(self, key: str) -> dict[str, str]:
        """A whole section (e.g. ``users.roles``) as a dict."""
        node: Any = self._tree
        for part in key.split("."):
            node = node[part]
        return dict(node)

    def number(self, value: float | int | Decimal | None, digits: int = 0) -> str:
        """``value`` with grouped thousands and ``digits`` decimals (empty for ``None``)."""
        if value is None:
            return ""
        if isinstance(value, int) and not digits:
            text = f"{value:,}"
        else:
            d = Decimal(str(value)) if not isinstance(value, Decimal) else value
            exponent = -digits
            if d.as_tuple().exponent != exponent:
                d = d.quantize(_STEPS[digits] if digits < len(_STEPS) else Decimal(1).scaleb(exponent), ROUND_HALF_UP)
            text = f"{d:,.{digits}f}"
        return text if self._separators is None else text.translate(self._separators)

    def money(self, value: Decimal | float | int | None, currency: str = "CNY") -> str:
        """An amount with its currency symbol (or code) and two decimals."""
        if value is None:
            return ""
        symbol = self._symbols.get(currency)
        if symbol is None:
            symbol = currency + " "
        d = value if isinstance(value, Decimal) else Decimal(str(value))
        if d < 0:
            return f"-{symbol}{self.number(-d, 2)}"
        return f"{symbol}{self.number(d, 2)}"

    def _parts(self, value: dt.date) -> dict[str, Any]:
        return {
            "year": value.year,
            "month": value.month,
            "day": value.day,
            "month_abbr": self._fmt["month_abbr"][value.month - 1],
        }

    def date(self, value: dt.date | dt.datetime | None) -> str:
        """A date (a datetime is first converted to the display time zone)."""
        if value is None:
            return ""
        if isinstance(value, dt.datetime) and value.tzinfo:
            value = value.astimezone(self._tz)
        day = (value.year, value.month, value.day)
        text = self._dates.get(day)
        if text is None:
            text = self._date_format.format(year=day[0], month=day[1], day=day[2],
                                            month_abbr=self._month_abbr[day[1] - 1])  # fmt: skip
            if len(self._dates) < 20_000:  # days seen by this translator (a page shows a few hundred)
                self._dates[day] = text
        return text

    def as_of(self, value: dt.date | dt.datetime | str | None) -> str:
        """The day the figures beside it were computed as of, as "截至 …" / "as of …" (a date, or ISO text; ""
        when there is none). Every page names the day of its figures through this one helper."""
        if value is None or value == "":
            return ""
        day = dt.date.fromisoformat(value[:10]) if isinstance(value, str) else value
        return self("refresh.as_of", day=self.date(day))

    def duration(self, seconds: float | None) -> str:
        """Seconds of a run, e.g. "12.3 秒" / "12.3 s" ("" when unknown)."""
        return self("refresh.seconds", n=self.number(seconds, 1)) if seconds is not None else ""

    def datetime(self, value: dt.datetime | None) -> str:
        """A date and time in the display time zone."""
        if value is None:
            return ""
        local = value.astimezone(self._tz) if value.tzinfo else value
        return str(self._fmt["datetime"]).format(**self._parts(local), hour=local.hour, minute=local.minute)

    def month(self, key: str) -> str:
        """A ``YYYY-MM`` month key as a month label."""
        year, month = (int(p) for p in key.split("-")[:2])
        return str(self._fmt["month"]).format(**self._parts(dt.date(year, month, 1)))

    def value(self, value: Any) -> str:
        """Any stored value for display: numbers grouped, dates formatted, booleans as yes/no."""
        if value is None:
            return ""
        if isinstance(value, bool):
            return self("customer.flag_yes") if value else self("customer.flag_no")
        if isinstance(value, dt.datetime):
            return self.datetime(value)
        if isinstance(value, dt.date):
            return self.date(value)
        if isinstance(value, int):
            return self.number(value)
        if isinstance(value, float | Decimal):
            return self.number(value, 2)
        return str(value)
