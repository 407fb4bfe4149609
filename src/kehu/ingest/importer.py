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
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import Connection, Engine, exists, insert, select, update

from kehu.config import Settings
from kehu.errors import ImportFileError, KehuError, ValidationError
from kehu.i18n import refusal
from kehu.ingest.bulk import (
    IdAllocator,
    check_references,
    db_array,
    deferred_indexes,
    import_connection,
    insert_rows,
    lookup_keys,
    tune_for_bulk,
    update_rows,
    utc_now_db,
)
from kehu.ingest.fields import KINDS, KindSpec
from kehu.ingest.identity import PROFILE_FIELDS, match_and_merge, recompute_profiles
from kehu.ingest.mapping import Mapping, load_mapping, plan_columns
from kehu.ingest.parse_process import ParseJob, ParseProcess, staged_batches
from kehu.ingest.parse_process import available as parse_process_available
from kehu.ingest.quarantine import Problem, QuarantineWriter
from kehu.ingest.readers import open_source
from kehu.ingest.scope import ImportScope, outside_contacts, owners_of
from kehu.ingest.staging import StagedBatch, prefetched
from kehu.ingest.versions import keep_versions, tracked_columns
from kehu.ingest.workbook_limits import WorkbookLimits
from kehu.store.failures import translate_store_error
from kehu.store.schema import ACTIVITY_TABLES, customer_records, customers, import_runs
from kehu.store.turns import Holder, store_turn

__all__ = ["ImportSummary", "check_source_name", "import_file"]

Progress = Callable[[int], None]

