"""Pipeline steps: pure functions from Ibis tables to one Ibis table, with a declared grain and columns.

A step builds an expression and never executes it; :func:`kehu.pipeline.run` materialises each step's
output in the engine and then audits it: the declared columns and types are exactly the output's, the grain
is unique and the grain's columns are never NULL.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kehu.engine.backends import capabilities, distinct_in_range, to_arrow
from kehu.errors import ValidationError

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

__all__ = ["AuditError", "Context", "Step", "audit", "int64", "left_join"]


class AuditError(ValidationError):
    """A step's output broke its declaration (columns, types, unique grain or not-null keys)."""


@dataclass(frozen=True)
class Context:
    """What every step may know besides its input tables: the day the features are computed as of.

    ``as_of`` is a whole local day (the engine holds wall-clock times in the workspace time zone): everything
    dated on it counts, nothing dated after it does.
    """

    as_of: dt.date

    @property
    def cutoff(self) -> dt.datetime:
        """The first instant after ``as_of`` (naive local time): include rows with ``time < cutoff``."""
        return dt.datetime.combine(self.as_of + dt.timedelta(days=1), dt.time())

    def cutoff_value(self) -> ir.TimestampScalar:
        """:attr:`cutoff` as an Ibis timestamp literal."""
        import ibis

        return ibis.timestamp(self.cutoff)

    def as_of_value(self) -> ir.DateScalar:
        """``as_of`` as an Ibis date literal."""
        import ibis

        return ibis.date(self.as_of.year, self.as_of.month, self.as_of.day)

    def days_ago(self, days: int) -> ir.DateScalar:
        """The date ``days`` before ``as_of``, as an Ibis literal."""
        import ibis

        day = self.as_of - dt.timedelta(days=days)
        return ibis.date(day.year, day.month, day.day)

    def days_since(self, day: ir.DateValue) -> ir.IntegerValue:
        """Whole days from ``day`` to ``as_of`` (both dates, so the engines agree)."""
        return self.as_of_value().delta(day, unit="day").cast("int64")

    @property
    def month_index(self) -> int:
        """``as_of``'s month as ``year * 12 + month``."""
        return self.as_of.year * 12 + self.as_of.month


StepFunction = Callable[[Mapping[str, "ir.Table"], Context], "ir.Table"]


@dataclass(frozen=True)
class Step:
    """One named pipeline step.

    Attributes
    ----------
    name
        Unique name; also the name later steps use for its output.
    inputs
        Names of the tables (extracted tables or earlier steps' outputs) the step reads.
    grain
        Columns that identify one output row.
    columns
        Output columns in order, name -> Ibis type string (``"int64"``, ``"float64"``, ``"date"`` ...).
    build
        ``build(tables, context) -> ibis.Table``: pure, no execution.
    description
        One line for progress displays and documentation.
    not_null
        Further columns that must never be NULL.
    persist
        Keep the output as a table (``True``) or as a view recomputed by each reader (``False``: for cheap
        row-level steps over large inputs, where a copy would cost more memory than recomputing, and for
        outputs read once, where writing a copy costs more than computing them). A view's inputs stay in
        the engine as long as the view does.
    """

    name: str
    inputs: tuple[str, ...]
    grain: tuple[str, ...]
    columns: Mapping[str, str]
    build: StepFunction
    description: str = ""
    not_null: tuple[str, ...] = field(default=())
    persist: bool = True

    def expression(self, tables: Mapping[str, ir.Table], context: Context) -> ir.Table:
        """Build the step's expression from ``tables`` (which must hold every name in :attr:`inputs`)."""
        missing = [name for name in self.inputs if name not in tables]
        if missing:
            raise ValidationError(f"step {self.name!r} needs table(s) {', '.join(missing)}")
        expr = self.build({name: tables[name] for name in self.inputs}, context)
        return expr.select(*self.columns)


def left_join(left: ir.Table, right: ir.Table, keys: str | list[str]) -> ir.Table:
    """``left`` LEFT JOIN ``right`` on equal ``keys``, keeping one copy of the keys (the left one)."""
    names = [keys] if isinstance(keys, str) else list(keys)
    predicates = [left[k] == right[k] for k in names]
    joined = left.left_join(right, predicates)
    return joined.select(*[left[c] for c in left.columns], *[right[c] for c in right.columns if c not in names])


