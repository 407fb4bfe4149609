"""Date and date-time parsing for :mod:`kehu.ingest.values`.

Every value becomes a *wall-clock* time in microseconds (as if it were UTC) plus, when the text gave one, a
UTC offset in minutes. DATE takes the wall-clock date as written; DATETIME turns offset-less wall-clock time
into UTC in the import's time zone (``pc.assume_timezone``: ambiguous or skipped local times in a DST change
take the earlier instant).
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kehu.errors import ValidationError
from kehu.ingest._numbers import mask, slow_path

__all__ = ["parse_dates", "wall_clock"]

US_PER_DAY = 86_400_000_000
YEARS = (1900, 2200)  # outside this a date is a typo (0202, 20204) rather than a customer event
_SEP_DATE = (
    r"(?P<y>\d{4})[-/.年](?P<mo>\d{1,2})[-/.月](?P<d>\d{1,2})日?"
    r"(?:(?:T|\s*)(?P<h>\d{1,2})[:：](?P<mi>\d{2})(?:[:：](?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?)?"
)
_COMPACT = r"(?P<y>\d{4})(?P<mo>\d{2})(?P<d>\d{2})(?:T?\s*(?P<h>\d{2})(?P<mi>\d{2})(?P<s>\d{2})?)?"
_TZ = r"\s*(?P<tz>Z|z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?"
_PATTERNS = [f"^{_SEP_DATE}{_TZ}$", f"^{_COMPACT}$"]
_PY_PATTERNS = [re.compile(p, re.ASCII) for p in _PATTERNS]
_CN_TIME = re.compile(
    r"^(?P<date>.+?)\s*(?P<ampm>上午|下午|晚上|凌晨|中午|AM|PM|am|pm)?\s*"
    r"(?P<h>\d{1,2})(?:[时點点:](?P<mi>\d{1,2})(?:[分:](?P<s>\d{1,2})秒?)?分?)?\s*"
    r"(?P<ampm2>AM|PM|am|pm)?$"
)
_EXCEL_SERIAL = re.compile(r"\d{5}(?:\.\d+)?")
_DAY_MONTH = re.compile(r"\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}(?:\s.*)?")
_ENGLISH = (
    "%d-%b-%Y",
    "%d %b %Y",
    "%b %d %Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%d %B %Y",
    "%B %d %Y",
    "%d-%b-%y",
    "%a, %d %b %Y %H:%M:%S",
    "%d %b %Y %H:%M",
    "%d %b %Y %H:%M:%S",
)
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)
_EPOCH = dt.datetime(1970, 1, 1)


def _check_tz(tz: str) -> None:
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown time zone {tz!r}; use an IANA name such as Asia/Shanghai") from None


def wall_clock(
    y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0
) -> tuple[int | None, str | None]:
    """Microseconds of a wall-clock time since 1970-01-01, or the reason it does not exist."""
    if not YEARS[0] <= y <= YEARS[1]:
        return None, f"year {y} is out of range ({YEARS[0]}-{YEARS[1]})"
    if not 1 <= mo <= 12:
        return None, f"month {mo} does not exist"
    try:
        value = dt.datetime(y, mo, d, h, mi, s, us)
    except ValueError:
        if not (0 <= h < 24 and 0 <= mi < 60 and 0 <= s < 60):
            return None, f"time {h:02d}:{mi:02d}:{s:02d} does not exist"
        return None, f"day {d} does not exist in {y}-{mo:02d}"
    return (value - _EPOCH) // dt.timedelta(microseconds=1), None


def _offset_minutes(tz: str | None) -> int | None:
    if not tz:
        return None
    if tz.upper() in ("Z", "UTC", "GMT"):
        return 0
    digits = tz[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) > 2 else 0)
    return -minutes if tz[0] == "-" else minutes


def _from_groups(g: dict[str, str | None]) -> tuple[Any, str | None]:
    frac = (g.get("f") or "")[:6].ljust(6, "0")
    us, reason = wall_clock(
        int(g["y"] or 0),
        int(g["mo"] or 0),
        int(g["d"] or 0),
        int(g.get("h") or 0),
        int(g.get("mi") or 0),
        int(g.get("s") or 0),
        int(frac),
    )
    if us is None:
        return None, reason
    return (us, _offset_minutes(g.get("tz"))), None


def parse_one(s: str, date_format: str | None = None) -> tuple[Any, str | None]:
    """Parse one value (NFKC-folded, stripped): ``((wall_us, offset_minutes | None), None)`` or the reason."""
    if date_format:
        try:
            value = dt.datetime.strptime(s, date_format)
        except ValueError:
            pass
        else:
            off = value.utcoffset()
            us, reason = wall_clock(
                value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond
            )
            if us is None:
                return None, f"not a date: {s!r} ({reason})"
            return (us, None if off is None else int(off.total_seconds() // 60)), None
    for pattern in _PY_PATTERNS:
        if m := pattern.fullmatch(s):
            result, reason = _from_groups(m.groupdict())
            return (result, None) if reason is None else (None, f"not a date: {s!r} ({reason})")
    if _EXCEL_SERIAL.fullmatch(s):
        stamp = _EXCEL_EPOCH + dt.timedelta(seconds=round(float(s) * 86400))
        us, reason = wall_clock(stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)
        return ((us, None), None) if us is not None else (None, f"not a date: {s!r} ({reason})")
    if (m := _CN_TIME.fullmatch(s)) and (m["ampm"] or m["ampm2"] or "时" in s or "点" in s or "點" in s):
        base, reason = parse_one(m["date"])
        if base is not None and base[0] % US_PER_DAY == 0:
            h = int(m["h"])
            ampm = (m["ampm"] or m["ampm2"] or "").lower()
            if ampm in ("下午", "晚上", "pm") and h < 12:
                h += 12
            elif ampm in ("am", "凌晨") and h == 12:
                h = 0
            mi, sec = int(m["mi"] or 0), int(m["s"] or 0)
            if h < 24 and mi < 60 and sec < 60:
                return (base[0] + ((h * 60 + mi) * 60 + sec) * 1_000_000, base[1]), None
    for fmt in _ENGLISH:
        try:
            value = dt.datetime.strptime(s, fmt)
        except ValueError:
            continue
        us, reason = wall_clock(value.year, value.month, value.day, value.hour, value.minute, value.second)
        return ((us, None), None) if us is not None else (None, f"not a date: {s!r} ({reason})")
    if _DAY_MONTH.fullmatch(s):
        return None, (
            f"not a date: {s!r} (day/month order is ambiguous; give date_format such as "
            "'%d/%m/%Y' or '%m/%d/%Y' in a mapping file)"
        )
    return None, f"not a date: {s!r}"


_ISO = r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?$"


def _ints(arr: pa.Array) -> np.ndarray:
    arr = pc.if_else(pc.equal(arr, ""), "0", arr)
    return np.asarray(pc.fill_null(arr.cast(pa.int64()), 0).to_numpy(zero_copy_only=False), np.int64)


def _fixed_parts(sub: pa.Array, width: int) -> list[np.ndarray]:
    """Components of ISO values that all have ``width`` ASCII characters, read straight from the buffer."""
    offsets = np.frombuffer(sub.buffers()[1], dtype=np.int32)[sub.offset : sub.offset + len(sub) + 1]
    data = np.frombuffer(sub.buffers()[2], dtype=np.uint8)
    c = data[offsets[0] : offsets[0] + len(sub) * width].reshape(-1, width)

    def num(a: int, b: int) -> np.ndarray:
        if b > width:
            return np.zeros(len(sub), np.int64)
        out = np.zeros(len(sub), np.int64)
        for k in range(a, b):
            out = out * 10 + (c[:, k].astype(np.int64) - 48)
        return out

    return [
        num(0, 4),
        num(5, 7),
        num(8, 10),
        num(11, 13),
        num(14, 16),
        num(17, 19),
        np.zeros(len(sub), np.int64),
    ]


def _store(pos: np.ndarray, hit: np.ndarray, parts: list[np.ndarray], wall: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Validate wall-clock components of the values at ``pos`` and store the valid ones; their mask."""
    y, mo, d, h, mi, s, us = parts
    valid = hit & (y >= YEARS[0]) & (y <= YEARS[1]) & (mo >= 1) & (mo <= 12) & (d >= 1)
    valid &= (h < 24) & (mi < 60) & (s < 60)
    months = np.where(valid, (y - 1970) * 12 + mo - 1, 0)
    start = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    end = (months + 1).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    valid &= d <= end - start
    value = ((start + d - 1) * 86_400 + (h * 60 + mi) * 60 + s) * 1_000_000 + us
    wall[pos[valid]] = value[valid]
    ok[pos[valid]] = True
    return valid


