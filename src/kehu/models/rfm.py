"""Per-customer (frequency, recency, T, monetary value) summaries from transaction arrays, in NumPy.

Semantics follow the usage of the literature (and of ``lifetimes``' ``summary_data_from_transaction_data``
with daily periods): all transactions of a customer on the same day form one purchase occasion whose
value is the day's total; the first occasion is the acquisition and is not counted; ``frequency`` is the
number of repeat occasions, ``recency`` the time from the first to the last occasion, ``T`` the time from
the first occasion to the end of observation, and ``monetary_value`` the mean value of the repeat
occasions (0 for customers without repeats). Times are expressed in units of ``unit_days`` days
(1 = days, 7 = weeks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from kehu.errors import ValidationError
from kehu.models._base import FloatArray, IntArray

__all__ = ["CalibrationHoldout", "RFMSummary", "calibration_holdout", "rfm_summary"]


@dataclass(frozen=True)
class RFMSummary:
    """Customer summaries, one row per customer, sorted by customer id."""

    customer_id: npt.NDArray[Any]
    frequency: FloatArray
    recency: FloatArray
    T: FloatArray
    monetary_value: FloatArray

    def __len__(self) -> int:
        return len(self.customer_id)


@dataclass(frozen=True)
class CalibrationHoldout:
    """Calibration summaries plus what the same customers did in the holdout window."""

    calibration: RFMSummary
    frequency_holdout: FloatArray
    monetary_value_holdout: FloatArray
    duration_holdout: float

    def __len__(self) -> int:
        return len(self.calibration)


def _day_numbers(name: str, times: Any) -> npt.NDArray[np.int64]:
    arr = np.asarray(times)
    if arr.ndim != 1:
        raise ValidationError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if arr.dtype.kind in "iu":
        return np.asarray(arr, dtype=np.int64)
    try:
        days = arr.astype("datetime64[D]")
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{name}: expected dates or datetimes ({exc})") from exc
    if np.isnat(days).any():
        i = int(np.flatnonzero(np.isnat(days))[0])
        raise ValidationError(f"{name}: missing date at position {i}")
    return days.astype(np.int64)


def _day_number(name: str, value: Any) -> int:
    return int(_day_numbers(name, np.asarray([value]))[0])


def _check_unit(unit_days: float) -> float:
    if not unit_days > 0:
        raise ValidationError(f"unit_days: must be > 0 (1 = days, 7 = weeks), got {unit_days!r}")
    return float(unit_days)


def _prepare(customer_ids: Any, times: Any, values: Any) -> tuple[Any, IntArray, FloatArray]:
    ids = np.asarray(customer_ids)
    days = _day_numbers("times", times)
    if ids.ndim != 1 or len(ids) != len(days):
        raise ValidationError(f"customer_ids: expected one id per transaction ({len(days)}), got shape {ids.shape}")
    if values is None:
        vals = np.zeros(len(days))
    else:
        vals = np.asarray(values, dtype=np.float64)
        if vals.shape != days.shape:
            raise ValidationError(f"values: expected one value per transaction ({len(days)}), got {vals.shape}")
        if not np.all(np.isfinite(vals)):
            raise ValidationError("values: contains missing or infinite amounts")
    return ids, days, vals


def _in_order(ids: npt.NDArray[Any], days: IntArray) -> bool:
    """Whether the log is ordered by customer id, then day (checked in one pass)."""
    if len(ids) < 2 or ids.dtype.kind not in "iuf":
        return len(ids) < 2
    same = ids[1:] == ids[:-1]
    ok = ids[1:] > ids[:-1]
    ok |= same & (days[1:] >= days[:-1])
    return bool(ok.all())


def _summarise(ids: Any, days: IntArray, vals: FloatArray, end: float, unit: float) -> RFMSummary:
    """Per-customer summary from one pass over the log ordered by (customer, day).

    A log already in that order (the usual export order, and how the store reads it) is detected and not
    re-sorted; otherwise it is sorted once. Customers start where the id changes and purchase occasions
    where the (customer, day) pair changes; sums over those runs use ``add.reduceat``. Only small boolean
    masks and per-occasion positions are allocated (fresh memory is the main cost at this size).
    """
    if len(days) == 0:
        raise ValidationError("times: no transactions on or before the end of observation")
    if not _in_order(ids, days):
        uid, code = np.unique(ids, return_inverse=True)
        order = np.lexsort((days, code))
        ids, days, vals = code[order], days[order], vals[order]
        del order, code
    else:
        uid = None
    n = len(days)
    new_customer = np.empty(n, dtype=np.bool_)
    new_customer[0] = True
    np.not_equal(ids[1:], ids[:-1], out=new_customer[1:])
    new_occasion = np.empty(n, dtype=np.bool_)
    new_occasion[0] = True
    np.not_equal(days[1:], days[:-1], out=new_occasion[1:])
    new_occasion |= new_customer
    first_row = np.flatnonzero(new_customer)
    del new_customer
    if uid is None:
        uid = ids[first_row]
    n_cust = len(first_row)
    occ_start = np.flatnonzero(new_occasion)
    del new_occasion
    # index (among occasions) of each customer's first occasion, and the number of occasions
    first_occ = np.searchsorted(occ_start, first_row)
    count = np.diff(first_occ, append=len(occ_start))
    last_row = np.empty(n_cust, dtype=np.int64)
    last_row[:-1] = first_row[1:] - 1
    last_row[-1] = n - 1
    first_day, last_day = days[first_row], days[last_row]
    # sums over [first row, second occasion) and [second occasion, next customer): the first occasion's
    # value and the repeat value
    second = np.where(count > 1, occ_start[np.minimum(first_occ + 1, len(occ_start) - 1)], last_row + 1)
    bounds = np.empty(2 * n_cust, dtype=np.int64)
    bounds[0::2] = first_row
    bounds[1::2] = second
    sums = np.add.reduceat(vals, np.minimum(bounds, n - 1))
    repeat_total = np.where(count > 1, sums[1::2], 0.0)
    frequency = (count - 1).astype(np.float64)
    monetary = np.divide(repeat_total, frequency, out=np.zeros(n_cust), where=frequency > 0)
    return RFMSummary(
        customer_id=np.asarray(uid),
        frequency=frequency,
        recency=np.asarray((last_day - first_day) / unit, dtype=np.float64),
        T=np.asarray((end - first_day) / unit, dtype=np.float64),
        monetary_value=monetary,
    )


def rfm_summary(
    customer_ids: Any,
    times: Any,
    values: Any = None,
    *,
    observation_end: Any = None,
    unit_days: float = 1.0,
) -> RFMSummary:
    """Summarise a transaction log per customer.

    Parameters
    ----------
    customer_ids
        Customer id per transaction (any sortable values).
    times
        Transaction dates or datetimes (anything ``datetime64`` accepts; integers are day numbers).
    values
        Transaction amounts, or None (then ``monetary_value`` is all zeros).
    observation_end
        Last day of observation (inclusive); later transactions are ignored. Defaults to the last
        transaction day.
    unit_days
        Length of the time unit in days: 1 for days, 7 for weeks.

    Returns
    -------
    RFMSummary
        One row per customer with a transaction on or before ``observation_end``.
    """
    unit = _check_unit(unit_days)
    ids, days, vals = _prepare(customer_ids, times, values)
    end = float(days.max()) if observation_end is None else float(_day_number("observation_end", observation_end))
    keep = days <= end
    if keep.all():
        return _summarise(ids, days, vals, end, unit)
    return _summarise(ids[keep], days[keep], vals[keep], end, unit)


def calibration_holdout(
    customer_ids: Any,
    times: Any,
    values: Any = None,
    *,
    calibration_end: Any,
    observation_end: Any = None,
    unit_days: float = 1.0,
) -> CalibrationHoldout:
    """Split a transaction log into a calibration summary and holdout outcomes.

    Parameters
    ----------
    customer_ids, times, values
        The transaction log, as in :func:`rfm_summary`.
    calibration_end
        Last day of the calibration window (inclusive).
    observation_end
        Last day of the holdout window (inclusive); defaults to the last transaction day.
    unit_days
        Length of the time unit in days.

    Returns
    -------
    CalibrationHoldout
        Calibration summaries of every customer acquired by ``calibration_end``; their number of
        purchase days and mean transaction value in the holdout window; and the holdout length.
    """
    unit = _check_unit(unit_days)
    ids, days, vals = _prepare(customer_ids, times, values)
    cal_end = float(_day_number("calibration_end", calibration_end))
    obs_end = float(days.max()) if observation_end is None else float(_day_number("observation_end", observation_end))
    if obs_end <= cal_end:
        raise ValidationError("observation_end: must be after calibration_end")
    in_cal = days <= cal_end
    calibration = _summarise(ids[in_cal], days[in_cal], vals[in_cal], cal_end, unit)
    in_hold = (days > cal_end) & (days <= obs_end)
    h_ids, h_days, h_vals = ids[in_hold], days[in_hold], vals[in_hold]
    pos = np.searchsorted(calibration.customer_id, h_ids)
    pos = np.clip(pos, 0, len(calibration.customer_id) - 1)
    known = calibration.customer_id[pos] == h_ids
    pos, h_days, h_vals = pos[known], h_days[known], h_vals[known]
    n = len(calibration)
    order = np.lexsort((h_days, pos))
    p, d = pos[order], h_days[order]
    distinct = np.ones(len(p), dtype=bool)
    distinct[1:] = (p[1:] != p[:-1]) | (d[1:] != d[:-1])
    freq_h = np.bincount(p[distinct], minlength=n).astype(np.float64)
    n_tx = np.bincount(pos, minlength=n)
    total = np.bincount(pos, weights=h_vals, minlength=n)
    mon_h = np.divide(total, n_tx, out=np.zeros(n), where=n_tx > 0)
    return CalibrationHoldout(
        calibration=calibration,
        frequency_holdout=freq_h,
        monetary_value_holdout=mon_h,
        duration_holdout=(obs_end - cal_end) / unit,
    )
