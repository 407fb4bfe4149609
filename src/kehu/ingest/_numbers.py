"""Money (int64 cents) and whole-number parsing for :mod:`kehu.ingest.values`, plus the shared slow path.

Amounts are stored in cents and never rounded: an amount with a fraction of a cent (``0.001``, ``12.345``) is a
row problem (the row is quarantined with the reason), so no amount changes without a word (issue 23). Trailing
zeros (``1.500``) are fine, and so is the binary noise of a spreadsheet's floating-point cell (``0.1 + 0.2``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["mask", "money_cents", "parse_int", "parse_money", "slow_path", "whole_number"]

_MONEY_FAST = r"^(?P<neg>-)?[¥$]?(?P<int>\d{1,3}(?:,\d{3})+|\d{1,15})(?:\.(?P<frac>\d*))?$"
_INT_FAST = r"^(?P<neg>-)?\+?(?P<int>\d{1,18})(?:\.0*)?$"
_MAX_CENTS = 10**17  # a billion billion cents is not an order amount
_PREFIXES = ("人民币", "rmb", "cny", "usd", "us$", "hk$", "hkd", "eur", "¥", "$", "€", "£")
_SUFFIXES = ("人民币", "元整", "元", "圆", "块", "rmb", "cny", "usd", "hkd", "eur")
_SCALES = {"万": Decimal(10_000), "亿": Decimal(100_000_000)}
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d*)?")
_PLAIN = re.compile(r"\d+(?:\.\d*)?|\.\d+|\d+(?:\.\d+)?[eE][+-]?\d+")
_EURO = re.compile(r"\d{1,3}(?:\.\d{3})*,\d{1,2}")


def mask(arr: pa.Array) -> np.ndarray:
    """A boolean Arrow array as a numpy mask, null as False."""
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def slow_path(
    need: np.ndarray, text: pa.Array, parse: Callable[[str], tuple[Any, str | None]]
) -> tuple[np.ndarray, list[Any], dict[int, str]]:
    """Run ``parse`` once per distinct value where ``need``: (positions parsed, their values, errors)."""
    idx = np.flatnonzero(need)
    if not len(idx):
        return idx, [], {}
    memo: dict[str, tuple[Any, str | None]] = {}
    ok_idx: list[int] = []
    values: list[Any] = []
    errors: dict[int, str] = {}
    for i, s in zip(idx.tolist(), text.take(pa.array(idx)).to_pylist(), strict=True):
        if s not in memo:
            memo[s] = parse(s)
        value, reason = memo[s]
        if reason is None:
            ok_idx.append(i)
            values.append(value)
        else:
            errors[i] = reason
    return np.asarray(ok_idx, dtype=np.int64), values, errors


def _ints(arr: pa.Array) -> np.ndarray:
    """Digit strings ('' or null -> 0) as int64."""
    clean = pc.if_else(pc.equal(arr, ""), "0", arr)
    return np.asarray(pc.fill_null(clean.cast(pa.int64()), 0).to_numpy(zero_copy_only=False), dtype=np.int64)


def money_cents(s: str) -> tuple[int | None, str | None]:
    """Parse one amount of money (already NFKC-folded) into cents; a fraction of a cent is refused."""
    t = s.strip().replace("\u2212", "-")
    neg = False
    scale = Decimal(1)
    if t.startswith("(") and t.endswith(")"):
        neg, t = True, t[1:-1]
    for _ in range(8):
        t = t.strip()
        low = t.lower()
        if low[:1] in ("-", "+"):
            neg ^= low[0] == "-"
            t = t[1:]
        elif low.endswith("-") and len(low) > 1:
            neg, t = not neg, t[:-1]
        elif (p := next((p for p in _PREFIXES if low.startswith(p)), None)) is not None:
            t = t[len(p) :]
        elif (x := next((x for x in _SUFFIXES if low.endswith(x)), None)) is not None:
            t = t[: -len(x)]
        elif t[-1:] in _SCALES:
            scale *= _SCALES[t[-1]]
            t = t[:-1]
        else:
            break
    t = t.strip()
    if _THOUSANDS.fullmatch(t):
        t = t.replace(",", "")
    elif _EURO.fullmatch(t) and not _PLAIN.fullmatch(t):
        t = t.replace(".", "").replace(",", ".")
    if not _PLAIN.fullmatch(t):
        return None, f"not an amount of money: {s!r}"
    try:
        exact = Decimal(t) * scale * 100
        if abs(exact) >= _MAX_CENTS:
            return None, f"amount too large: {s!r}"
        if exact != exact.to_integral_value():
            return None, f"{s!r} has a fraction of a cent (more than two decimals): round it to cents in the file"
        cents = int(exact)
    except InvalidOperation:
        return None, f"not an amount of money: {s!r}"
    except ArithmeticError:  # decimal.Overflow: an exponent beyond any amount (1e999999)
        return None, f"amount too large: {s!r}"
    return (-cents if neg else cents), None


def _plain_money(arr: pa.Array) -> pa.Array | None:
    """Cents of text amounts when every value is a plain decimal number with at most two decimals, else None.

    The common case of an export (``456.00``, ``-12.5``, ``.5``) parsed by Arrow's decimal conversion, several
    times faster than the patterns below. It accepts exactly the values the patterns and :func:`money_cents`
    accept without changing them (a test holds both to that): numbers with an exponent go the long way, as
    do amounts of a billion billion cents or more, a third decimal (refused there unless it is zero) and anything else.
    """
    if not len(arr) or pc.any(pc.match_substring(arr, "e", ignore_case=True)).as_py():
        return None
    try:
        dec = arr.cast(pa.decimal128(18, 2))  # whole array or nothing: one bad value raises
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    n, offset = len(dec), dec.offset
    words = np.frombuffer(dec.buffers()[1], dtype="<i8")  # 128-bit two's complement, low word first
    cents = words[2 * offset : 2 * (offset + n) : 2].astype(np.int64)
    valid = mask(pc.is_valid(dec))
    if (np.abs(cents[valid]) >= _MAX_CENTS).any():
        return None
    return pa.array(cents, pa.int64(), mask=~valid)


def parse_money(arr: pa.Array) -> tuple[pa.Array, dict[int, str]]:
    """Amounts (text or numbers) -> int64 cents, with the reason for each value that is not money."""
    if pa.types.is_integer(arr.type):
        return pc.multiply_checked(arr.cast(pa.int64()), 100), {}
    if pa.types.is_floating(arr.type):
        return _float_money(arr)
    if not pa.types.is_string(arr.type):  # decimals: their text, then as text
        arr = arr.cast(pa.string())
    plain = _plain_money(arr)
    if plain is not None:
        return plain, {}
    return _money_patterns(arr)


def _float_money(arr: pa.Array) -> tuple[pa.Array, dict[int, str]]:
    """Spreadsheet numbers -> cents: a value within floating-point noise of a whole cent is that cent; the rest
    (a real fraction of a cent, NaN, too large) take the text path for their reason."""
    x = np.asarray(arr.cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False), dtype=np.float64) * 100
    with np.errstate(invalid="ignore"):
        whole = np.round(x)
        ok = np.isfinite(x) & (np.abs(x - whole) <= 1e-6 + 1e-12 * np.abs(x)) & (np.abs(whole) < _MAX_CENTS)
    present = mask(pc.is_valid(arr))
    cents = np.where(ok, whole, 0).astype(np.int64)
    _idx, _values, errors = slow_path(present & ~ok, arr.cast(pa.string()), money_cents)
    return pa.array(cents, pa.int64(), mask=~(ok & present)), errors


def _money_patterns(arr: pa.Array) -> tuple[pa.Array, dict[int, str]]:
    """Text amounts -> cents: a vectorized pattern for the usual forms, :func:`money_cents` for the rest."""
    m = pc.extract_regex(arr, _MONEY_FAST)
    ok = mask(pc.is_valid(m))
    whole = _ints(pc.replace_substring(pc.struct_field(m, "int"), ",", ""))
    digits = pc.struct_field(m, "frac")
    ok &= ~mask(pc.match_substring_regex(pc.utf8_slice_codeunits(digits, 2, 64), "[1-9]"))  # sub-cent: slow path
    cents = whole * 100 + _ints(pc.utf8_slice_codeunits(pc.utf8_rpad(digits, 2, "0"), 0, 2))
    neg = mask(pc.equal(pc.struct_field(m, "neg"), "-"))
    cents = np.where(neg, -cents, cents)
    ok &= np.abs(cents) < _MAX_CENTS
    present = mask(pc.is_valid(arr))
    ok_idx, values, errors = slow_path(present & ~ok, arr, money_cents)
    if len(ok_idx):
        cents[ok_idx] = values
        ok[ok_idx] = True
    return pa.array(cents, pa.int64(), mask=~ok), errors


def whole_number(s: str) -> tuple[int | None, str | None]:
    """Parse one whole number (``3``, ``3.0``, ``1,200``, ``+4``), else the reason."""
    t = s.strip().replace(",", "") if _THOUSANDS.fullmatch(s.strip().lstrip("+-")) else s.strip()
    try:
        d = Decimal(t)
    except InvalidOperation:
        return None, f"not a whole number: {s!r}"
    if not d.is_finite():
        return None, f"not a whole number: {s!r}"
    if d != d.to_integral_value():
        return None, f"not a whole number (has a fraction): {s!r}"
    if abs(d) >= 2**63:
        return None, f"number too large: {s!r}"
    return int(d), None


def parse_int(arr: pa.Array) -> tuple[pa.Array, dict[int, str]]:
    """Whole numbers (text, integers, or integral floats/decimals) -> int64, with reasons for the rest."""
    if pa.types.is_integer(arr.type):
        return arr.cast(pa.int64()), {}
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    m = pc.extract_regex(arr, _INT_FAST)
    ok = mask(pc.is_valid(m))
    values = _ints(pc.struct_field(m, "int"))
    values = np.where(mask(pc.equal(pc.struct_field(m, "neg"), "-")), -values, values)
    present = mask(pc.is_valid(arr))
    ok_idx, slow, errors = slow_path(present & ~ok, arr, whole_number)
    if len(ok_idx):
        values[ok_idx] = slow
        ok[ok_idx] = True
    return pa.array(values, pa.int64(), mask=~ok), errors
