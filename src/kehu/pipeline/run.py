"""Run the pipeline: build each step's expression, materialise it in the engine, audit it, time it.

This is the only place where pipeline expressions are executed.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kehu.engine.backends import capabilities, engine_name, materialize, release, to_arrow
from kehu.errors import ValidationError
from kehu.pipeline.cohorts import COHORTS, REPEAT_CURVE
from kehu.pipeline.customers import CUSTOMER_FEATURES
from kehu.pipeline.engagement import ENGAGEMENT_FEATURES
from kehu.pipeline.orders import CUSTOMER_BASE, ORDER_FACTS
from kehu.pipeline.purchases import PURCHASE_FEATURES, PURCHASE_SUMMARY
from kehu.pipeline.step import Context, Step, audit

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa
    from ibis.backends import BaseBackend

__all__ = ["OUTPUTS", "STEPS", "PipelineOutput", "StepEvent", "StepReport", "default_as_of", "run"]

#: every step, in an order where each step's inputs come before it (and the readers of the large order
#: facts come early, so that the facts leave the engine's memory before the wide per-customer tables are built)
STEPS: tuple[Step, ...] = (
    CUSTOMER_BASE,
    ORDER_FACTS,
    PURCHASE_SUMMARY,
    COHORTS,
    REPEAT_CURVE,
    PURCHASE_FEATURES,
    ENGAGEMENT_FEATURES,
    CUSTOMER_FEATURES,
)
#: the steps whose outputs are published
OUTPUTS = ("customer_features", "cohorts", "repeat_curve")


@dataclass(frozen=True)
class StepReport:
    """How one step went: its name, wall seconds (build + materialise + audit) and output rows."""

    name: str
    seconds: float
    rows: int


@dataclass(frozen=True)
class StepEvent:
    """A progress event: ``phase`` is ``"start"`` or ``"done"`` (``report`` is set when done)."""

    phase: str
    step: Step
    index: int
    total: int
    report: StepReport | None = None


@dataclass
class PipelineOutput:
    """The materialised outputs of a run, still inside the engine.

    Attributes
    ----------
    as_of
        The day the features are computed as of.
    engine
        ``"duckdb"`` or ``"spark"``.
    backend
        The backend the tables live in.
    tables
        Step name -> the materialised table (the kept steps: see :func:`run`).
    steps
        One report per step, in run order.
    grains
        Step name -> the step's grain (used to order fetched tables).
    """

    as_of: dt.date
    engine: str
    backend: BaseBackend
    tables: dict[str, ir.Table]
    steps: list[StepReport] = field(default_factory=list)
    grains: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def step_seconds(self) -> dict[str, float]:
        """Step name -> seconds."""
        return {r.name: r.seconds for r in self.steps}

    def rows(self, name: str) -> int:
        """Rows in step ``name``'s output."""
        return next(r.rows for r in self.steps if r.name == name)

    def to_arrow(self, name: str) -> pa.Table:
        """Fetch step ``name``'s output from the engine as an Arrow table, ordered by its grain."""
        return to_arrow(self.backend, self.tables[name].order_by(list(self.grains[name])))


def default_as_of(backend: BaseBackend, tables: Mapping[str, ir.Table]) -> dt.date:
    """The day of the latest order (the engine's local day), or today (UTC) when there are no orders."""
    orders = tables["orders"]
    latest = to_arrow(backend, orders.aggregate(latest=orders.ordered_at.max())).column("latest")[0].as_py()
    if latest is None:
        return dt.datetime.now(dt.UTC).date()
    return latest.date() if isinstance(latest, dt.datetime) else latest


def run(
    backend: BaseBackend,
    tables: Mapping[str, ir.Table],
    as_of: dt.date | None = None,
    *,
    steps: Sequence[Step] = STEPS,
    progress: Callable[[StepEvent], None] | None = None,
    keep: Collection[str] | None = None,
) -> PipelineOutput:
    """Run the pipeline steps in order, materialising and auditing each.

    Parameters
    ----------
    backend
        The Ibis backend the tables live in.
    tables
        Extracted tables (see :func:`kehu.engine.extract`): ``customers`` (with ``first_seen_at``),
        ``orders``, ``interactions``, ``tickets``, ``feedback``, ``contracts``.
    as_of
        Compute features as of this day (inclusive; days are those of the extracted wall-clock times,
        the workspace's time zone); default: the latest order's day.
    steps
        The steps to run (default: all of :data:`STEPS`).
    progress
        Called with a :class:`StepEvent` before and after each step.
    keep
        The steps whose tables stay in the engine after the run; default: the steps that no other step reads
        (for :data:`STEPS`: ``customer_features``, ``cohorts`` and ``repeat_curve``). Any other step's table
        is dropped as soon as the last step that reads it is done, which keeps the engine's memory down (on
        engines with temporary tables; on Spark the cached views stay until the session ends).

    Returns
    -------
    PipelineOutput
        The kept materialised tables and per-step timings.

    Raises
    ------
    kehu.pipeline.step.AuditError
        When a step's output breaks its declaration.
    ValidationError
        When a step's inputs are missing.
    """
    if as_of is None:
        as_of = default_as_of(backend, tables)
    context = Context(as_of=as_of)
    available: dict[str, ir.Table] = dict(tables)
    output = PipelineOutput(as_of=as_of, engine=engine_name(backend), backend=backend, tables={})
    last_reader = {name: i for i, step in enumerate(steps) for name in step.inputs}
    kept = set(keep) if keep is not None else {step.name for step in steps if step.name not in last_reader}
    for index, step in reversed(list(enumerate(steps))):
        if not step.persist:  # a view reads its inputs whenever it is read: they live as long as it does
            until = len(steps) if step.name in kept else last_reader.get(step.name, index)
            for name in step.inputs:
                last_reader[name] = max(last_reader.get(name, -1), until)
    # only self-contained tables can go early (Spark's cached views are re-resolved from their inputs' names)
    early_release = capabilities(backend).temp_tables
    for index, step in enumerate(steps):
        if step.name in tables:
            raise ValidationError(f"step name {step.name!r} clashes with an input table")
        if progress:
            progress(StepEvent("start", step, index, len(steps)))
        started = time.perf_counter()
        expr = step.expression(available, context)
        result = materialize(backend, f"kehu_step_{step.name}", expr, persist=step.persist)
        counts = audit(step, result, backend)
        report = StepReport(step.name, time.perf_counter() - started, counts["rows"])
        available[step.name] = result
        output.tables[step.name] = result
        output.grains[step.name] = step.grain
        output.steps.append(report)
        done = [s.name for s in steps[: index + 1] if s.name not in kept and last_reader.get(s.name, -1) <= index]
        if early_release and (done := [name for name in done if name in output.tables]):
            release(backend, [f"kehu_step_{name}" for name in done])
            for name in done:
                del output.tables[name], available[name]
        if progress:
            progress(StepEvent("done", step, index, len(steps), report))
    return output
