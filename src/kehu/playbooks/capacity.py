"""Next best actions within capacity: one action per customer, ranked by value at stake, fitted into each
owner's free task slots over the next working days.

Pure and fast: NumPy over arrays, one row per task firing of a run, no store I/O (the store reads and writes
around it are in :mod:`kehu.playbooks.workload`). Three steps:

1. **Merge.** All task firings of one customer become one action. The strongest firing is kept — highest task
   priority (urgent, high, normal, low), then the earliest due, then the first decided — and the others are
   *merged* into it; the action lists every rule's reason.
2. **Rank.** Each firing's value at stake is :func:`value_at_stake` × the rule's effect multiplier; an action is
   worth the most of its firings. Urgent actions (service promises such as a detractor call) come first, then
   all others by value at stake, ties by priority, due and customer id.
3. **Fit.** Walking the ranking, each action takes its assignee's earliest free slot (``free[owner, day]``:
   daily capacity minus the open tasks already due that day). An action that finds no slot goes to the
   automated channel when one of its rules sends the customer a message anyway, otherwise to the ranked backlog.
   No owner therefore ever gets more open tasks due on a day than their capacity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "BASES",
    "FATES",
    "PRIORITIES",
    "Allocation",
    "Slots",
    "allocate",
    "value_at_stake",
]

#: task priorities, strongest first (the index is the rank ``allocate`` sorts by)
PRIORITIES = ("urgent", "high", "normal", "low")
#: what became of a firing (``playbook_firings.fate``); ``allocate`` uses the first four
FATES = ("task", "merged", "backlog", "automated", "expired", "held_out")
#: which risk a value at stake was computed from (:func:`value_at_stake`)
BASES = ("winback", "renewal", "churn", "p_alive", "none")

_TASK, _MERGED, _BACKLOG, _AUTOMATED = range(4)
_WINBACK, _RENEWAL, _CHURN, _ALIVE, _NONE = range(5)

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


def value_at_stake(
    clv: Floats,
    churn_risk: Floats,
    renewal_risk: Floats,
    winback: Floats,
    winback_value: Floats,
    p_alive: Floats,
    *,
    contract: NDArray[np.bool_],
    effect: Floats | float = 1.0,
) -> tuple[Floats, NDArray[np.int8]]:
    """The value at stake of each firing (currency units) and the basis it came from (index into :data:`BASES`).

    The rule, first that applies:

    - a lapsed buyer (``winback`` published): ``winback × winback_value`` — the chance to win them back times
      what they would bring;
    - a contract rule (``contract`` true, e.g. ``contract_ends_within``) with a published ``renewal_risk``:
      ``clv × renewal_risk``;
    - otherwise ``clv × churn_risk`` (``renewal_risk`` when no churn risk is published);
    - no risk published (no churn model trained yet): ``clv × (1 − p_alive)``, the purchase model's chance that
      the customer is no longer active;
    - nothing published: 0 (basis ``none``), ranked after every scored customer.

    Each value is then multiplied by ``effect`` (the rule's measured effect, 1 until known). Missing values are
    NaN; negative CLV counts as 0.
    """
    clv = np.clip(np.nan_to_num(np.asarray(clv, dtype=np.float64), nan=0.0), 0.0, None)
    churn = np.asarray(churn_risk, dtype=np.float64)
    renewal = np.asarray(renewal_risk, dtype=np.float64)
    wb = np.asarray(winback, dtype=np.float64) * np.asarray(winback_value, dtype=np.float64)
    has_wb, has_renewal, has_churn = ~np.isnan(wb), ~np.isnan(renewal), ~np.isnan(churn)
    basis = np.full(clv.shape, _NONE, dtype=np.int8)
    value = np.zeros(clv.shape, dtype=np.float64)
    plain = ~has_wb & ~(contract & has_renewal)
    churn_rows = plain & has_churn
    renewal_rows = (~has_wb & contract & has_renewal) | (plain & ~has_churn & has_renewal)
    lost = 1.0 - np.asarray(p_alive, dtype=np.float64)
    alive_rows = plain & ~has_churn & ~has_renewal & ~np.isnan(lost)
    value[alive_rows] = clv[alive_rows] * np.clip(lost[alive_rows], 0.0, 1.0)
    basis[alive_rows] = _ALIVE
    value[churn_rows] = clv[churn_rows] * churn[churn_rows]
    basis[churn_rows] = _CHURN
    value[renewal_rows] = clv[renewal_rows] * renewal[renewal_rows]
    basis[renewal_rows] = _RENEWAL
    value[has_wb] = np.clip(wb[has_wb], 0.0, None)
    basis[has_wb] = _WINBACK
    return value * np.asarray(effect, dtype=np.float64), basis


@dataclass(frozen=True)
class Slots:
    """Free task slots: ``free[i, d]`` for owner ``owners[i]`` (a user id, sorted) on working day ``d``."""

    owners: Ints
    free: Ints

    def __post_init__(self) -> None:
        if self.free.ndim != 2 or self.free.shape[0] != self.owners.shape[0]:
            raise ValueError(f"free is {self.free.shape}: expected one row per owner ({self.owners.shape[0]})")
        if self.owners.size > 1 and np.any(np.diff(self.owners) <= 0):
            raise ValueError("owners must be sorted and unique")


@dataclass(frozen=True)
class Allocation:
    """What :func:`allocate` decided, one entry per firing (in the input order).

    ``fate`` indexes :data:`FATES`; ``head`` is the firing whose action this one belongs to (itself when kept);
    ``day`` the working day index of a task (-1 otherwise); ``rank`` the action's place in the ranking (0: most
    at stake; that of its head for a merged firing); ``value`` the action's value at stake.
    """

    fate: NDArray[np.int8]
    head: Ints
    day: Ints
    rank: Ints
    value: Floats

    def count(self, fate: str) -> int:
        """How many firings got ``fate``."""
        return int(np.count_nonzero(self.fate == FATES.index(fate)))


def allocate(
    customer: Ints,
    assignee: Ints,
    priority: NDArray[np.int8],
    due_in_days: Ints,
    value: Floats,
    messages: NDArray[np.bool_],
    slots: Slots,
) -> Allocation:
    """Merge, rank and fit a run's task firings (see the module docstring).

    Parameters
    ----------
    customer, assignee
        Per firing: the customer, and the user the task would go to (-1: nobody; such actions wait in the
        backlog for a manager to assign).
    priority
        Index into :data:`PRIORITIES`.
    due_in_days
        The rule's ``due_in_days`` (breaks ties of priority when merging).
    value
        Value at stake (``value_at_stake`` × effect).
    messages
        The firing's rule also sends the customer a message (the automated channel of an action left out).
    slots
        The owners' free slots per working day.
    """
    n = int(customer.shape[0])
    for name, arr in (("assignee", assignee), ("priority", priority), ("due_in_days", due_in_days),
                      ("value", value), ("messages", messages)):  # fmt: skip
        if arr.shape[0] != n:
            raise ValueError(f"{name} has {arr.shape[0]} entries, customer {n}")
    idx = np.arange(n, dtype=np.int64)
    empty = np.empty(0, dtype=np.int64)
    if n == 0:
        return Allocation(np.empty(0, dtype=np.int8), empty, empty, empty, np.empty(0))
    # 1. merge: the strongest firing of each customer heads its action
    order = np.lexsort((idx, due_in_days, priority, customer))
    sorted_c = customer[order]
    starts = np.flatnonzero(np.r_[True, sorted_c[1:] != sorted_c[:-1]])
    group = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, n]))
    heads = order[starts]
    head = np.empty(n, dtype=np.int64)
    head[order] = heads[group]
    action_value = np.maximum.reduceat(value[order], starts)
    action_messages = np.logical_or.reduceat(messages[order], starts)
    # 2. rank the actions: urgent first, then value at stake, priority, due, customer
    h_priority = priority[heads]
    ranking = np.lexsort((customer[heads], due_in_days[heads], h_priority, -action_value, h_priority != 0))
    rank_of = np.empty(heads.size, dtype=np.int64)
    rank_of[ranking] = np.arange(heads.size)
    # 3. fit: the k-th action of an owner (in rank order) takes that owner's k-th free slot
    owner_row = np.searchsorted(slots.owners, assignee[heads])
    known = (owner_row < slots.owners.size) & (assignee[heads] >= 0)
    known[known] = slots.owners[owner_row[known]] == assignee[heads][known]
    owner_row[~known] = -1
    ranked_owner = owner_row[ranking]
    by_owner = np.argsort(ranked_owner, kind="stable")
    so = ranked_owner[by_owner]
    first = np.r_[0, np.flatnonzero(so[1:] != so[:-1]) + 1]
    nth = np.arange(so.size) - np.repeat(first, np.diff(np.r_[first, so.size]))
    nth_ranked = np.empty(so.size, dtype=np.int64)
    nth_ranked[by_owner] = nth
    free = np.clip(slots.free, 0, None).astype(np.int64)
    n_days = free.shape[1]
    flat = np.cumsum(free.ravel())  # slot g of the whole table lies in cell searchsorted(flat, g, "right")
    total = free.sum(axis=1)
    base = np.r_[0, np.cumsum(total)[:-1]] if total.size else total
    day_ranked = np.full(heads.size, -1, dtype=np.int64)
    fits = ranked_owner >= 0
    fits[fits] = nth_ranked[fits] < total[ranked_owner[fits]]
    rows = ranked_owner[fits]
    cell = np.searchsorted(flat, base[rows] + nth_ranked[fits], side="right")
    day_ranked[fits] = cell - rows * n_days
    action_day = np.empty(heads.size, dtype=np.int64)
    action_day[ranking] = day_ranked
    action_fate = np.where(action_day >= 0, _TASK, np.where(action_messages, _AUTOMATED, _BACKLOG)).astype(np.int8)
    fate = np.full(n, _MERGED, dtype=np.int8)
    fate[heads] = action_fate
    day = np.full(n, -1, dtype=np.int64)
    day[heads] = action_day
    back = np.argsort(order)  # input position -> sorted position
    return Allocation(fate=fate, head=head, day=day, rank=rank_of[group][back], value=action_value[group][back])
