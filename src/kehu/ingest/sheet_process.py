"""Reading one workbook sheet in a process of its own, so that a crafted file can only end that process.

The workbook library (python-calamine, native code) allocates a sheet's whole used range at once and aborts
the process when an allocation fails: a sheet with one cell in A1 and one in XFD1048576 asks for half a
terabyte and ends the process by signal 6 — which, in the web app's import worker or in ``kehu import``, would
be the death of the server or the command. So the sheet is read by a fresh interpreter
(``python -m kehu.ingest.sheet_process``) under an address-space limit (``KEHU_IMPORT_XLSX_MEMORY_MB``) and a
time limit (``KEHU_IMPORT_XLSX_SECONDS``); it writes the sheet's non-empty rows, as the text users see with
their Excel row numbers, to an Arrow file in a temporary folder, in batches, and answers with one line of JSON.
The reader of the importer's process (:class:`~kehu.ingest.workbooks.WorkbookSource`) reads that file.

A child that dies (a native abort, the memory limit, a kill) or runs out of time becomes an
:class:`~kehu.errors.ImportFileError` naming the file; a problem the child finds (not a workbook, no such sheet,
too many cells) comes back as the same error it would have raised in the importer's process.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kehu.errors import ImportFileError
from kehu.ingest.workbook_limits import MAX_ROWS, WorkbookLimits, said_file_error

__all__ = ["SheetFile", "cell_text", "extract_sheet"]


@dataclass(frozen=True)
class SheetFile:
    """A sheet read by the child: its Arrow file (``_row`` and ``c0`` … as text), its name and the workbook's."""

    path: Path
    sheet: str
    sheets: list[str]
    columns: int


def extract_sheet(path: Path, sheet: str | None, limits: WorkbookLimits, out: Path, *, chunk_rows: int) -> SheetFile:
    """Read sheet ``sheet`` (None: the first) of the workbook ``path`` into the Arrow file ``out``, in a child.

    Raises
    ------
    ImportFileError
        The workbook is not valid, has no such sheet or too many cells, or its reader died or ran out of time.
    """
    job = {
        "path": str(path),
        "sheet": sheet,
        "out": str(out),
        "chunk_rows": chunk_rows,
        "memory_bytes": limits.memory_bytes,
        "max_cells": limits.max_cells,
    }
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), "RUST_BACKTRACE": "0"}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "kehu.ingest.sheet_process"],
            input=json.dumps(job).encode(),
            capture_output=True,
            env=env,
            timeout=limits.seconds,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise said_file_error(path, "reader_timeout", seconds=limits.seconds) from None
    answer = _answer(done.stdout)
    if answer is None or done.returncode != 0:
        raise _died(path, done.returncode)
    if "error" in answer:
        error = ImportFileError(path, answer["problem"])
        if answer.get("key"):
            error.said(answer["key"], **answer.get("params", {}))
        raise error
    return SheetFile(out, answer["sheet"], list(answer["sheets"]), int(answer["columns"]))


def _answer(stdout: bytes) -> dict[str, Any] | None:
    lines = stdout.strip().splitlines()
    if not lines:
        return None
    try:
        answer = json.loads(lines[-1])
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def _died(path: Path, code: int) -> ImportFileError:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return said_file_error(path, "reader_killed", signal=name)
    return said_file_error(path, "reader_exited", code=code)


# -- the child's side ------------------------------------------------------------------------------------------
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


def _limit_memory(memory_bytes: int) -> None:
    import resource

    with contextlib.suppress(ValueError, OSError):  # a platform without the limit still reads (unprotected)
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def _read(job: dict[str, Any]) -> dict[str, Any]:
    """Read the sheet into the Arrow file; the answer to print (raises ImportFileError for file problems)."""
    import pyarrow as pa
    import pyarrow.ipc as ipc
    import python_calamine

    path = Path(job["path"])
    try:
        book = python_calamine.CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own (and OS) errors for corrupt files
        raise said_file_error(path, "workbook_not_valid", detail=str(exc)) from None
    names = list(book.sheet_names)
    name = job["sheet"] or (names[0] if names else None)
    if name is None or name not in names:
        raise ImportFileError(path, f"sheet {name!r} not found; sheets: {', '.join(names)}")
    try:
        ws = book.get_sheet_by_name(name)
    except Exception as exc:
        raise ImportFileError(path, f"sheet {name!r} cannot be read ({exc})") from None
    if ws.start is None or ws.height == 0:
        raise ImportFileError(path, f"sheet {name!r} has no data")
    if ws.height > MAX_ROWS:
        raise said_file_error(path, "sheet_too_many_rows", sheet=name, rows=ws.height, limit=MAX_ROWS)
    width = max(int(ws.width), 1)
    if ws.height * width > job["max_cells"]:
        extent = f"{ws.height:,} x {width:,}"
        cells = ws.height * width
        raise said_file_error(
            path, "sheet_too_many_cells", sheet=name, extent=extent, cells=cells, limit=job["max_cells"]
        )
    # calamine yields rows from row 1 when the sheet has leading empty rows, else from its first used row
    first_row = 1 if ws.total_height != ws.height else ws.start[0] + 1
    schema = pa.schema([("_row", pa.int64()), *((f"c{i}", pa.string()) for i in range(width))])
    chunk = max(1, int(job["chunk_rows"]))
    with ipc.new_file(job["out"], schema) as writer:
        numbers: list[int] = []
        cols: list[list[str | None]] = [[] for _ in range(width)]
        for number, row in enumerate(ws.iter_rows(), start=first_row):
            texts = [cell_text(v) for v in row]
            if all(t is None for t in texts):
                continue
            numbers.append(number)
            for i in range(width):
                cols[i].append(texts[i] if i < len(texts) else None)
            if len(numbers) >= chunk:
                writer.write_batch(pa.record_batch([pa.array(numbers, pa.int64()), *cols], schema=schema))
                numbers, cols = [], [[] for _ in range(width)]
        if numbers:
            writer.write_batch(pa.record_batch([pa.array(numbers, pa.int64()), *cols], schema=schema))
    return {"sheet": name, "sheets": names, "columns": width}


def main() -> None:
    """``python -m kehu.ingest.sheet_process``: the job as JSON on stdin; one line of JSON on stdout."""
    job = json.loads(sys.stdin.buffer.read())
    _limit_memory(int(job["memory_bytes"]))
    try:
        answer = _read(job)
    except ImportFileError as exc:
        answer = {"error": "file", "problem": exc.problem, "key": exc.key, "params": exc.params}
    sys.stdout.write(json.dumps(answer, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
