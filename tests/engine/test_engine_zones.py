"""Local wall-clock time inside the engine: offsets from the time-zone database, DST edges, the way back."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from kehu.config import load_settings
from kehu.engine import connect, register_arrow, to_arrow
from kehu.engine.zones import local_time, offset_changes, to_utc_arrow
from kehu.errors import ConfigError

# around New York's spring-forward (2024-03-10 07:00 UTC) and fall-back (2024-11-03 06:00 UTC) instants,
# Shanghai's last summer time (1991), today's fixed +8 and local mean time before standard zones (1850)
INSTANTS = [
    dt.datetime(2024, 3, 10, 6, 59, 59),
    dt.datetime(2024, 3, 10, 7, 0, 0),
    dt.datetime(2024, 11, 3, 5, 59, 59),
    dt.datetime(2024, 11, 3, 6, 0, 0),
    dt.datetime(1991, 7, 1, 12, 0, 0),
    dt.datetime(2024, 1, 1, 16, 30, 0),
    dt.datetime(1850, 1, 1),
]


def expected(zone: str) -> list[dt.datetime]:
    tz = ZoneInfo(zone)
    return [t.replace(tzinfo=dt.UTC).astimezone(tz).replace(tzinfo=None) for t in INSTANTS]


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Shanghai", "UTC", "Asia/Kolkata"])
def test_local_time_matches_zoneinfo(engine: str, zone: str, tmp_path: Path) -> None:
    backend = connect(load_settings(home=tmp_path / "home", spark_master="local[2]"), engine=engine)
    table = register_arrow(backend, "zones_test", pa.table({"i": range(len(INSTANTS) + 1),
                                                            "t": [*INSTANTS, None]}))  # fmt: skip
    got = to_arrow(backend, table.select("i", local=local_time(table.t, zone)).order_by("i")).column("local")
    assert got.to_pylist() == [*expected(zone), None]


def test_offset_changes_and_unknown_zone() -> None:
    first, changes = offset_changes("Asia/Shanghai")
    assert first == 8 * 3600 + 5 * 60 + 43  # local mean time of Shanghai, +08:05:43
    assert changes[-1] == (dt.datetime(1991, 9, 14, 17, 0), 8 * 3600)  # end of China's last summer time
    assert offset_changes("UTC") == (0, ())
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        offset_changes("Mars/Olympus")


def test_to_utc_arrow_goes_back_to_the_instant() -> None:
    zone = "America/New_York"
    table = pa.table({"t": expected(zone)[:-1], "n": range(len(INSTANTS) - 1)})
    back = to_utc_arrow(table, zone)
    assert back.schema.field("t").type == pa.timestamp("us", tz="UTC")
    instants = [v.replace(tzinfo=None) for v in back.column("t").to_pylist()]
    # 01:00 EST (06:00 UTC) repeats the hour after 01:00 EDT (05:00 UTC): wall-clock time resolves to the first
    assert instants[3] == dt.datetime(2024, 11, 3, 5, 0, 0)
    assert instants[:3] + instants[4:] == INSTANTS[:3] + INSTANTS[4:-1]
    assert back.column("n").to_pylist() == list(range(len(INSTANTS) - 1))
