"""Readers of workbooks (XLSX/XLSM/XLS/ODS through python-calamine) and of Parquet files."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from kehu.errors import ImportFileError
from kehu.ingest.sources import RawBatch, Source, dedupe_headers

if TYPE_CHECKING:
    from kehu.ingest.mapping import Mapping

__all__ = ["ParquetSource", "WorkbookSource", "cell_text"]


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
