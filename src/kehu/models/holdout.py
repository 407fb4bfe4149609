"""Randomized holdout assignment, stratified and reproducible from a seed (campaigns) or a key (playbook rules).

Within each stratum (e.g. a lifecycle stage) the members are sorted by customer id and permuted by a random
generator seeded with ``(seed, CRC-32 of the stratum's name)``; the first ``k`` of the permutation form the
holdout. ``k`` is ``share · n`` rounded up or down at random (with the probability of its fractional part), so
the expected holdout share is exactly ``share`` in every stratum, however small. The same members, strata, share
and seed always give the same arms, independently of the order the members are listed in or of other strata.

A campaign assigns its whole target once (:func:`assign_arms`). A playbook rule meets its customers a few at a
time, run after run, and each must land in the same arm every time, whatever their segment is by then and
whoever else fires that day. So :func:`held_out` uses the same stratified draw with strata that never change:
blocks of :data:`BLOCK` consecutive customer ids, each drawn over all the ids it can hold (whether those customers
exist yet or not), with the seed a keyed hash of the rule (SHA-256 of ``playbook/rule``). A customer's arm is
then a function of their id and the rule alone — not of their features, the day or the other customers — and
every block of ids (customers created at about the same time) holds out exactly ``share`` of its ids, rounded at
random.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

__all__ = ["BLOCK", "HOLDOUT", "TREATMENT", "assign_arms", "held_out", "key_seed"]

TREATMENT = "treatment"
HOLDOUT = "holdout"

#: Consecutive customer ids per stratum of a playbook rule's holdout.
BLOCK = 100


def _held_positions(n: int, stratum: str, *, share: float, seed: int) -> set[int]:
    """Positions (0 .. n−1, in id order) of a stratum's members that form its holdout."""
    rng = np.random.default_rng([seed, zlib.crc32(stratum.encode("utf-8"))])
    expected = share * n
    k = math.floor(expected) + int(rng.random() < expected - math.floor(expected))
    return set(rng.permutation(n)[:k].tolist())


def _check(share: float, seed: int) -> None:
    if not 0 < share < 1:
        raise ValueError(f"holdout share must be between 0 and 1 (exclusive), got {share}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")


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
    _check(share, seed)
    by_stratum: dict[str, list[int]] = {}
    for cid, stratum in strata.items():
        by_stratum.setdefault(stratum, []).append(int(cid))
    arms: dict[int, str] = {}
    for stratum in sorted(by_stratum):
        ids = sorted(by_stratum[stratum])
        held = _held_positions(len(ids), stratum, share=share, seed=seed)
        for i, cid in enumerate(ids):
            arms[cid] = HOLDOUT if i in held else TREATMENT
    return arms


def key_seed(key: str) -> int:
    """A seed from a text key: the first 8 bytes of its SHA-256, as a non-negative integer."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") >> 1


def held_out(customer_ids: Iterable[int], *, share: float, key: str) -> set[int]:
    """The customers among ``customer_ids`` held out of the rule called ``key`` (see the module docstring).

    Parameters
    ----------
    customer_ids
        Customer ids (non-negative; repeats are fine).
    share
        Holdout share in [0, 1); 0 holds nobody out.
    key
        What the assignment is keyed on, e.g. ``"playbook/rule"``.

    Returns
    -------
    set
        The held-out ids.
    """
    if share == 0:
        return set()
    seed = key_seed(key)
    _check(share, seed)
    by_block: dict[int, list[int]] = {}
    for cid in {int(c) for c in customer_ids}:
        if cid < 0:
            raise ValueError(f"customer id must be >= 0, got {cid}")
        by_block.setdefault(cid // BLOCK, []).append(cid)
    out: set[int] = set()
    for block, ids in by_block.items():
        held = _held_positions(BLOCK, f"ids:{block}", share=share, seed=seed)
        out.update(_in_block(ids, block, held))
    return out


def _in_block(ids: Sequence[int], block: int, held: set[int]) -> list[int]:
    return [cid for cid in ids if cid - block * BLOCK in held]