#: activity files at least this big are imported in bulk: read, parsed and staged in a second process
#: (:mod:`parse_process`), references checked once per customer instead of once per row, and, going into a
#: table with no rows of their source yet, indexes built once at the end
_BULK_BYTES = 16 << 20


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
    #: earlier values of updated rows kept as versions valid until this import (:mod:`kehu.store.history`)
    versions: int = 0
    quarantine_file: str | None = None
    seconds: float = 0.0
    extras: list[str] = field(default_factory=list)

    #: the counts every import reports (and the import run records)
    COUNTS = ("read", "inserted", "updated", "unchanged", "quarantined", "customers_created")

    def counts(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.COUNTS}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
        *,
        scope: ImportScope | None = None,
        columns: dict[str, str] | None = None,
    ) -> None:
        self.conn, self.spec, self.source, self.run_id, self.now = conn, spec, source, run_id, now
        self.quarantine, self.summary = quarantine, summary
        self.scope = scope
        self.customer_sids: list[str] = []  # customer source id by code
        self.columns = columns or {}  # field -> the file's column (to name in quarantine reasons)
        self.customer_ids = IdAllocator(conn, customers)
        #: Kehu customer id by customer code (codes number the file's customer source ids in order of appearance)
        self.customer_by_code = np.empty(0, dtype=np.int64)
        if spec.name == "customers":
            self.table, self.key_col = customer_records, "source_customer_id"
        else:
            self.table, self.key_col = ACTIVITY_TABLES[spec.name]
        self.had_rows = bool(conn.execute(select(exists().where(self.table.c.source == source))).scalar())
        self.customers_known = bool(conn.execute(select(exists().where(customer_records.c.source == source))).scalar())

    # -- quarantine and in-file repeats -----------------------------------------------------------------------
    def account(self, staged: StagedBatch) -> None:
        """Count the batch's rows, quarantine its rejected rows (in file order per reason), count in-file repeats."""
        self.summary.read += staged.read
        for row_number, problems, raw in staged.rejected:
            self.quarantine.add(row_number, problems, raw)
        self.summary.quarantined += len(staged.rejected)
        self.summary.unchanged += staged.repeats

    # -- customers referenced by activity rows -----------------------------------------------------------------
    def resolve_customers(self, new_source_ids: list[str], codes: np.ndarray) -> np.ndarray:
        """Kehu customer ids per row, from the rows' customer codes (see :class:`StagedBatch`).

        ``new_source_ids`` are the customer source ids first seen in this batch, in code order: each is looked up
        (unless the source had no customer records before this import) or gets a minimal customer.
        """
        if new_source_ids:
            self.customer_sids.extend(new_source_ids)
            found = (
                lookup_keys(
                    self.conn,
                    customer_records,
                    "source_customer_id",
                    self.source,
                    new_source_ids,
                    extra=("customer_id",),
                )
                if self.customers_known
                else {}  # the source had no customer records before this import: every id is new
            )
            ids = np.empty(len(new_source_ids), dtype=np.int64)
            new_pos: list[int] = []
            for j, sid in enumerate(new_source_ids):
                hit = found.get(sid)
                if hit is None:
                    new_pos.append(j)
                else:
                    ids[j] = hit[2]
            if new_pos and self.scope is not None:  # a scoped import creates no customers from activity rows
                ids[new_pos] = -1
            elif new_pos:
                n = len(new_pos)
                created = self.customer_ids.take(n)
                ids[new_pos] = created
                created_list = created.tolist()
                stamp = utc_now_db(self.conn, n, self.now)
                insert_rows(self.conn, customers, {"id": created_list, "created_at": stamp, "updated_at": stamp})
                insert_rows(
                    self.conn,
                    customer_records,
                    {
                        "customer_id": created_list,
                        "source": [self.source] * n,
                        "source_customer_id": [new_source_ids[j] for j in new_pos],
                        "import_run_id": [self.run_id] * n,
                        "created_at": stamp,
                        "updated_at": stamp,
                    },
                )
                self.summary.customers_created += n
            self.customer_by_code = np.concatenate([self.customer_by_code, ids])
        return self.customer_by_code[codes]

    # -- activity kinds ----------------------------------------------------------------------------------------
    def write_activity(self, staged: StagedBatch) -> None:
        n = len(staged)
        if not n:
            return
        assert staged.columns is not None and staged.customers is not None and staged.customer_codes is not None
        sqlite = self.conn.dialect.name == "sqlite"
        cols = {name: db_array(arr, sqlite=sqlite) for name, arr in staged.columns.items()}
        cols["customer_id"] = self.resolve_customers(staged.customers.to_pylist(), staged.customer_codes).astype(object)
        keys = np.asarray(staged.keys.to_numpy(zero_copy_only=False), dtype=object)
        row_hashes = np.asarray(staged.hashes)
        if self.scope is not None:
            keep = self._activity_in_scope(staged, cols["customer_id"])
            if not keep.all():
                cols = {name: col[keep] for name, col in cols.items()}
                keys, row_hashes, n = keys[keep], row_hashes[keep], int(keep.sum())
                if not n:
                    return
        stamp = utc_now_db(self.conn, 1, self.now)[0]
        shared: dict[str, Any] = {"import_run_id": self.run_id, "updated_at": stamp}
        if "attributes" not in cols:
            shared["attributes"] = None
        new_idx: np.ndarray | None = None  # None: every row is new
        if self.had_rows:
            existing = lookup_keys(self.conn, self.table, self.key_col, self.source, keys.tolist())
            new_list, upd_list, upd_ids = [], [], []
            for j, (k, h) in enumerate(zip(keys.tolist(), row_hashes.tolist(), strict=True)):
                found = existing.get(k)
                if found is None:
                    new_list.append(j)
                elif found[1] == h:
                    self.summary.unchanged += 1
                else:
                    upd_list.append(j)
                    upd_ids.append(found[0])
            if upd_list:
                upd = np.asarray(upd_list, dtype=np.int64)
                changed = {name: col[upd].tolist() for name, col in cols.items()}
                tracked = tracked_columns(self.table.name)
                if tracked:  # keep the values this import replaces, valid until now
                    incoming = list(zip(*(changed[name] for name in tracked), strict=True))
                    self.summary.versions += keep_versions(
                        self.conn, self.table.name, upd_ids, incoming, run_id=self.run_id, now=self.now
                    )
                changed.update({name: [value] * upd.size for name, value in shared.items()})
                self.summary.updated += update_rows(self.conn, self.table, upd_ids, changed)
            if len(new_list) < n:
                new_idx = np.asarray(new_list, dtype=np.int64)
        if new_idx is not None and not new_idx.size:
            return
        ins = cols if new_idx is None else {name: col[new_idx] for name, col in cols.items()}
        ins[self.key_col] = keys if new_idx is None else keys[new_idx]
        shared.update(source=self.source, created_at=stamp)
        self.summary.inserted += insert_rows(self.conn, self.table, ins, constants=shared)

    # -- customers ---------------------------------------------------------------------------------------------
    def write_customers(self, staged: StagedBatch) -> None:
        batch, rows, keys, hashes = staged.batch, staged.rows, staged.keys.to_pylist(), staged.hashes
        if not keys:
            return
        assert batch is not None
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
        owners, contacts = self._scope_facts(existing, data_cols)
        for j, (k, h) in enumerate(zip(keys, hashes.tolist(), strict=True)):
            data = {f: _jsonable(col[j]) for f, col in data_cols.items() if col[j] not in (None, [], "")}
            extra = batch.extras[int(rows[j])] if batch.extras is not None else None
            if extra:
                data["custom"] = json.loads(extra)
            row_no = int(batch.raw.row_numbers[rows[j]])
            found = existing.get(k)
            if self.scope is not None and (found is None or found[1] != h):
                problems = self._outside_scope(k, data, found, owners, contacts)
                if problems:
                    self.quarantine.add(row_no, problems, batch.raw_row(int(rows[j])))
                    self.summary.quarantined += 1
                    continue
                if found is None and not data.get("owner"):
                    data["owner"] = self.scope.default_owner
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

    def _activity_in_scope(self, staged: StagedBatch, customer_ids: np.ndarray) -> np.ndarray:
        """For a scoped import: which rows of an activity batch belong to a customer within the scope; the others
        are quarantined (with the customer id column and value)."""
        assert self.scope is not None and staged.customer_codes is not None
        known = [int(c) for c in customer_ids.tolist() if int(c) >= 0]
        owners = owners_of(self.conn, known)
        keep = np.array([int(c) >= 0 and owners.get(int(c)) in self.scope.owner_ids for c in customer_ids.tolist()],
                        dtype=bool)  # fmt: skip
        column = self.columns.get("customer_id", "customer_id")
        for i in np.flatnonzero(~keep).tolist():
            sid = self.customer_sids[int(staged.customer_codes[i])]
            key = "customer" if int(customer_ids[i]) >= 0 else "unknown_customer"
            problem = Problem(column, sid, self.scope.reason(key, key=sid))
            self.quarantine.add(int(staged.source_rows[i]), [problem], {column: sid})
            self.summary.quarantined += 1
        return keep

    def _scope_facts(
        self, existing: dict[str, tuple[Any, ...]], data_cols: dict[str, list[Any]]
    ) -> tuple[dict[int, int | None], set[tuple[str, str]]]:
        """For a scoped import: the owners of the batch's known customers, and the batch's phones and e-mails
        held by customers outside the scope (see :mod:`kehu.ingest.scope`)."""
        if self.scope is None:
            return {}, set()
        owners = owners_of(self.conn, [int(found[2]) for found in existing.values()])
        phones = [str(v) for v in data_cols.get("phone", []) if v]
        emails = [str(v) for v in data_cols.get("email", []) if v]
        return owners, outside_contacts(self.conn, self.scope, self.source, phones, emails)

    def _outside_scope(
        self,
        key: str,
        data: dict[str, Any],
        found: tuple[Any, ...] | None,
        owners: dict[int, int | None],
        contacts: set[tuple[str, str]],
    ) -> list[Problem]:
        """Why a scoped import may not write this customer row (nothing: it may)."""
        assert self.scope is not None
        problems: list[Problem] = []
        col = self.columns.get
        if found is not None and owners.get(int(found[2])) not in self.scope.owner_ids:
            problems.append(Problem(col("customer_id", "customer_id"), key, self.scope.reason("customer", key=key)))
        owner = data.get("owner")
        if owner and owner not in self.scope.owner_names:
            problems.append(Problem(col("owner", "owner"), str(owner), self.scope.reason("owner", owner=owner)))
        for field_name in ("phone", "email"):
            value = data.get(field_name)
            if value and (field_name, str(value)) in contacts:
                problems.append(Problem(col(field_name, field_name), str(value), self.scope.reason("contact")))
        return problems


