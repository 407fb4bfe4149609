"""PNG plots and one self-contained HTML page for the purchase-model diagnostics.

The numbers come from :mod:`kehu.models.diagnostics`; this module only draws them. Matplotlib is imported
lazily with the non-interactive Agg backend, so importing Kehu stays fast and no display is needed. The HTML
page embeds the images as base64 and references nothing outside itself.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ModelReport",
    "plot_calibration_vs_holdout",
    "plot_cumulative_repeat_transactions",
    "plot_probability_alive",
    "write_model_report",
]

Numbers = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class ModelReport:
    """Paths of the files written by :func:`write_model_report`."""

    calibration_png: Path
    cumulative_png: Path
    p_alive_png: Path
    html: Path


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_calibration_vs_holdout(numbers: Numbers, path: Path, *, title: str = "Calibration vs holdout") -> Path:
    """Bar chart of mean holdout purchases, actual vs predicted, by calibration frequency.

    Parameters
    ----------
    numbers
        Output of :func:`kehu.models.diagnostics.calibration_vs_holdout`.
    path
        PNG file to write.
    title
        Plot title.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    plt = _pyplot()
    freq = numbers["frequency"]
    labels = [f"{int(f)}" for f in freq[:-1]] + [f"{int(freq[-1])}+"]
    pos = np.arange(len(freq))
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    ax.bar(pos - 0.2, numbers["actual"], width=0.4, label="actual", color="#33658a")
    ax.bar(pos + 0.2, numbers["predicted"], width=0.4, label="model", color="#f6ae2d")
    ax.set_xticks(pos, labels)
    ax.set_xlabel("purchases in calibration period")
    ax.set_ylabel("mean purchases in holdout period")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def plot_cumulative_repeat_transactions(
    numbers: Numbers,
    path: Path,
    *,
    calibration_periods: float | None = None,
    title: str = "Repeat transactions",
) -> Path:
    """Line chart of cumulative repeat transactions, actual vs model, by period.

    Parameters
    ----------
    numbers
        Output of :func:`kehu.models.diagnostics.cumulative_repeat_transactions`.
    path
        PNG file to write.
    calibration_periods
        If given, a vertical line marks the end of the calibration window.
    title
        Plot title.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    ax.plot(numbers["period"], numbers["actual"], label="actual", color="#33658a")
    ax.plot(numbers["period"], numbers["predicted"], label="model", color="#f6ae2d", linestyle="--")
    if calibration_periods is not None:
        ax.axvline(calibration_periods, color="grey", linestyle=":", label="end of calibration")
    ax.set_xlabel("period")
    ax.set_ylabel("cumulative repeat transactions")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def plot_probability_alive(numbers: Numbers, path: Path, *, title: str = "P(alive)") -> Path:
    """Heat map of P(alive) over frequency (x axis) and recency (y axis).

    Parameters
    ----------
    numbers
        Output of :func:`kehu.models.diagnostics.probability_alive_grid`.
    path
        PNG file to write.
    title
        Plot title.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    plt = _pyplot()
    freq, rec = numbers["frequency"], numbers["recency"]
    fig, ax = plt.subplots(figsize=(6.5, 5), dpi=100)
    image = ax.imshow(
        np.ma.masked_invalid(numbers["p_alive"]),
        origin="lower",
        aspect="auto",
        extent=(freq[0] - 0.5, freq[-1] + 0.5, rec[0], rec[-1]),
        vmin=0.0,
        vmax=1.0,
        cmap="viridis",
    )
    fig.colorbar(image, ax=ax, label="probability alive")
    ax.set_xlabel("frequency (repeat purchases)")
    ax.set_ylabel("recency (time of last purchase)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def _table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return ""
    keys = list(rows[0])
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in keys)
    body = []
    for row in rows:
        cells = []
        for k in keys:
            v = row[k]
            text = f"{v:,.4g}" if isinstance(v, float) else str(v)
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def write_model_report(
    out_dir: str | Path,
    *,
    calibration: Numbers,
    cumulative: Numbers,
    p_alive: Numbers,
    comparison: Sequence[Mapping[str, Any]] = (),
    parameters: Sequence[Mapping[str, Any]] = (),
    calibration_periods: float | None = None,
    title: str = "Purchase model diagnostics",
) -> ModelReport:
    """Write the three diagnostic PNGs and an HTML page embedding them.

    Parameters
    ----------
    out_dir
        Directory to write into (created if missing).
    calibration, cumulative, p_alive
        Numbers from :mod:`kehu.models.diagnostics`.
    comparison
        Optional rows of :func:`kehu.models.diagnostics.compare_models`.
    parameters
        Optional rows of a model's ``summary()``.
    calibration_periods
        End of the calibration window on the cumulative plot.
    title
        Page title.

    Returns
    -------
    ModelReport
        Paths of the written files.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cal_png = plot_calibration_vs_holdout(calibration, out / "calibration_vs_holdout.png")
    cum_png = plot_cumulative_repeat_transactions(
        cumulative, out / "cumulative_repeat_transactions.png", calibration_periods=calibration_periods
    )
    alive_png = plot_probability_alive(p_alive, out / "probability_alive.png")
    figures = []
    for png, caption in (
        (cal_png, "Mean holdout purchases by calibration frequency"),
        (cum_png, "Cumulative repeat transactions"),
        (alive_png, "P(alive) by frequency and recency"),
    ):
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        figures.append(
            f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    sections = []
    if parameters:
        sections.append("<h2>Parameters</h2>" + _table(parameters))
    if comparison:
        sections.append("<h2>Model comparison (holdout)</h2>" + _table(comparison))
    page = (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:sans-serif;margin:2em;max-width:60em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}"
        "img{max-width:100%}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{''.join(sections)}{''.join(figures)}</body></html>"
    )
    html_path = out / "model_report.html"
    html_path.write_text(page, encoding="utf-8")
    return ModelReport(calibration_png=cal_png, cumulative_png=cum_png, p_alive_png=alive_png, html=html_path)
