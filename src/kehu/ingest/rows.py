"""From a raw batch to typed canonical columns, and the reasons each rejected row was rejected.

Parsing is vectorized (``values.parse_field``); row checks are array comparisons. A row is valid when no field
failed to parse, every required field has a value and no row check failed. Nothing is dropped silently: every row
is either valid or carries at least one :class:`~kehu.ingest.quarantine.Problem`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kehu.errors import MappingError
from kehu.ingest.fields import FieldSpec, FieldType, KindSpec
from kehu.ingest.mapping import ColumnPlan, Mapping
from kehu.ingest.quarantine import Problem
from kehu.ingest.sources import RawBatch
from kehu.ingest.values import parse_field, render_template

__all__ = ["PreparedBatch", "prepare_batch"]

_CURRENCY_SYNONYMS = {
    "人民币": "CNY",
    "元": "CNY",
    "RMB": "CNY",
    "¥": "CNY",
    "￥": "CNY",
    "美元": "USD",
    "$": "USD",
    "US$": "USD",
    "欧元": "EUR",
    "€": "EUR",
    "港币": "HKD",
    "港元": "HKD",
    "日元": "JPY",
    "英镑": "GBP",
}
_EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)


@dataclass
class PreparedBatch:
    """A batch after parsing: typed values for every canonical field, problems per row."""

    raw: RawBatch
    values: dict[str, pa.Array]  # canonical field -> typed array over all rows (null where invalid/empty)
    problems: dict[int, list[Problem]]  # index in batch -> problems (rows absent here are valid)
    extras: list[str | None] | None  # per row: JSON of unmapped columns (None when the file has none)

    @property
    def valid_mask(self) -> np.ndarray:
        mask = np.ones(len(self.raw.row_numbers), dtype=bool)
        if self.problems:
            mask[np.fromiter(self.problems.keys(), dtype=np.int64)] = False
        return mask

    def raw_row(self, i: int) -> dict[str, object]:
        return {name: col[i].as_py() for name, col in self.raw.columns.items()}


def _constant(value: str, n: int) -> pa.Array:
    return pa.array([value] * n, pa.string())


def _field_input(spec: FieldSpec, plan: ColumnPlan, batch: RawBatch, n: int) -> tuple[pa.Array | None, str]:
    """The raw input array of one field and the column name to blame in messages."""
    if spec.name in plan.fields:
        col = plan.fields[spec.name]
        return batch.columns[col], col
    if spec.name in plan.defaults:
        return _constant(str(plan.defaults[spec.name]), n), f"{spec.name} (default)"
    if spec.name in plan.derived:
        named: dict[str, pa.Array] = dict(batch.columns)
        named.update({f: batch.columns[c] for f, c in plan.fields.items()})
        return render_template(plan.derived[spec.name], named, batch.row_numbers), f"{spec.name} (derived)"
    return None, spec.name


def prepare_batch(
    kind: KindSpec,
    plan: ColumnPlan,
    batch: RawBatch,
    *,
    mapping: Mapping | None,
    tz: str,
    currency: str,
    now: dt.datetime,
    path: object,
) -> PreparedBatch:
    """Parse and check one batch.

    Parameters
    ----------
    kind, plan, batch
        What is imported, which file column feeds which field, and the raw rows.
    mapping
        The mapping file (for per-field date formats), if any.
    tz, currency
        Time zone of naive times and currency of amounts without one.
    now
        The current time; event times more than a day after it are rejected as "in the future".
    path
        The file, for messages about constants from the mapping.
    """
    n = len(batch.row_numbers)
    problems: dict[int, list[Problem]] = {}
    values: dict[str, pa.Array] = {}
    if mapping is not None and mapping.timezone:
        tz = mapping.timezone

    def blame(idx: np.ndarray | list[int], column: str, raw: pa.Array | None, reason: str) -> None:
        for i in np.asarray(idx, dtype=np.int64).tolist():
            value = None if raw is None else raw[i].as_py()
            problems.setdefault(i, []).append(Problem(column, None if value is None else str(value), reason))

    blamed_column: dict[str, tuple[str, pa.Array | None]] = {}
    for spec in kind.fields:
        raw, column = _field_input(spec, plan, batch, n)
        blamed_column[spec.name] = (column, raw)
        if raw is None:
            values[spec.name] = pa.nulls(n, _arrow_type(spec))
        else:
            parsed = parse_field(spec, raw, tz=tz, date_format=mapping.date_format_for(spec.name) if mapping else None)
            if parsed.errors and spec.name in plan.defaults:
                raise MappingError(
                    path, f"default for {spec.name!r} is not valid: {next(iter(parsed.errors.values()))}"
                )
            for i, reason in parsed.errors.items():
                problems.setdefault(i, []).append(
                    Problem(column, None if raw[i].as_py() is None else str(raw[i].as_py()), reason)
                )
            values[spec.name] = parsed.values
        arr = values[spec.name]
        if spec.default is not None and arr.null_count:
            fill = parse_field(spec, _constant(spec.default, 1)).values[0]
            errored = np.zeros(n, dtype=bool)
            for i in problems:
                errored[i] = True
            fill_mask = pa.array(np.asarray(arr.is_null()) & ~errored)
            values[spec.name] = pc.if_else(fill_mask, fill, arr)
        if spec.required:
            null_rows = np.flatnonzero(np.asarray(values[spec.name].is_null())).tolist()
            missing = [i for i in null_rows if not any(p.column == column for p in problems.get(i, []))]
            if missing:
                blame(missing, column, None, f"required value missing ({spec.name})")

    if "currency" in values:
        values["currency"] = _currency(values["currency"], currency, problems, blamed_column["currency"])
    _row_checks(kind.name, values, now, blame, blamed_column)
    extras = _extras_json(batch, plan) if plan.extras else None
    return PreparedBatch(batch, values, problems, extras)


def _arrow_type(spec: FieldSpec) -> pa.DataType:
    return {
        FieldType.DATE: pa.date32(),
        FieldType.DATETIME: pa.timestamp("us", tz="UTC"),
        FieldType.MONEY: pa.int64(),
        FieldType.INT: pa.int64(),
        FieldType.TAGS: pa.list_(pa.string()),
    }.get(spec.type, pa.string())


def _currency(
    arr: pa.Array, default: str, problems: dict[int, list[Problem]], blamed: tuple[str, pa.Array | None]
) -> pa.Array:
    """Currency codes: synonyms (人民币, ¥, US$ …) mapped, codes upper-cased, empty -> ``default``.

    Each distinct value is checked once; a value that is not a three-letter code is a problem on every row
    that has it (and the row gets the default, as it is rejected anyway).
    """
    if not len(arr):
        return pa.array([], pa.string())
    encoded = pc.dictionary_encode(arr)
    codes: list[str] = []
    bad: list[bool] = []
    for v in encoded.dictionary.to_pylist():
        text = str(v).strip()
        if not text:
            codes.append(default)
            bad.append(False)
            continue
        code = _CURRENCY_SYNONYMS.get(text, text.upper())
        invalid = len(code) != 3 or not code.isalpha() or not code.isascii()
        codes.append(default if invalid else code)
        bad.append(invalid)
    indices = np.asarray(encoded.indices.fill_null(len(codes)).to_numpy())
    if any(bad):
        distinct = encoded.dictionary.to_pylist()
        for i in np.flatnonzero(np.asarray([*bad, False])[indices]).tolist():
            problems.setdefault(i, []).append(
                Problem(blamed[0], str(distinct[indices[i]]), "not a currency code (e.g. CNY, USD)")
            )
    return pa.array([*codes, default], pa.string()).take(pa.array(indices))


def _np(arr: pa.Array) -> np.ndarray:
    """Values of a numeric/temporal array as numpy with nulls as NaN-safe sentinel (int64 min)."""
    if pa.types.is_timestamp(arr.type) or pa.types.is_date(arr.type):
        arr = arr.cast(pa.int64()) if pa.types.is_timestamp(arr.type) else arr.cast(pa.int32()).cast(pa.int64())
    return np.asarray(arr.fill_null(np.iinfo(np.int64).min).to_numpy(zero_copy_only=False))


def _row_checks(
    kind: str,
    v: dict[str, pa.Array],
    now: dt.datetime,
    blame: Callable[[np.ndarray, str, pa.Array | None, str], None],
    blamed: dict[str, tuple[str, pa.Array | None]],
) -> None:
    null = np.iinfo(np.int64).min
    future = int((now + dt.timedelta(days=1)).timestamp() * 1_000_000)
    earliest = int(_EARLIEST.timestamp() * 1_000_000)

    def check(field: str, bad: np.ndarray, reason: str) -> None:
        idx = np.flatnonzero(bad)
        if idx.size:
            blame(idx, blamed[field][0], blamed[field][1], reason)

    def times(field: str) -> None:
        t = _np(v[field])
        check(field, (t != null) & (t > future), "date is in the future")
        check(field, (t != null) & (t < earliest), "date before 1900: probably a wrong date")

    if kind == "orders":
        amount = _np(v["amount"])
        check(
            "amount",
            (amount != null) & (amount < 0),
            "negative amount: record a refund as the original order with status 'refunded'",
        )
        disc = _np(v["discount"])
        check("discount", (disc != null) & (disc < 0), "negative discount")
        qty = _np(v["quantity"])
        check("quantity", (qty != null) & (qty < 1), "quantity must be at least 1")
        times("ordered_at")
        paid, ordered = _np(v["paid_at"]), _np(v["ordered_at"])
        check("paid_at", (paid != null) & (paid > future), "date is in the future")
        del ordered
    elif kind == "contracts":
        start, end = _np(v["start_date"]), _np(v["end_date"])
        check("end_date", (start != null) & (end != null) & (end < start), "contract ends before it starts")
        value = _np(v["value"])
        check("value", (value != null) & (value < 0), "negative contract value")
    elif kind == "interactions":
        times("occurred_at")
    elif kind == "tickets":
        times("opened_at")
        opened = _np(v["opened_at"])
        for f in ("first_response_at", "resolved_at"):
            t = _np(v[f])
            check(f, (t != null) & (opened != null) & (t < opened), f"{f} is before the ticket was opened")
        sat = _np(v["satisfaction"])
        check("satisfaction", (sat != null) & ((sat < 1) | (sat > 5)), "satisfaction must be 1 to 5")
    elif kind == "feedback":
        times("responded_at")
        score = _np(v["score"])
        kinds = np.asarray(v["kind"].fill_null("").to_numpy(zero_copy_only=False))
        check(
            "score",
            (score != null) & (kinds == "nps") & ((score < 0) | (score > 10)),
            "NPS score must be 0 to 10",
        )
        check(
            "score",
            (score != null) & (kinds == "csat") & ((score < 1) | (score > 5)),
            "CSAT score must be 1 to 5",
        )


def _extras_json(batch: RawBatch, plan: ColumnPlan) -> list[str | None]:
    cols = {name: batch.columns[name].to_pylist() for name in plan.extras}
    out: list[str | None] = []
    for i in range(len(batch.row_numbers)):
        d = {k: _jsonable(c[i]) for k, c in cols.items() if c[i] is not None and c[i] != ""}
        out.append(json.dumps(d, ensure_ascii=False, sort_keys=True) if d else None)
    return out


def _jsonable(x: object) -> object:
    if isinstance(x, dt.datetime | dt.date):
        return x.isoformat()
    if isinstance(x, str | int | float | bool) or x is None:
        return x
    return str(x)
