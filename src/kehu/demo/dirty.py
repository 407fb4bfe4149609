"""Rows made bad on purpose, so a demo import shows quarantine at work.

Each bad row is a copy of a real row placed right after it, with a fresh id (so it never overwrites a valid
row) and exactly one defect the importer must reject: an impossible date, an amount that is not a number,
a missing customer id, a negative quantity, a status nobody knows, a score out of range, and so on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = ["BAD_SHARE", "Defect", "bad_count", "inject_columns", "inject_rows"]

BAD_SHARE = 0.005


@dataclass(frozen=True)
class Defect:
    """One way to spoil a row: put one of ``values`` into ``column``."""

    reason: str
    column: str
    values: tuple[Any, ...]


def bad_count(rows: int, share: float = BAD_SHARE) -> int:
    """How many bad rows to add to a file of ``rows`` valid rows (at least one when there are rows)."""
    return 0 if rows == 0 else max(1, round(rows * share))


def _plan(
    rng: np.random.Generator, n: int, defects: Sequence[Defect], k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    src = np.sort(rng.integers(0, n, k)) if n else np.zeros(0, dtype=np.int64)
    which = rng.integers(0, len(defects), k)
    pick = rng.integers(0, 1 << 30, k)
    return src, which, pick


def inject_columns(
    rng: np.random.Generator,
    columns: dict[str, pa.Array],
    defects: Sequence[Defect],
    k: int,
    *,
    id_column: str | None,
    new_id: Callable[[int], str],
) -> tuple[dict[str, pa.Array], Counter[str]]:
    """Insert ``k`` bad rows into string columns.

    Parameters
    ----------
    rng
        Random generator.
    columns
        Header -> string array, all of one length.
    defects
        Ways to spoil a row; one is chosen per bad row.
    k
        How many bad rows.
    id_column
        Header of the row id, replaced by ``new_id(j)`` in bad row ``j`` (unless the defect blanks it).
    new_id
        Fresh id for the ``j``-th bad row.

    Returns
    -------
    tuple
        The new columns and a count of bad rows per defect reason.
    """
    n = len(next(iter(columns.values())))
    if k == 0 or n == 0:
        return columns, Counter()
    src, which, pick = _plan(rng, n, defects, k)
    reasons: Counter[str] = Counter()
    bad: dict[str, list[Any]] = {h: arr.take(pa.array(src)).to_pylist() for h, arr in columns.items()}
    for j in range(k):
        d = defects[which[j]]
        if id_column is not None:
            bad[id_column][j] = new_id(j)
        bad[d.column][j] = d.values[pick[j] % len(d.values)]
        reasons[d.reason] += 1
    order = np.argsort(np.concatenate([np.arange(n, dtype=float), src + 0.5]), kind="stable")
    take = pa.array(order)
    out = {h: pa.concat_arrays([arr, pa.array(bad[h], pa.string())]).take(take) for h, arr in columns.items()}
    return out, reasons


def inject_rows(
    rng: np.random.Generator,
    rows: list[list[Any]],
    header: Sequence[str],
    defects: Sequence[Defect],
    k: int,
    *,
    id_column: str,
    new_id: Callable[[int], str],
) -> tuple[list[list[Any]], Counter[str]]:
    """Like :func:`inject_columns` for row lists (XLSX rows with typed cells)."""
    if k == 0 or not rows:
        return rows, Counter()
    src, which, pick = _plan(rng, len(rows), defects, k)
    pos = {h: i for i, h in enumerate(header)}
    reasons: Counter[str] = Counter()
    extra: dict[int, list[list[Any]]] = {}
    for j in range(k):
        d = defects[which[j]]
        row = list(rows[src[j]])
        row[pos[id_column]] = new_id(j)
        value = d.values[pick[j] % len(d.values)]
        row[pos[d.column]] = value(row, pos) if callable(value) else value
        extra.setdefault(int(src[j]), []).append(row)
        reasons[d.reason] += 1
    out: list[list[Any]] = []
    for i, row in enumerate(rows):
        out.append(row)
        out.extend(extra.get(i, ()))
    return out, reasons
