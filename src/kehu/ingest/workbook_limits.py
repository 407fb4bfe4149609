"""Limits a workbook must keep before it is read, checked without the workbook library.

A workbook (XLSX/XLSM/XLSB/ODS) is a zip archive, and a zip's central directory says how big each part unpacks
before anything is unpacked. :func:`check_archive` refuses an archive that would unpack to more than
``max_bytes`` in all, holds a part that is bigger than that on its own or unpacks to more than
:data:`MAX_RATIO` times its packed size (a "zip bomb": kilobytes that inflate to gigabytes), or holds more parts
than any workbook does. :func:`sheet_extent` then reads one sheet's XML as a stream, in bounded pieces, for the
cells it places (the ``<dimension>`` it claims, every ``r="XFD1048576"`` reference, and rows and cells without
one, which follow the one before): a sheet whose used range spans more than ``max_cells`` cells is refused
before the reader would allocate the whole range. Both run
in a fraction of a second and a few megabytes, whatever the file says.

The reading itself happens in a process of its own (:mod:`kehu.ingest.sheet_process`) under a memory limit, so
whatever gets past these checks can still only end that process.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from kehu import i18n
from kehu.errors import ImportFileError

__all__ = [
    "MAX_ENTRIES",
    "MAX_RATIO",
    "WorkbookLimits",
    "check_archive",
    "column_number",
    "said_file_error",
    "sheet_extent",
]

#: parts of a workbook archive (sheets, styles, relationships, media …); real workbooks have a few dozen
MAX_ENTRIES = 10_000
#: a part that unpacks to more than this many times its packed size is refused (real sheets: 5 to 30 times) …
MAX_RATIO = 200
#: … when it unpacks to at least this many bytes (tiny parts can have any ratio)
RATIO_FLOOR = 4 << 20
#: Excel's own largest sheet: 1,048,576 rows
MAX_ROWS = 1_048_576
#: the small XML parts (workbook, relationships) are read whole only up to this size
_META_BYTES = 8 << 20
_CHUNK = 1 << 20
#: a row or cell start tag; its attributes are searched for the reference
_TAG = re.compile(rb"<(?:\w+:)?(row|c)\b([^>]*)>")
_REF = re.compile(rb'\sr="([A-Z]{0,3})([0-9]{1,7})"')
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\b[^>]*?\sref="([A-Z]{1,3})([0-9]{1,7})(?::([A-Z]{1,3})([0-9]{1,7}))?"')
_ZIP_FORMATS = (".xlsx", ".xlsm", ".xlsb", ".ods")


@dataclass(frozen=True)
class WorkbookLimits:
    """How big a workbook may be (``KEHU_IMPORT_XLSX_*``); defaults are the settings' defaults."""

    max_bytes: int = 512 << 20
    max_cells: int = 20_000_000
    memory_bytes: int = 2048 << 20
    seconds: int = 600

    @classmethod
    def from_settings(cls, settings: object) -> WorkbookLimits:
        """The limits of :class:`kehu.config.Settings` (``import_xlsx_*``)."""
        return cls(
            max_bytes=int(getattr(settings, "import_xlsx_max_mb", 512)) << 20,
            max_cells=int(getattr(settings, "import_xlsx_max_cells", 20_000_000)),
            memory_bytes=int(getattr(settings, "import_xlsx_memory_mb", 2048)) << 20,
            seconds=int(getattr(settings, "import_xlsx_seconds", 600)),
        )


def is_archive(path: Path) -> bool:
    """Whether the workbook is a zip archive (XLSX/XLSM/XLSB/ODS; not the old binary XLS)."""
    with path.open("rb") as f:
        return f.read(4) == b"PK\x03\x04" or path.suffix.lower() in _ZIP_FORMATS


def check_archive(path: Path, limits: WorkbookLimits) -> None:
    """Refuse a workbook archive that is not a valid zip or would unpack beyond the limits.

    Raises
    ------
    ImportFileError
        Not a zip, too many parts, too big in all or in one part, or a part with a zip bomb's ratio.
    """
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise said_file_error(path, "workbook_not_valid", detail=f"not a zip archive: {exc}") from None
    if len(infos) > MAX_ENTRIES:
        raise said_file_error(path, "workbook_entries", count=len(infos), limit=MAX_ENTRIES)
    total = sum(i.file_size for i in infos)
    if total > limits.max_bytes:
        raise said_file_error(path, "workbook_too_large", size_mb=_mb(total), limit_mb=_mb(limits.max_bytes))
    for info in infos:
        if info.file_size >= RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            ratio = info.file_size // max(info.compress_size, 1)
            raise said_file_error(path, "workbook_ratio", entry=info.filename, ratio=ratio, limit=MAX_RATIO)


