"""Renewals in hand as of a day: the contract customers who are not at renewal risk whatever a model says.

A contract customer's current contract is the one with the latest end among the non-draft contracts known by
``as_of`` (signed by then, or started when the signing day is unknown), as for ``contract_days_to_end`` of
:mod:`kehu.pipeline.engagement`. Its renewal is in hand when

- ``renewed``: that contract itself is marked ``renewed``, or
- ``draft``: a draft contract known by ``as_of`` runs past its end (the renewal is being drawn up).

:func:`renewals_in_hand` reads only rows known by ``as_of``; the churn scoring of ``kehu run`` publishes a
non-renewal risk of 0 for these customers and says which of the two it is.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from kehu.pipeline.step import left_join

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = ["RENEWAL_STATES", "renewals_in_hand"]

#: the states of a renewal in hand, strongest first
RENEWAL_STATES = ("renewed", "draft")


def renewals_in_hand(contracts: ir.Table, as_of: dt.date) -> ir.Table:
    """``customer_id``, ``renewal_state`` (``"renewed"`` or ``"draft"``) and ``renewal_end`` (the latest end of a
    draft past the current contract, NULL without one) of the customers whose renewal is in hand on ``as_of`` (see
    the module docstring); other customers have no row."""
    import ibis

    day = ibis.date(as_of.year, as_of.month, as_of.day)
    status = contracts.status.lower()
    known = contracts.filter(ibis.coalesce(contracts.signed_at, contracts.start_date) <= day)
    known = known.mutate(customer_id=known.customer_id.cast("int64"), state=status)
    signed = known.filter(known.state != "draft")
    latest = signed.group_by("customer_id").aggregate(current_end=signed.end_date.max())
    current = signed.join(latest, "customer_id").filter(lambda t: t.end_date == t.current_end)
    marked = current.group_by("customer_id").aggregate(marked=(current.state == "renewed").any())
    drafts = known.filter(known.state == "draft")
    drafts = drafts.join(latest, "customer_id").filter(lambda t: t.end_date > t.current_end)
    drafted = drafts.group_by("customer_id").aggregate(drafted=ibis.literal(True), renewal_end=drafts.end_date.max())
    t = left_join(marked, drafted, "customer_id")
    state = ibis.cases((t.marked, RENEWAL_STATES[0]), (t.drafted.fill_null(False), RENEWAL_STATES[1]), else_=None)
    t = t.select("customer_id", "renewal_end", renewal_state=state)
    return t.filter(t.renewal_state.notnull())
