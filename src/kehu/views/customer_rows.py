"""The customers list's rows as the page shows them: every cell formatted once, in Python, for the template.

A page of 50 rows has some 700 cells; formatting them here (one pass, plain attribute access) instead of in
Jinja expressions (a filter or method call and a dictionary look-up per cell) is most of what the list page costs
to render. The JSON twin is not affected: it serialises the view's data, not these rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from kehu.views.text import Translate

__all__ = ["ListRow", "list_rows"]

_TIERS = ("high", "medium", "low")


class ListRow(NamedTuple):
    """One customer of the list, every cell a display string (``tags`` a list of them)."""

    id: str
    name: str
    company: str
    phone: str
    email: str
    region: str
    city: str
    tags: list[str]
    owner: str
    clv: str
    tier: str
    tier_label: str
    risk: str
    renewal_tier: str
    renewal_tier_label: str
    renewal: str
    winback: str
    revenue: str
    last_order: str
    created: str


def list_rows(customers: Iterable[dict[str, Any]], t: Translate, currency: str) -> list[ListRow]:
    """The display rows of a page of the customers list (:meth:`kehu.service.customers.CustomerService.page`)."""
    no_owner = t("customer.no_owner")
    tier_labels = {tier: t("customer.tier_" + tier) for tier in _TIERS}
    money, date, number = t.money, t.date, t.number
    rows = []
    for c in customers:
        tier = c.get("churn_tier")
        risk = c.get("churn_risk")
        renewal_tier, renewal, chance = c.get("renewal_tier"), c.get("renewal_risk"), c.get("winback")
        rows.append(
            ListRow(
                id=str(c["id"]),
                name=c.get("name") or "—",
                company=c.get("company") or "",
                phone=c.get("phone") or "",
                email=c.get("email") or "",
                region=c.get("region") or "",
                city=c.get("city") or "",
                tags=c.get("tags") or [],
                owner=c.get("owner") or no_owner,
                clv=money(c.get("clv_12m"), currency),
                tier=tier if tier in tier_labels else "",
                tier_label=tier_labels.get(tier, "") if tier else "",
                risk=number(risk * 100) + "%" if risk is not None else "",
                renewal_tier=renewal_tier if renewal_tier in tier_labels else "",
                renewal_tier_label=tier_labels.get(renewal_tier, "") if renewal_tier else "",
                renewal=number(renewal * 100) + "%" if renewal is not None else "",
                winback=t(
                    "customers.winback_cell",
                    chance=number(chance * 100) + "%",
                    value=money(c.get("winback_value"), currency),
                )
                if chance is not None
                else "",
                revenue=money(c.get("revenue"), currency),
                last_order=date(c.get("last_order_at")),
                created=date(c.get("created_at")),
            )
        )
    return rows
