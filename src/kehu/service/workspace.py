"""The Workspace: a KEHU_HOME folder plus an app store, and the entry to the facade that every front calls.

``ws.as_user(principal)`` / ``ws.system()`` give the services per resource (:mod:`kehu.service.actor`); the
workspace itself keeps its settings, the store engine, and the entry points that set a workspace up and run it:
``init``, ``import_file``, ``load_demo`` and ``run`` (``kehu run``: one store engine, one analytics backend, one
extract).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select

from kehu.config import Settings
from kehu.errors import ValidationError
from kehu.ingest.importer import ImportSummary, import_file
from kehu.publish.pipeline_run import ProgressCallback
from kehu.publish.run import StageCallback
from kehu.service.present import Announce
from kehu.service.principal import SYSTEM, Principal
from kehu.store.db import create_store_engine, ensure_current, migrate
from kehu.store.turns import Holder, store_turn

if TYPE_CHECKING:
    from kehu.service.actor import UserActor

__all__ = ["Workspace"]


class Workspace:
    """One workspace (settings + store) and the entry to its facade."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        """The store engine (created on first use)."""
        if self._engine is None:
            self._engine = create_store_engine(self.settings.resolved_database_url)
        return self._engine

    def close(self) -> None:
        """Release database connections."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the facade that carries the actor ------------------------------------------------------------------------
    def as_user(self, principal: Principal) -> UserActor:
        """The services of this workspace as ``principal`` sees them (``ws.as_user(p).tasks.list()``)."""
        from kehu.service.actor import UserActor

        return UserActor(self, principal)

    def system(self) -> UserActor:
        """The services as the command line uses them: :data:`~kehu.service.principal.SYSTEM`, an admin's rights."""
        return self.as_user(SYSTEM)

    # -- store ------------------------------------------------------------------------------------------------
    def init(self) -> str | None:
        """Create the workspace folder and create or upgrade the store; returns the store revision."""
        self.settings.home.mkdir(parents=True, exist_ok=True)
        return migrate(self.engine)

    def _ready(self) -> Engine:
        ensure_current(self.engine)
        return self.engine

    # -- import -----------------------------------------------------------------------------------------------
    def import_file(
        self,
        kind: str,
        path: str | Path,
        *,
        mapping: str | Path | None = None,
        source: str | None = None,
        sheet: str | None = None,
        progress: Callable[[int], None] | None = None,
        on_wait: Callable[[Holder], None] | None = None,
    ) -> ImportSummary:
        """Import one file (see :func:`kehu.ingest.importer.import_file`); ``on_wait`` is told when it waits for
        another import or run to finish (:mod:`kehu.store.turns`)."""
        return import_file(
            self._ready(),
            self.settings,
            kind,
            path,
            mapping_path=mapping,
            source=source,
            sheet=sheet,
            progress=progress,
            on_wait=on_wait,
        )

    # -- analytics --------------------------------------------------------------------------------------------
    def run(
        self,
        *,
        as_of: dt.date | None = None,
        engine: str | None = None,
        progress: ProgressCallback | None = None,
        now: dt.datetime | None = None,
        trigger: str = "run",
        act_on_past_day: bool = False,
        announce: Announce | None = None,
        on_stage: StageCallback | None = None,
        on_wait: Callable[[Holder], None] | None = None,
    ) -> dict[str, Any]:
        """``kehu run``: the analytics pipeline, then the value models, then segmentation, all published; then
        the enabled playbooks run for the day of the data (see :meth:`kehu.service.playbooks.PlaybookService.run`;
        ``now``, ``trigger``, ``act_on_past_day`` and ``announce`` are passed on to it). An ``as_of`` before the
        newest data day is a look back: everything is computed and published, but the playbooks act only with
        ``act_on_past_day`` (:mod:`kehu.service.present`).

        Returns the pipeline's result (as_of, engine, customers, step seconds) with ``value_models`` and
        ``segments`` summaries. When the value models cannot be fitted on this data (too few customers or
        repeat buyers), ``value_models`` says why and segmentation runs without CLV. ``on_stage`` is told as each
        step of the run (:data:`kehu.publish.run.STEPS`) starts and ends. A run takes the store's turn: it waits
        for an import or run that has it (``on_wait`` is told) and the next one waits for it
        (:mod:`kehu.store.turns`).
        """
        with store_turn(self._ready(), "run", wait_seconds=self.settings.store_wait_seconds, on_wait=on_wait):
            return self._run(
                as_of=as_of,
                engine=engine,
                progress=progress,
                now=now,
                trigger=trigger,
                act_on_past_day=act_on_past_day,
                announce=announce,
                on_stage=on_stage,
            )

    def _run(
        self,
        *,
        as_of: dt.date | None,
        engine: str | None,
        progress: ProgressCallback | None,
        now: dt.datetime | None,
        trigger: str,
        act_on_past_day: bool,
        announce: Announce | None,
        on_stage: StageCallback | None,
    ) -> dict[str, Any]:
        from kehu.publish.pipeline_run import run_pipeline
        from kehu.publish.run import Run
        from kehu.publish.segments import segment_run
        from kehu.publish.value_models import score_value_models

        # one run: the workspace's store engine, one analytics backend, one extract (cut at as_of)
        with Run(self.settings, self._ready(), as_of=as_of, engine=engine, on_stage=on_stage) as run:
            result = run_pipeline(self.settings, progress=progress, run=run).as_dict()
            day = dt.date.fromisoformat(result["as_of"])
            with run.stage("value_models"):
                try:
                    result["value_models"] = score_value_models(
                        self.settings, run.store, as_of=day, purchase_model=self.settings.purchase_model
                    ).as_dict()
                except ValidationError as exc:
                    result["value_models"] = {"skipped": str(exc)}
            with run.stage("churn"):
                result["churn"] = self._score_churn(run, day)
            with run.stage("segments"):
                result["segments"] = segment_run(self.settings, as_of=day, run=run).as_dict()
        with run.stage("playbooks"):
            result["playbooks"] = self._run_enabled_playbooks(
                day, now=now, trigger=trigger, act_on_past_day=act_on_past_day, announce=announce
            )
        return result

    # -- churn, propensity and cross-sell models ----------------------------------------------------------
    def _score_churn(self, run: Any, day: dt.date) -> dict[str, Any]:
        """Score ``day`` with the latest churn model in ``run``; says why when there is none yet, or when the latest
        model file is of an older format (trained before the named risks: `kehu models train` again)."""
        from kehu.publish.churn import MODEL_FORMAT, latest_model_file, score_churn

        if latest_model_file(self.settings) is None:
            return {"skipped": "no churn model yet: run `kehu models train`"}
        try:
            return score_churn(run, as_of=day).as_dict()
        except ValidationError as exc:
            if f"is not {MODEL_FORMAT}; train again" not in str(exc):
                raise
            return {"skipped": str(exc)}

    # -- demo -------------------------------------------------------------------------------------------------
    def load_demo(
        self,
        *,
        customers: int = 20_000,
        seed: int = 0,
        on_file: Callable[[ImportSummary], None] | None = None,
        today: dt.date | None = None,
        history_weeks: int = 0,
    ) -> dict[str, Any]:
        """Generate the seeded demo company into ``KEHU_HOME/demo`` and import it through :meth:`import_file`.

        The data end the day before ``today`` (default: the day after the fixed
        :data:`~kehu.demo.DEFAULT_AS_OF`, so that the same arguments give the same company); with ``history_weeks``,
        the owners' follow-up work of those weeks before ``today`` is simulated through the task services
        (:func:`~kehu.service.demo_history.simulate_task_history`), reported under ``history``.
        """
        from sqlalchemy import func

        from kehu.demo import DEFAULT_AS_OF, generate_demo
        from kehu.store.schema import customers as customers_table

        if history_weeks < 0:
            raise ValidationError(f"history weeks must be 0 or more, got {history_weeks}")
        as_of = DEFAULT_AS_OF if today is None else today - dt.timedelta(days=1)
        company = generate_demo(self.settings.home / "demo", customers=customers, seed=seed, as_of=as_of)
        for owner in company.owners:
            self.system().users.add(owner.name, role=owner.role, team=owner.team)
        summaries = []
        for f in company.files:
            summary = self.import_file(f.kind, f.path, source=f.source, sheet=f.sheet)
            summaries.append(summary)
            if on_file is not None:
                on_file(summary)
        with self.engine.connect() as conn:
            n = conn.execute(select(func.count()).select_from(customers_table)).scalar_one()
        history = None
        if history_weeks:
            from kehu.service.demo_history import simulate_task_history

            day = as_of + dt.timedelta(days=1)
            history = simulate_task_history(self, today=day, seed=seed, weeks=history_weeks)
        return {
            "customers": n,
            "users": len(company.owners),
            "as_of": company.as_of,
            "home": str(self.settings.home),
            "imports": [s.as_dict() for s in summaries],
            "playbooks": self.system().playbooks.install_defaults(),
            "history": history,
        }

    # -- playbooks, tasks, outbox (docs/playbooks.md) -------------------------------------------------------
    def _run_enabled_playbooks(
        self, day: dt.date, *, now: dt.datetime | None, trigger: str, act_on_past_day: bool, announce: Announce | None
    ) -> dict[str, Any]:
        """The playbooks step of ``kehu run`` (recorded even when no playbook is enabled, unless it is a look back
        that does not act); problems are reported."""
        from kehu.playbooks import PlaybookError

        try:
            return self.system().playbooks.run(
                day=day, now=now, trigger=trigger, act_on_past_day=act_on_past_day, announce=announce
            )
        except (PlaybookError, ValidationError) as exc:
            return {"error": str(exc)}
