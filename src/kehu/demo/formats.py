"""Rendering demo values the way real exports show them, and writing CSV, XLSX and Parquet deterministically.

Values are rendered column-wise with pyarrow compute (a million rows take well under a second). Mixed
formats imitate real files: most dates ISO, some ``2024/1/5`` or ``2024年1月5日``; most amounts ``1234.50``,
some ``¥1,234.50`` or ``1234元``. Every format here is one the importer documents as parseable.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = [
    "csv_bytes",
    "csv_chunks",
    "date_text",
    "datetime_text",
    "int_text",
    "mixed",
    "money_text",
    "sequence_ids",
    "write_csv",
    "write_parquet",
    "write_xlsx",
]

BOM = b"\xef\xbb\xbf"
_NEEDS_QUOTE = r'[",\r\n]'
_SPECIAL = np.zeros(256, dtype=bool)
_SPECIAL[list(b'",\r\n')] = True
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _ints(values: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int64)).cast(pa.string())


def sequence_ids(prefix: str, n: int, width: int) -> pa.Array:
    """``prefix`` + zero-padded 1..n, e.g. ``SO00000001`` (vectorized)."""
    digits = pc.utf8_lpad(pa.array(np.arange(1, n + 1, dtype=np.int64)).cast(pa.string()), width=width, padding="0")
    return _join(prefix, digits)


def datetime_text(seconds: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """``YYYY-MM-DD HH:MM:SS`` from naive epoch seconds; null where ``valid`` is False."""
    arr = pa.array(
        np.asarray(seconds, dtype=np.int64),
        pa.timestamp("s"),
        mask=None if valid is None else ~np.asarray(valid, dtype=bool),
    )
    return arr.cast(pa.string())


def date_text(seconds: np.ndarray, style: str = "iso", valid: np.ndarray | None = None) -> pa.Array:
    """A date from naive epoch seconds: ``iso`` 2024-01-05, ``slash`` 2024/1/5, ``cn`` 2024年1月5日."""
    sec = np.asarray(seconds, dtype=np.int64)
    days = sec // 86_400
    d64 = days.astype("datetime64[D]")
    mask = None if valid is None else pa.array(~np.asarray(valid, dtype=bool))
    if style == "iso":
        out = pa.array(d64).cast(pa.string())
    else:
        y = d64.astype("datetime64[Y]").astype(np.int64) + 1970
        m = d64.astype("datetime64[M]").astype(np.int64) % 12 + 1
        d = (d64 - d64.astype("datetime64[M]")).astype(np.int64) + 1
        if style == "slash":
            out = _join(_ints(y), "/", _ints(m), "/", _ints(d))
        elif style == "cn":
            out = _join(_ints(y), "年", _ints(m), "月", _ints(d), "日")
        else:
            raise ValueError(f"unknown date style {style!r}")
    return out if mask is None else pc.if_else(mask, pa.scalar(None, pa.string()), out)


def money_text(cents: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """``1234.50`` (``-12.50`` for negatives) from integer cents."""
    c = np.asarray(cents, dtype=np.int64)
    a = np.abs(c)
    frac = pc.utf8_lpad(_ints(a % 100), width=2, padding="0")
    out = _join(pa.array(np.where(c < 0, "-", "")), _ints(a // 100), ".", frac)
    if valid is not None:
        out = pc.if_else(pa.array(~np.asarray(valid, dtype=bool)), pa.scalar(None, pa.string()), out)
    return out


def int_text(values: np.ndarray) -> pa.Array:
    """Whole numbers as text."""
    return _ints(values)


def _yuan_sign(c: int) -> str:
    return f"{'-' if c < 0 else ''}¥{abs(c) / 100:,.2f}"


def _yuan_suffix(c: int) -> str:
    return f"{c // 100}元" if c % 100 == 0 else f"{c / 100:.2f}元"


def mixed(
    base: pa.Array, rng: np.random.Generator, variants: Sequence[tuple[float, Any]], raw: np.ndarray | None = None
) -> pa.Array:
    """Replace random shares of ``base`` by other renderings of the same values.

    Parameters
    ----------
    base
        The default rendering (string array).
    rng
        Random generator (one uniform draw per row).
    variants
        ``(share, render)`` pairs: ``render`` is a string array of the same length, or one of the money
        styles ``"yuan_sign"`` / ``"yuan_suffix"`` applied to ``raw`` cents on the chosen rows only.
    raw
        Integer cents for the money styles.
    """
    u = rng.random(len(base))
    out = base
    lo = 0.0
    for share, render in variants:
        pick = (u >= lo) & (u < lo + share) & np.asarray(base.is_valid())
        lo += share
        if not pick.any():
            continue
        if isinstance(render, str):
            fn = {"yuan_sign": _yuan_sign, "yuan_suffix": _yuan_suffix}[render]
            assert raw is not None
            values = pa.array([fn(int(c)) for c in np.asarray(raw)[pick]], pa.string())
        else:
            values = render.filter(pa.array(pick))
        out = pc.replace_with_mask(out, pa.array(pick), values)
    return out


def csv_chunks(columns: dict[str, pa.Array], *, line_end: str = "\n", chunk_rows: int = 250_000) -> Iterator[bytes]:
    """RFC 4180 CSV as UTF-8 byte chunks: a header line, then rows (quoted only where needed, nulls empty)."""
    yield (",".join(_quote(h) for h in columns) + line_end).encode("utf-8")
    n = len(next(iter(columns.values()))) if columns else 0
    for lo in range(0, n, chunk_rows):
        cols: list[pa.Array] = []
        for arr in columns.values():
            s = pc.fill_null(arr.slice(lo, chunk_rows).cast(pa.string()), "")
            if _may_need_quotes(s):
                quoted = _join('"', pc.replace_substring(s, '"', '""'), '"')
                s = pc.if_else(pc.match_substring_regex(s, _NEEDS_QUOTE), quoted, s)
            cols.append(s)
        lines = _join(pc.binary_join_element_wise(*cols, ","), line_end)
        if isinstance(lines, pa.ChunkedArray):
            lines = lines.combine_chunks()
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
        yield lines.buffers()[2].to_pybytes()[int(offsets[0]) : int(offsets[-1])]


def _may_need_quotes(s: pa.Array) -> bool:
    """Whether any value contains a comma, quote or line break (a fast byte scan of the data buffer)."""
    if isinstance(s, pa.ChunkedArray):
        return any(_may_need_quotes(c) for c in s.chunks)
    data = s.buffers()[2]
    if data is None:
        return False
    raw = np.frombuffer(data, dtype=np.uint8)
    return bool(_SPECIAL[raw].any())


def csv_bytes(columns: dict[str, pa.Array], *, line_end: str = "\n") -> bytes:
    """The whole CSV text of :func:`csv_chunks` as UTF-8 bytes."""
    return b"".join(csv_chunks(columns, line_end=line_end))


def _quote(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if re.search(_NEEDS_QUOTE, text) else text


def write_csv(
    path: Path, columns: dict[str, pa.Array], *, encoding: str = "utf-8", bom: bool = False, line_end: str = "\n"
) -> None:
    """Write a CSV file: UTF-8 (optionally with BOM) or any codec such as ``gb18030``."""
    recode = encoding.replace("-", "").lower() != "utf8"
    with path.open("wb") as fh:
        if bom:
            fh.write(BOM)
        for chunk in csv_chunks(columns, line_end=line_end):
            fh.write(chunk.decode("utf-8").encode(encoding) if recode else chunk)


def write_parquet(path: Path, columns: dict[str, pa.Array]) -> None:
    """Write a Parquet file (zstd) without pandas metadata, so bytes depend only on the data."""
    table = pa.table(columns)
    pq.write_table(table, path, compression="zstd", store_schema=False)


def write_xlsx(
    path: Path,
    sheet: str,
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    formats: dict[int, str] | None = None,
    fixed_time: str = "2000-01-01T00:00:00Z",
) -> None:
    """Write one sheet with openpyxl's write-only mode, then pin zip and document timestamps.

    Parameters
    ----------
    path
        Target ``.xlsx`` file.
    sheet
        Sheet name.
    header
        Column headers (first row).
    rows
        Row values (dates, numbers, text, None).
    formats
        Column index -> Excel number format for non-text cells (e.g. ``"yyyy-mm-dd"``, ``"#,##0.00"``).
    fixed_time
        ISO timestamp written as the document's created/modified time (byte-identical output per input).
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    formats = formats or {}
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    ws.append(list(header))
    for row in rows:
        cells: list[Any] = []
        for j, value in enumerate(row):
            fmt = formats.get(j)
            if fmt is not None and value is not None and not isinstance(value, str):
                cell = WriteOnlyCell(ws, value=value)
                cell.number_format = fmt
                cells.append(cell)
            else:
                cells.append(value)
        ws.append(cells)
    buf = io.BytesIO()
    wb.save(buf)
    _pin_zip(buf.getvalue(), path, fixed_time)


def _pin_zip(data: bytes, path: Path, fixed_time: str) -> None:
    stamp = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = stamp.sub(rb"\g<1>" + fixed_time.encode() + rb"\g<2>", content)
            pinned = zipfile.ZipInfo(info.filename, date_time=_FIXED_ZIP_TIME)
            pinned.compress_type = zipfile.ZIP_DEFLATED
            pinned.external_attr = 0o600 << 16
            dst.writestr(pinned, content)
