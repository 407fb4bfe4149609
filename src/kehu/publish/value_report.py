"""The value-model diagnostics report (``kehu report models``).

:func:`write_models_report` splits the store's orders into a calibration and a holdout window, fits the
purchase models on the calibration window and writes the three diagnostic plots, an HTML page and the
numbers behind them.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from kehu.config import Settings
from kehu.errors import ValidationError
from kehu.models import calibration_holdout
from kehu.models.diagnostics import (
    calibration_vs_holdout,
    compare_models,
    cumulative_repeat_transactions,
    probability_alive_grid,
)
from kehu.publish.value_models import PURCHASE_MODEL_LABELS, PURCHASE_MODELS, UNIT_DAYS, _check_choice
from kehu.reports import ModelReport, write_model_report
from kehu.store.schema import orders
from kehu.vocabulary import PURCHASE_STATUSES

__all__ = ["ModelsReportResult", "write_models_report"]


@dataclass(frozen=True)
class ModelsReportResult:
    """What :func:`write_models_report` wrote and the numbers behind the plots.

    Attributes
    ----------
    files
        Paths of the three PNGs and the HTML page.
    numbers_file
        ``model_report.json``: the plotted numbers, the parameters and the model comparison.
    calibration_end, observation_end
        Last days (inclusive) of the calibration and holdout windows.
    customers
        Customers acquired in the calibration window.
    numbers
        ``calibration``, ``cumulative`` and ``p_alive`` arrays as plotted.
    comparison
        Holdout errors of BG/NBD, Pareto/NBD and MBG/NBD, best first.
    parameters
        The plotted purchase model's ``summary()`` rows.
    """

    files: ModelReport
    numbers_file: Path
    calibration_end: dt.date
    observation_end: dt.date
    customers: int
    numbers: dict[str, dict[str, np.ndarray]]
    comparison: list[dict[str, float | str]]
    parameters: list[dict[str, float | str]]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (file paths and windows)."""
        return {
            "html": str(self.files.html),
            "plots": [str(self.files.calibration_png), str(self.files.cumulative_png), str(self.files.p_alive_png)],
            "numbers": str(self.numbers_file),
            "calibration_end": self.calibration_end.isoformat(),
            "observation_end": self.observation_end.isoformat(),
            "customers": self.customers,
            "comparison": self.comparison,
        }


def _read_purchases(conn: Connection, timezone: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Purchase orders (paid or completed) as customer id, local day (in ``timezone``) and amount."""
    o = orders.c
    status = sa.func.lower(sa.func.trim(o.status))
    rows = conn.execute(
        sa.select(o.customer_id, o.ordered_at, o.amount_cents)
        .where(status.in_(PURCHASE_STATUSES))
        .order_by(o.customer_id, o.ordered_at)
    ).all()
    if not rows:
        raise ValidationError("orders: no paid or completed orders in the store to build the model report from")
    ids, stamps, cents = zip(*rows, strict=True)
    zone = ZoneInfo(timezone)
    days = np.array([s.astimezone(zone).date() for s in stamps], dtype="datetime64[D]")
    return np.asarray(ids, dtype=np.int64), days, np.asarray(cents, dtype=np.float64) / 100.0


def write_models_report(
    settings: Settings,
    engine: Engine,
    out_dir: str | Path,
    *,
    calibration_end: dt.date | None = None,
    observation_end: dt.date | None = None,
    unit: str = "weeks",
    purchase_model: str = "bgnbd",
    compare: tuple[str, ...] = ("bgnbd", "pareto_nbd", "mbgnbd"),
) -> ModelsReportResult:
    """Write the purchase-model diagnostics of the store's orders (``kehu report models``).

    Purchases (paid or completed orders; one occasion per customer and local day, in ``settings.timezone``)
    up to ``calibration_end`` are the calibration window, those after it up to ``observation_end`` the
    holdout. The purchase models are fitted on the calibration window and compared on the holdout; the
    chosen one is plotted.

    Parameters
    ----------
    settings
        Kehu settings (``timezone`` gives the purchase days).
    engine
        The app store.
    out_dir
        Directory for ``calibration_vs_holdout.png``, ``cumulative_repeat_transactions.png``,
        ``probability_alive.png``, ``model_report.html`` and ``model_report.json``.
    calibration_end
        Last calibration day; default halfway between the first and the last purchase day.
    observation_end
        Last holdout day; default the last purchase day.
    unit
        ``"weeks"`` or ``"days"``.
    purchase_model
        The model to plot: ``"bgnbd"``, ``"pareto_nbd"`` or ``"mbgnbd"``.
    compare
        The purchase models compared on the holdout (the plotted one is always included).

    Returns
    -------
    ModelsReportResult
    """
    _check_choice("unit", unit, UNIT_DAYS)
    _check_choice("purchase_model", purchase_model, PURCHASE_MODELS)
    unit_days = UNIT_DAYS[unit]
    with engine.connect() as conn:
        ids, days, amounts = _read_purchases(conn, settings.timezone)
    first = days.min().astype(dt.date)
    obs_end = observation_end or days.max().astype(dt.date)
    cal_end = calibration_end or first + (obs_end - first) / 2
    if not first <= cal_end < obs_end:
        raise ValidationError(
            f"calibration_end: must be on or after the first purchase day ({first}) and before "
            f"observation_end ({obs_end}), got {cal_end}"
        )
    data = calibration_holdout(
        ids, days, amounts, calibration_end=cal_end, observation_end=obs_end, unit_days=unit_days
    )
    cal = data.calibration
    for name in compare:
        _check_choice("compare", name, PURCHASE_MODELS)
    chosen = [purchase_model, *(name for name in compare if name != purchase_model)]
    fitted = {name: PURCHASE_MODELS[name]().fit(cal.frequency, cal.recency, cal.T) for name in chosen}
    model = fitted[purchase_model]
    numbers = {
        "calibration": calibration_vs_holdout(model, data),
        "cumulative": cumulative_repeat_transactions(model, ids, days, start=first, end=obs_end, unit_days=unit_days),
        "p_alive": probability_alive_grid(model, max_frequency=int(min(cal.frequency.max(), 30)), T=float(cal.T.max())),
    }
    labels = PURCHASE_MODEL_LABELS
    comparison = compare_models({labels[k]: m for k, m in fitted.items()}, data)
    parameters = [{"model": labels[purchase_model], **row} for row in model.summary()]
    files = write_model_report(
        out_dir,
        **numbers,
        comparison=comparison,
        parameters=parameters,
        calibration_periods=((cal_end - first).days + 1) / unit_days,
        title=f"Purchase model diagnostics ({labels[purchase_model]}, calibration to {cal_end.isoformat()})",
    )
    numbers_file = Path(out_dir) / "model_report.json"
    numbers_file.write_text(
        json.dumps(
            {
                "calibration_end": cal_end.isoformat(),
                "observation_end": obs_end.isoformat(),
                "unit": unit,
                "customers": len(cal),
                "parameters": parameters,
                "comparison": comparison,
                "numbers": {k: {n: v.tolist() for n, v in d.items()} for k, d in numbers.items()},
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    return ModelsReportResult(
        files=files,
        numbers_file=numbers_file,
        calibration_end=cal_end,
        observation_end=obs_end,
        customers=len(cal),
        numbers=numbers,
        comparison=comparison,
        parameters=parameters,
    )
