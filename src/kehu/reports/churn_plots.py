"""PNG plots of the churn backtest: calibration by decile, cumulative gains (lift) of the model vs baselines,
and where churn concentrates (lifecycle stage, tenure, contract end).

The numbers come from the backtest stored with the churn model (:func:`kehu.publish.churn_train.train_churn`);
this module only draws them. Matplotlib is imported lazily with the Agg backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["plot_churn_calibration", "plot_churn_concentration", "plot_churn_gains"]

_LABELS = {
    "model": "LightGBM (calibrated)",
    "days_since_last_order": "days since last order",
    "bgnbd_no_purchase": "P(no purchase in horizon) (BG/NBD)",
    "pareto_nbd_no_purchase": "P(no purchase in horizon) (Pareto/NBD)",
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


_CONCENTRATION = (
    ("lifecycle_stage", "by lifecycle stage"),
    ("tenure_months", "by tenure (months)"),
    ("contract_end", "by contract end"),
)


def plot_churn_concentration(backtest: Mapping[str, Any], path: Path) -> Path:
    """Churn rate (bars) and customers (labels) per lifecycle stage, tenure bucket and contract-end bucket."""
    plt = _pyplot()
    concentration = backtest["concentration"]
    panels = [(key, title) for key, title in _CONCENTRATION if concentration.get(key)]
    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(4.2 * max(len(panels), 1), 4.6), squeeze=False)
    for ax, (key, title) in zip(axes[0], panels, strict=False):
        rows = concentration[key]
        names = [r["key"] for r in rows]
        rates = [r["churn_rate"] for r in rows]
        ax.barh(range(len(rows)), rates, color="#c0504d")
        ax.set_yticks(range(len(rows)), names, fontsize=8)
        ax.invert_yaxis()
        for i, r in enumerate(rows):
            ax.text(r["churn_rate"], i, f" {r['churn_rate']:.0%} (n={r['customers']:,})", va="center", fontsize=7)
        ax.set_xlim(0, 1.15)
        ax.set_xlabel("churn rate")
        ax.set_title(f"Churn rate {title}", fontsize=9)
    if not panels:
        axes[0][0].text(0.5, 0.5, "no labelled customers", ha="center", va="center")
        axes[0][0].set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
