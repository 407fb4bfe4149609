"""The models of a workspace: train, backtest and version the churn, propensity and cross-sell models (scoring the
newest published day right away), their report, and the diagnostics written to a folder (admins)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from kehu.service.access import require_role
from kehu.service.principal import Service
from kehu.store.db import ensure_current

__all__ = ["ModelService"]


class ModelService(Service):
    """``kehu models`` and ``kehu reports models`` (admins)."""

    def train(self, *, engine: str | None = None, as_of: dt.date | None = None, **options: Any) -> dict[str, Any]:
        """Train, backtest and version the churn, propensity and cross-sell models.

        ``options`` are the fields of :class:`kehu.publish.churn.ChurnOptions`. When features have been published,
        the newest day is scored with the new model right away (in the same run: one backend, one extract of the
        whole store, cut at that day for cross-sell); the score write moves the pages' run stamp.
        """
        from kehu.publish.churn import ChurnOptions, score_churn
        from kehu.publish.churn_train import train_churn
        from kehu.publish.run import Run
        from kehu.store.published import latest_run

        require_role(self.principal, "admin")
        store = self.ws.engine
        ensure_current(store)
        with Run(self.ws.settings, store, engine=engine) as run:
            result = train_churn(run, options=ChurnOptions(**options), as_of=as_of).as_dict()
            with store.connect() as conn:
                latest = latest_run(conn)
            if latest is not None:
                published = latest["as_of"]
                day = published if isinstance(published, dt.date) else dt.date.fromisoformat(str(published))
                result["scored"] = score_churn(run, as_of=day).as_dict()
        return result

    def report(self) -> dict[str, Any]:
        """The latest churn model's version, options and backtest tables."""
        from kehu.publish.churn import churn_report

        require_role(self.principal, "admin")
        return churn_report(self.ws.settings)

    def write_report(
        self, out_dir: str | Path, *, calibration_end: dt.date | None = None, observation_end: dt.date | None = None
    ) -> dict[str, Any]:
        """Write the value-model diagnostics (three PNG plots and an HTML page) for the store's orders, and the
        churn backtest's plots when a churn model has been trained."""
        from kehu.publish.value_report import write_models_report

        require_role(self.principal, "admin")
        ensure_current(self.ws.engine)
        result = write_models_report(
            self.ws.settings,
            self.ws.engine,
            out_dir,
            calibration_end=calibration_end,
            observation_end=observation_end,
            purchase_model=self.ws.settings.purchase_model,
        ).as_dict()
        result.update(self._churn_plots(Path(out_dir)))
        return result

    def _churn_plots(self, out_dir: Path) -> dict[str, Any]:
        from kehu.publish.churn import churn_report, latest_model_file
        from kehu.reports.churn_plots import plot_churn_calibration, plot_churn_concentration, plot_churn_gains

        if latest_model_file(self.ws.settings) is None:
            return {"churn_plots": []}
        backtest = churn_report(self.ws.settings)["backtest"]
        return {
            "churn_plots": [
                str(plot_churn_calibration(backtest, out_dir / "churn_calibration.png")),
                str(plot_churn_gains(backtest, out_dir / "churn_gains.png")),
                str(plot_churn_concentration(backtest, out_dir / "churn_concentration.png")),
            ]
        }
