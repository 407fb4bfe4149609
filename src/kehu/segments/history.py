"""Moves between two runs of a scheme: from -> to counts and, per segment, what came in and went out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["transitions"]


def transitions(
    old: Mapping[int, str], new: Mapping[int, str], keys: Sequence[str], *, with_ids: bool = False
) -> dict[str, Any]:
    """Compare two placements (customer -> segment) of the same scheme.

    A customer placed in only one of them moves from or to ``None`` (new to the population, or gone from
    it). For every segment ``size_to = size_from - out + in``, where ``in`` and ``out`` count the moves
    from and to any other place, new and gone customers included.

    Parameters
    ----------
    old, new
        Customer id -> segment key in the earlier and the later run.
    keys
        The segment keys to report on, in display order (segments seen in the data are added).
    with_ids
        Include each move's customer ids.

    Returns
    -------
    dict
        ``moves``: ``from_segment``, ``to_segment``, ``customers`` (and ``customer_ids``), largest first;
        ``segments``: ``segment``, ``size_from``, ``size_to``, ``stayed``, ``in``, ``out``, ``new``,
        ``gone``, ``balanced``; ``customers_from``, ``customers_to``, ``new``, ``gone``.
    """
    pairs: dict[tuple[str | None, str | None], list[int]] = {}
    for cid in sorted(set(old) | set(new)):
        pairs.setdefault((old.get(cid), new.get(cid)), []).append(cid)
    order = list(keys)
    order += sorted({s for s in (*old.values(), *new.values()) if s not in order})
    moves = []
    for (a, b), ids in sorted(pairs.items(), key=lambda p: (-len(p[1]), str(p[0][0]), str(p[0][1]))):
        move: dict[str, Any] = {"from_segment": a, "to_segment": b, "customers": len(ids)}
        if with_ids:
            move["customer_ids"] = ids
        moves.append(move)
    size_from: dict[str, int] = {}
    size_to: dict[str, int] = {}
    for segment in old.values():
        size_from[segment] = size_from.get(segment, 0) + 1
    for segment in new.values():
        size_to[segment] = size_to.get(segment, 0) + 1
    segments = []
    for key in order:
        came = sum(len(ids) for (a, b), ids in pairs.items() if b == key and a != key)
        left = sum(len(ids) for (a, b), ids in pairs.items() if a == key and b != key)
        before, after = size_from.get(key, 0), size_to.get(key, 0)
        segments.append({
            "segment": key, "size_from": before, "size_to": after, "stayed": len(pairs.get((key, key), [])),
            "in": came, "out": left, "new": len(pairs.get((None, key), [])), "gone": len(pairs.get((key, None), [])),
            "balanced": after == before - left + came,
        })  # fmt: skip
    return {
        "moves": moves,
        "segments": segments,
        "customers_from": len(old),
        "customers_to": len(new),
        "new": len(set(new) - set(old)),
        "gone": len(set(old) - set(new)),
    }