def int64(value: ir.IntegerValue) -> ir.IntegerValue:
    """``value`` as int64 on every engine, also where Ibis already types it int64.

    Ibis drops a cast it considers a no-op, but some values it types int64 are int32 on Spark (ranks,
    ``year()`` sums): casting through int32 first keeps the final cast in the SQL. Only for values that fit
    in 32 bits (ranks, counts of days, month indexes).
    """
    return value.cast("int32").cast("int64")


def _type_name(dtype: object) -> str:
    """Ibis type name without the marks that differ by engine: non-nullable ``!``, timestamp precision."""
    text = str(dtype).removeprefix("!")
    return re.sub(r"^timestamp\(\d\)$", "timestamp", text)


def audit(step: Step, table: ir.Table, backend: BaseBackend) -> dict[str, int]:
    """Check a materialised step output against the step's declaration.

    Parameters
    ----------
    step
        The step that produced ``table``.
    table
        Its materialised output.
    backend
        The backend ``table`` lives in.

    Returns
    -------
    dict[str, int]
        ``{"rows": n}`` for progress reports.

    Raises
    ------
    AuditError
        Naming the step and what was wrong: a column or type that differs from the declaration, a grain
        value that occurs more than once, or a NULL in a grain or ``not_null`` column.
    """
    actual = {name: _type_name(dtype) for name, dtype in table.schema().items()}
    if actual != dict(step.columns):
        diff = {
            name: (step.columns.get(name), actual.get(name))
            for name in set(actual) | set(step.columns)
            if step.columns.get(name) != actual.get(name)
        }
        raise AuditError(f"step {step.name!r}: columns differ from the declaration (declared, actual): {diff}")
    keys = (*step.grain, *step.not_null)
    counts = {"rows": table.count()}
    for key in keys:
        counts[f"null_{key}"] = table[key].isnull().sum()
    dense = _dense_key(step, table, backend)
    if dense:
        # a single integer key: its range first, then (when small) a bitmap of the values instead of a GROUP BY
        key = table[step.grain[0]]
        counts |= {"key_min": key.min(), "key_max": key.max(), "key_count": key.count()}
        row = to_arrow(backend, table.aggregate(**counts)).to_pylist()[0]
    else:
        groups = table.group_by(list(step.grain)).aggregate(n=table.count())
        duplicates = groups.aggregate(duplicates=(groups.n - 1).sum())
        # one query (one engine job) for all checks
        row = to_arrow(backend, table.aggregate(**counts).cross_join(duplicates)).to_pylist()[0]
    for key in keys:
        if row[f"null_{key}"]:
            raise AuditError(f"step {step.name!r}: {row[f'null_{key}']} row(s) have NULL in key column {key!r}")
    if dense:
        row["duplicates"] = _duplicates_in_range(step, table, backend, row)
    if row["duplicates"]:
        raise AuditError(
            f"step {step.name!r}: grain ({', '.join(step.grain)}) is not unique: "
            f"{row['duplicates']} duplicate row(s) in {row['rows']}"
        )
    return {"rows": int(row["rows"])}


#: the widest key range the audit checks with a bitmap (bits; 32 MB), and at most this many bits per row
_BITMAP_BITS = 1 << 28
_BITS_PER_ROW = 64


def _dense_key(step: Step, table: ir.Table, backend: BaseBackend) -> bool:
    """Whether the grain is one integer column on an engine that can count distinct values with a bitmap."""
    return len(step.grain) == 1 and table[step.grain[0]].type().is_integer() and capabilities(backend).bitmap_distinct


def _duplicates_in_range(step: Step, table: ir.Table, backend: BaseBackend, row: dict[str, int]) -> int:
    """Duplicate values of the single integer grain column: non-NULL values minus distinct values."""
    count, low, high = row["key_count"], row["key_min"], row["key_max"]
    if not count:
        return 0
    span = high - low + 1
    if span <= min(_BITMAP_BITS, max(_BITS_PER_ROW * count, 1 << 20)):
        return int(count - distinct_in_range(backend, table, step.grain[0], low, high))
    # a sparse key: group by it
    groups = table.group_by(list(step.grain)).aggregate(n=table.count())
    found = to_arrow(backend, groups.aggregate(duplicates=(groups.n - 1).sum())).column("duplicates")[0].as_py()
    return int(found or 0)
