"""The raw records of an open data file: :class:`RawBatch` (row numbers a user sees + raw columns), the
:class:`Source` every reader implements, and the helpers readers share to build batches."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kehu.errors import ImportFileError

__all__ = ["RawBatch", "Source", "concat_batches", "dedupe_headers", "drop_empty_records", "rechunk"]


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


class Source(abc.ABC):
    """An open data file; iterate :meth:`batches` to read it. Use as a context manager."""

    format: str = ""

    def __init__(self, path: Path, encoding: str | None, headers: list[str], chunk_rows: int) -> None:
        self.path = path
        self.encoding = encoding
        self.headers = headers
        self.chunk_rows = chunk_rows

    @abc.abstractmethod
    def batches(self) -> Iterator[RawBatch]:
        """Yield the records in file order, in batches of about ``chunk_rows`` records."""

    def close(self) -> None:  # noqa: B027 (a default: sources without an open file have nothing to release)
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
