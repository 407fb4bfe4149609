"""The Workspace: the one facade that the CLI, the API and the web app call.

A workspace is a KEHU_HOME folder plus an app store. Business logic lives below this facade (ingest, store,
pipeline, …); front ends only translate arguments and results.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select, update

from kehu.config import Settings
from kehu.errors import ImportFileError, NotFoundError, ValidationError
from kehu.ingest.identity import link_records
from kehu.ingest.importer import ImportSummary, import_file
from kehu.service.pipeline_run import ProgressCallback
from kehu.store.customers import customer_detail, find_customers, list_merges
from kehu.store.db import create_store_engine, ensure_current, migrate
from kehu.store.published import published_features
from kehu.store.schema import users

__all__ = ["ROLES", "Workspace"]


def _record(text: str) -> tuple[str, str]:
    """``SOURCE:ID`` -> (source, id)."""
    source, sep, sid = text.strip().partition(":")
    if not sep or not source or not sid:
        raise ValidationError(f"{text!r}: write a record as SOURCE:ID (e.g. crm:C001)")
    return source, sid


ROLES = ("admin", "manager", "rep")


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
    def customer(self, ident: str) -> dict[str, Any]:
        """One customer by source id, ``SOURCE:ID`` or Kehu id, with counts, totals and published features."""
        with self._ready().connect() as conn:
            ids = find_customers(conn, ident)
            if not ids:
                raise NotFoundError(
                    f"no customer {ident!r} (give an id from an imported file, SOURCE:ID, or Kehu's own id)"
                )
            if len(ids) > 1:
                raise ValidationError(
                    f"{ident!r} names {len(ids)} customers in different sources: write it as SOURCE:ID"
                )
            detail = customer_detail(conn, ids[0])
            assert detail is not None
            detail["features"] = published_features(conn, ids[0])
            return detail

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
        self, *, as_of: dt.date | None = None, engine: str | None = None, progress: ProgressCallback | None = None
    ) -> dict[str, Any]:
        """``kehu run``: the analytics pipeline, then the value models, then segmentation, all published.

        Returns the pipeline's result (as_of, engine, customers, step seconds) with ``value_models`` and
        ``segments`` summaries. When the value models cannot be fitted on this data (too few customers or
        repeat buyers), ``value_models`` says why and segmentation runs without CLV.
        """
        from kehu.service.pipeline_run import run_pipeline
        from kehu.service.segmentation import segment_run
        from kehu.service.value_models import score_value_models

        store = self._ready()
        result = run_pipeline(self.settings, as_of=as_of, engine=engine, progress=progress).as_dict()
        day = dt.date.fromisoformat(result["as_of"])
        try:
            result["value_models"] = score_value_models(self.settings, store, as_of=day).as_dict()
        except ValidationError as exc:
            result["value_models"] = {"skipped": str(exc)}
        result["churn"] = self._score_churn(day, result["engine"])
        result["segments"] = segment_run(self.settings, engine=result["engine"], as_of=day).as_dict()
        return result

    # -- churn, propensity and cross-sell models ----------------------------------------------------------
    def _score_churn(self, day: dt.date, engine: str) -> dict[str, Any]:
        """Score ``day`` with the latest churn model; says why when there is none yet."""
        from kehu.service.churn import latest_model_file, score_churn

        if latest_model_file(self.settings) is None:
            return {"skipped": "no churn model yet: run `kehu models train`"}
        return score_churn(self.settings, self._ready(), as_of=day, engine=engine).as_dict()

    def train_models(
        self, *, engine: str | None = None, as_of: dt.date | None = None, **options: Any
    ) -> dict[str, Any]:
        """``kehu models train``: train, backtest and version the churn, propensity and cross-sell models.

        ``options`` are the fields of :class:`kehu.service.churn.ChurnOptions`. When features have been
        published, the newest day is scored with the new model right away.
        """
        from kehu.service.churn import ChurnOptions, score_churn, train_churn

        store = self._ready()
        result = train_churn(self.settings, engine=engine, options=ChurnOptions(**options), as_of=as_of).as_dict()
        with store.connect() as conn:
            from kehu.store.published import latest_run

            run = latest_run(conn)
        if run is not None:
            day = run["as_of"] if isinstance(run["as_of"], dt.date) else dt.date.fromisoformat(str(run["as_of"]))
            result["scored"] = score_churn(self.settings, store, as_of=day, engine=engine).as_dict()
        return result

    def models_report(self) -> dict[str, Any]:
        """``kehu models report``: the latest churn model's version, options and backtest tables."""
        from kehu.service.churn import churn_report

        return churn_report(self.settings)

    def report_models(
        self, out_dir: str | Path, *, calibration_end: dt.date | None = None, observation_end: dt.date | None = None
    ) -> dict[str, Any]:
        """Write the value-model diagnostics (three PNG plots and an HTML page) for the store's orders."""
        from kehu.service.value_models import write_models_report

        result = write_models_report(
            self.settings, self._ready(), out_dir, calibration_end=calibration_end, observation_end=observation_end
        ).as_dict()
        result.update(self._churn_plots(Path(out_dir)))
        return result

    def _churn_plots(self, out_dir: Path) -> dict[str, Any]:
        """The churn backtest's calibration and gains plots, when a churn model has been trained."""
        from kehu.reports.churn_plots import plot_churn_calibration, plot_churn_gains
        from kehu.service.churn import churn_report, latest_model_file

        if latest_model_file(self.settings) is None:
            return {"churn_plots": []}
        backtest = churn_report(self.settings)["backtest"]
        return {
            "churn_plots": [
                str(plot_churn_calibration(backtest, out_dir / "churn_calibration.png")),
                str(plot_churn_gains(backtest, out_dir / "churn_gains.png")),
            ]
        }

    # -- segments ---------------------------------------------------------------------------------------------
    def segments(self, *, as_of: dt.date | None = None) -> list[dict[str, Any]]:
        """Every segment of every scheme with labels, size and change since the previous run."""
        from kehu.service.segmentation import list_segments

        self._ready()
        return list_segments(self.settings, as_of=as_of)

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
            self.add_user(owner.name, role=owner.role, team=owner.team)
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
        }

    # -- users ------------------------------------------------------------------------------------------------
    def add_user(
        self,
        name: str,
        *,
        role: str = "rep",
        team: str | None = None,
        display_name: str | None = None,
        email: str | None = None,
    ) -> int:
        """Create a user, or update role/team of an existing one; returns the user id."""
        if role not in ROLES:
            raise ValidationError(f"role {role!r} is not one of {', '.join(ROLES)}")
        values = {"role": role, "team": team, "display_name": display_name or name, "email": email}
        with self._ready().begin() as conn:
            uid = conn.execute(select(users.c.id).where(users.c.name == name)).scalar()
            if uid is None:
                return int(
                    conn.execute(
                        insert(users).values(name=name, active=True, **values).returning(users.c.id)
                    ).scalar_one()
                )
            conn.execute(
                update(users).where(users.c.id == uid).values(**{k: v for k, v in values.items() if v is not None})
            )
            return int(uid)

    def users(self) -> list[dict[str, Any]]:
        """All users (without password hashes)."""
        with self._ready().connect() as conn:
            cols = [c for c in users.c if c.name != "password_hash"]
            return [dict(r) for r in conn.execute(select(*cols).order_by(users.c.id)).mappings()]
