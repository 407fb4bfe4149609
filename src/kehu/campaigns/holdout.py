"""Randomized holdout assignment, stratified and reproducible from a seed.

Within each stratum (e.g. a lifecycle stage) the members are sorted by customer id and permuted by a random
generator seeded with ``(seed, CRC-32 of the stratum's name)``; the first ``k`` of the permutation form the
holdout. ``k`` is ``share · n`` rounded up or down at random (with the probability of its fractional part), so
the expected holdout share is exactly ``share`` in every stratum, however small. The same members, strata, share
and seed always give the same arms, independently of the order the members are listed in or of other strata.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping

import numpy as np

__all__ = ["HOLDOUT", "TREATMENT", "assign_arms"]

TREATMENT = "treatment"
HOLDOUT = "holdout"


def assign_arms(strata: Mapping[int, str], *, share: float, seed: int) -> dict[int, str]:
    """Assign every customer to ``treatment`` or ``holdout``.

    Parameters
    ----------
    strata
        Customer id -> stratum name.
    share
        Expected holdout share in (0, 1).
    seed
        Any non-negative integer; the assignment is a function of it.

    Returns
    -------
    dict
        Customer id -> arm.
    """
    if not 0 < share < 1:
        raise ValueError(f"holdout share must be between 0 and 1 (exclusive), got {share}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    by_stratum: dict[str, list[int]] = {}
    for cid, stratum in strata.items():
        by_stratum.setdefault(stratum, []).append(int(cid))
    arms: dict[int, str] = {}
    for stratum in sorted(by_stratum):
        ids = sorted(by_stratum[stratum])
        rng = np.random.default_rng([seed, zlib.crc32(stratum.encode("utf-8"))])
        expected = share * len(ids)
        k = math.floor(expected) + int(rng.random() < expected - math.floor(expected))
        held = set(rng.permutation(len(ids))[:k].tolist())
        for i, cid in enumerate(ids):
            arms[cid] = HOLDOUT if i in held else TREATMENT
    return arms
