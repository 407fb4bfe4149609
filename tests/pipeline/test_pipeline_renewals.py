"""Renewals in hand and the two churn outcomes: on every engine, only rows known by the day count."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa

from kehu.config import load_settings
from kehu.engine import connect, register_arrow, to_arrow
from kehu.pipeline.renewals import renewals_in_hand

D = dt.date
AS_OF = D(2025, 6, 30)

# customer, status, start, end, signed
CONTRACTS = [
    (1, "renewed", D(2024, 7, 1), D(2025, 6, 30), D(2024, 6, 20)),  # the current contract is marked renewed
    (2, "active", D(2024, 7, 1), D(2025, 7, 15), D(2024, 6, 20)),  # a draft renewal runs past its end
    (2, "draft", D(2025, 7, 16), D(2026, 7, 15), D(2025, 6, 25)),
    (3, "active", D(2024, 7, 1), D(2025, 7, 15), D(2024, 6, 20)),  # a draft drawn up after the day: unknown
    (3, "draft", D(2025, 7, 16), D(2026, 7, 15), D(2025, 7, 2)),
    (4, "renewed", D(2023, 7, 1), D(2024, 6, 30), D(2023, 6, 20)),  # renewed long ago; the current one is open
    (4, "active", D(2024, 7, 1), D(2025, 6, 30), D(2024, 6, 25)),
    (5, "expired", D(2024, 1, 1), D(2024, 12, 31), None),  # no renewal
    (6, "draft", D(2025, 7, 1), D(2026, 6, 30), D(2025, 6, 1)),  # only a draft: no current contract
    (7, "Renewed", D(2024, 7, 1), D(2025, 8, 31), None),  # status case does not matter; start date = known
]


def test_renewals_in_hand(engine: str, tmp_path: Path) -> None:
    backend = connect(load_settings(home=tmp_path / "home", spark_master="local[2]"), engine=engine)
    cols = list(zip(*CONTRACTS, strict=True))
    table = register_arrow(
        backend,
        "renewals_test",
        pa.table(
            {
                "customer_id": pa.array(cols[0], pa.int64()),
                "status": pa.array(cols[1], pa.string()),
                "start_date": pa.array(cols[2], pa.date32()),
                "end_date": pa.array(cols[3], pa.date32()),
                "signed_at": pa.array(cols[4], pa.date32()),
            }
        ),
    )
    got = to_arrow(backend, renewals_in_hand(table, AS_OF).order_by("customer_id")).to_pylist()
    assert got == [
        {"customer_id": 1, "renewal_end": None, "renewal_state": "renewed"},
        {"customer_id": 2, "renewal_end": D(2026, 7, 15), "renewal_state": "draft"},
        {"customer_id": 7, "renewal_end": None, "renewal_state": "renewed"},
    ]
