"""The Workspace: the one facade that the CLI, the API and the web app call.

A workspace is a KEHU_HOME folder plus an app store. Business logic lives below this facade (ingest, store,
pipeline, …); front ends only translate arguments and results.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select

from kehu.config import Settings
from kehu.errors import ImportFileError, NotFoundError, ValidationError
from kehu.ingest.identity import link_records
from kehu.ingest.importer import ImportSummary, import_file
from kehu.publish.pipeline_run import ProgressCallback
from kehu.service.principal import SYSTEM, Principal
from kehu.store.customers import list_merges
from kehu.store.db import create_store_engine, ensure_current, migrate

if TYPE_CHECKING:
    from kehu.service.actor import UserActor

__all__ = ["Workspace"]


def _record(text: str) -> tuple[str, str]:
    """``SOURCE:ID`` -> (source, id)."""
    source, sep, sid = text.strip().partition(":")
    if not sep or not source or not sid:
        raise ValidationError(f"{text!r}: write a record as SOURCE:ID (e.g. crm:C001)")
    return source, sid


class Workspace:
    """Kehu's facade over one workspace (settings + store)."""

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
    ) -> ImportSummary:
        """Import one file (see :func:`kehu.ingest.importer.import_file`)."""
        return import_file(
            self._ready(),
            self.settings,
            kind,
            path,
            mapping_path=mapping,
            source=source,
            sheet=sheet,
            progress=progress,
        )

    # -- customers --------------------------------------------------------------------------------------------
    def merges(self, *, limit: int | None = 50) -> list[dict[str, Any]]:
        """Identity-resolution merges, newest first."""
        with self._ready().connect() as conn:
            return list_merges(conn, limit=limit)

    def link(self, a: str, b: str) -> int:
        """Link two source records (``SOURCE:ID`` each) into one customer; returns the customer's Kehu id."""
        with self._ready().begin() as conn:
            return link_records(conn, _record(a), _record(b), now=dt.datetime.now(dt.UTC))

    def link_file(self, path: str | Path) -> int:
        """Link the record pairs listed in a CSV file (two columns of ``SOURCE:ID``), all or nothing.

        Returns the number of pairs linked. A malformed line or an unknown record raises an error naming the file
        and the row, and links nothing.
        """
        import csv

        path = Path(path)
        if not path.is_file():
            raise ImportFileError(path, "no such file")
        pairs: list[tuple[int, tuple[str, str], tuple[str, str]]] = []
        with path.open(encoding="utf-8-sig", newline="") as fh:
            for row_no, row in enumerate(csv.reader(fh), start=1):
                cells = [c.strip() for c in row if c.strip()]
                if not cells or (row_no == 1 and not all(":" in c for c in cells)):
                    continue  # blank line or header
                if len(cells) != 2:
                    raise ImportFileError(path, f"row {row_no}: expected two records SOURCE:ID, got {len(cells)} cells")
                try:
                    pairs.append((row_no, _record(cells[0]), _record(cells[1])))
                except ValidationError as exc:
                    raise ImportFileError(path, f"row {row_no}: {exc}") from None
        now = dt.datetime.now(dt.UTC)
        with self._ready().begin() as conn:
            for row_no, a, b in pairs:
                try:
                    link_records(conn, a, b, now=now)
                except (NotFoundError, ValidationError) as exc:
                    raise ImportFileError(path, f"row {row_no}: {exc}; nothing was linked") from None
        return len(pairs)

    # -- analytics --------------------------------------------------------------------------------------------
    def run(
        self,
        *,
        as_of: dt.date | None = None,
        engine: str | None = None,
        progress: ProgressCallback | None = None,
        now: dt.datetime | None = None,
        trigger: str = "run",
    ) -> dict[str, Any]:
        """``kehu run``: the analytics pipeline, then the value models, then segmentation, all published; then
        the enabled playbooks run for the day of the data (see :meth:`playbooks_run`; ``now`` and ``trigger`` are
        passed on to it).

        Returns the pipeline's result (as_of, engine, customers, step seconds) with ``value_models`` and
        ``segments`` summaries. When the value models cannot be fitted on this data (too few customers or
        repeat buyers), ``value_models`` says why and segmentation runs without CLV.
        """
        from kehu.publish.pipeline_run import run_pipeline
        from kehu.publish.run import Run
        from kehu.publish.segments import segment_run
        from kehu.publish.value_models import score_value_models

        # one run: the workspace's store engine, one analytics backend, one extract (cut at as_of)
        with Run(self.settings, self._ready(), as_of=as_of, engine=engine) as run:
            result = run_pipeline(self.settings, progress=progress, run=run).as_dict()
            day = dt.date.fromisoformat(result["as_of"])
            try:
                result["value_models"] = score_value_models(self.settings, run.store, as_of=day).as_dict()
            except ValidationError as exc:
                result["value_models"] = {"skipped": str(exc)}
            result["churn"] = self._score_churn(run, day)
            result["segments"] = segment_run(self.settings, as_of=day, run=run).as_dict()
        result["playbooks"] = self._run_enabled_playbooks(day, now=now, trigger=trigger)
        return result

    # -- churn, propensity and cross-sell models ----------------------------------------------------------
    def _score_churn(self, run: Any, day: dt.date) -> dict[str, Any]:
        """Score ``day`` with the latest churn model in ``run``; says why when there is none yet."""
        from kehu.publish.churn import latest_model_file, score_churn

        if latest_model_file(self.settings) is None:
            return {"skipped": "no churn model yet: run `kehu models train`"}
        return score_churn(run, as_of=day).as_dict()

    def train_models(
        self, *, engine: str | None = None, as_of: dt.date | None = None, **options: Any
    ) -> dict[str, Any]:
        """``kehu models train``: train, backtest and version the churn, propensity and cross-sell models.

        ``options`` are the fields of :class:`kehu.publish.churn.ChurnOptions`. When features have been
        published, the newest day is scored with the new model right away (in the same run: one backend, one
        extract of the whole store, cut at that day for cross-sell).
        """
        from kehu.publish.churn import ChurnOptions, score_churn
        from kehu.publish.churn_train import train_churn
        from kehu.publish.run import Run
        from kehu.store.published import latest_run

        store = self._ready()
        with Run(self.settings, store, engine=engine) as run:
            result = train_churn(run, options=ChurnOptions(**options), as_of=as_of).as_dict()
            with store.connect() as conn:
                latest = latest_run(conn)
            if latest is not None:
                published = latest["as_of"]
                day = published if isinstance(published, dt.date) else dt.date.fromisoformat(str(published))
                result["scored"] = score_churn(run, as_of=day).as_dict()
        return result

    def models_report(self) -> dict[str, Any]:
        """``kehu models report``: the latest churn model's version, options and backtest tables."""
        from kehu.publish.churn import churn_report

        return churn_report(self.settings)

    def report_models(
        self, out_dir: str | Path, *, calibration_end: dt.date | None = None, observation_end: dt.date | None = None
    ) -> dict[str, Any]:
        """Write the value-model diagnostics (three PNG plots and an HTML page) for the store's orders."""
        from kehu.publish.value_report import write_models_report

        result = write_models_report(
            self.settings, self._ready(), out_dir, calibration_end=calibration_end, observation_end=observation_end
        ).as_dict()
        result.update(self._churn_plots(Path(out_dir)))
        return result

    def _churn_plots(self, out_dir: Path) -> dict[str, Any]:
        """The churn backtest's calibration, gains and concentration plots, when a churn model has been trained."""
        from kehu.publish.churn import churn_report, latest_model_file
        from kehu.reports.churn_plots import plot_churn_calibration, plot_churn_concentration, plot_churn_gains

        if latest_model_file(self.settings) is None:
            return {"churn_plots": []}
        backtest = churn_report(self.settings)["backtest"]
        return {
            "churn_plots": [
                str(plot_churn_calibration(backtest, out_dir / "churn_calibration.png")),
                str(plot_churn_gains(backtest, out_dir / "churn_gains.png")),
                str(plot_churn_concentration(backtest, out_dir / "churn_concentration.png")),
            ]
        }

    # -- segments ---------------------------------------------------------------------------------------------
    def segment(self, ref: str, *, as_of: dt.date | None = None, limit: int = 20) -> dict[str, Any]:
        """One segment (``SCHEME:SEGMENT``) with its rule, size and first members with reasons."""
        from kehu.service.segmentation import show_segment

        self._ready()
        return show_segment(self.settings, ref, as_of=as_of, limit=limit)

    def segment_transitions(
        self, from_as_of: dt.date, to_as_of: dt.date, *, scheme: str | None = None
    ) -> list[dict[str, Any]]:
        """Moves between two runs per scheme (from -> to counts; in/out per segment)."""
        from kehu.service.segmentation import segment_transitions

        self._ready()
        return segment_transitions(self.settings, from_as_of, to_as_of, scheme=scheme)

    def export_segment(self, ref: str, *, fmt: str, out: str | Path, as_of: dt.date | None = None) -> dict[str, Any]:
        """Write a segment's members (Chinese headers, owner and contact columns) to XLSX or CSV."""
        from kehu.service.segmentation import export_segment

        self._ready()
        return export_segment(self.settings, ref, fmt=fmt, out=out, as_of=as_of)

    # -- KPIs and feedback (issue #8) ----------------------------------------------------------------------
    def feedback(
        self, *, period: str = "month", periods: int = 6, as_of: dt.date | None = None, segment: str | None = None
    ) -> dict[str, Any]:
        """NPS and CSAT per period with the trend, for everyone or one segment (``SCHEME:SEGMENT``)."""
        from kehu.service.kpis import feedback_report

        return feedback_report(
            self.settings, self._ready(), period=period, periods=periods, as_of=as_of, segment=segment
        )

    # -- campaigns (issue #8) ----------------------------------------------------------------------------------
    def create_campaign(self, spec: Any, *, now: dt.datetime | None = None) -> dict[str, Any]:
        """Store a checked campaign definition (a :class:`kehu.campaigns.spec.CampaignSpec`) as a draft."""
        from kehu.service.campaigns import create_campaign

        return create_campaign(self._ready(), spec, now=now or dt.datetime.now(dt.UTC))

    def launch_campaign(self, name: str, *, channels: Any = None, now: dt.datetime | None = None) -> dict[str, Any]:
        """Assign and record the arms, queue the treatment arm's messages in the outbox, deliver it."""
        from kehu.service.campaigns import launch_campaign

        return launch_campaign(
            self.settings, self._ready(), name, channels=channels, now=now or dt.datetime.now(dt.UTC)
        )

    def campaign_results(self, name: str, *, now: dt.datetime | None = None) -> dict[str, Any]:
        """Per-arm outcomes, uplift with 95% intervals, verdicts (zh/en) and the per-stratum breakdown."""
        from kehu.service.campaigns import measure_campaign

        return measure_campaign(self._ready(), name, now=now or dt.datetime.now(dt.UTC))

    def campaigns(self) -> list[dict[str, Any]]:
        """All campaigns, newest first, with arm sizes."""
        from kehu.service.campaigns import list_campaigns

        return list_campaigns(self._ready())

    # -- tickets (issue #8) ------------------------------------------------------------------------------------
    def ticket_policy(self) -> Any:
        """SLA targets, assignment rules and follow-up delay from the loop configuration."""
        from kehu.service.loop_config import ticket_policy

        return ticket_policy(self.settings)

    def create_ticket(self, customer: str | int, *, now: dt.datetime | None = None, **fields: Any) -> dict[str, Any]:
        """Open a ticket for a customer (an int is Kehu's id; text: source id, SOURCE:ID or Kehu id) and assign it."""
        from kehu.service.tickets import create_ticket

        cid = customer if isinstance(customer, int) else int(self.system().customers.find(customer)["id"])
        return create_ticket(self._ready(), self.ticket_policy(), cid, now=now or dt.datetime.now(dt.UTC), **fields)

    def update_ticket(self, ticket_id: int, *, now: dt.datetime | None = None, **changes: Any) -> dict[str, Any]:
        """Respond to, resolve, re-prioritise or re-assign a ticket (Kehu ticket id)."""
        from kehu.service.tickets import update_ticket

        return update_ticket(
            self._ready(), self.ticket_policy(), ticket_id, now=now or dt.datetime.now(dt.UTC), **changes
        )

    def ticket(self, ticket_id: int) -> dict[str, Any]:
        """One ticket with its SLA due times."""
        from kehu.service.tickets import get_ticket

        return get_ticket(self._ready(), self.ticket_policy(), ticket_id)

    def check_tickets(self, *, now: dt.datetime | None = None) -> dict[str, Any]:
        """Assign waiting tickets, record SLA breaches, schedule satisfaction follow-ups (as of ``now``)."""
        from kehu.service.tickets import check_tickets

        return check_tickets(self._ready(), self.ticket_policy(), now=now or dt.datetime.now(dt.UTC))

    def ticket_breaches(self, *, limit: int = 100) -> list[dict[str, Any]]:
        """Recorded SLA breaches, newest first."""
        from kehu.service.tickets import list_breaches

        return list_breaches(self._ready(), limit=limit)

    # -- loyalty (issue #8) ------------------------------------------------------------------------------------
    def loyalty_rules(self) -> Any:
        """Points rules, expiry and tiers from the loop configuration."""
        from kehu.loyalty.rules import LoyaltyRules
        from kehu.service.loop_config import load_loop_config

        return LoyaltyRules.from_config(load_loop_config(self.settings).get("loyalty"))

    def loyalty_run(
        self, *, start: dt.date | None = None, end: dt.date | None = None, now: dt.datetime | None = None
    ) -> dict[str, Any]:
        """Award points for a period's purchases, expire, evaluate tiers (idempotent)."""
        from kehu.service.kpis import default_as_of
        from kehu.service.loyalty import run_period

        store = self._ready()
        if end is None:
            with store.connect() as conn:
                end = default_as_of(conn, self.settings.timezone)
        return run_period(
            store,
            self.loyalty_rules(),
            timezone=self.settings.timezone,
            start=start,
            end=end,
            now=now or dt.datetime.now(dt.UTC),
        )

    def loyalty_action(
        self, customer: str, action: str, reference: str, *, day: dt.date | None = None, now: dt.datetime | None = None
    ) -> dict[str, Any]:
        """Award the points of an action (review, referral, …) once per reference."""
        from kehu.service.loyalty import action as award

        now = now or dt.datetime.now(dt.UTC)
        cid = int(self.system().customers.find(customer)["id"])
        return award(self._ready(), self.loyalty_rules(), cid, action, reference, day=day or now.date(), now=now)

    def loyalty_redeem(
        self, customer: str, points: int, reference: str, *, day: dt.date | None = None, now: dt.datetime | None = None
    ) -> dict[str, Any]:
        """Redeem points (oldest first, never more than the balance)."""
        from kehu.service.loyalty import spend_points

        now = now or dt.datetime.now(dt.UTC)
        cid = int(self.system().customers.find(customer)["id"])
        return spend_points(self._ready(), cid, points, reference, day=day or now.date(), now=now)

    def loyalty_statement(self, customer: str) -> dict[str, Any]:
        """A customer's balance, tier, ledger and tier changes."""
        from kehu.loyalty.ledger import statement

        cid = int(self.system().customers.find(customer)["id"])
        with self._ready().connect() as conn:
            return statement(conn, cid)

    def loyalty_tiers(self) -> dict[str, Any]:
        """Customers per tier and the latest tier changes."""
        from kehu.service.loyalty import tier_summary

        return tier_summary(self._ready(), self.loyalty_rules())

    # -- demo -------------------------------------------------------------------------------------------------
    def load_demo(
        self,
        *,
        customers: int = 20_000,
        seed: int = 0,
        on_file: Callable[[ImportSummary], None] | None = None,
    ) -> dict[str, Any]:
        """Generate the seeded demo company into ``KEHU_HOME/demo`` and import it through :meth:`import_file`."""
        from sqlalchemy import func

        from kehu.demo import generate_demo
        from kehu.store.schema import customers as customers_table

        company = generate_demo(self.settings.home / "demo", customers=customers, seed=seed)
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
        return {
            "customers": n,
            "users": len(company.owners),
            "as_of": company.as_of,
            "home": str(self.settings.home),
            "imports": [s.as_dict() for s in summaries],
            "playbooks": self.playbooks_install_defaults(),
        }

    # -- playbooks, tasks, outbox (docs/playbooks.md) -------------------------------------------------------
    def _run_enabled_playbooks(self, day: dt.date, *, now: dt.datetime | None, trigger: str) -> dict[str, Any]:
        """The playbooks step of ``kehu run`` (recorded even when no playbook is enabled); problems are reported."""
        from kehu.playbooks import PlaybookError

        try:
            return self.playbooks_run(day=day, now=now, trigger=trigger)
        except (PlaybookError, ValidationError) as exc:
            return {"error": str(exc)}

    def playbooks_validate(self, files: list[str | Path]) -> list[dict[str, Any]]:
        """Check playbook files (raises :class:`~kehu.playbooks.PlaybookError` naming file, line and field)."""
        from kehu.service.playbooks import workspace_playbooks

        return [
            {"playbook": pb.name, "file": pb.path, "rules": len(pb.rules), "enabled": pb.enabled}
            for pb in workspace_playbooks(self.settings, files)
        ]

    def playbooks_list(self) -> list[dict[str, Any]]:
        """The workspace's playbooks (``KEHU_PLAYBOOKS_DIR``) and their rules."""
        from kehu.service.playbooks import list_playbooks

        return list_playbooks(self.settings)

    def playbooks_install_defaults(self, *, overwrite: bool = False) -> list[str]:
        """Copy the default playbooks into the workspace (enabled); returns the files written."""
        from kehu.service.playbooks import install_defaults

        return install_defaults(self.settings, overwrite=overwrite)

    def playbooks_dry_run(
        self, files: list[str | Path] | None = None, *, now: dt.datetime | None = None, day: dt.date | None = None
    ) -> dict[str, Any]:
        """Per rule: which customers would trigger now, with samples; changes nothing."""
        from kehu.service.playbooks import dry_run

        return dry_run(self.settings, self._ready(), files, now=now, day=day)

    def playbooks_run(
        self,
        files: list[str | Path] | None = None,
        *,
        now: dt.datetime | None = None,
        day: dt.date | None = None,
        trigger: str = "cli",
        channels: Any = None,
    ) -> dict[str, Any]:
        """Run the playbooks: decide, record firings and outbox rows, deliver (exactly once per occurrence)."""
        from kehu.service.playbooks import run_playbooks

        return run_playbooks(self.settings, self._ready(), files, now=now, day=day, trigger=trigger, channels=channels)

    def playbooks_deliver(self, *, now: dt.datetime | None = None, channels: Any = None) -> dict[str, Any]:
        """Deliver what is due in the outbox (messages waiting for quiet hours to end, retries)."""
        from kehu.service.playbooks import deliver_outbox

        return deliver_outbox(self.settings, self._ready(), now=now, channels=channels)

    def outbox(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Outbox rows, newest first."""
        from kehu.service.playbooks import list_outbox

        return list_outbox(self._ready(), status=status, limit=limit)

    def outbox_retry(self, outbox_id: int, *, actor: str, now: dt.datetime | None = None) -> dict[str, Any]:
        """Queue a dead or unknown message again (after a person checked it)."""
        from kehu.service.playbooks import retry_message

        return retry_message(self._ready(), outbox_id, actor=actor, now=now)
