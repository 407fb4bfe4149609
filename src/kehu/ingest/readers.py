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
import datetime
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kehu.errors import ImportFileError

if TYPE_CHECKING:
    from kehu.ingest.mapping import Mapping

__all__ = ["RawBatch", "Source", "detect_encoding", "open_source", "sniff_delimiter"]

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


@dataclass
class RawBatch:
    """Consecutive records of one file.

    ``row_numbers`` (int64) holds the row number a user sees for each record; ``columns`` maps each raw
    column name to its values (raw text for text and workbook formats, native Arrow types for Parquet).
    """

    row_numbers: np.ndarray
    columns: dict[str, pa.Array]

    def __len__(self) -> int:
        return len(self.row_numbers)


class Source:
    """An open data file; iterate :meth:`batches` to read it. Use as a context manager."""

    format: str = ""

    def __init__(self, path: Path, encoding: str | None, headers: list[str], chunk_rows: int) -> None:
        self.path = path
        self.encoding = encoding
        self.headers = headers
        self.chunk_rows = chunk_rows

    def batches(self) -> Iterator[RawBatch]:
        """Yield the records in file order, in batches of about ``chunk_rows`` records."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the file."""

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.format} {self.path} encoding={self.encoding}>"

    def _fail(self, problem: str) -> ImportFileError:
        return ImportFileError(self.path, problem)


def dedupe_headers(names: list[str]) -> list[str]:
    """Strip header names, name empty ones ``column_N`` and suffix repeats ``.2``, ``.3``, ... ."""
    out: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(names):
        base = (raw or "").replace("\ufeff", "").strip() or f"column_{i + 1}"
        name, k = base, 1
        while name in seen:
            k += 1
            name = f"{base}.{k}"
        seen.add(name)
        out.append(name)
    return out


def detect_encoding(path: str | Path) -> str:
    """The encoding of a text file: ``utf-8-sig`` (BOM), ``utf-8`` (whole file valid) or ``gb18030``.

    The whole file is checked as strict UTF-8 (in bounded chunks, so a multi-byte character cut at a chunk
    boundary is fine); GBK, GB2312 and cp936 are subsets of GB18030 and are read as such.
    """
    p = Path(path)
    with p.open("rb") as f:
        head = f.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise ImportFileError(p, "the file is UTF-16; save it as UTF-8 (CSV UTF-8) or GBK and import again")
        f.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")("strict")
        try:
            while chunk := f.read(_SCAN_BYTES):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "gb18030"
    return "utf-8"


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

    Returns
    -------
    Source
        The open source; its ``headers`` are known, records are read lazily by ``batches()``.

    Raises
    ------
    ImportFileError
        The file is missing, empty, not decodable or not a valid workbook/Parquet file, or the sheet is missing.
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
    opener: dict[str, Any] = {
        "csv": CsvSource,
        "whitespace": TextSource,
        "fixed_width": TextSource,
        "xlsx": WorkbookSource,
        "parquet": ParquetSource,
    }
    if fmt == "csv":
        return CsvSource.open(p, fmt, mapping, sheet, chunk_rows, encoding=encoding)
    src: Source = opener[fmt].open(p, fmt, mapping, sheet, chunk_rows)
    return src


def drop_empty_records(row_numbers: np.ndarray, columns: dict[str, pa.Array]) -> RawBatch:
    """Remove records whose every column is null (blank lines / rows) from one batch."""
    arrays = list(columns.values())
    if not arrays or all(a.null_count == 0 for a in arrays):
        return RawBatch(row_numbers, columns)
    empty = pc.is_null(arrays[0])
    for a in arrays[1:]:
        empty = pc.and_(empty, pc.is_null(a))
    if not pc.any(empty).as_py():
        return RawBatch(row_numbers, columns)
    keep = pc.invert(empty)
    mask = keep.to_numpy(zero_copy_only=False)
    return RawBatch(row_numbers[mask], {k: pc.filter(v, keep) for k, v in columns.items()})


def concat_batches(parts: list[RawBatch]) -> RawBatch:
    """Join consecutive batches of one source into one."""
    if len(parts) == 1:
        return parts[0]
    names = list(parts[0].columns)
    return RawBatch(
        np.concatenate([p.row_numbers for p in parts]),
        {n: pa.concat_arrays([p.columns[n] for p in parts]) for n in names},
    )


def rechunk(parts: Iterator[RawBatch], chunk_rows: int) -> Iterator[RawBatch]:
    """Regroup small batches into batches of at least ``chunk_rows`` records (the last may be smaller)."""
    pending: list[RawBatch] = []
    size = 0
    for part in parts:
        if len(part) == 0:
            continue
        pending.append(part)
        size += len(part)
        if size >= chunk_rows:
            yield concat_batches(pending)
            pending, size = [], 0
    if pending:
        yield concat_batches(pending)


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


