"""The run object: one store engine, one analytics backend and one extract, shared by every step of a run.

``kehu run`` builds one :class:`Run` and hands it to the pipeline, the value models, churn scoring (cross-sell
included), segment placement and the playbooks; ``kehu models train`` builds its own. The store engine is the
caller's (the workspace's): a run never creates or disposes one. The analytics backend is connected on first
use and the store is extracted into it once, with the run's as-of cut-off (nothing dated after ``as_of``).

The run also carries the one progress callback of a run: its steps (:data:`STEPS`: extract, features, value
models, churn, segments, playbooks) report ``("start", step, None)`` and ``("done", step, seconds)`` through
:meth:`Run.stage`, whoever runs them; the refresh of ``kehu serve`` writes them to the store.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from kehu.config import Settings

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import sqlalchemy as sa
    from ibis.backends import BaseBackend

__all__ = ["STEPS", "Run", "StageCallback", "cut_tables"]

#: The steps of a run, in order, as its progress reports them.
STEPS = ("extract", "features", "value_models", "churn", "segments", "playbooks")

#: ``on_stage(phase, step, seconds)``: phase "start" (seconds None) or "done"; step one of :data:`STEPS`
StageCallback = Callable[[str, str, "float | None"], None]


class Run:
    """The settings, store engine, analytics backend and extracted tables of one run.

    Parameters
    ----------
    settings
        Kehu settings.
    store
        The app store's SQLAlchemy engine (left open: it belongs to the caller).
    as_of
        The extract's cut-off day (inclusive, in ``settings.timezone``); ``None`` extracts everything (the
        pipeline then takes the day of the latest order, see :meth:`published`).
    engine
        ``"duckdb"`` or ``"spark"``; default ``settings.engine``.
    on_stage
        Told as each of the run's :data:`STEPS` starts and ends (see :meth:`stage`); default: nobody.

    Attributes
    ----------
    as_of
        The run's day: the cut-off asked for, or the day the pipeline published.
    stamp
        The id of the pipeline run this run published (``None`` before the pipeline has published).
    """

    def __init__(
        self,
        settings: Settings,
        store: sa.Engine,
        *,
        as_of: dt.date | None = None,
        engine: str | None = None,
        on_stage: StageCallback | None = None,
    ) -> None:
        self.settings = settings
        self.on_stage = on_stage
        self.store = store
        self.as_of = as_of
        self.engine = engine
        self.stamp: int | None = None
        self._cut_off = as_of
        self._backend: BaseBackend | None = None
        self._tables: dict[str, ir.Table] | None = None

    @property
    def backend(self) -> BaseBackend:
        """The analytics backend (connected on first use)."""
        if self._backend is None:
            from kehu.engine import connect

            self._backend = connect(self.settings, engine=self.engine)
        return self._backend

    @property
    def engine_name(self) -> str:
        """``"duckdb"`` or ``"spark"``: the backend's engine."""
        from kehu.engine import engine_name

        return engine_name(self.backend)

    @property
    def tables(self) -> dict[str, ir.Table]:
        """The store's tables in the backend, extracted on first use with the run's cut-off."""
        if self._tables is None:
            from kehu.engine import extract

            self._tables = extract(self.store, self.backend, self._cut_off, settings=self.settings)
        return self._tables

    def tables_as_of(self, day: dt.date) -> dict[str, ir.Table]:
        """The extracted tables without anything dated after ``day`` (the extract itself when it was cut there).

        A run cut at a day reads orders and contracts with the values of ``day``; a run without a cut-off is
        today's, and reads their current values on whichever day its data ends.
        """
        if self._cut_off == day:
            return self.tables
        return cut_tables(self.tables, day, values=self._cut_off is not None)

    def report(self, phase: str, step: str, seconds: float | None = None) -> None:
        """Tell the run's ``on_stage`` that ``step`` starts (``phase="start"``) or is done after ``seconds``."""
        if self.on_stage is not None:
            self.on_stage(phase, step, seconds)

    @contextmanager
    def stage(self, step: str) -> Iterator[None]:
        """Report ``step`` as started, then as done with its seconds (not when it raised: the run failed there)."""
        self.report("start", step)
        started = time.perf_counter()
        yield
        self.report("done", step, time.perf_counter() - started)

    def published(self, as_of: dt.date, run_id: int) -> None:
        """Record the day and the pipeline run id the pipeline published."""
        self.as_of = as_of
        self.stamp = run_id

    def close(self) -> None:
        """Disconnect a DuckDB backend (the shared Spark session stays up); the store engine is left open."""
        if self._backend is not None and self.engine_name == "duckdb":
            self._backend.disconnect()
        self._backend = None
        self._tables = None

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def cut_tables(tables: dict[str, Any], as_of: dt.date, *, values: bool = True) -> dict[str, Any]:
    """Extracted tables without anything dated after ``as_of`` (customers first seen later are left out) and, with
    ``values``, orders and contracts with the values they had at the end of that day
    (:mod:`kehu.engine.point_in_time`; without, their current values)."""
    import ibis

    from kehu.engine.extract import EVENT_TIME, event_time
    from kehu.engine.point_in_time import values_as_of

    cutoff = ibis.timestamp(dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time()))
    out = dict(tables)
    for name in EVENT_TIME:
        out[name] = tables[name].filter(event_time(name, tables[name]) < cutoff)
    c = tables["customers"]
    out["customers"] = c.filter(c.first_seen_at.isnull() | (c.first_seen_at < cutoff))
    return values_as_of(out, as_of) if values else out
