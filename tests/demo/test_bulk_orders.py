"""The benchmarks' bulk order file follows the process the value models assume: customers arrive over time, some
lapse, and BG/NBD fitted on the file converges inside its parameter box (it did not while every customer bought
at a constant rate to the end: the dropout parameter ran to its bound and the value models were refused)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from kehu.demo import write_orders_csv
from kehu.demo.headers import HEADERS
from kehu.models import BetaGeo, rfm_summary


def test_the_bulk_orders_identify_a_dropout_process(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    write_orders_csv(path, rows=60_000, customers=6_000, seed=3)
    h = HEADERS["orders"]
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 60_000
    ordered = [r[h["ordered_at"]] for r in rows]
    assert ordered == sorted(ordered)  # order ids rise with time
    days = np.array([np.datetime64(t[:10]) for t in ordered])
    first = {}
    for r, d in zip(rows, days, strict=True):
        first.setdefault(r[h["customer_id"]], d)
    arrivals = np.array(sorted(first.values()))
    # customers arrive over the first 80% of the two years, not all in the first weeks
    assert arrivals[len(arrivals) // 2] - arrivals[0] > np.timedelta64(200, "D")
    s = rfm_summary([r[h["customer_id"]] for r in rows], days, observation_end=np.datetime64("2026-10-31"))
    model = BetaGeo().fit(s.frequency, s.recency, s.T)
    assert model.converged_, model.convergence_reason_
    alive = model.probability_alive(s.frequency, s.recency, s.T)
    assert 0.05 < np.mean(alive < 0.5) < 0.6  # a share of repeat buyers has lapsed, most have not