def cell_text(value: object) -> str | None:
    """The text a user sees in a workbook cell (typed by the workbook library); None for an empty cell.

    Whole numbers lose Excel's ``.0``, other numbers use up to 15 significant digits (as Excel shows them),
    date-times become ISO text (``2024-01-05`` at midnight, else ``2024-01-05 13:45:00``).
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(value, ".15g")
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)


class WorkbookSource(Source):
    """One sheet of an Excel/ODS workbook, read by python-calamine; cells rendered as the text users see."""

    format = "xlsx"
    _rows: Any = None
    _first_row = 1

    @classmethod
    def open(cls, path: Path, fmt: str, mapping: Mapping | None, sheet: str | None, chunk_rows: int) -> Source:
        import python_calamine

        try:
            book = python_calamine.CalamineWorkbook.from_path(str(path))
        except Exception as exc:  # calamine raises its own (and OS) errors for corrupt files
            raise ImportFileError(path, f"not a valid Excel workbook ({exc})") from None
        name = sheet or (mapping.sheet if mapping else None) or (book.sheet_names[0] if book.sheet_names else None)
        if name is None or name not in book.sheet_names:
            raise ImportFileError(path, f"sheet {name!r} not found; sheets: {', '.join(book.sheet_names)}")
        try:
            ws = book.get_sheet_by_name(name)
        except Exception as exc:
            raise ImportFileError(path, f"sheet {name!r} cannot be read ({exc})") from None
        if ws.start is None or ws.height == 0:
            raise ImportFileError(path, f"sheet {name!r} has no data")
        # calamine yields rows from row 1 when the sheet has leading empty rows, else from its first used row
        first_row = 1 if ws.total_height != ws.height else ws.start[0] + 1
        rows = enumerate(ws.iter_rows(), start=first_row)
        skip = mapping.skip_rows if mapping else 0
        has_header = mapping.header if mapping else True
        src = cls(path, None, [], chunk_rows)
        src._rows = rows
        header: list[str | None] | None = None
        for number, row in rows:
            if number <= skip:
                continue
            texts = [cell_text(v) for v in row]
            if any(t is not None and t.strip() for t in texts):
                header = texts
                src._first_row = number
                break
        if header is None:
            raise ImportFileError(path, f"sheet {name!r} has no data")
        n = len(header)
        if mapping is not None and mapping.column_names is not None:
            if len(mapping.column_names) != n:
                raise ImportFileError(
                    path, f"the mapping names {len(mapping.column_names)} columns but sheet {name!r} has {n}"
                )
            src.headers = mapping.synthesized_headers(n)
        elif has_header:
            src.headers = dedupe_headers([t or "" for t in header])
        else:
            src.headers = [f"column_{i + 1}" for i in range(n)]
        src._pending = None if has_header else header
        return src

    _pending: list[str | None] | None = None

    def batches(self) -> Iterator[RawBatch]:
        n = len(self.headers)
        rows: list[list[str | None]] = []
        numbers: list[int] = []
        if self._pending is not None:
            rows.append(self._pending)
            numbers.append(self._first_row)
        for number, row in self._rows:
            texts = [cell_text(v) for v in row]
            if all(t is None for t in texts):
                continue
            rows.append((texts + [None] * n)[:n])
            numbers.append(number)
            if len(rows) >= self.chunk_rows:
                yield self._batch(rows, numbers)
                rows, numbers = [], []
        if rows:
            yield self._batch(rows, numbers)

    def _batch(self, rows: list[list[str | None]], numbers: list[int]) -> RawBatch:
        arrays = [pa.array(list(col), pa.string()) for col in zip(*rows, strict=True)]
        return RawBatch(np.asarray(numbers, dtype=np.int64), dict(zip(self.headers, arrays, strict=True)))


class ParquetSource(Source):
    """A Parquet file read in record batches; columns keep their Arrow types (dictionaries decoded)."""

    format = "parquet"
    _file: Any = None

    @classmethod
    def open(cls, path: Path, fmt: str, mapping: Mapping | None, sheet: str | None, chunk_rows: int) -> Source:
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as exc:
            raise ImportFileError(path, f"not a valid Parquet file ({exc})") from None
        src = cls(path, None, dedupe_headers(pf.schema_arrow.names), chunk_rows)
        src._file = pf
        return src

    def batches(self) -> Iterator[RawBatch]:
        start = 2
        try:
            for batch in self._file.iter_batches(batch_size=self.chunk_rows):
                arrays = []
                for a in batch.columns:
                    arrays.append(a.dictionary_decode() if pa.types.is_dictionary(a.type) else a)
                numbers = np.arange(start, start + batch.num_rows, dtype=np.int64)
                start += batch.num_rows
                yield RawBatch(numbers, dict(zip(self.headers, arrays, strict=True)))
        except (pa.ArrowException, OSError) as exc:
            raise self._fail(f"the Parquet file is damaged near row {start} ({exc})") from None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