def _fast(text: pa.Array, wall: np.ndarray, off: np.ndarray, has_off: np.ndarray, ok: np.ndarray) -> None:
    """Vectorized parse of the common shapes into the output buffers (in place)."""
    iso = mask(pc.match_substring_regex(text, _ISO))
    if iso.any():  # fixed positions: YYYY-MM-DD[ HH:MM[:SS]]
        lengths = np.asarray(pc.fill_null(pc.utf8_length(text), 0).to_numpy(zero_copy_only=False))
        for width in (10, 16, 19):
            pos = np.flatnonzero(iso & (lengths == width))
            if len(pos):
                sub = text if len(pos) == len(text) else text.take(pa.array(pos))
                _store(pos, np.ones(len(pos), bool), _fixed_parts(sub, width), wall, ok)
    for pattern in _PATTERNS:
        todo = np.flatnonzero(~ok)
        if not len(todo):
            return
        sub = text if len(todo) == len(text) else text.take(pa.array(todo))
        m = pc.extract_regex(sub, pattern)
        hit = mask(pc.is_valid(m))
        if not hit.any():
            continue
        names = [f.name for f in m.type]
        parts = [
            _ints(pc.struct_field(m, k)) if k in names else np.zeros(len(m), np.int64)
            for k in ("y", "mo", "d", "h", "mi", "s")
        ]
        if "f" in names:
            frac = pc.utf8_slice_codeunits(pc.utf8_rpad(pc.fill_null(pc.struct_field(m, "f"), ""), 6, "0"), 0, 6)
            parts.append(_ints(frac))
        else:
            parts.append(np.zeros(len(m), np.int64))
        valid = _store(todo, hit, parts, wall, ok)
        if "tz" in names:
            tzs = pc.fill_null(pc.struct_field(m, "tz"), "")
            given = mask(pc.not_equal(tzs, "")) & valid
            if given.any():
                codes = tzs.to_pylist()
                for i in np.flatnonzero(given).tolist():
                    off[todo[i]] = _offset_minutes(codes[i]) or 0
                has_off[todo[given]] = True


