"""Point-in-time training data for the churn, propensity and cross-sell models.

:func:`build_snapshots` works on the store extracted once into the analytics engine (by the training run,
:class:`kehu.publish.run.Run`: everything, no cut-off) and, for each requested day, runs the pipeline's
feature steps *as of that day* (they see nothing later, and read orders and contracts with the values they had
that day: :mod:`kehu.engine.point_in_time`) and the outcome expressions of :mod:`kehu.pipeline.outcomes` (which
deliberately look after it, with the values known now). The result is one
:class:`Snapshot` per day: the features exactly as ``kehu run`` would have published them that day, and the
labels.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

__all__ = [
    "FEATURE_STEPS",
    "Snapshot",
    "arrow_columns",
    "build_snapshots",
    "category_matrix",
    "data_end",
]

#: the pipeline steps that produce ``customer_features`` (cohorts are not needed here)
FEATURE_STEPS = (
    "customer_base",
    "order_facts",
    "purchase_summary",
    "purchase_features",
    "engagement_features",
    "customer_features",
)


@dataclass
class Snapshot:
    """Features and outcomes of every customer known on one day.

    Attributes
    ----------
    as_of
        The snapshot day.
    customer_id
        Customer ids (sorted).
    columns
        Feature name -> float array (NaN where the pipeline published NULL); plus ``top_category``.
    outcomes
        ``churned``, ``ordered_in_horizon``, ``ordered_in_short``, ``up_for_renewal``, ``renewed`` (bool arrays).
    history, bought
        Long tables for cross-sell: (customer_id, category, weight) and (customer_id, category).
    """

    as_of: dt.date
    customer_id: np.ndarray
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    outcomes: dict[str, np.ndarray] = field(default_factory=dict)
    history: pa.Table | None = None
    bought: pa.Table | None = None

    def __len__(self) -> int:
        return int(self.customer_id.size)


def arrow_columns(table: pa.Table) -> dict[str, np.ndarray]:
    """Arrow columns as NumPy: numbers as float64 with NaN for NULL, strings/dates as object arrays."""
    out: dict[str, np.ndarray] = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
            out[name] = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
            out[name] = np.where(pc.is_null(col).to_numpy(zero_copy_only=False), np.nan, out[name])
        elif pa.types.is_boolean(col.type):
            out[name] = pc.fill_null(col, False).to_numpy(zero_copy_only=False).astype(bool)
        else:
            out[name] = np.asarray(col.to_pylist(), dtype=object)
    return out


def data_end(backend: BaseBackend, tables: dict[str, ir.Table]) -> dt.date:
    """The day of the latest order in the store."""
    from kehu.pipeline import default_as_of

    return default_as_of(backend, tables)


def features_as_of(backend: BaseBackend, tables: dict[str, ir.Table], as_of: dt.date) -> pa.Table:
    """The pipeline's ``customer_features`` as of ``as_of`` (fetched, ordered by customer), from the values orders
    and contracts had that day."""
    from kehu import pipeline
    from kehu.engine.point_in_time import values_as_of

    steps = tuple(s for s in pipeline.STEPS if s.name in FEATURE_STEPS)
    output = pipeline.run(backend, values_as_of(tables, as_of), as_of, steps=steps)
    return output.to_arrow("customer_features")


def build_snapshots(
    backend: BaseBackend,
    tables: dict[str, ir.Table],
    days: list[dt.date],
    *,
    horizon_days: int,
    short_days: int,
    grace_days: int,
    with_categories: bool = True,
) -> list[Snapshot]:
    """One :class:`Snapshot` per day in ``days`` (see the module docstring)."""
    from kehu.engine.backends import to_arrow
    from kehu.engine.point_in_time import values_as_of
    from kehu.pipeline.outcomes import categories_bought, category_history, outcomes

    snapshots = []
    for day in days:
        features = features_as_of(backend, tables, day)
        labels = to_arrow(
            backend,
            outcomes(tables, day, horizon_days=horizon_days, short_days=short_days, grace_days=grace_days).order_by(
                "customer_id"
            ),
        )
        ids = features.column("customer_id").to_numpy()
        if not np.array_equal(labels.column("customer_id").to_numpy(), ids):
            raise AssertionError(f"outcomes and features disagree on the customers known on {day}")
        cols = arrow_columns(features.drop_columns(["customer_id"]))
        out = arrow_columns(labels.drop_columns(["customer_id"]))
        snap = Snapshot(as_of=day, customer_id=ids.astype(np.int64), columns=cols, outcomes=out)
        if with_categories:
            snap.history = to_arrow(backend, category_history(values_as_of(tables, day)["orders"], day))
            snap.bought = to_arrow(backend, categories_bought(tables["orders"], day, horizon_days))
        snapshots.append(snap)
    return snapshots


def category_matrix(
    ids: np.ndarray, table: pa.Table | None, categories: list[str], value: str | None = None
) -> np.ndarray:
    """A long (customer_id, category[, value]) table as a (customers x categories) matrix in ``ids`` order."""
    m = np.zeros((ids.size, len(categories)))
    if table is None or table.num_rows == 0:
        return m
    index = {c: j for j, c in enumerate(categories)}
    cid = table.column("customer_id").to_numpy()
    cat = table.column("category").to_pylist()
    vals: Any = table.column(value).to_numpy() if value else np.ones(cid.size)
    rows = np.searchsorted(ids, cid)
    ok = (rows < ids.size) & (ids[np.minimum(rows, ids.size - 1)] == cid)
    cols = np.array([index.get(c, -1) for c in cat], dtype=np.int64)
    ok &= cols >= 0
    np.add.at(m, (rows[ok], cols[ok]), vals[ok])
    return m
