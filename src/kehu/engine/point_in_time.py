"""The values of orders and contracts as they stood on a past day, from the versions re-imports kept.

The store keeps an order's status and amounts and a contract's end date, status and value as current values,
and every version a re-import replaced in ``order_history`` / ``contract_history`` (:mod:`kehu.store.history`)
with the span ``[valid_from, valid_to)`` it was the stored value. :func:`values_as_of` gives the extracted
``orders`` and ``contracts`` with those columns as they were at the end of a day: the version valid at that
moment where there is one, else the current values (a row's versions end where its current values begin). It
also drops the versions replaced after that day from the history tables it hands on, so that the tables say
nothing the day could not know, and applying it again for an earlier day is still right.

An extract leaves the history tables out when they hold no rows (and the orders' history when orders come
from a data lake, whose rows are not the store's), so a store without re-imported changes, or today's run,
reads exactly the current values with no extra work.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kehu.store.history import TRACKED

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = ["HISTORY_OF", "day_end", "values_as_of"]

#: extracted record table -> the extracted table of its replaced versions
HISTORY_OF: dict[str, str] = {"orders": "order_history", "contracts": "contract_history"}


def day_end(day: dt.date) -> ir.TimestampScalar:
    """The first moment after ``day`` (local midnight that ends it), as an Ibis timestamp literal."""
    import ibis

    return ibis.timestamp(dt.datetime.combine(day + dt.timedelta(days=1), dt.time()))


def _at(records: ir.Table, history: ir.Table, names: tuple[str, ...], cutoff: ir.TimestampScalar) -> ir.Table:
    """``records`` with the ``names`` columns of the version of each row that holds just before ``cutoff``."""
    import ibis

    held = history.filter(
        (history.valid_from.isnull() | (history.valid_from < cutoff)) & (history.valid_to >= cutoff)
    ).select(_pit_id=history.record_id, **{f"_pit_{n}": history[n] for n in names})
    joined = records.left_join(held, records.id == held["_pit_id"])
    has = joined["_pit_id"].notnull()
    columns: dict[str, Any] = {}
    for name in records.columns:
        if name in names:
            kept = joined[f"_pit_{name}"].cast(records[name].type())
            columns[name] = ibis.ifelse(has, kept, joined[name])
        else:
            columns[name] = joined[name]
    return joined.select(**columns)


def values_as_of(tables: Mapping[str, Any], day: dt.date) -> dict[str, Any]:
    """Extracted tables with the tracked values of orders and contracts as they were at the end of ``day``.

    Parameters
    ----------
    tables
        Extracted tables (:func:`kehu.engine.extract`); record tables whose history table is absent are
        returned unchanged.
    day
        The local day (the workspace time zone, like every extracted time but ``updated_at``).

    Returns
    -------
    dict
        The same tables; ``orders`` / ``contracts`` with the values of that moment, and the history tables
        without the versions replaced after it.
    """
    cutoff = day_end(day)
    out = dict(tables)
    for record_name, history_name in HISTORY_OF.items():
        history = tables.get(history_name)
        if history is None or record_name not in tables:
            continue
        out[record_name] = _at(tables[record_name], history, TRACKED[record_name], cutoff)
        out[history_name] = history.filter(history.valid_to < cutoff)
    return out