def parse_dates(
    arr: pa.Array, *, as_date: bool, tz: str, date_format: str | None, text: pa.Array | None
) -> tuple[pa.Array, dict[int, str]]:
    """Parse a column of dates (``as_date``) or date-times; ``text`` is its cleaned text when it is text.

    Text with many repeats (dates, times to the minute) is parsed once per distinct value.
    """
    _check_tz(tz)
    if text is not None and len(text) > 1000 and len(pc.unique(text.slice(0, 5000))) < 1250:
        enc = pc.dictionary_encode(text)
        if len(enc.dictionary) * 4 < len(text):
            values, errs = _parse(enc.dictionary, as_date, tz, date_format, enc.dictionary)
            errors: dict[int, str] = {}
            if errs:
                codes = np.asarray(pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False))
                for i in np.flatnonzero(np.isin(codes, list(errs))).tolist():
                    errors[i] = errs[int(codes[i])]
            return values.take(enc.indices), errors
    return _parse(arr, as_date, tz, date_format, text)


def _parse(
    arr: pa.Array, as_date: bool, tz: str, date_format: str | None, text: pa.Array | None
) -> tuple[pa.Array, dict[int, str]]:
    n = len(arr)
    wall = np.zeros(n, dtype=np.int64)
    off = np.zeros(n, dtype=np.int64)
    has_off = np.zeros(n, dtype=bool)
    errors: dict[int, str] = {}
    t = arr.type
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        ok = mask(pc.is_valid(arr))
        if pa.types.is_date(t):
            wall = (
                np.asarray(
                    pc.fill_null(arr.cast(pa.date32()).cast(pa.int32()), 0).to_numpy(zero_copy_only=False),
                    np.int64,
                )
                * US_PER_DAY
            )
        else:
            ts = arr.cast(pa.timestamp("us", tz=t.tz))
            if t.tz is not None and as_date:
                ts = pc.local_timestamp(ts.cast(pa.timestamp("us", tz=tz)))
            elif t.tz is not None:
                has_off[:] = True
            wall = np.asarray(pc.fill_null(ts.cast(pa.int64()), 0).to_numpy(zero_copy_only=False), np.int64)
    else:
        assert text is not None
        ok = np.zeros(n, dtype=bool)
        if date_format and "%z" not in date_format and "%Z" not in date_format:
            parsed = pc.strptime(text, format=date_format, unit="us", error_is_null=True)
            got = mask(pc.is_valid(parsed))
            us = np.asarray(pc.fill_null(parsed.cast(pa.int64()), 0).to_numpy(zero_copy_only=False), np.int64)
            lo = (dt.datetime(YEARS[0], 1, 1) - _EPOCH) // dt.timedelta(microseconds=1)
            hi = (dt.datetime(YEARS[1] + 1, 1, 1) - _EPOCH) // dt.timedelta(microseconds=1)
            got &= (us >= lo) & (us < hi)
            wall[got], ok[got] = us[got], True
        _fast(text, wall, off, has_off, ok)
        present = mask(pc.is_valid(text))
        ok_idx, values, errors = slow_path(present & ~ok, text, lambda s: parse_one(s, date_format))
        for i, (us_value, minutes) in zip(ok_idx.tolist(), values, strict=True):
            wall[i] = us_value
            if minutes is not None:
                off[i], has_off[i] = minutes, True
        ok[ok_idx] = True
    if as_date:
        days = np.floor_divide(wall, US_PER_DAY).astype(np.int32)
        return pa.array(days, pa.date32(), mask=~ok), errors
    utc = wall - off * 60_000_000
    naive = ok & ~has_off
    if naive.any():
        local = pc.assume_timezone(
            pa.array(wall, pa.timestamp("us")), timezone=tz, ambiguous="earliest", nonexistent="earliest"
        )
        converted = np.asarray(local.cast(pa.int64()).to_numpy(zero_copy_only=False), np.int64)
        utc = np.where(naive, converted, utc)
    return pa.array(utc, pa.timestamp("us", tz="UTC"), mask=~ok), errors
