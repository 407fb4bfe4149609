"""Shared pieces of the data refresh tests: new orders that move the data's last day, and waiting for a run."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from kehu.service.workspace import Workspace
from kehu.store.schema import orders

_HEADER = "订单编号,客户编号,下单时间,订单金额,毛利,优惠金额,数量,商品名称,品类,销售渠道,订单状态,回款时间"


def add_later_order(ws: Workspace, folder: Path, days: int = 3) -> dt.date:
    """Import one order ``days`` after the newest one (through the import path, as the demo's shop sends them);
    returns its day, the day a refresh will be as of."""
    with ws.engine.connect() as conn:
        newest = conn.execute(select(func.max(orders.c.ordered_at))).scalar_one()
    day = newest.astimezone(dt.timezone(dt.timedelta(hours=8))).date() + dt.timedelta(days=days)
    path = folder / "late_orders.csv"
    row = f"SO99999901,C000001,{day.isoformat()} 10:00:00,128.00,40.00,,1,明前西湖龙井 250g,绿茶,天猫,交易成功,"
    path.write_text(_HEADER + "\n" + row + "\n", encoding="utf-8-sig")
    summary = ws.import_file("orders", path, source="crm")
    assert summary.as_dict()["inserted"] == 1, summary.as_dict()
    return day


def wait_until_finished(get: Any, run_id: int, *, timeout: float = 240.0) -> dict[str, Any]:
    """Poll ``get(run_id)`` (the run as a dict) until it is no longer running."""
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = get(run_id)
        if run["status"] != "running":
            return run
        assert time.monotonic() < deadline, f"run {run_id} still running: {run}"
        time.sleep(0.5)
