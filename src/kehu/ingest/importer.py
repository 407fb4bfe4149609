"""``import_file``: one file of one kind into the app store, in one transaction, losing nothing.

Flow per file: open and plan columns (file-level problems raise :class:`~kehu.errors.ImportFileError` before
anything is written) → per batch: parse and check (:mod:`rows`), quarantine rejected rows with their reasons,
resolve customers, then insert new rows, update changed rows and leave unchanged rows alone (row hashes).
The invariant ``read = inserted + updated + unchanged + quarantined`` is checked before committing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from queue import Empty, Full, Queue
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection, Engine, exists, insert, select, update

from kehu.config import Settings
from kehu.errors import ImportFileError, KehuError
from kehu.ingest.bulk import (
    IdAllocator,
    db_values,
    deferred_indexes,
    insert_rows,
    lookup_keys,
    row_hashes,
    tune_for_bulk,
    update_rows,
    utc_now_db,
)
from kehu.ingest.fields import KINDS, FieldType, KindSpec
from kehu.ingest.identity import PROFILE_FIELDS, match_and_merge, recompute_profiles
from kehu.ingest.mapping import Mapping, load_mapping, plan_columns
from kehu.ingest.quarantine import Problem, QuarantineWriter
from kehu.ingest.readers import open_source
from kehu.ingest.rows import PreparedBatch, prepare_batch
from kehu.store.schema import ACTIVITY_TABLES, customer_records, customers, import_runs

__all__ = ["ImportSummary", "import_file"]

Progress = Callable[[int], None]

#: files at least this big, going into a table with no rows of their source yet, build indexes once at the end
_DEFER_INDEXES_BYTES = 16 << 20


@dataclass
class ImportSummary:
    """What one import did. ``read == inserted + updated + unchanged + quarantined`` always holds."""

    kind: str
    path: str
    source: str
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    customers_created: int = 0
    merges: int = 0
    quarantine_file: str | None = None
    seconds: float = 0.0
    extras: list[str] = field(default_factory=list)

    #: the counts every import reports (and the import run records)
    COUNTS = ("read", "inserted", "updated", "unchanged", "quarantined", "customers_created")

    def counts(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.COUNTS}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _SeenKeys:
    """The keys of the rows of one file seen so far, in 24 bytes a key (64-bit key hash, row hash, row number).

    Two different keys with the same 64-bit hash (odds about 1 in 10^7 for 10^6 keys) would make the later row
    look like a repeat: it is then quarantined with its reason, never dropped silently.
    """

    def __init__(self) -> None:
        self._keys = np.empty(0, dtype=np.uint64)  # sorted key hashes
        self._hashes = np.empty(0, dtype=np.int64)
        self._rows = np.empty(0, dtype=np.int64)

    @staticmethod
    def _hash(keys: list[str]) -> np.ndarray:
        return pd.util.hash_array(np.asarray(keys, dtype=object), categorize=False)

    def find(self, keys: list[str]) -> np.ndarray:
        """Position of each key among the seen ones, or -1."""
        h = self._hash(keys)
        if not self._keys.size:
            return np.full(len(keys), -1, dtype=np.int64)
        pos = np.searchsorted(self._keys, h)
        pos_c = np.minimum(pos, self._keys.size - 1)
        return np.where(self._keys[pos_c] == h, pos_c, -1)

    def at(self, position: int) -> tuple[int, int]:
        return int(self._hashes[position]), int(self._rows[position])

    def add(self, keys: list[str], hashes: np.ndarray, rows: np.ndarray) -> None:
        if not keys:
            return
        all_keys = np.concatenate([self._keys, self._hash(keys)])
        order = np.argsort(all_keys, kind="stable")
        self._keys = all_keys[order]
        self._hashes = np.concatenate([self._hashes, hashes.astype(np.int64)])[order]
        self._rows = np.concatenate([self._rows, rows.astype(np.int64)])[order]


class _Run:
    """State of one import inside its transaction."""

    def __init__(
        self,
        conn: Connection,
        spec: KindSpec,
        source: str,
        run_id: int,
        now: dt.datetime,
        quarantine: QuarantineWriter,
        summary: ImportSummary,
    ) -> None:
        self.conn, self.spec, self.source, self.run_id, self.now = conn, spec, source, run_id, now
        self.quarantine, self.summary = quarantine, summary
        self.seen = _SeenKeys()  # keys of this file so far, with their row hash and row number
        self.customer_ids = IdAllocator(conn, customers)
        self.customer_cache: dict[str, int] = {}
        if spec.name == "customers":
            self.table, self.key_col = customer_records, "source_customer_id"
        else:
            self.table, self.key_col = ACTIVITY_TABLES[spec.name]
        self.had_rows = bool(conn.execute(select(exists().where(self.table.c.source == source))).scalar())

    # -- quarantine -------------------------------------------------------------------------------------------
    def reject(self, batch: PreparedBatch, i: int, problems: list[Problem]) -> None:
        self.quarantine.add(int(batch.raw.row_numbers[i]), problems, batch.raw_row(i))
        self.summary.quarantined += 1

    # -- keys, hashes and in-file duplicates -------------------------------------------------------------------
    def keyed_rows(self, batch: PreparedBatch) -> tuple[np.ndarray, list[str], np.ndarray]:
        """Valid row indices, their keys and hashes, after rejecting rows that contradict an earlier row."""
        for i, probs in sorted(batch.problems.items()):
            self.reject(batch, i, probs)
        valid = np.flatnonzero(batch.valid_mask)
        cols: dict[str, Any] = {name: arr.take(pa.array(valid)) for name, arr in batch.values.items()}
        if batch.extras is not None:
            cols["__extras"] = [batch.extras[i] for i in valid.tolist()]
        hashes = row_hashes(cols) if valid.size else np.zeros(0, dtype=np.int64)
        key_field = self.spec.key[0]
        keys = cols[key_field].to_pylist()
        keys = [
            k if k is not None else f"h:{h & 0xFFFFFFFFFFFFFFFF:016x}"
            for k, h in zip(keys, hashes.tolist(), strict=True)
        ]
        row_numbers = batch.raw.row_numbers[valid]
        positions = self.seen.find(keys)
        if (positions < 0).all() and not pd.Index(keys).has_duplicates:  # the usual case: all keys new
            self.seen.add(keys, hashes, row_numbers)
            return valid, keys, hashes
        keep: list[int] = []
        first_in_batch: dict[str, int] = {}
        for j, (k, h) in enumerate(zip(keys, hashes.tolist(), strict=True)):
            if positions[j] >= 0:
                prev_hash, prev_row = self.seen.at(int(positions[j]))
            elif k in first_in_batch:
                prev_hash, prev_row = int(hashes[first_in_batch[k]]), int(row_numbers[first_in_batch[k]])
            else:
                first_in_batch[k] = j
                keep.append(j)
                continue
            if prev_hash == h:
                self.summary.unchanged += 1  # the same row twice in one file
            else:
                self.reject(
                    batch,
                    int(valid[j]),
                    [
                        Problem(
                            key_field,
                            k,
                            f"{key_field} {k!r} appears again with different values (first at row {prev_row})",
                        )
                    ],
                )
        kept = np.asarray(keep, dtype=np.int64)
        self.seen.add([keys[j] for j in keep], hashes[kept], row_numbers[kept])
        idx = np.asarray(keep, dtype=np.int64)
        return valid[idx], [keys[j] for j in keep], hashes[idx]

    # -- customers referenced by activity rows -----------------------------------------------------------------
    def resolve_customers(self, source_ids: list[str]) -> list[int]:
        cache = self.customer_cache
        missing = [s for s in dict.fromkeys(source_ids) if s not in cache]
        if missing:
            found = lookup_keys(
                self.conn,
                customer_records,
                "source_customer_id",
                self.source,
                missing,
                extra=("customer_id",),
            )
            for sid, (_rid, _h, cid) in found.items():
                self.customer_cache[sid] = cid
            new = [s for s in missing if s not in found]
            if new:
                ids = self.customer_ids.take(len(new)).tolist()
                n = len(new)
                stamp = utc_now_db(self.conn, n, self.now)
                insert_rows(self.conn, customers, {"id": ids, "created_at": stamp, "updated_at": stamp})
                insert_rows(
                    self.conn,
                    customer_records,
                    {
                        "customer_id": ids,
                        "source": [self.source] * n,
                        "source_customer_id": new,
                        "import_run_id": [self.run_id] * n,
                        "created_at": stamp,
                        "updated_at": stamp,
                    },
                )
                self.customer_cache.update(zip(new, ids, strict=True))
                self.summary.customers_created += n
        codes, uniques = pd.factorize(np.asarray(source_ids, dtype=object))
        mapped = np.fromiter((self.customer_cache[s] for s in uniques), dtype=np.int64, count=len(uniques))
        return mapped[codes].tolist()

    # -- activity kinds ----------------------------------------------------------------------------------------
    def write_activity(self, batch: PreparedBatch) -> None:
        rows, keys, hashes = self.keyed_rows(batch)
        if not keys:
            return
        take = pa.array(rows)
        values = {name: arr.take(take) for name, arr in batch.values.items()}
        existing = lookup_keys(self.conn, self.table, self.key_col, self.source, keys) if self.had_rows else {}
        cust = self.resolve_customers(values["customer_id"].to_pylist())
        cols: dict[str, list[Any]] = {}
        for spec in self.spec.fields:
            if spec.name in (self.spec.key[0], "customer_id"):
                continue
            column = f"{spec.name}_cents" if spec.type is FieldType.MONEY else spec.name
            arr = values[spec.name]
            if spec.name == "is_complaint":
                arr = pa.array([None if v is None else v == "true" for v in arr.to_pylist()], pa.bool_())
            cols[column] = db_values(self.conn, arr)
        n = len(keys)
        cols["customer_id"] = cust
        cols["attributes"] = [batch.extras[i] for i in rows.tolist()] if batch.extras is not None else [None] * n
        cols["row_hash"] = hashes.tolist()
        cols["import_run_id"] = [self.run_id] * n
        cols["source_row"] = batch.raw.row_numbers[rows].tolist()
        cols["updated_at"] = utc_now_db(self.conn, n, self.now)
        new_idx, upd_idx, upd_ids = [], [], []
        for j, (k, h) in enumerate(zip(keys, hashes.tolist(), strict=True)):
            found = existing.get(k)
            if found is None:
                new_idx.append(j)
            elif found[1] == h:
                self.summary.unchanged += 1
            else:
                upd_idx.append(j)
                upd_ids.append(found[0])
        if new_idx:
            pick = (lambda col: col) if len(new_idx) == n else (lambda col: [col[j] for j in new_idx])
            ins = {name: pick(col) for name, col in cols.items()}
            ins["source"] = [self.source] * len(new_idx)
            ins[self.key_col] = pick(keys)
            ins["created_at"] = ins["updated_at"]
            self.summary.inserted += insert_rows(self.conn, self.table, ins)
        if upd_idx:
            upd = {name: [col[j] for j in upd_idx] for name, col in cols.items()}
            self.summary.updated += update_rows(self.conn, self.table, upd_ids, upd)

    # -- customers ---------------------------------------------------------------------------------------------
    def write_customers(self, batch: PreparedBatch) -> None:
        rows, keys, hashes = self.keyed_rows(batch)
        if not keys:
            return
        take = pa.array(rows)
        data_cols = {f: batch.values[f].take(take).to_pylist() for f in PROFILE_FIELDS if f in batch.values}
        existing = lookup_keys(
            self.conn, customer_records, "source_customer_id", self.source, keys, extra=("customer_id",)
        )
        touched: dict[int, dict[str, Any]] = {}
        new_keys: list[str] = []
        new_ids: list[int] = []
        new_data: list[dict[str, Any]] = []
        new_rows: list[tuple[int, int]] = []
        for j, (k, h) in enumerate(zip(keys, hashes.tolist(), strict=True)):
            data = {f: _jsonable(col[j]) for f, col in data_cols.items() if col[j] not in (None, [], "")}
            extra = batch.extras[int(rows[j])] if batch.extras is not None else None
            if extra:
                data["custom"] = json.loads(extra)
            row_no = int(batch.raw.row_numbers[rows[j]])
            found = existing.get(k)
            if found is None:
                new_keys.append(k)
                new_data.append(data)
                new_rows.append((h, row_no))
                continue
            rec_id, old_hash, cid = found
            if old_hash == h:
                self.summary.unchanged += 1
                continue
            self.conn.execute(
                update(customer_records)
                .where(customer_records.c.id == rec_id)
                .values(data=data, row_hash=h, import_run_id=self.run_id, source_row=row_no, updated_at=self.now)
            )
            if old_hash is None:
                self.summary.inserted += 1  # the customer was only referenced before; now it has a record
            else:
                self.summary.updated += 1
            touched[cid] = data
        if new_keys:
            ids = new_ids = self.customer_ids.take(len(new_keys)).tolist()
            n = len(ids)
            stamp = utc_now_db(self.conn, n, self.now)
            insert_rows(self.conn, customers, {"id": ids, "created_at": stamp, "updated_at": stamp})
            self.conn.execute(
                insert(customer_records),
                [
                    {
                        "customer_id": cid,
                        "source": self.source,
                        "source_customer_id": k,
                        "data": d,
                        "row_hash": h,
                        "import_run_id": self.run_id,
                        "source_row": r,
                        "created_at": self.now,
                        "updated_at": self.now,
                    }
                    for cid, k, d, (h, r) in zip(ids, new_keys, new_data, new_rows, strict=True)
                ],
            )
            touched.update(zip(ids, new_data, strict=True))
            self.summary.inserted += n
        dirty, merges = match_and_merge(self.conn, self.source, touched, run_id=self.run_id, now=self.now)
        self.summary.merges += merges
        # a new record that joined an existing customer did not create a customer
        self.summary.customers_created += len(_alive(self.conn, set(new_ids))) if merges else len(new_ids)
        recompute_profiles(self.conn, dirty, self.now)


_DONE = object()


def _prefetched(items: Iterator[Any], depth: int = 1) -> Iterator[Any]:
    """Iterate ``items`` in a background thread, ``depth`` items ahead.

    Reading and parsing (Arrow kernels, which release the GIL) of the next batch overlaps with writing the
    current one. An exception in the thread is raised here; stopping early stops the thread.
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


