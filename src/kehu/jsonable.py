"""The one JSON encoding of Kehu's front ends: the CLI's ``--json`` output, the REST API and the pages' ``.json`` twins.

Values that JSON has no type for are written as text: dates and times in ISO 8601 (``2024-03-31``,
``2024-03-31T08:15:00+00:00``), money (``Decimal``) as its exact digits (``"12.30"``), paths as the path.
Tuples become lists. Dictionary keys that ``json`` accepts (text, numbers, booleans, ``None``) are left for
``json`` to write; other keys get the same text as a value of their type (a date key is its ISO day).
What a front may show of a file (its name, not where it lies on the server) is decided by the view that builds the
data, not here.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import PurePath
from typing import Any

__all__ = ["dumps", "to_jsonable"]

_JSON_KEYS = (str, int, float, bool, type(None))


def to_jsonable(value: Any) -> Any:
    """``value`` with every date, time, ``Decimal`` and path inside it turned into text (see the module docstring).

    Parameters
    ----------
    value
        Plain data: dictionaries, lists and tuples of JSON values, dates, times, ``Decimal`` and paths.

    Returns
    -------
    Any
        The same data made of dictionaries, lists, text, numbers, booleans and ``None``; values of any other type
        are returned as they are (``json`` then refuses them).
    """
    if isinstance(value, dict):
        return {_key(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    return value


def _key(key: Any) -> Any:
    if isinstance(key, _JSON_KEYS):
        return key
    text = to_jsonable(key)
    return text if isinstance(text, str) else str(key)


def dumps(value: Any, *, indent: int | None = None) -> str:
    """``value`` as JSON text (:func:`to_jsonable` first), non-ASCII characters written as they are.

    Raises
    ------
    TypeError
        When ``value`` holds something that has no JSON form.
    """
    return json.dumps(to_jsonable(value), ensure_ascii=False, indent=indent)
