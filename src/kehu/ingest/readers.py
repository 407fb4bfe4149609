"""Read the files people really have into Arrow batches of raw text, with the row numbers they see.

Formats: CSV/TXT/TSV (UTF-8, UTF-8 with BOM, GBK/GB2312/GB18030 detected; delimiter sniffed among
``, ; tab |``; quoted fields may hold delimiters and newlines), XLSX/XLSM/XLS/ODS (python-calamine),
Parquet, and, through a mapping file, whitespace-separated and fixed-width text with or without a header.

Row numbers are what a user sees: for text files the 1-based line in a text editor where the record starts
(the header is line 1, so the first record is row 2; records with quoted newlines count their lines); for
workbooks the Excel row number; for Parquet the record index + 2 (as if the header were row 1). Rows with no
value at all (blank lines, empty sheet rows) are skipped and are not records.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kehu.errors import ImportFileError
from kehu.i18n import refusal
from kehu.ingest.sources import RawBatch, Source, dedupe_headers, drop_empty_records, rechunk
from kehu.ingest.workbook_limits import WorkbookLimits
from kehu.ingest.workbooks import ParquetSource, WorkbookSource

if TYPE_CHECKING:
    from kehu.ingest.mapping import Mapping

__all__ = ["detect_encoding", "open_source", "sniff_delimiter"]

_EXTENSIONS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".xls": "xlsx",
    ".xlsb": "xlsx",
    ".ods": "xlsx",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_DELIMITERS = (",", "\t", ";", "|")
_SCAN_BYTES = 4 << 20
_SAMPLE_BYTES = 256 << 10
_BINARY_SNIFF = 64 << 10
#: control bytes no text file has (tab, line feed, form feed and carriage return are fine)
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13)) + b"\x7f"
#: non-ASCII characters in valid UTF-8 lines before an invalid one that make a file "mixed", not plain GBK (a GBK
#: character reads as valid UTF-8 by chance about one time in seven, four in a row about one time in 2,500)
_MIXED_EVIDENCE = 4


def detect_encoding(path: str | Path) -> str:
    """The encoding of a text file: ``utf-8-sig`` (BOM), ``utf-8`` (whole file valid) or ``gb18030``.

    The whole file is checked as strict UTF-8 (in bounded chunks, so a multi-byte character cut at a chunk
    boundary is fine); GBK, GB2312 and cp936 are subsets of GB18030 and are read as such. A file whose first
    lines are UTF-8 with Chinese (or other non-ASCII) text and whose later lines are not valid UTF-8 mixes
    encodings (rows pasted from a GBK file): it is refused naming the first such line, as reading it as GBK
    would turn the UTF-8 lines into mojibake.
    """
    p = Path(path)
    with p.open("rb") as f:
        head = f.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise ImportFileError(p, "the file is UTF-16; save it as UTF-8 (CSV UTF-8) or GBK and import again")
        f.seek(0)
        bad = _first_undecodable_line(f, "utf-8")
    if bad is None:
        return "utf-8"
    line, non_ascii_before = bad
    if non_ascii_before >= _MIXED_EVIDENCE:
        raise refusal(ImportFileError, "limits.import.mixed_encoding", p, good=line - 1, line=line)
    return "gb18030"


def _non_ascii(text: str) -> int:
    return len(text) - len(text.encode("ascii", "ignore"))


def _first_undecodable_line(f: BinaryIO, encoding: str) -> tuple[int, int] | None:
    """``None`` when the rest of ``f`` is valid ``encoding`` text, else the 1-based line of the first invalid byte
    and how many non-ASCII characters the complete lines before it hold."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    line, before, current = 1, 0, 0  # non-ASCII characters of the complete lines, and of the current line
    while True:
        chunk = f.read(_SCAN_BYTES)
        pending = decoder.getstate()[0]
        try:
            text = decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            text = (pending + chunk)[: exc.start].decode(encoding, "replace")
            bad = True
        else:
            bad = False
        cut = text.rfind("\n")
        if cut < 0:
            current += _non_ascii(text)
        else:
            before += current + _non_ascii(text[:cut])
            current = _non_ascii(text[cut:])
            line += text.count("\n")
        if bad:
            return line, before
        if not chunk:
            return None