def _alive(conn: Connection, ids: set[int]) -> set[int]:
    if not ids:
        return set()
    return {r[0] for r in conn.execute(select(customers.c.id).where(customers.c.id.in_(sorted(ids))))}


def _jsonable(v: Any) -> Any:
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    return v


def import_file(
    engine: Engine,
    settings: Settings,
    kind: str,
    path: str | Path,
    *,
    mapping_path: str | Path | None = None,
    source: str | None = None,
    sheet: str | None = None,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
) -> ImportSummary:
    """Import one file of ``kind`` into the store.

    Parameters
    ----------
    engine
        The store (migrated).
    settings
        Time zone, default currency, chunk size and quarantine folder come from here.
    kind
        customers, orders, contracts, interactions, tickets or feedback.
    path
        CSV/TXT (UTF-8, UTF-8 BOM, GBK/GB18030), XLSX or Parquet file.
    mapping_path
        Optional YAML mapping (layout, header overrides, date formats, defaults, derived keys).
    source
        Name of the source system (default ``"default"``): ids are unique within a source.
    sheet
        XLSX sheet name (default: the first sheet).
    progress
        Called with the number of rows read so far after each batch.

    Raises
    ------
    ImportFileError
        The file as a whole cannot be imported; nothing was changed.
    """
    started = time.perf_counter()
    path = Path(path)
    if kind not in KINDS:
        raise ImportFileError(path, f"unknown kind {kind!r}: choose one of {', '.join(KINDS)}")
    spec = KINDS[kind]
    mapping: Mapping | None = load_mapping(mapping_path) if mapping_path else None
    if mapping is not None and getattr(mapping, "kind", None) not in (None, kind):
        raise ImportFileError(path, f"the mapping {mapping_path} is for {mapping.kind!r}, not {kind!r}")
    if mapping is not None and sheet is None:
        sheet = getattr(mapping, "sheet", None)
    source = source or "default"
    now = now or dt.datetime.now(dt.UTC)
    summary = ImportSummary(kind=kind, path=str(path), source=source)
    with open_source(path, mapping=mapping, sheet=sheet, chunk_rows=settings.import_chunk_rows) as src:
        plan = plan_columns(spec, src.headers, mapping, path)
        summary.extras = list(plan.extras)
        quarantine = QuarantineWriter(settings.quarantine_dir, path, kind, list(src.headers))
        try:
            with engine.begin() as conn:
                run_id = conn.execute(
                    insert(import_runs)
                    .values(kind=kind, path=str(path.resolve()), source=source, started_at=now)
                    .returning(import_runs.c.id)
                ).scalar_one()
                tune_for_bulk(conn)
                run = _Run(conn, spec, source, run_id, now, quarantine, summary)
                big = path.stat().st_size >= _DEFER_INDEXES_BYTES and kind != "customers" and not run.had_rows
                with deferred_indexes(conn, run.table, enabled=big):
                    prepared = (
                        prepare_batch(
                            spec,
                            plan,
                            raw,
                            mapping=mapping,
                            tz=settings.timezone,
                            currency=settings.currency,
                            now=now,
                            path=path,
                        )
                        for raw in src.batches()
                    )
                    for batch in _prefetched(prepared):
                        raw = batch.raw
                        summary.read += len(raw.row_numbers)
                        if kind == "customers":
                            run.write_customers(batch)
                        else:
                            run.write_activity(batch)
                        if progress is not None:
                            progress(summary.read)
                run.customer_ids.finish()
                quarantine.close()
                summary.quarantine_file = str(quarantine.path) if quarantine.path else None
                accounted = summary.inserted + summary.updated + summary.unchanged + summary.quarantined
                if accounted != summary.read:
                    raise KehuError(
                        f"internal error: read {summary.read} rows but accounted for {accounted}; nothing was imported"
                    )
                summary.seconds = round(time.perf_counter() - started, 3)
                conn.execute(
                    update(import_runs)
                    .where(import_runs.c.id == run_id)
                    .values(
                        finished_at=dt.datetime.now(dt.UTC),
                        **summary.counts(),
                        quarantine_file=summary.quarantine_file,
                    )
                )
        except BaseException:
            quarantine.discard()
            raise
    return summary
