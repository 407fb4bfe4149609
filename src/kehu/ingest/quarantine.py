"""The quarantine file: every rejected row, with where it came from and why.

Written as CSV in UTF-8 with a BOM so that Excel and WPS show Chinese text correctly. One line per rejected row:
the source file, the row number a user sees in that file, the column(s) and value(s) at fault, the reason(s),
then the row's original values under their original headers, so the file can be corrected and imported again.

The source file is named by its file name only (never the server's path to the upload), and a cell that starts
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'`` (:func:`safe_cell`), so that no
cell of the file starts a spreadsheet formula when it is opened in Excel or WPS.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ["Problem", "QuarantineWriter", "safe_cell"]

_META = ["source_file", "row", "column", "value", "reason"]
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """``value`` with a leading ``'`` when it starts like a formula (``=``, ``+``, ``-``, ``@``, tab, CR)."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one row."""

    column: str
    value: str | None
    reason: str


@dataclass
class QuarantineWriter:
    """Collects rejected rows into ``<folder>/<stem>-<kind>-<timestamp>.csv``; creates the file on first use."""

    folder: Path
    source_file: Path
    kind: str
    headers: list[str]
    count: int = 0
    path: Path | None = None
    _fh: IO[str] | None = field(default=None, repr=False)
    _writer: Any = field(default=None, repr=False)

    def add(self, row_number: int, problems: list[Problem], raw: dict[str, Any]) -> None:
        """Write one rejected row."""
        if self._writer is None:
            self._open()
        cols = " | ".join(p.column for p in problems)
        vals = " | ".join("" if p.value is None else str(p.value) for p in problems)
        reasons = " | ".join(p.reason for p in problems)
        raw_values = ["" if raw.get(h) is None else str(raw.get(h)) for h in self.headers]
        cells = [self.source_file.name, str(row_number), cols, vals, reasons, *raw_values]
        self._writer.writerow([safe_cell(c) for c in cells])
        self.count += 1

    def _open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        self.path = self.folder / f"{self.source_file.stem}-{self.kind}-{stamp}.csv"
        self._fh = self.path.open("w", encoding="utf-8-sig", newline="")
        self._writer = csv.writer(self._fh)
        self._writer.writerow(_META + [safe_cell(f"[{h}]" if h in _META else h) for h in self.headers])

    def close(self) -> None:
        """Flush and close the file (if any row was written)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def discard(self) -> None:
        """Close and delete the file: used when the import as a whole failed and nothing was changed."""
        self.close()
        if self.path is not None and self.path.exists():
            self.path.unlink()
        self.path = None
