"""The capacity stage on small arrays: value at stake by the documented rule, one action per customer, ranking,
and fitting into free slots — checked against a plain-Python walk of the same rules on random inputs."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from kehu.playbooks.capacity import BASES, FATES, Slots, allocate, value_at_stake
from kehu.playbooks.workload import working_days

NAN = np.nan


def test_value_at_stake_follows_the_documented_rule() -> None:
    clv = np.array([1000.0, 1000.0, 1000.0, 1000.0, 1000.0, NAN, -50.0])
    churn = np.array([0.2, NAN, 0.3, NAN, NAN, NAN, 0.5])
    renewal = np.array([NAN, 0.5, 0.4, NAN, NAN, NAN, NAN])
    winback = np.array([NAN, NAN, NAN, 0.25, NAN, NAN, NAN])
    winback_value = np.array([NAN, NAN, NAN, 800.0, NAN, NAN, NAN])
    p_alive = np.array([0.9, 0.9, 0.9, 0.1, 0.7, NAN, NAN])
    contract = np.array([False, False, True, True, False, False, False])
    value, basis = value_at_stake(clv, churn, renewal, winback, winback_value, p_alive, contract=contract, effect=2.0)
    assert [BASES[b] for b in basis] == ["churn", "renewal", "renewal", "winback", "p_alive", "none", "churn"]
    expected = [1000 * 0.2, 1000 * 0.5, 1000 * 0.4, 0.25 * 800, 1000 * 0.3, 0.0, 0.0]
    np.testing.assert_allclose(value, np.array(expected) * 2.0)


def test_one_action_per_customer_ranked_and_fitted() -> None:
    # customer 1 fires twice (normal, high): the high one heads; 4 is urgent; 5 has no owner; 3 overflows
    customer = np.array([1, 1, 2, 3, 4, 5])
    assignee = np.array([10, 10, 10, 10, 20, -1])
    priority = np.array([2, 1, 2, 2, 0, 2], dtype=np.int8)
    due = np.array([3, 3, 1, 1, 2, 3])
    value = np.array([5.0, 1.0, 9.0, 3.0, 0.0, 7.0])
    messages = np.array([False, False, False, True, False, False])
    slots = Slots(np.array([10, 20]), np.array([[1, 0, 1], [0, 0, 1]]))
    a = allocate(customer, assignee, priority, due, value, messages, slots)
    assert [FATES[f] for f in a.fate] == ["merged", "task", "task", "automated", "task", "backlog"]
    assert a.head.tolist() == [1, 1, 2, 3, 4, 5]
    assert a.day.tolist() == [-1, 2, 0, -1, 2, -1]  # 2 (9 at stake) takes 10's only slot on day 0
    assert a.rank.tolist() == [3, 3, 1, 4, 0, 2]  # urgent first, then by value at stake
    assert a.value.tolist() == [5.0, 5.0, 9.0, 3.0, 0.0, 7.0]  # an action is worth the most of its firings


def _reference(customer, assignee, priority, due, value, messages, owners, free):
    """The rules of kehu.playbooks.capacity, walked one action at a time."""
    n = len(customer)
    heads: dict[int, int] = {}
    for i in sorted(range(n), key=lambda i: (customer[i], priority[i], due[i], i)):
        heads.setdefault(int(customer[i]), i)
    worth = {c: max(value[i] for i in range(n) if customer[i] == c) for c in heads}
    sends = {c: any(messages[i] for i in range(n) if customer[i] == c) for c in heads}
    order = sorted(heads, key=lambda c: (priority[heads[c]] != 0, -worth[c], priority[heads[c]], due[heads[c]], c))
    left = {int(o): list(free[k]) for k, o in enumerate(owners)}
    fate, day = ["merged"] * n, [-1] * n
    for c in order:
        h = heads[c]
        slots = left.get(int(assignee[h]))
        d = next((k for k, x in enumerate(slots or []) if x > 0), None)
        if d is not None:
            slots[d] -= 1
            fate[h], day[h] = "task", d
        else:
            fate[h] = "automated" if sends[c] else "backlog"
    return fate, day


@pytest.mark.parametrize("seed", range(8))
def test_matches_a_plain_walk_and_never_overfills_a_day(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, owners, days = 300, 6, 4
    customer = rng.integers(0, 120, n)
    assignee = np.where(rng.random(n) < 0.05, -1, rng.integers(1, owners + 2, n))  # owner 7 has no slots row
    priority = rng.integers(0, 4, n).astype(np.int8)
    due = rng.integers(0, 5, n)
    value = np.round(rng.random(n) * 100, 1)  # ties happen
    messages = rng.random(n) < 0.2
    free = rng.integers(-1, 5, (owners, days))  # a day already over capacity has no free slot
    slots = Slots(np.arange(1, owners + 1), free)
    a = allocate(customer, assignee, priority, due, value, messages, slots)
    fate, day = _reference(customer, assignee, priority, due, value, messages, slots.owners, free)
    assert [FATES[f] for f in a.fate] == fate
    assert a.day.tolist() == day
    for k, owner in enumerate(slots.owners):
        for d in range(days):
            taken = int(np.count_nonzero((a.day == d) & (assignee == owner) & (a.fate == 0)))
            assert taken <= max(free[k, d], 0)


def test_no_firings_and_bad_shapes() -> None:
    empty = np.empty(0, dtype=np.int64)
    a = allocate(empty, empty, empty.astype(np.int8), empty, empty.astype(float), empty.astype(bool),
                 Slots(np.array([1]), np.array([[3]])))  # fmt: skip
    assert a.fate.size == 0
    with pytest.raises(ValueError, match="assignee has 1 entries, customer 2"):
        allocate(np.array([1, 2]), np.array([1]), np.array([0, 0], dtype=np.int8), np.array([0, 0]),
                 np.array([1.0, 2.0]), np.array([False, False]), Slots(np.array([1]), np.array([[1]])))  # fmt: skip
    with pytest.raises(ValueError, match="sorted and unique"):
        Slots(np.array([2, 1]), np.zeros((2, 1), dtype=np.int64))


def test_working_days_skip_the_weekend() -> None:
    saturday = dt.date(2026, 10, 31)
    assert working_days(saturday, 3, (1, 2, 3, 4, 5)) == [dt.date(2026, 11, 2), dt.date(2026, 11, 3),
                                                          dt.date(2026, 11, 4)]  # fmt: skip
    assert working_days(saturday, 2, (6,)) == [saturday, dt.date(2026, 11, 7)]
