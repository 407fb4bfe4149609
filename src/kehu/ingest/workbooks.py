"""Readers of workbooks (XLSX/XLSM/XLS/ODS through python-calamine, in a process of its own) and of Parquet files."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from kehu.errors import ImportFileError
from kehu.ingest.sheet_process import SheetFile, cell_text, extract_sheet
from kehu.ingest.sources import RawBatch, Source, dedupe_headers
from kehu.ingest.workbook_limits import WorkbookLimits, check_archive, is_archive, sheet_extent

if TYPE_CHECKING:
    from kehu.ingest.mapping import Mapping

__all__ = ["ParquetSource", "WorkbookSource", "cell_text"]


class WorkbookSource(Source):
    """One sheet of an Excel/ODS workbook; cells rendered as the text users see.

    Before anything is read, a zip workbook's parts and its sheet's used range are checked against the limits
    (:mod:`~kehu.ingest.workbook_limits`); the sheet is then read by python-calamine in a process of its own
    (:mod:`~kehu.ingest.sheet_process`) into a temporary Arrow file, which this source reads batch by batch and
    removes on :meth:`close`.
    """

    format = "xlsx"
    _reader: Any = None
    _folder: Path | None = None
    _start = (0, 0)  # (batch, row) where the records begin
    _first_row = 1

    @classmethod
    def open(
        cls,
        path: Path,
        fmt: str,
        mapping: Mapping | None,
        sheet: str | None,
        chunk_rows: int,
        *,
        limits: WorkbookLimits | None = None,
    ) -> Source:
        limits = limits or WorkbookLimits()
        name = sheet or (mapping.sheet if mapping else None)
        if is_archive(path):
            check_archive(path, limits)
            sheet_extent(path, name, limits)
        src = cls(path, None, [], chunk_rows)
        src._folder = Path(tempfile.mkdtemp(prefix="kehu-sheet-"))
        try:
            src._read(extract_sheet(path, name, limits, src._folder / "sheet.arrow", chunk_rows=chunk_rows), mapping)
        except BaseException:
            src.close()
            raise
        return src

    def _read(self, sheet: SheetFile, mapping: Mapping | None) -> None:
        path, name = self.path, sheet.sheet
        self._reader = ipc.open_file(pa.memory_map(str(sheet.path)))
        skip = mapping.skip_rows if mapping else 0
        has_header = mapping.header if mapping else True
        header: list[str | None] | None = None
        for b in range(self._reader.num_record_batches):
            batch = self._reader.get_batch(b)
            numbers = batch.column(0).to_numpy()
            for r in range(batch.num_rows):
                if numbers[r] <= skip:
                    continue
                texts = [batch.column(c)[r].as_py() for c in range(1, batch.num_columns)]
                if any(t is not None and t.strip() for t in texts):
                    header, self._first_row = texts, int(numbers[r])
                    self._start = (b, r + 1 if has_header else r)
                    break
            if header is not None:
                break
        if header is None:
            raise ImportFileError(path, f"sheet {name!r} has no data")
        n = len(header)
        if mapping is not None and mapping.column_names is not None:
            if len(mapping.column_names) != n:
                raise ImportFileError(
                    path, f"the mapping names {len(mapping.column_names)} columns but sheet {name!r} has {n}"
                )
            self.headers = mapping.synthesized_headers(n)
        elif has_header:
            self.headers = dedupe_headers([t or "" for t in header])
        else:
            self.headers = [f"column_{i + 1}" for i in range(n)]

    def batches(self) -> Iterator[RawBatch]:
        first, offset = self._start
        for b in range(first, self._reader.num_record_batches):
            batch = self._reader.get_batch(b)
            if b == first and offset:
                batch = batch.slice(offset)
            if batch.num_rows == 0:
                continue
            numbers = batch.column(0).to_numpy().astype(np.int64)
            arrays = [batch.column(c) for c in range(1, batch.num_columns)]
            yield RawBatch(numbers, dict(zip(self.headers, arrays, strict=True)))

    def close(self) -> None:
        self._reader = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


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
