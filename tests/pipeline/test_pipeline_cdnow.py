"""CDNOW: frequency, recency and T in weeks for the 39-week calibration period, against the raw file.

The expectations are computed here in plain Python from ``CDNOW_master.txt`` (shipped in the lifetimes
wheel); the store is filled through the real importer with the documented mapping ``examples/cdnow/master.yaml``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

import pytest
import sqlalchemy as sa

from kehu.config import load_settings
from kehu.publish.pipeline_run import run_pipeline
from kehu.service.workspace import Workspace
from kehu.store import published, schema
from kehu_testdata import cdnow_path

CALIBRATION_START = dt.date(1997, 1, 1)
CALIBRATION_END = CALIBRATION_START + dt.timedelta(weeks=39, days=-1)  # 1997-09-30, inclusive


def cdnow_lines() -> list[tuple[int, dt.date, int]]:
    path = cdnow_path("CDNOW_master.txt")
    rows = []
    for line in path.read_text().splitlines()[1:]:
        cid, day, _cds, dollars = line.split()
        rows.append((int(cid), dt.datetime.strptime(day, "%Y%m%d").date(), round(float(dollars) * 100)))
    return rows


@pytest.mark.slow
def test_cdnow_calibration_rfm_in_weeks(tmp_path: Path) -> None:
    lines = cdnow_lines()
    assert len(lines) == 69_659
    ws = Workspace(load_settings(home=tmp_path / "home"))
    ws.init()
    mapping = Path(__file__).resolve().parents[2] / "examples" / "cdnow" / "master.yaml"
    summary = ws.import_file("orders", cdnow_path("CDNOW_master.txt"), mapping=mapping, source="cdnow")
    assert (summary.inserted, summary.quarantined) == (69_659, 0)
    run_pipeline(ws.settings, as_of=CALIBRATION_END, engine="duckdb")
    with ws.engine.connect() as conn:
        rows = (
            conn.execute(
                sa.select(schema.customer_records.c.source_customer_id, published.customer_scores).join(
                    published.customer_scores,
                    published.customer_scores.c.customer_id == schema.customer_records.c.customer_id,
                )
            )
            .mappings()
            .all()
        )
    features = {int(r["source_customer_id"]): dict(r) for r in rows}
    ws.close()

    days: dict[int, set[dt.date]] = defaultdict(set)
    for cid, day, _ in lines:
        if CALIBRATION_START <= day <= CALIBRATION_END:
            days[cid].add(day)
    assert len(days) == 23_570  # every CDNOW customer made a first purchase in the first quarter of 1997
    assert set(features) == set(days)
    for cid, purchase_days in days.items():
        first, last = min(purchase_days), max(purchase_days)
        f = features[cid]
        assert f["frequency"] == len(purchase_days) - 1, cid
        assert f["recency_weeks"] == pytest.approx((last - first).days / 7, abs=1e-12), cid
        assert f["T_weeks"] == pytest.approx((CALIBRATION_END - first).days / 7, abs=1e-12), cid
    # the papers' calibration summary: 23,570 customers, T of a first-day buyer = 38.86 weeks
    assert features[1]["T_weeks"] == pytest.approx(38.857, abs=1e-3)
    repeaters = sum(1 for f in features.values() if f["frequency"] > 0)
    assert repeaters == sum(1 for d in days.values() if len(d) > 1)
