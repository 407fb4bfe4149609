"""The part of an import that needs no database: keys, row hashes, in-file repeats and write-ready columns.

``Stager.stage`` runs on each parsed batch in file order, in the reader thread (:func:`prefetched`), so that
this work overlaps with the writes of the previous batch in the importer's thread. It decides nothing that
depends on the store: which rows are new, changed or unchanged against the store, and which customers exist,
is the importer's business. What it hands over (:class:`StagedBatch`) is applied by the importer in order.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from queue import Empty, Full, Queue
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from kehu.ingest.fields import FieldType, KindSpec
from kehu.ingest.hashing import row_hashes
from kehu.ingest.quarantine import Problem
from kehu.ingest.rows import PreparedBatch

__all__ = ["SeenKeys", "StagedBatch", "Stager", "prefetched"]


class SeenKeys:
    """The keys of the rows of one file seen so far, in 24 bytes a key (64-bit key hash, row hash, row number).

    Two different keys with the same 64-bit hash (odds about 1 in 10^7 for 10^6 keys) would make the later row
    look like a repeat: it is then quarantined with its reason, never dropped silently.
    """

    def __init__(self) -> None:
        self._keys = np.empty(0, dtype=np.uint64)  # sorted key hashes
        self._hashes = np.empty(0, dtype=np.int64)
        self._rows = np.empty(0, dtype=np.int64)

    @staticmethod
    def hash(keys: np.ndarray | pa.Array) -> np.ndarray:
        """64-bit hashes of keys (str objects, or an Arrow string array: hashed by its bytes, the same hash)."""
        if isinstance(keys, pa.Array):
            return pd.util.hash_array(keys.cast(pa.binary()).to_numpy(zero_copy_only=False), categorize=False)
        return pd.util.hash_array(np.asarray(keys, dtype=object), categorize=False)

    def find(self, hashed: np.ndarray) -> np.ndarray:
        """Position of each (hashed) key among the seen ones, or -1."""
        if not self._keys.size:
            return np.full(len(hashed), -1, dtype=np.int64)
        pos = np.searchsorted(self._keys, hashed)
        pos_c = np.minimum(pos, self._keys.size - 1)
        return np.where(self._keys[pos_c] == hashed, pos_c, -1)

    def at(self, position: int) -> tuple[int, int]:
        return int(self._hashes[position]), int(self._rows[position])

    def add(self, hashed: np.ndarray, hashes: np.ndarray, rows: np.ndarray) -> None:
        if not hashed.size:
            return
        order = np.argsort(hashed, kind="stable")
        new_keys, new_hashes, new_rows = hashed[order], hashes.astype(np.int64)[order], rows.astype(np.int64)[order]
        # merge two sorted runs: the new keys go after equal old ones (a 64-bit collision keeps both)
        at = np.searchsorted(self._keys, new_keys, side="right")
        self._keys = np.insert(self._keys, at, new_keys)
        self._hashes = np.insert(self._hashes, at, new_hashes)
        self._rows = np.insert(self._rows, at, new_rows)


@dataclass
class StagedBatch:
    """One parsed batch, ready for the store.

    ``read`` counts the batch's records; ``rejected`` holds the rows to quarantine (row number, problems, raw
    values) in the order to write them; ``repeats`` counts rows identical to an earlier row of the same file
    (reported as unchanged). The other fields describe the rows to write, all in the same order: their index
    in the batch, key, row hash and row number. For activity kinds, ``columns`` holds each table column's values
    in Arrow (times still typed: the writer turns them into the DBAPI's parameters with
    :func:`~kehu.ingest.bulk.db_array`; ``customer_id`` is filled in by the importer). Customer source ids
    are numbered in order of first appearance in the file (their *codes*): ``customer_codes`` holds each row's,
    ``customers`` the ids first seen in this batch, in code order (the importer resolves only those).

    An activity batch holds only Arrow and numpy arrays and plain values, so it crosses a process boundary
    cheaply (:mod:`kehu.ingest.parse_process`); ``batch``, the parsed batch itself, is kept only for the
    customers kind, whose writer needs every parsed field.
    """

    read: int
    rejected: list[tuple[int, list[Problem], dict[str, object]]]
    repeats: int
    rows: np.ndarray
    keys: pa.Array
    hashes: np.ndarray
    source_rows: np.ndarray
    batch: PreparedBatch | None = None
    columns: dict[str, pa.Array] | None = None
    customers: pa.Array | None = None
    customer_codes: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.rows)


class Stager:
    """Stages the batches of one file, in order (it remembers the keys seen so far)."""

    def __init__(self, spec: KindSpec) -> None:
        self.spec = spec
        self.customers_seen = pa.array([], pa.string())  # customer source ids by code (order of first appearance)
        self.seen = SeenKeys()

    def stage(self, batch: PreparedBatch) -> StagedBatch:
        rejects = [(i, probs) for i, probs in sorted(batch.problems.items())]
        n_read = len(batch.raw.row_numbers)
        valid = np.flatnonzero(batch.valid_mask)
        if valid.size == n_read:
            values = dict(batch.values)
        else:
            take = pa.array(valid)
            values = {name: arr.take(take) for name, arr in batch.values.items()}
        cols: dict[str, Any] = dict(values)
        if batch.extras is not None:
            cols["__extras"] = [batch.extras[i] for i in valid.tolist()]
        hashes = row_hashes(cols) if valid.size else np.zeros(0, dtype=np.int64)
        key_field = self.spec.key[0]
        key_arr = values[key_field]
        if key_arr.null_count:  # a row without a key is known by its content
            missing = np.flatnonzero(np.asarray(key_arr.is_null()))
            made = [f"h:{int(hashes[j]) & 0xFFFFFFFFFFFFFFFF:016x}" for j in missing.tolist()]
            mask = np.zeros(len(key_arr), dtype=bool)
            mask[missing] = True
            key_arr = pc.replace_with_mask(key_arr, pa.array(mask), pa.array(made, pa.string()))
        row_numbers = batch.raw.row_numbers[valid]
        hashed = self.seen.hash(key_arr)
        positions = self.seen.find(hashed)
        repeats = 0
        keep: np.ndarray | None = None
        # a key seen before, or twice in this batch (equal hashes: checked on the keys themselves below)
        if (positions >= 0).any() or np.unique(hashed).size < hashed.size:
            keys = np.asarray(key_arr.to_numpy(zero_copy_only=False), dtype=object)
            kept: list[int] = []
            first_in_batch: dict[str, int] = {}
            for j, (k, h) in enumerate(zip(keys.tolist(), hashes.tolist(), strict=True)):
                if positions[j] >= 0:
                    prev_hash, prev_row = self.seen.at(int(positions[j]))
                elif k in first_in_batch:
                    prev_hash, prev_row = int(hashes[first_in_batch[k]]), int(row_numbers[first_in_batch[k]])
                else:
                    first_in_batch[k] = j
                    kept.append(j)
                    continue
                if prev_hash == h:
                    repeats += 1  # the same row twice in one file
                else:
                    message = f"{key_field} {k!r} appears again with different values (first at row {prev_row})"
                    rejects.append((int(valid[j]), [Problem(key_field, k, message)]))
            keep = np.asarray(kept, dtype=np.int64)
            key_arr = key_arr.take(pa.array(keep))
            valid, hashes, hashed, row_numbers = valid[keep], hashes[keep], hashed[keep], row_numbers[keep]
        self.seen.add(hashed, hashes, row_numbers)
        rejected = [(int(batch.raw.row_numbers[i]), probs, batch.raw_row(i)) for i, probs in rejects]
        staged = StagedBatch(n_read, rejected, repeats, valid, key_arr, hashes, row_numbers)
        if self.spec.name == "customers":
            staged.batch = batch
        elif valid.size:
            if keep is not None:
                take = pa.array(keep)
                values = {name: arr.take(take) for name, arr in values.items()}
            self._activity_columns(staged, batch, values)
        return staged

    def _activity_columns(self, staged: StagedBatch, batch: PreparedBatch, values: dict[str, pa.Array]) -> None:
        """The values of every column an activity table gets from the file, in Arrow."""
        columns: dict[str, pa.Array] = {}
        for spec in self.spec.fields:
            if spec.name in (self.spec.key[0], "customer_id"):
                continue
            column = f"{spec.name}_cents" if spec.type is FieldType.MONEY else spec.name
            arr = values[spec.name]
            if spec.name == "is_complaint":
                arr = pc.equal(arr, "true")
            columns[column] = arr
        if batch.extras is not None:  # without extras, every row's attributes are NULL
            columns["attributes"] = pa.array([batch.extras[i] for i in staged.rows.tolist()], pa.string())
        columns["row_hash"] = pa.array(staged.hashes)
        columns["source_row"] = pa.array(staged.source_rows)
        encoded = pc.dictionary_encode(values["customer_id"])  # distinct ids in order of first appearance
        distinct = encoded.dictionary
        codes = np.asarray(
            pc.index_in(distinct, value_set=self.customers_seen).fill_null(-1).to_numpy(zero_copy_only=False),
            dtype=np.int64,
        )
        fresh = np.flatnonzero(codes < 0)
        first_seen = distinct.take(pa.array(fresh))
        if fresh.size:
            codes[fresh] = np.arange(len(self.customers_seen), len(self.customers_seen) + fresh.size)
            self.customers_seen = pa.concat_arrays([self.customers_seen, first_seen])
        staged.columns = columns
        staged.customer_codes = codes[np.asarray(encoded.indices.to_numpy(zero_copy_only=False))]
        staged.customers = first_seen


_DONE = object()


def prefetched(items: Iterator[Any], depth: int = 1) -> Iterator[Any]:
    """Iterate ``items`` in a background thread, ``depth`` items ahead.

    Reading, parsing and staging the next batch (much of it in Arrow kernels and SQLite calls that release the
    GIL) overlaps with writing the current one. An exception in the thread is raised here; stopping early stops
    the thread.
    """
    queue: Queue[Any] = Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        queue.put(item, timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put(_DONE)
        except BaseException as exc:  # handed to the consumer
            queue.put(exc)
        finally:  # a generator stopped early runs its own clean-up now, in this thread
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=work, name="kehu-import-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            with contextlib.suppress(Empty):
                queue.get(timeout=0.1)
        thread.join()
