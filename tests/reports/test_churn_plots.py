"""The churn plots draw what the backtest holds: calibration, gains and concentration PNGs."""

from __future__ import annotations

from pathlib import Path

import pytest

from kehu.reports.churn_plots import plot_churn_calibration, plot_churn_concentration, plot_churn_gains

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _backtest() -> dict[str, object]:
    deciles = [{"predicted": (k + 0.5) / 10, "observed": (k + 0.4) / 10, "gap": -0.01} for k in range(10)]
    shares = [round(0.05 * k, 2) for k in range(1, 21)]
    return {
        "test_days": ["2026-01-31", "2026-03-02"],
        "churn": [
            {"name": "model", "calibration": deciles},
            {"name": "days_since_last_order", "calibration": None},
        ],
        "gains": {"shares": shares, "model": [min(1.0, 2.5 * s) for s in shares], "days_since_last_order": shares},
        "concentration": {
            "lifecycle_stage": [{"key": "new", "customers": 120, "churn_rate": 0.4}],
            "tenure_months": [
                {"key": "0-2", "customers": 80, "churn_rate": 0.5},
                {"key": "36+", "customers": 9, "churn_rate": 0.1},
            ],
            "contract_end": [],
        },
    }


@pytest.mark.parametrize("plot", [plot_churn_calibration, plot_churn_gains, plot_churn_concentration])
def test_churn_plots_are_pngs(tmp_path: Path, plot: object) -> None:
    path = plot(_backtest(), tmp_path / "p.png")  # type: ignore[operator]
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 5_000


def test_concentration_without_any_labelled_customer_still_draws(tmp_path: Path) -> None:
    bt = _backtest()
    bt["concentration"] = {"lifecycle_stage": [], "tenure_months": [], "contract_end": []}
    assert plot_churn_concentration(bt, tmp_path / "empty.png").read_bytes().startswith(PNG_MAGIC)
