"""Reading, parsing and staging of a big file in a second process, so that an import uses two cores.

Python runs one thread at a time (the GIL), so a reader thread only overlaps the parts of parsing that run in
Arrow's C++ kernels with the writes. For a big file of an activity kind (orders, interactions, …) the importer
instead starts this module in a child process (a fresh interpreter, ``python -m kehu.ingest.parse_process``,
answering through a pipe with :class:`multiprocessing.connection.Connection`): the child reads, parses,
checks and stages the file batch by batch (:func:`~kehu.ingest.rows.prepare_batch`,
:class:`~kehu.ingest.staging.Stager`) and sends each :class:`~kehu.ingest.staging.StagedBatch` — Arrow and numpy
arrays, a few kilobytes of Python objects — through a pipe, while the importer's process writes the previous
batch into the store. The child never touches the store: the one transaction, customer resolution, change
detection against the store and the quarantine file all stay in the importer.

A problem in the child comes back as the same exception (an :class:`~kehu.errors.ImportFileError` for a file
problem found midway); a child that dies (killed, out of memory) ends the import with a clear
:class:`~kehu.errors.KehuError`. Either way the importer's transaction is rolled back and the store is unchanged.
If the importer stops early (an error, or its own process is killed), the child is stopped with it: it is
terminated on the way out, and a child whose parent has died fails its next send and exits.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import pickle
import subprocess
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pyarrow as pa

from kehu import errors
from kehu.errors import ImportFileError, KehuError
from kehu.ingest.fields import KINDS
from kehu.ingest.mapping import Mapping, plan_columns
from kehu.ingest.readers import open_source
from kehu.ingest.rows import prepare_batch
from kehu.ingest.sources import RawBatch, Source
from kehu.ingest.staging import StagedBatch, Stager
from kehu.ingest.workbook_limits import WorkbookLimits

__all__ = ["ParseJob", "ParseProcess", "available", "staged_batches"]


@dataclass(frozen=True)
class ParseJob:
    """Everything needed to read and stage one file, without the store (picklable)."""

    kind: str
    path: Path
    mapping: Mapping | None
    sheet: str | None
    chunk_rows: int
    tz: str
    currency: str
    now: dt.datetime
    encoding: str | None = None  # of a text file, when already detected
    limits: WorkbookLimits | None = None  # of a workbook (KEHU_IMPORT_XLSX_*)


def staged_batches(job: ParseJob, src: Source | None = None) -> Iterator[StagedBatch]:
    """Read, parse and stage the file's batches in order (in whichever process calls it).

    ``src``: the file, already open (else it is opened here, and closed at the end).
    """
    spec = KINDS[job.kind]
    with contextlib.ExitStack() as stack:
        if src is None:
            src = stack.enter_context(
                open_source(
                    job.path,
                    mapping=job.mapping,
                    sheet=job.sheet,
                    chunk_rows=job.chunk_rows,
                    encoding=job.encoding,
                    limits=job.limits,
                )
            )
        plan = plan_columns(spec, src.headers, job.mapping, job.path)
        stager = Stager(spec)
        for raw in _small_first(src.batches()):
            batch = prepare_batch(
                spec,
                plan,
                raw,
                mapping=job.mapping,
                tz=job.tz,
                currency=job.currency,
                now=job.now,
                path=job.path,
            )
            yield stager.stage(batch)


#: rows of the first batch: the writer starts on them while the rest of the first read block is parsed
_FIRST_ROWS = 4096


def _small_first(batches: Iterator[RawBatch]) -> Iterator[RawBatch]:
    """The same records in the same order, the first batch cut to :data:`_FIRST_ROWS` records."""
    first = True
    for raw in batches:
        if first and len(raw) > 2 * _FIRST_ROWS:
            yield RawBatch(raw.row_numbers[:_FIRST_ROWS], {k: v.slice(0, _FIRST_ROWS) for k, v in raw.columns.items()})
            raw = RawBatch(raw.row_numbers[_FIRST_ROWS:], {k: v.slice(_FIRST_ROWS) for k, v in raw.columns.items()})
        first = False
        yield raw


# -- the child's side ------------------------------------------------------------------------------------------
def _child_main(job: ParseJob, out: Connection) -> None:
    """Send ("batch", staged) messages for the whole file, then ("done",) or ("error", …)."""
    try:
        pool = pa.default_memory_pool()
        for staged in staged_batches(job):
            out.send(("batch", staged))
            del staged
            pool.release_unused()  # keep the process's footprint at about one batch
        out.send(("done",))
    except (BrokenPipeError, ConnectionResetError):  # the importer is gone: nothing to tell anyone
        return
    except ImportFileError as exc:
        _send_quietly(out, ("file_error", type(exc).__name__, exc.path, exc.problem))
    except BaseException as exc:
        _send_quietly(out, ("error", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
    finally:
        out.close()


def _send_quietly(out: Connection, message: tuple[Any, ...]) -> None:
    with contextlib.suppress(OSError):  # the importer is gone
        out.send(message)


def main() -> None:
    """``python -m kehu.ingest.parse_process FD``: read a pickled :class:`ParseJob` on stdin, answer on FD."""
    data = sys.stdin.buffer.read()
    if not data:  # the importer stopped before it had a job for this process (e.g. the file was unusable)
        return
    _child_main(pickle.loads(data), Connection(int(sys.argv[1]), readable=False))


# -- the importer's side ---------------------------------------------------------------------------------------
def available() -> bool:
    """Whether this platform can run the parsing process (POSIX pipes handed to a fresh interpreter)."""
    return os.name == "posix" and bool(sys.executable)


class ParseProcess:
    """A parsing process, started before its job is known.

    The child interpreter starts at once and loads its modules (about half a second) while the importer opens
    the file and its transaction; :meth:`staged` then hands it the job. :meth:`close` stops a child that is
    still running (safe to call more than once, and after :meth:`staged`).
    """

    def __init__(self) -> None:
        read_fd, write_fd = os.pipe()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        try:
            self._child = subprocess.Popen(
                [sys.executable, "-m", "kehu.ingest.parse_process", str(write_fd)],
                stdin=subprocess.PIPE,
                pass_fds=(write_fd,),
                env=env,
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)  # the child holds the only writing end: its exit is our end of file
        self._receive = Connection(read_fd, writable=False)

    def staged(self, job: ParseJob) -> Iterator[StagedBatch]:
        """Send the job; yield the child's batches in file order as they arrive; the child is stopped at the end.

        Raises
        ------
        ImportFileError
            The child found a file-level problem midway (e.g. a row with a different number of fields).
        KehuError
            The child failed or stopped unexpectedly; the message says which and how.
        """
        child, receive = self._child, self._receive
        try:
            assert child.stdin is not None
            with contextlib.suppress(BrokenPipeError):  # a child that died at once is reported below
                child.stdin.write(pickle.dumps(job))
                child.stdin.close()
            while True:
                try:
                    message = receive.recv()
                except (EOFError, OSError):  # no message, or the end of one cut off
                    code = child.wait(timeout=10)
                    raise KehuError(
                        f"{job.path}: the import's parsing process stopped unexpectedly (exit code {code}); "
                        "nothing was imported. Check the machine's free memory and import again."
                    ) from None
                tag = message[0]
                if tag == "batch":
                    yield message[1]
                elif tag == "done":
                    return
                elif tag == "file_error":
                    _, name, path, problem = message
                    cls = getattr(errors, name, ImportFileError)
                    raise cls(path, problem)
                else:
                    error = KehuError(f"{job.path}: reading the file failed: {message[1]}")
                    error.add_note(f"in the import's parsing process:\n{message[2]}")
                    raise error
        finally:
            self.close()

    def close(self) -> None:
        """Stop the child if it still runs and release the pipe."""
        self._receive.close()
        if self._child.poll() is None:
            self._child.terminate()
        if self._child.stdin is not None and not self._child.stdin.closed:
            with contextlib.suppress(OSError):
                self._child.stdin.close()
        self._child.wait(timeout=10)


if __name__ == "__main__":
    main()