def _alive(conn: Connection, ids: set[int]) -> set[int]:
    if not ids:
        return set()
    return {r[0] for r in conn.execute(select(customers.c.id).where(customers.c.id.in_(sorted(ids))))}


def _jsonable(v: Any) -> Any:
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    return v


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # opening it says what is wrong
        return 0


@contextlib.contextmanager
def _parsing_process(wanted: bool) -> Iterator[ParseProcess | None]:
    """A parsing process started now (its interpreter loads while the file and the transaction open), or None."""
    process = ParseProcess() if wanted else None
    try:
        yield process
    finally:
        if process is not None:
            process.close()


_SOURCE_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def check_source_name(source: str) -> None:
    """Raise :class:`ValidationError` unless ``source`` is 1-64 letters, digits, ``_``, ``-`` or ``.`` (the whole
    name: a trailing line break or a control character is refused too)."""
    if not _SOURCE_NAME.fullmatch(source):
        raise refusal(ValidationError, "limits.import.source_name", name=ascii(source[:70]), limit=64)


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
    parse_process: bool | None = None,
    on_wait: Callable[[Holder], None] | None = None,
    scope: ImportScope | None = None,
    user_id: int | None = None,
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
    now
        The time the import counts as "now" (default: the current time).
    parse_process
        Read, parse and stage the file in a second process while this one writes (see :mod:`parse_process`).
        Default: for files of an activity kind of at least 16 MB, where the process's start-up (about half a
        second) pays off.
    on_wait
        Called with the holder when another import or run has the store's turn and this import waits for it
        (:func:`kehu.store.turns.store_turn`; at most ``KEHU_STORE_WAIT_SECONDS``).
    scope
        What the import may touch (:class:`~kehu.ingest.scope.ImportScope`; ``None``: everything). Rows of a
        customers import outside it are quarantined with their reason; a scoped import of an activity kind
        quarantines every row of a customer outside the scope or not yet known.
    user_id
        The user who started the import (recorded on the import run; ``None``: the command line).

    Raises
    ------
    ImportFileError
        The file as a whole cannot be imported; nothing was changed.
    StoreBusyError
        Another import or run kept the store's turn for ``KEHU_STORE_WAIT_SECONDS``; nothing was changed.
    StoreFullError
        The disk filled up during the import; its transaction was rolled back and nothing was changed.
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
    check_source_name(source)
    now = now or dt.datetime.now(dt.UTC)
    summary = ImportSummary(kind=kind, path=str(path), source=source)
    # a big file of an activity kind: the importer guarantees the rows' references (customers it looked up or
    # created in this transaction, this import run) and checks them once per customer before committing
    bulk = kind != "customers" and _file_size(path) >= _BULK_BYTES
    if parse_process is None:
        parse_process = bulk and parse_process_available()
    limits = WorkbookLimits.from_settings(settings)
    with (
        _parsing_process(parse_process) as early,
        open_source(path, mapping=mapping, sheet=sheet, chunk_rows=settings.import_chunk_rows, limits=limits) as src,
    ):
        plan = plan_columns(spec, src.headers, mapping, path)
        summary.extras = list(plan.extras)
        quarantine = QuarantineWriter(settings.quarantine_dir, path, kind, list(src.headers))
        try:
            with (
                store_turn(engine, "import", wait_seconds=settings.store_wait_seconds, on_wait=on_wait),
                import_connection(engine, bulk=bulk) as conn,
                conn.begin(),
            ):
                run_id = conn.execute(
                    insert(import_runs)
                    .values(kind=kind, path=str(path.resolve()), source=source, started_at=now, user_id=user_id)
                    .returning(import_runs.c.id)
                ).scalar_one()
                run = _Run(conn, spec, source, run_id, now, quarantine, summary, scope=scope, columns=plan.fields)
                big = bulk and not run.had_rows
                tune_for_bulk(conn, appending=big)
                job = ParseJob(
                    kind,
                    path,
                    mapping,
                    sheet,
                    settings.import_chunk_rows,
                    settings.timezone,
                    settings.currency,
                    now,
                    encoding=src.encoding,
                    limits=limits,
                )
                batches = early.staged(job) if early is not None else staged_batches(job, src)
                with deferred_indexes(conn, run.table, enabled=big):
                    for staged in prefetched(batches):
                        run.account(staged)
                        if kind == "customers":
                            run.write_customers(staged)
                        else:
                            run.write_activity(staged)
                        if progress is not None:
                            progress(summary.read)
                run.customer_ids.finish()
                if bulk and conn.dialect.name == "sqlite":
                    check_references(conn, customers, run.customer_by_code, f"{kind} rows")
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
        except BaseException as exc:
            quarantine.discard()
            # (bulk inserts on SQLite go straight to the driver: its own errors are looked at too)
            translated = translate_store_error(exc) if isinstance(exc, Exception) else None
            if translated is exc:
                translated = None
            if translated is not None:  # a full disk, a locked or unreachable store: said for people
                raise translated from exc
            raise
    return summary
