"""CDNOW: frequency, recency and T in weeks for the 39-week calibration period, against the raw file.

The expectations are computed here in plain Python from ``CDNOW_master.txt`` (shipped in the lifetimes
wheel); the store is filled with direct inserts (one order per line of the file).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

import pytest
from pipeline_testkit import Store, features_by_customer, run_features

from kehu.store import schema
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
    store = Store(tmp_path / "home")
    with store.engine.begin() as conn:
        ids = sorted({cid for cid, _, _ in lines})
        conn.execute(schema.customers.insert(), [{"id": cid} for cid in ids])
        conn.execute(
            schema.orders.insert(),
            [
                {"id": n, "source": "cdnow", "order_id": str(n), "customer_id": cid, "row_hash": 0,
                 "ordered_at": dt.datetime.combine(day, dt.time(), dt.UTC), "amount_cents": cents,
                 "currency": "USD", "status": "paid"}
                for n, (cid, day, cents) in enumerate(lines, start=1)
            ],
        )  # fmt: skip
    features = features_by_customer(run_features(store, "duckdb", CALIBRATION_END))

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
