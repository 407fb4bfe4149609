"""``kehu run``: extract the store into the analytics engine, run the pipeline, publish the results.

The CLI and the web call :func:`run_pipeline`; it reports progress through a callback, or by itself with a
``rich`` progress display on a terminal and plain log lines otherwise.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from kehu.config import Settings
from kehu.errors import StoreError
from kehu.publish.run import Run

__all__ = ["PipelineResult", "ProgressCallback", "run_pipeline"]

log = logging.getLogger("kehu.pipeline")

#: ``progress(phase, step, seconds)``: phase is "start" (seconds None) or "done"
ProgressCallback = Callable[[str, str, "float | None"], None]

_PUBLISHED = ("pipeline_runs", "customer_scores", "customer_score_history", "cohort_snapshots")


@dataclass(frozen=True)
class PipelineResult:
    """What a pipeline run did.

    Attributes
    ----------
    as_of
        The day the features were computed as of.
    engine
        ``"duckdb"`` or ``"spark"``.
    customers
        Customers in the published feature table.
    step_seconds
        Stage -> seconds, in order: ``extract``, each pipeline step, ``fetch``, ``publish``.
    seconds
        Wall seconds of the whole run.
    run_id
        ``pipeline_runs.id`` of the published run.
    """

    as_of: dt.date
    engine: str
    customers: int
    step_seconds: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    run_id: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``as_of`` as ISO text), as ``kehu run --json`` prints it."""
        data = asdict(self)
        data["as_of"] = self.as_of.isoformat()
        return data


class _Reporter:
    """Sends stage start/done events to a callback, a rich display or the log."""

    def __init__(self, callback: ProgressCallback | None, total: int) -> None:
        self.callback = callback
        self.total = total
        self.display: Any = None
        self.task: Any = None
        if callback is None and sys.stderr.isatty():
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.display = Progress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(), transient=True,
            )  # fmt: skip

    def __enter__(self) -> _Reporter:
        if self.display is not None:
            self.display.start()
            self.task = self.display.add_task("pipeline", total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.display is not None:
            self.display.stop()

    def event(self, phase: str, step: str, seconds: float | None = None) -> None:
        if self.callback is not None:
            self.callback(phase, step, seconds)
        elif self.display is not None:
            if phase == "start":
                self.display.update(self.task, description=step)
            else:
                self.display.advance(self.task)
        elif phase == "done":
            log.info("step %s done in %.2f s", step, seconds or 0.0)
        else:
            log.info("step %s ...", step)

    @contextmanager
    def stage(self, name: str, timings: dict[str, float]) -> Iterator[None]:
        self.event("start", name)
        started = time.perf_counter()
        yield
        timings[name] = time.perf_counter() - started
        self.event("done", name, timings[name])


def _check_store(store: Any) -> None:
    import sqlalchemy as sa

    missing = [name for name in _PUBLISHED if not sa.inspect(store).has_table(name)]
    if missing:
        raise StoreError(
            f"the store has no table(s) {', '.join(missing)} for pipeline results; "
            "run `kehu init` to bring the store up to date"
        )


def run_pipeline(
    settings: Settings,
    *,
    as_of: dt.date | None = None,
    engine: str | None = None,
    progress: ProgressCallback | None = None,
    run: Run | None = None,
) -> PipelineResult:
    """Extract the store, run the analytics pipeline and publish its results to the store.

    Parameters
    ----------
    settings
        Kehu settings (store URL, engine, Spark master, KEHU_HOME for the extract cache).
    as_of
        Compute features as of this day (inclusive, in ``settings.timezone``); default: the local day of
        the latest order.
    engine
        ``"duckdb"`` or ``"spark"``; default ``settings.engine``.
    progress
        ``progress(phase, step, seconds)`` called as each stage starts and ends; without it a progress
        display is shown on a terminal and log lines are written otherwise.
    run
        The run to work in (its store engine, backend and extract; ``as_of`` and ``engine`` are then the
        run's, and the run learns the published day and run id); without it one is opened on a store engine of
        its own and closed at the end.

    Returns
    -------
    PipelineResult

    Raises
    ------
    StoreError
        When the store lacks the tables for pipeline results (not migrated).
    kehu.errors.DependencyError
        For the Spark engine without pyspark or Java.
    """
    from kehu import pipeline
    from kehu.engine import release
    from kehu.engine.zones import to_utc_arrow
    from kehu.store import published
    from kehu.store.db import create_store_engine

    if run is None:
        store = create_store_engine(settings.resolved_database_url)
        try:
            with Run(settings, store, as_of=as_of, engine=engine) as own:
                return run_pipeline(settings, progress=progress, run=own)
        finally:
            store.dispose()
    started_at = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    _check_store(run.store)
    backend = run.backend
    timings: dict[str, float] = {}
    with _Reporter(progress, total=len(pipeline.STEPS) + 3) as reporter:
        with run.stage("extract"), reporter.stage("extract", timings):
            tables = run.tables
        run.report("start", "features")  # the pipeline's steps, fetching and publishing their results
        features_started = time.perf_counter()

        def on_step(event: pipeline.StepEvent) -> None:
            if event.phase == "start":
                reporter.event("start", event.step.name)
            elif event.report is not None:
                reporter.event("done", event.step.name, event.report.seconds)

        output = pipeline.run(backend, tables, run.as_of, progress=on_step)
        timings.update(output.step_seconds)
        with reporter.stage("fetch", timings):
            # the engine's wall-clock times are local; the store keeps instants
            results = {name: to_utc_arrow(output.to_arrow(name), settings.timezone) for name in pipeline.OUTPUTS}
        # the steps' tables are not needed by the steps after the pipeline (they read the extract)
        release(backend, [f"kehu_step_{name}" for name in output.tables])
        with reporter.stage("publish", timings), run.store.begin() as conn:
            run_id = published.publish(
                conn,
                as_of=output.as_of,
                engine=run.engine_name,
                features=results["customer_features"],
                cohorts=results["cohorts"],
                repeat_curve=results["repeat_curve"],
                step_seconds=timings,
                started_at=started_at,
            )
    run.report("done", "features", time.perf_counter() - features_started)
    run.published(output.as_of, run_id)
    return PipelineResult(
        as_of=output.as_of,
        engine=output.engine,
        customers=results["customer_features"].num_rows,
        step_seconds=timings,
        seconds=time.perf_counter() - started,
        run_id=run_id,
    )
