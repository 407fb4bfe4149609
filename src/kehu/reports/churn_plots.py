"""PNG plots of the churn backtest: calibration by decile and cumulative gains (lift), model vs baselines.

The numbers come from the backtest stored with the churn model (:func:`kehu.service.churn.train_churn`);
this module only draws them. Matplotlib is imported lazily with the Agg backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["plot_churn_calibration", "plot_churn_gains"]

_LABELS = {
    "model": "LightGBM (calibrated)",
    "days_since_last_order": "days since last order",
    "one_minus_p_alive": "1 - P(alive) (BG/NBD)",
    "logistic_rfm": "logistic regression on R, F, M",
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_churn_calibration(backtest: Mapping[str, Any], path: Path) -> Path:
    """Mean predicted risk vs observed churn rate per decile, for every probabilistic score of the backtest."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    ax.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=1, label="perfect calibration")
    for row in backtest["churn"]:
        if row.get("calibration"):
            pred = [c["predicted"] for c in row["calibration"]]
            obs = [c["observed"] for c in row["calibration"]]
            ax.plot(pred, obs, marker="o", label=_LABELS.get(row["name"], row["name"]))
    ax.set_xlabel("mean predicted churn risk (decile)")
    ax.set_ylabel("observed churn rate")
    ax.set_title(f"Churn calibration, test days {', '.join(backtest['test_days'])}", fontsize=9)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_churn_gains(backtest: Mapping[str, Any], path: Path) -> Path:
    """Share of churners captured vs share of customers contacted (riskiest first), model vs baselines."""
    plt = _pyplot()
    gains = backtest["gains"]
    shares = [0.0, *gains["shares"]]
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    ax.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=1, label="random")
    for name, values in gains.items():
        if name != "shares":
            ax.plot(shares, [0.0, *values], label=_LABELS.get(name, name))
    for x in (0.1, 0.2):
        ax.axvline(x, color="#dddddd", linewidth=1)
    ax.set_xlabel("share of customers, riskiest first")
    ax.set_ylabel("share of churners captured")
    ax.set_title("Churn capture (cumulative gains); lift = capture / share", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