def _refuse_binary(path: Path) -> None:
    """Refuse a file that holds binary data (a NUL byte, or more than 1% control bytes, at least 3) although it is
    named like text; the message names the file, never its bytes."""
    with path.open("rb") as f:
        head = f.read(_BINARY_SNIFF)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return  # detect_encoding says what to do with UTF-16
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    if b"\x00" in head or controls > max(2, len(head) // 100):
        raise refusal(ImportFileError, "limits.import.not_text", path, suffix=path.suffix or "(none)")


def _starts_with_bom(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(3) == codecs.BOM_UTF8


def _sample_text(path: Path, encoding: str) -> str:
    with path.open("rb") as f:
        data = f.read(_SAMPLE_BYTES)
    text = codecs.getincrementaldecoder(encoding)("replace").decode(data, final=False)
    if len(data) == _SAMPLE_BYTES and "\n" in text:  # drop a last line that may be cut
        text = text[: text.rindex("\n") + 1]
    return text


def sniff_delimiter(sample: str) -> str:
    """Pick the delimiter among ``, tab ; |`` that splits the sample's records most consistently."""
    best, best_score = ",", (0.0, 0)
    for delim in _DELIMITERS:
        try:
            counts = [len(r) for r in csv.reader(io.StringIO(sample), delimiter=delim) if r][:200]
        except csv.Error:
            continue
        if not counts:
            continue
        mode = max(set(counts), key=counts.count)
        if mode < 2:
            continue
        score = (counts.count(mode) / len(counts), mode)
        if score > best_score:
            best, best_score = delim, score
    return best


def _format_for(path: Path, mapping: Mapping | None) -> str:
    if mapping is not None and mapping.format:
        return mapping.format
    fmt = _EXTENSIONS.get(path.suffix.lower())
    with path.open("rb") as f:
        magic = f.read(4)
    if magic.startswith(b"PK\x03\x04") and fmt != "xlsx":
        if fmt is None:
            return "xlsx"
        raise ImportFileError(path, "this file is an Excel workbook (or another zip), not text: rename it .xlsx")
    if magic == b"PAR1" and fmt != "parquet":
        return "parquet"
    return fmt or "csv"


def open_source(
    path: str | Path,
    *,
    mapping: Mapping | None = None,
    sheet: str | None = None,
    chunk_rows: int = 100_000,
    encoding: str | None = None,
    limits: WorkbookLimits | None = None,
) -> Source:
    """Open a data file for reading.

    Parameters
    ----------
    path
        The file (CSV/TXT/TSV, XLSX/XLSM/XLS/ODS, Parquet, or a layout described by ``mapping``).
    mapping
        An optional mapping: format, encoding, delimiter, header, skip_rows, sheet, columns, widths.
    sheet
        The workbook sheet to read (default: the mapping's, else the first).
    chunk_rows
        About how many records each batch holds.
    encoding
        The encoding of a delimited text file when it is already known (the ``encoding`` of an earlier
        :class:`Source` of the same file), which saves reading the whole file to detect it; a mapping's own
        ``encoding`` still comes first.
    limits
        How big a workbook may be (``KEHU_IMPORT_XLSX_*``; default: the settings' defaults).

    Returns
    -------
    Source
        The open source; its ``headers`` are known, records are read lazily by ``batches()``.

    Raises
    ------
    ImportFileError
        The file is missing, empty, not decodable or not a valid workbook/Parquet file, or the sheet is missing;
        a workbook beyond its limits, or one whose reader died.
    """
    p = Path(path)
    if not p.exists():
        raise ImportFileError(p, "file not found")
    if p.is_dir():
        raise ImportFileError(p, "this is a folder, not a file")
    if p.stat().st_size == 0:
        raise ImportFileError(p, "the file is empty")
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be >= 1")
    fmt = _format_for(p, mapping)
    if fmt in ("csv", "whitespace", "fixed_width"):
        _refuse_binary(p)
    opener: dict[str, Any] = {
        "csv": CsvSource,
        "whitespace": TextSource,
        "fixed_width": TextSource,
        "xlsx": WorkbookSource,
        "parquet": ParquetSource,
    }
    if fmt == "csv":
        return CsvSource.open(p, fmt, mapping, sheet, chunk_rows, encoding=encoding)
    if fmt == "xlsx":
        return WorkbookSource.open(p, fmt, mapping, sheet, chunk_rows, limits=limits)
    src: Source = opener[fmt].open(p, fmt, mapping, sheet, chunk_rows)
    return src


class CsvSource(Source):
    """Delimited text read by Arrow's streaming CSV reader, every column as raw text."""

    format = "csv"

    @property
    def delimiter(self) -> str:
        """The field delimiter (from the mapping, else sniffed)."""
        return str(self._delim)

    @classmethod
    def open(
        cls,
        path: Path,
        fmt: str,
        mapping: Mapping | None,
        sheet: str | None,
        chunk_rows: int,
        *,
        encoding: str | None = None,
    ) -> Source:
        enc = (mapping.encoding if mapping else None) or encoding or detect_encoding(path)
        if enc == "utf-8" and _starts_with_bom(path):
            enc = "utf-8-sig"
        sample = _sample_text(path, enc)
        if not sample.strip("\ufeff \t\r\n"):
            raise ImportFileError(path, "the file is empty")
        skip = mapping.skip_rows if mapping else 0
        has_header = mapping.header if mapping else True
        delim = mapping.delimiter if mapping and mapping.delimiter else None
        if delim is None:
            lines = sample.lstrip("\ufeff").splitlines(keepends=True)
            delim = sniff_delimiter("".join(lines[skip:]))
        reader = csv.reader(io.StringIO(sample.lstrip("\ufeff"), newline=""), delimiter=delim)
        for _ in range(skip):
            next(reader, None)
        first = next(reader, None)
        if first is None or not any(c.strip() for c in first):
            what = "header line" if has_header else "first record"
            raise ImportFileError(path, f"no {what} found after skipping {skip} line(s) (line {reader.line_num})")
        n = len(first)
        if mapping is not None and mapping.column_names is not None:
            if len(mapping.column_names) != n:
                raise ImportFileError(
                    path,
                    f"the mapping names {len(mapping.column_names)} columns but the file has {n} (delimiter {delim!r})",
                )
            headers = mapping.synthesized_headers(n)
        elif has_header:
            headers = dedupe_headers(first)
        else:
            headers = [f"column_{i + 1}" for i in range(n)]
        # the first record starts after the header, or right after the skipped lines
        first_line = reader.line_num + 1 if has_header else _line_after(sample, skip, delim)
        src = cls(path, enc, headers, chunk_rows)
        src._delim, src._skip, src._header, src._first_line = delim, skip, has_header, first_line
        return src

    _delim = ","
    _skip = 0
    _header = True
    _first_line = 2

    def batches(self) -> Iterator[RawBatch]:
        return rechunk(self._records(), self.chunk_rows)

    def _records(self) -> Iterator[RawBatch]:
        import pyarrow.csv as pcsv

        n = len(self.headers)
        names = [f"c{i}" for i in range(n)]
        ragged: list[int] = []

        def on_invalid(row: Any) -> str:
            ragged.append(row.actual_columns)
            return "error"

        read = pcsv.ReadOptions(
            block_size=max(64 << 10, min(8 << 20, self.chunk_rows * 256)),  # about chunk_rows records a block
            # one thread: less CPU in all, and the import's other process (or thread) has the other core
            use_threads=False,
            skip_rows=self._skip + (1 if self._header else 0),
            column_names=names,
            encoding="utf8" if self.encoding in ("utf-8", "utf-8-sig") else str(self.encoding),
        )
        parse = pcsv.ParseOptions(
            delimiter=self._delim,
            newlines_in_values=True,
            ignore_empty_lines=False,
            invalid_row_handler=on_invalid,
        )
        convert = pcsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            null_values=[""],
        )
        line = self._first_line
        try:
            reader = pcsv.open_csv(self.path, read_options=read, parse_options=parse, convert_options=convert)
            for batch in reader:
                arrays = [batch.column(i) for i in range(n)]
                count = batch.num_rows
                extra = np.zeros(count, dtype=np.int64)
                for a in arrays:
                    extra += pc.fill_null(pc.count_substring(a, "\n"), 0).to_numpy(zero_copy_only=False)
                starts = np.arange(line, line + count, dtype=np.int64)
                if extra.any():
                    starts[1:] += np.cumsum(extra)[:-1]
                line += count + int(extra.sum())
                yield drop_empty_records(starts, dict(zip(self.headers, arrays, strict=True)))
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            if ragged:
                raise self._ragged_error() from None
            with self.path.open("rb") as f:
                bad = _first_undecodable_line(f, str(self.encoding))
            if bad is not None:
                raise refusal(
                    ImportFileError, "limits.import.bad_line", self.path, line=bad[0], encoding=self.encoding
                ) from None
            raise self._fail(
                f"cannot be read as {self.encoding} text with delimiter {self._delim!r}: {exc}. "
                "Check the encoding (give encoding: in a mapping file)."
            ) from None

    def _ragged_error(self) -> ImportFileError:
        """Find the first record whose field count differs from the header (slow; only on error)."""
        n = len(self.headers)
        with self.path.open(encoding=self.encoding or "utf-8", errors="replace", newline="") as f:
            reader = csv.reader(f, delimiter=self._delim)
            for _ in range(self._skip + (1 if self._header else 0)):
                next(reader, None)
            start = reader.line_num + 1
            for rec in reader:
                if rec and len(rec) != n:
                    return self._fail(
                        f"row {start} has {len(rec)} fields but the file has {n} columns "
                        f"(delimiter {self._delim!r}); quote values that contain it"
                    )
                start = reader.line_num + 1
        return self._fail(f"a row has a different number of fields than the {n} columns")


def _line_after(sample: str, skip: int, delim: str) -> int:
    reader = csv.reader(io.StringIO(sample.lstrip("\ufeff"), newline=""), delimiter=delim)
    for _ in range(skip):
        next(reader, None)
    return reader.line_num + 1


class TextSource(Source):
    """Whitespace-separated or fixed-width text, read line by line."""

    @classmethod
    def open(cls, path: Path, fmt: str, mapping: Mapping | None, sheet: str | None, chunk_rows: int) -> Source:
        assert mapping is not None  # these layouts only come from a mapping
        enc = mapping.encoding or detect_encoding(path)
        widths = mapping.widths if fmt == "fixed_width" else None
        f = path.open(encoding=enc, newline=None)
        src = cls(path, enc, [], chunk_rows)
        src.format, src._file, src._widths, src._line = fmt, f, widths, 0
        try:
            for _ in range(mapping.skip_rows):
                src._next_line()
            first = None
            if mapping.header:
                first = src._next_line()
                if first is None:
                    raise ImportFileError(path, "no header line found")
                tokens = src._split(first)
            elif widths is not None:
                tokens = [""] * len(widths)
            elif mapping.column_names is not None:
                tokens = list(mapping.column_names)
            else:
                raise ImportFileError(path, "a whitespace file without a header needs columns: in the mapping")
        except BaseException:
            f.close()
            raise
        n = len(tokens)
        if mapping.column_names is not None:
            if len(mapping.column_names) != n:
                f.close()
                raise ImportFileError(
                    path, f"the mapping names {len(mapping.column_names)} columns but the header has {n}"
                )
            src.headers = mapping.synthesized_headers(n)
        elif mapping.header:
            src.headers = dedupe_headers(tokens)
        else:
            src.headers = [f"column_{i + 1}" for i in range(n)]
        return src

    format = "whitespace"
    _file: Any = None
    _widths: tuple[int, ...] | None = None
    _line = 0

    def _next_line(self) -> str | None:
        try:
            text = self._file.readline()
        except UnicodeDecodeError as exc:
            raise self._fail(f"line {self._line + 1} cannot be decoded as {self.encoding}: {exc.reason}") from None
        if not text:
            return None
        self._line += 1
        return text.rstrip("\r\n")

    def _split(self, text: str) -> list[str]:
        if self._widths is None:
            return text.split()
        out, pos = [], 0
        for w in self._widths:
            out.append(text[pos : pos + w].strip())
            pos += w
        if text[pos:].strip():
            raise self._fail(f"row {self._line} is longer than the widths in the mapping ({pos} characters)")
        return out

    def batches(self) -> Iterator[RawBatch]:
        n = len(self.headers)
        rows: list[list[str]] = []
        numbers: list[int] = []
        while (text := self._next_line()) is not None:
            if not text.strip():
                continue
            values = self._split(text)
            if len(values) != n:
                raise self._fail(f"row {self._line} has {len(values)} values but the file has {n} columns")
            rows.append(values)
            numbers.append(self._line)
            if len(rows) >= self.chunk_rows:
                yield self._batch(rows, numbers)
                rows, numbers = [], []
        if rows:
            yield self._batch(rows, numbers)

    def _batch(self, rows: list[list[str]], numbers: list[int]) -> RawBatch:
        cols = zip(*rows, strict=True)
        arrays = [pa.array([v or None for v in col], pa.string()) for col in cols]
        return RawBatch(np.asarray(numbers, dtype=np.int64), dict(zip(self.headers, arrays, strict=True)))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
