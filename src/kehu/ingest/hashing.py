"""Row hashes for change detection: a stable 64-bit hash of each row's parsed values.

Kept apart from :mod:`kehu.ingest.bulk` (which needs SQLAlchemy) so that the parsing process
(:mod:`kehu.ingest.parse_process`) starts without importing the store's libraries. The hash is stored with every
row (``row_hash``): changing how it is computed would make every row of an earlier import look changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["row_hashes"]


def _as_text(col: pa.Array | Sequence[Any]) -> pa.Array:
    """One column as text for hashing: lists joined, times as integer microseconds/days."""
    if not isinstance(col, pa.Array | pa.ChunkedArray):
        col = pa.array(list(col))
    if pa.types.is_list(col.type):
        col = pa.array(["\x1f".join(v) if v is not None else None for v in col.to_pylist()], pa.string())
    elif pa.types.is_timestamp(col.type):
        col = col.cast(pa.int64())
    elif pa.types.is_date(col.type):
        col = col.cast(pa.int32())
    elif pa.types.is_null(col.type):
        col = col.cast(pa.string())
    return col if pa.types.is_string(col.type) else col.cast(pa.string())


def row_hashes(columns: dict[str, pa.Array | Sequence[Any]]) -> np.ndarray:
    """A stable 64-bit hash per row over the given columns (independent of the dict's order), as int64.

    The columns are joined into one text per row inside Arrow (a unit separator between values, NUL for a
    missing value), then hashed once with pandas' SipHash — one Python string per row, not one per value.
    """
    if not columns:
        return np.zeros(0, dtype=np.int64)
    texts = [_as_text(columns[name]) for name in sorted(columns)]
    joined = pc.binary_join_element_wise(*texts, "\x1e", null_handling="replace", null_replacement="\x00")
    # as bytes: pandas hashes a str by its UTF-8 bytes, so the hash is the same, without decoding and encoding
    hashed = pd.util.hash_array(joined.cast(pa.binary()).to_numpy(zero_copy_only=False), categorize=False)
    return hashed.view(np.int64)
