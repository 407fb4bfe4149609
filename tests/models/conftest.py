"""Shared fixtures: the CDNOW 1/10 sample shipped inside the installed ``lifetimes`` wheel."""

from __future__ import annotations

import numpy as np
import pytest

from kehu.models import CalibrationHoldout, calibration_holdout
from kehu_testdata import cdnow_path


@pytest.fixture(scope="session")
def cdnow_transactions() -> dict[str, np.ndarray]:
    """Raw CDNOW sample: customer id, date, number of CDs and dollar value per transaction."""
    raw = np.loadtxt(cdnow_path("CDNOW_sample.txt"))
    dates = np.array([f"{int(d):08d}" for d in raw[:, 2]])
    iso = np.array([f"{d[:4]}-{d[4:6]}-{d[6:]}" for d in dates], dtype="datetime64[D]")
    return {"customer_id": raw[:, 0].astype(np.int64), "date": iso, "cds": raw[:, 3], "value": raw[:, 4]}


@pytest.fixture(scope="session")
def cdnow(cdnow_transactions: dict[str, np.ndarray]) -> CalibrationHoldout:
    """The papers' split: 39 calibration weeks from 1997-01-01, the next 39 weeks as holdout, unit weeks."""
    start = np.datetime64("1997-01-01")
    return calibration_holdout(
        cdnow_transactions["customer_id"],
        cdnow_transactions["date"],
        cdnow_transactions["value"],
        calibration_end=start + np.timedelta64(39 * 7 - 1, "D"),
        observation_end=start + np.timedelta64(78 * 7 - 1, "D"),
        unit_days=7.0,
    )
