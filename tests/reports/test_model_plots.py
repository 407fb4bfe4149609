"""Acceptance 6: the three diagnostic plots and the self-contained HTML page from CDNOW numbers."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import numpy as np
import pytest

from kehu.models import BetaGeo, calibration_holdout
from kehu.models.diagnostics import (
    calibration_vs_holdout,
    compare_models,
    cumulative_repeat_transactions,
    probability_alive_grid,
)
from kehu.reports import write_model_report

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
from kehu_testdata import cdnow_path

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_model_report_files_and_numbers(tmp_path: Path) -> None:
    raw = np.loadtxt(cdnow_path("CDNOW_sample.txt"))
    dates = np.array([f"{int(d):08d}" for d in raw[:, 2]])
    days = np.array([f"{d[:4]}-{d[4:6]}-{d[6:]}" for d in dates], dtype="datetime64[D]")
    ids = raw[:, 0].astype(np.int64)
    data = calibration_holdout(
        ids, days, raw[:, 4], calibration_end="1997-09-30", observation_end="1998-06-30", unit_days=7.0
    )
    cal = data.calibration
    model = BetaGeo().fit(cal.frequency, cal.recency, cal.T)
    numbers = {
        "calibration": calibration_vs_holdout(model, data),
        "cumulative": cumulative_repeat_transactions(
            model, ids, days, start="1997-01-01", end="1998-06-30", unit_days=7.0
        ),
        "p_alive": probability_alive_grid(model, max_frequency=int(cal.frequency.max()), T=float(cal.T.max())),
    }
    report = write_model_report(
        tmp_path / "out",
        **numbers,
        comparison=compare_models({"BG/NBD": model}, data),
        parameters=model.summary(),
        calibration_periods=39.0,
    )
    for png in (report.calibration_png, report.cumulative_png, report.p_alive_png):
        blob = png.read_bytes()
        assert blob.startswith(PNG_MAGIC) and len(blob) > 5000
    page = report.html.read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 3
    assert "http://" not in page and "https://" not in page  # nothing loaded from elsewhere
    embedded = page.split("data:image/png;base64,")[1].split('"')[0]
    assert base64.b64decode(embedded) == report.calibration_png.read_bytes()
    assert "0.2426" in page or "0.2425" in page  # the fitted r is in the parameter table
    # The numbers behind the plots are the CDNOW ones.
    assert numbers["calibration"]["customers"].sum() == 2357
    assert numbers["cumulative"]["actual"][38] == 2457
    grid = numbers["p_alive"]["p_alive"]
    assert grid.shape[1] == int(cal.frequency.max()) + 1


def test_report_needs_no_display(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    numbers = {
        "frequency": np.arange(3.0),
        "customers": np.array([5.0, 3, 1]),
        "actual": np.array([0.1, 0.5, 1.0]),
        "predicted": np.array([0.2, 0.4, 1.1]),
    }
    from kehu.reports.model_plots import plot_calibration_vs_holdout

    out = plot_calibration_vs_holdout(numbers, tmp_path / "c.png")
    assert out.read_bytes().startswith(PNG_MAGIC)
