"""A fast bulk order file for benchmarks: a million valid rows with the demo's Chinese headers in seconds.

Unlike :func:`kehu.demo.generate_demo` there is no customer-by-customer simulation, but the orders follow the
process the value models assume (Pareto/NBD): each customer arrives at a random day of the first 80% of the two
years, stays active for an exponential lifetime whose mean varies between customers (Gamma), and buys at a
heavy-tailed (Gamma) rate while active, at times that follow the demo's seasonal calendar. So some customers
have lapsed by the as-of day, as in real data, and BG/NBD and Pareto/NBD are identified on the file. Products,
quantities, discounts and statuses are drawn per row. Every column is rendered with pyarrow compute.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kehu.demo.catalog import ORDER_CHANNELS, PRODUCTS
from kehu.demo.formats import datetime_text, int_text, money_text, write_csv
from kehu.demo.headers import HEADERS
from kehu.demo.seasons import Timeline, time_of_day
from kehu.errors import ValidationError

__all__ = ["write_orders_csv"]

_AS_OF = date(2026, 10, 31)
_STATUS = (("已完成", 0.935), ("已退款", 0.035), ("已取消", 0.015), ("已付款", 0.012), ("待付款", 0.003))


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    digits = pc.utf8_lpad(pa.array(numbers.astype(np.int64)).cast(pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def write_orders_csv(path: Path, *, rows: int, customers: int, seed: int = 0) -> None:
    """Write ``rows`` valid order rows for ``customers`` customers as a UTF-8 CSV with Chinese headers.

    Parameters
    ----------
    path
        Target CSV file.
    rows
        Number of order rows (1,000,000 take a few seconds).
    customers
        Number of distinct customer ids (``C000001`` …) the orders are spread over.
    seed
        Random seed; the same arguments give byte-identical files.

    Raises
    ------
    ValidationError
        If ``rows`` is negative or ``customers`` is less than 1.
    """
    if rows < 0 or customers < 1:
        raise ValidationError(f"need rows >= 0 and customers >= 1, got rows={rows}, customers={customers}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7_011]))
    timeline = Timeline(_AS_OF - timedelta(days=730), _AS_OF)
    n_days, days = timeline.n_days, np.arange(timeline.cum_season.size, dtype=float)
    rate = rng.gamma(0.6, 1.0, customers)  # purchase rate while active, heavy-tailed across customers
    arrive = rng.uniform(0.0, 0.8 * n_days, customers)
    leave = np.minimum(arrive + rng.exponential(rng.gamma(2.0, 250.0, customers)), n_days - 1e-6)  # days
    lo, hi = np.interp(arrive, days, timeline.cum_season), np.interp(leave, days, timeline.cum_season)
    share = rate * (hi - lo)  # expected orders: the rate times the (seasonal) length of the active span
    cust = rng.choice(customers, size=rows, p=share / share.sum())
    u = lo[cust] + rng.random(rows) * (hi[cust] - lo[cust])  # uniform in seasonal time within the active span
    t = np.minimum(time_of_day(rng, np.interp(u, timeline.cum_season, days)), n_days - 1e-6)
    order = np.argsort(t, kind="stable")  # order ids rise with time
    t, cust = t[order], cust[order] + 1

    product = rng.integers(0, len(PRODUCTS), rows)
    price = np.array([round(p.price * 100) for p in PRODUCTS], dtype=np.int64)[product]
    margin_rate = np.array([p.margin for p in PRODUCTS])[product]
    qty = np.minimum(rng.geometric(0.72, rows), 6)
    gross = price * qty
    promo = timeline.is_promo[timeline.day_of(t)]
    gets = rng.random(rows) < np.where(promo, 0.8, 0.25)
    discount = np.where(gets, np.round(gross * rng.uniform(0.05, 0.25, rows) / 100) * 100, 0).astype(np.int64)
    amount = gross - discount
    margin = np.round(gross * margin_rate).astype(np.int64) - discount
    status_names = np.array([s for s, _ in _STATUS], dtype=object)
    status = rng.choice(len(_STATUS), size=rows, p=np.array([w for _, w in _STATUS]) / sum(w for _, w in _STATUS))
    secs = timeline.seconds(t)
    paid_ok = ~np.isin(status, (2, 4))
    paid = secs + rng.integers(20, 1800, rows)

    h = HEADERS["orders"]
    channels = pa.array(sorted(set(ORDER_CHANNELS)), pa.string())
    columns = {
        h["order_id"]: _ids("SO", np.arange(1, rows + 1), max(8, len(str(rows)))),
        h["customer_id"]: _ids("C", cust, max(6, len(str(customers)))),
        h["ordered_at"]: datetime_text(secs),
        h["amount"]: money_text(amount),
        h["gross_margin"]: money_text(margin),
        h["discount"]: money_text(discount, valid=discount > 0),
        h["quantity"]: int_text(qty),
        h["product"]: pa.array([p.name for p in PRODUCTS], pa.string()).take(pa.array(product)),
        h["category"]: pa.array([p.category for p in PRODUCTS], pa.string()).take(pa.array(product)),
        h["channel"]: channels.take(pa.array(rng.integers(0, len(channels), rows))),
        h["status"]: pa.array(status_names.tolist(), pa.string()).take(pa.array(status)),
        h["paid_at"]: datetime_text(paid, paid_ok),
    }
    write_csv(Path(path), columns)
