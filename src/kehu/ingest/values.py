"""Parse raw column values into typed Arrow arrays, vectorized, with a per-value slow path for odd ones.

Each parser first runs on the whole array with ``pyarrow.compute`` (regular expressions, casts, arithmetic),
which covers the common shapes (ISO dates, plain amounts, clean phone numbers). Only values the fast path
could not parse go through a Python parser, once per distinct value; it either parses them (Excel serial
dates, ``1.2万``, ``(12.50)``, ``RMB 5``, ...) or says why not. Empty or whitespace-only input is null
without an error: whether a field is required is the importer's business.

Output types: ID/TEXT/PHONE/EMAIL/CHOICE -> string; DATE -> date32; DATETIME -> timestamp[us, UTC] (naive
input is wall-clock time in ``tz``; explicit offsets are honoured); MONEY -> int64 cents (half away from
zero, "half-up"); INT -> int64; TAGS -> list<string>.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kehu.errors import ValidationError
from kehu.ingest import _dates, _numbers
from kehu.ingest._numbers import mask as _mask
from kehu.ingest._numbers import slow_path
from kehu.ingest.fields import FieldSpec, FieldType, normalize_header

__all__ = ["Parsed", "arrow_type", "parse_field", "render_template"]

_STRING_TYPES = (FieldType.ID, FieldType.TEXT, FieldType.PHONE, FieldType.EMAIL, FieldType.CHOICE)
_FULLWIDTH_ALNUM = str.maketrans(
    {
        **{0xFF10 + i: 0x30 + i for i in range(10)},
        **{0xFF21 + i: 0x41 + i for i in range(26)},
        **{0xFF41 + i: 0x61 + i for i in range(26)},
        0x3000: 0x20,
    }
)
_TAG_SPLIT = re.compile(r"[,，;；、|\n]")
_MOBILE = r"^(?:\+?86|0086)?(?P<m>1[3-9]\d{9})$"
_INTL = r"^(?:\+|00)(?P<i>[1-9]\d{7,14})$"
_LOCAL = r"^(?P<l>\d{7,15})$"
_EMAIL = (
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?\.)+\p{L}{2,63}$"
)
_EXCEL_SCIENTIFIC = r"^\d(?:\.\d+)?[eE]\+\d+$"


@dataclass
class Parsed:
    """The typed values of one field for one batch, null where the input was empty or invalid.

    ``errors`` maps the index of each invalid value (within the batch) to the reason, e.g.
    ``"not a date: '2024-13-45' (month 13 does not exist)"``.
    """

    values: pa.Array
    errors: dict[int, str]


def arrow_type(spec: FieldSpec) -> pa.DataType:
    """The Arrow type :func:`parse_field` returns for a field."""
    t = spec.type
    if t in _STRING_TYPES:
        return pa.string()
    return {
        FieldType.DATE: pa.date32(),
        FieldType.DATETIME: pa.timestamp("us", tz="UTC"),
        FieldType.MONEY: pa.int64(),
        FieldType.INT: pa.int64(),
        FieldType.TAGS: pa.list_(pa.string()),
    }[t]


def parse_field(
    spec: FieldSpec,
    raw: pa.Array | pa.ChunkedArray,
    *,
    tz: str = "Asia/Shanghai",
    date_format: str | None = None,
) -> Parsed:
    """Parse the raw values of one field.

    Parameters
    ----------
    spec
        The field (its type and, for CHOICE, its synonyms).
    raw
        Raw text (``pa.string()``, None for empty) or typed values from Parquet (timestamps, dates,
        integers, floats, decimals, booleans, lists for TAGS).
    tz
        The IANA time zone of naive date-times.
    date_format
        A ``strptime`` format tried first for DATE/DATETIME values (others fall back to the usual formats).

    Returns
    -------
    Parsed
        Typed values (see :func:`arrow_type`) and the reason for each value that could not be parsed.
    """
    arr = _prepare(raw)
    t = spec.type
    if t in (FieldType.DATE, FieldType.DATETIME):
        return Parsed(
            *_dates.parse_dates(
                arr,
                as_date=t is FieldType.DATE,
                tz=tz,
                date_format=date_format,
                text=_text(arr, nfkc=True) if _is_texty(arr) else None,
            )
        )
    if t is FieldType.MONEY:
        return Parsed(*_numbers.parse_money(arr if _is_numeric(arr) else _text(arr, nfkc=True)))
    if t is FieldType.INT:
        return Parsed(*_numbers.parse_int(arr if _is_numeric(arr) else _text(arr, nfkc=True)))
    if t is FieldType.TAGS:
        return _parse_tags(arr)
    text = _text(arr, nfkc=t is not FieldType.TEXT)
    if t is FieldType.TEXT:
        return Parsed(_fold_fullwidth(text), {})
    if t is FieldType.ID:
        return _parse_id(text)
    if t is FieldType.PHONE:
        return _parse_phone(text)
    if t is FieldType.EMAIL:
        return _parse_email(text)
    if t is FieldType.CHOICE:
        return _parse_choice(spec, text)
    raise ValidationError(f"field {spec.name}: no parser for type {t.value}")


def _prepare(raw: pa.Array | pa.ChunkedArray) -> pa.Array:
    arr = raw.combine_chunks() if isinstance(raw, pa.ChunkedArray) else raw
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_large_string(arr.type) or pa.types.is_string_view(arr.type):
        arr = arr.cast(pa.string())
    return arr


def _is_numeric(arr: pa.Array) -> bool:
    t = arr.type
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def _is_texty(arr: pa.Array) -> bool:
    t = arr.type
    return not (pa.types.is_timestamp(t) or pa.types.is_date(t))


def _text(arr: pa.Array, *, nfkc: bool) -> pa.Array:
    """Raw values as trimmed strings (NFKC-folded when asked), empty -> null."""
    if pa.types.is_boolean(arr.type):
        arr = pc.if_else(arr, "true", "false")
    elif not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    if nfkc and len(arr) and not pc.all(pc.string_is_ascii(arr)).as_py():
        arr = pc.if_else(pc.string_is_ascii(arr), arr, pc.utf8_normalize(arr, "NFKC"))
    arr = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)


def _fold_fullwidth(text: pa.Array) -> pa.Array:
    """Fold full-width digits and letters (not punctuation) to ASCII, leaving other text as written."""
    mask = pc.fill_null(pc.match_substring_regex(text, "[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\u3000]"), False)
    if not pc.any(mask).as_py():
        return text
    folded = [s.translate(_FULLWIDTH_ALNUM) for s in pc.filter(text, mask).to_pylist()]
    return pc.replace_with_mask(text, mask, pa.array(folded, pa.string()))


def _finish_strings(text: pa.Array, fast: pa.Array, parse: Callable[[str], tuple[Any, str | None]]) -> Parsed:
    """Combine a fast string result with the slow path for present values the fast path left null."""
    need = _mask(pc.and_(pc.is_valid(text), pc.is_null(fast)))
    ok_idx, values, errors = slow_path(need, text, parse)
    if len(ok_idx):
        mask = np.zeros(len(text), dtype=bool)
        mask[ok_idx] = True
        fast = pc.replace_with_mask(fast, pa.array(mask), pa.array(values, pa.string()))
    return Parsed(fast, errors)


def _parse_id(text: pa.Array) -> Parsed:
    fast = pc.replace_substring_regex(text, r"^(\d+)\.0+$", r"\1")
    mangled = _mask(pc.match_substring_regex(fast, _EXCEL_SCIENTIFIC))
    errors = {}
    if mangled.any():
        for i in np.flatnonzero(mangled).tolist():
            errors[i] = (
                f"id {text[i].as_py()!r} looks shortened to scientific notation by Excel; format the "
                "column as text in Excel and export again"
            )
        fast = pc.if_else(pa.array(mangled), pa.scalar(None, pa.string()), fast)
    return Parsed(fast, errors)


def _phone_reason(s: str) -> tuple[Any, str | None]:
    digits = sum(ch.isdigit() for ch in s)
    if re.search(r"\d[\s,;/、，；]+\+?\d{7}", s) and digits >= 14:
        return None, f"more than one phone number in one cell: {s!r}"
    if re.search(r"[^\d\s+\-().·]", s):
        return None, f"not a phone number (unexpected characters): {s!r}"
    if digits < 7:
        return None, f"too few digits for a phone number ({digits}): {s!r}"
    return None, f"not a phone number: {s!r}"


def _parse_phone(text: pa.Array) -> Parsed:
    compact = pc.replace_substring_regex(text, r"[\s\-().·]", "")
    mobile = pc.struct_field(pc.extract_regex(compact, _MOBILE), "m")
    intl = pc.struct_field(pc.extract_regex(compact, _INTL), "i")
    local = pc.struct_field(pc.extract_regex(compact, _LOCAL), "l")
    fast = pc.coalesce(mobile, pc.binary_join_element_wise("+", intl, ""), local)
    return _finish_strings(text, fast, _phone_reason)


def _parse_email(text: pa.Array) -> Parsed:
    lower = pc.replace_substring_regex(pc.utf8_lower(text), r"^mailto:", "")
    ok = pc.match_substring_regex(lower, _EMAIL)
    fast = pc.if_else(ok, lower, pa.scalar(None, pa.string()))

    def reason(s: str) -> tuple[Any, str | None]:
        return None, f"not an email address: {s!r}"

    return _finish_strings(text, fast, reason)


def _by_distinct(text: pa.Array, convert: Callable[[str], tuple[Any, str | None]], out_type: pa.DataType) -> Parsed:
    """Parse each distinct value once with ``convert`` and spread the results (for low-cardinality fields)."""
    enc = pc.dictionary_encode(text)
    results = [convert(s) for s in enc.dictionary.to_pylist()]
    dictionary = pa.array([v for v, _ in results], out_type)
    values = dictionary.take(enc.indices)
    errors: dict[int, str] = {}
    bad = {k: r for k, (_, r) in enumerate(results) if r is not None}
    if bad:
        idx = enc.indices.to_numpy(zero_copy_only=False)
        for i in np.flatnonzero(np.isin(idx, list(bad))).tolist():
            errors[i] = bad[int(idx[i])]
    return Parsed(values, errors)


def _parse_choice(spec: FieldSpec, text: pa.Array) -> Parsed:
    lookup = {normalize_header(v): v for v in spec.choices.values()}
    lookup.update(spec.choices)
    accepted = ", ".join(sorted(set(spec.choices.values())))

    def convert(s: str) -> tuple[Any, str | None]:
        hit = lookup.get(normalize_header(s))
        if hit is None:
            return None, f"unknown value {s!r} for {spec.name}; accepted: {accepted}"
        return hit, None

    return _by_distinct(text, convert, pa.string())


def split_tags(s: str) -> list[str]:
    """Split a tag cell on ``, ， ; ； 、 |`` and newlines; strip, drop empties and repeats, keep order."""
    tags = (t.strip().translate(_FULLWIDTH_ALNUM).strip() for t in _TAG_SPLIT.split(s))
    return list(dict.fromkeys(t for t in tags if t))


def _parse_tags(arr: pa.Array) -> Parsed:
    if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        rows = [
            None if v is None else split_tags(",".join(str(x) for x in v if x is not None)) for v in arr.to_pylist()
        ]
        return Parsed(pa.array([r or None for r in rows], pa.list_(pa.string())), {})
    text = _text(arr, nfkc=False)
    return _by_distinct(text, lambda s: (split_tags(s) or None, None), pa.list_(pa.string()))


def render_template(template: str, columns: dict[str, pa.Array], row_numbers: np.ndarray) -> pa.Array:
    """Fill a ``derive`` template such as ``"cdnow-{customer_id}-{row}"`` for every record of a batch.

    Parameters
    ----------
    template
        Literal text with ``{name}`` placeholders (``{{`` / ``}}`` for literal braces).
    columns
        Raw values by name (the importer passes raw columns and the raw input of each mapped field).
    row_numbers
        The records' row numbers, used for ``{row}`` unless ``columns`` has a column named ``row``.

    Returns
    -------
    pa.Array
        Strings; null for a record where a referenced value is empty.
    """
    n = len(row_numbers)
    parts: list[Any] = []
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        if literal:
            parts.append(pa.scalar(literal, pa.string()))
        if name is None:
            continue
        if name in columns:
            parts.append(_text(_prepare(columns[name]), nfkc=False))
        elif name == "row":
            parts.append(pa.array(np.asarray(row_numbers, dtype=np.int64)).cast(pa.string()))
        else:
            raise ValidationError(f"template {template!r}: no column or field named {name!r}")
    arrays = [p for p in parts if isinstance(p, pa.Array)]
    if not arrays:
        text = "".join(p.as_py() for p in parts)
        return pa.array([text] * n, pa.string())
    if len(parts) == 1:
        return arrays[0]
    return pc.binary_join_element_wise(*parts, "")


def nfkc(s: str) -> str:
    """NFKC-fold and strip one value (the slow-path counterpart of the vectorized cleaning)."""
    return unicodedata.normalize("NFKC", s).strip()