def sheet_part(z: zipfile.ZipFile, sheet: str | None) -> tuple[str, str] | None:
    """The name and archive part of the sheet named ``sheet`` (the first sheet for None); None if not an XLSX."""
    names = set(z.namelist())
    if "xl/workbook.xml" not in names:
        return None
    book = _xml(z, "xl/workbook.xml")
    rels = _xml(z, "xl/_rels/workbook.xml.rels") if "xl/_rels/workbook.xml.rels" in names else None
    if book is None or rels is None:
        return None
    targets = {r.get("Id"): r.get("Target", "") for r in rels.iter() if r.tag.endswith("Relationship")}
    for s in book.iter():
        if not s.tag.endswith("}sheet"):
            continue
        if sheet is not None and s.get("name") != sheet:
            continue
        rid = next((v for k, v in s.attrib.items() if k.endswith("}id")), None)
        target = targets.get(rid)
        if not target:
            return None
        part = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
        return (s.get("name") or part, part) if part in names else None
    return None


def _xml(z: zipfile.ZipFile, name: str) -> ElementTree.Element | None:
    if z.getinfo(name).file_size > _META_BYTES:
        return None
    try:
        return ElementTree.fromstring(z.read(name))
    except ElementTree.ParseError:
        return None


def column_number(letters: bytes | str) -> int:
    """The 1-based column of ``A`` … ``XFD``."""
    n = 0
    for ch in letters.decode() if isinstance(letters, bytes) else letters:
        n = n * 26 + ord(ch) - 64
    return n


def _column_letters(n: int) -> str:
    out = ""
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


@dataclass
class _Position:
    row: int = 0
    col: int = 0


@dataclass
class _Extent:
    rows: tuple[int, int] | None = None
    cols: tuple[int, int] | None = None

    def add(self, row: int | None, col: int | None) -> None:
        if row is not None:
            self.rows = (row, row) if self.rows is None else (min(self.rows[0], row), max(self.rows[1], row))
        if col is not None:
            self.cols = (col, col) if self.cols is None else (min(self.cols[0], col), max(self.cols[1], col))

    def cells(self) -> int:
        if self.rows is None:
            return 0
        lo, hi = self.cols or (1, 1)
        return (self.rows[1] - self.rows[0] + 1) * (hi - lo + 1)

    def text(self) -> str:
        r = self.rows or (1, 1)
        c = self.cols or (1, 1)
        return f"{_column_letters(c[0])}{r[0]}:{_column_letters(c[1])}{r[1]}"


def sheet_extent(path: Path, sheet: str | None, limits: WorkbookLimits) -> int:
    """Refuse an XLSX sheet whose used range would exceed the limits; returns the cells it spans (0: unknown).

    Reads the sheet's XML as a stream (a megabyte at a time) for its ``<dimension>`` and its row and cell
    references; formats other than XLSX are left to the reader's own limits.

    Raises
    ------
    ImportFileError
        The sheet spans more than ``limits.max_cells`` cells or more than :data:`MAX_ROWS` rows.
    """
    try:
        with zipfile.ZipFile(path) as z:
            found = sheet_part(z, sheet)
            if found is None:
                return 0
            name, part = found
            extent = _Extent()
            position = _Position()
            with z.open(part) as f:
                tail = b""
                first = True
                while chunk := f.read(_CHUNK):
                    data = tail + chunk
                    if first:
                        first = False
                        dim = _DIMENSION.search(data)
                        if dim is not None:
                            claimed = _Extent()
                            claimed.add(int(dim[2]), column_number(dim[1]))
                            if dim[3]:
                                claimed.add(int(dim[4]), column_number(dim[3]))
                            _check(path, name, claimed, limits)
                    cut = data.rfind(b"<")  # a tag cut at the end of this piece is read with the next one
                    if cut < 0 or len(data) - cut >= 4096:
                        cut = len(data)
                    for m in _TAG.finditer(data, 0, cut):
                        ref = _REF.search(m[2])
                        if m[1] == b"row":  # a row without a reference follows the one before
                            position.row = int(ref[2]) if ref else position.row + 1
                            position.col = 0
                            extent.add(position.row, None)
                        else:  # so does a cell
                            if ref and ref[1]:
                                position.row, position.col = int(ref[2]), column_number(ref[1])
                            else:
                                position.col += 1
                            extent.add(position.row, position.col)
                    _check(path, name, extent, limits)
                    tail = data[cut:]
    except ImportFileError:
        raise
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, ValueError) as exc:
        raise said_file_error(path, "workbook_not_valid", detail=f"a damaged part: {exc}") from None
    return extent.cells()


def _check(path: Path, sheet: str, extent: _Extent, limits: WorkbookLimits) -> None:
    if extent.rows is not None and extent.rows[1] > MAX_ROWS:
        raise said_file_error(path, "sheet_too_many_rows", sheet=sheet, rows=extent.rows[1], limit=MAX_ROWS)
    cells = extent.cells()
    if cells > limits.max_cells:
        raise said_file_error(
            path, "sheet_too_many_cells", sheet=sheet, extent=extent.text(), cells=cells, limit=limits.max_cells
        )


def _mb(n: int) -> int:
    return max(1, (n + (1 << 20) - 1) >> 20)


def said_file_error(path: Path, key: str, **params: object) -> ImportFileError:
    """An :class:`ImportFileError` of ``path`` whose message is the catalog's ``files.<key>`` (English in ``str``)."""
    values = {"path": str(path), **params}
    english = i18n.said(f"files.{key}", "en", values)
    error = ImportFileError(path, english.removeprefix(f"{path}: "))
    error.said(f"files.{key}", **values)
    return error
