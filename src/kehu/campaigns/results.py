"""A campaign's measured outcome: per arm conversion, revenue, retention and win-back in the attribution window,
the uplift (treatment − holdout) with 95% intervals, a plain-language verdict (zh/en) and a per-stratum breakdown.
Where revenue per customer cannot be given a trustworthy interval (too few buyers for spend that uneven, see
:mod:`kehu.models.uplift`), its verdict says so and why, and the estimate has no interval.

Definitions (window W = [launched_at, launched_at + attribution_days)):

- conversion: share of the arm's customers with at least one purchase (paid/completed order) in W;
- revenue per customer: purchase revenue in W divided by all the arm's customers (cents; zeros included);
- retention: conversion among the customers who were *active before* (bought in the W-long span before launch);
- win-back: conversion among the customers who were *lapsed* at launch (bought before, none in ``lapse_days``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import sqlalchemy as sa

from kehu import i18n
from kehu.models.holdout import HOLDOUT, TREATMENT
from kehu.models.uplift import Estimate, mean_difference, proportion_difference
from kehu.store.actions import outbox
from kehu.store.campaigns import campaign_members, campaign_messages
from kehu.store.schema import customers, orders

__all__ = ["SMALL_HOLDOUT", "campaign_results", "verdict"]

SMALL_HOLDOUT = 100
_RATES = ("conversion", "retention", "win_back")


_CATALOG_LOCALE = {"zh": "zh-CN", "en": "en"}


def _text(key: str, locale: str) -> str:
    """The ``campaigns.`` text at ``key`` of the one catalog, in ``zh`` or ``en``."""
    return i18n.text(f"campaigns.{key}", _CATALOG_LOCALE[locale])


def _fmt(metric: str, value: float, locale: str) -> str:
    if metric == "revenue_per_customer":
        pattern = _text("units.money", locale)
        if value < 0 and not pattern.startswith("{v}"):  # a leading currency sign: the minus goes before it
            return "-" + pattern.format(v=f"{-value / 100:,.2f}")
        return pattern.format(v=f"{value / 100:,.2f}")
    return _text("units.points", locale).format(v=f"{100 * value:.1f}")


def verdict(metric: str, est: Estimate, locale: str) -> str:
    """One sentence saying what the estimate means, in ``zh`` or ``en``."""
    name = _text(f"metrics.{metric}", locale)
    if est.difference is not None and est.reason is not None:
        d = est.detail
        return _text(f"verdict.no_verdict_{est.reason}", locale).format(
            metric=name, diff=_fmt(metric, est.difference, locale), treatment=int(d["buyers_treatment"]),
            holdout=int(d["buyers_holdout"]), expected=f"{d['expected']:.0f}", required=f"{int(d['required']):,}",
        )  # fmt: skip
    if est.difference is None or est.low is None or est.high is None:
        return _text("verdict.no_data", locale).format(metric=name)
    key = "up" if est.low > 0 else "down" if est.high < 0 else "none"
    diff = abs(est.difference) if key != "none" else est.difference
    return _text(f"verdict.{key}", locale).format(
        metric=name, diff=_fmt(metric, diff, locale), low=_fmt(metric, est.low, locale),
        high=_fmt(metric, est.high, locale),
    )  # fmt: skip


def _estimates(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    arms = {arm: [r for r in rows if r["arm"] == arm] for arm in (TREATMENT, HOLDOUT)}
    counts = {arm: len(v) for arm, v in arms.items()}
    for metric in _RATES:

        def eligible(r: Mapping[str, Any], metric: str = metric) -> bool:
            return metric == "conversion" or bool(r["active_before" if metric == "retention" else "lapsed"])

        t = [r for r in arms[TREATMENT] if eligible(r)]
        c = [r for r in arms[HOLDOUT] if eligible(r)]
        est = proportion_difference(sum(r["converted"] for r in t), len(t), sum(r["converted"] for r in c), len(c))
        out[metric] = {**est.as_dict(), "treatment_n": len(t), "holdout_n": len(c)}
    money = mean_difference(
        np.array([r["revenue_cents"] for r in arms[TREATMENT]], dtype=np.float64),
        np.array([r["revenue_cents"] for r in arms[HOLDOUT]], dtype=np.float64),
    )
    out["revenue_per_customer"] = {**money.as_dict(), "treatment_n": counts[TREATMENT], "holdout_n": counts[HOLDOUT]}
    return out


def campaign_results(
    conn: sa.Connection, campaign: Mapping[str, Any], *, now: dt.datetime, owners: Collection[int] | None = None
) -> dict[str, Any]:
    """Measure a launched campaign (see the module docstring for the definitions).

    Parameters
    ----------
    campaign
        The campaign's row (``id``, ``launched_at``, ``attribution_days``).
    now
        The current time: orders after it do not exist yet; before the window's end the result is provisional.
    owners
        Measure only the members owned by these users now (a manager's team); ``None``: every member.
        ``members`` says how many were measured of how many.
    """
    from kehu.vocabulary import PURCHASE_STATUSES

    start: dt.datetime = campaign["launched_at"]
    end = start + dt.timedelta(days=int(campaign["attribution_days"]))
    m = campaign_members
    mine = m.c.campaign_id == campaign["id"]
    if owners is not None:
        mine = mine & m.c.customer_id.in_(sa.select(customers.c.id).where(customers.c.owner_id.in_(list(owners))))
    total = int(conn.execute(sa.select(sa.func.count()).where(m.c.campaign_id == campaign["id"])).scalar_one())
    members = {
        int(r.customer_id): {
            "customer_id": int(r.customer_id),
            "arm": r.arm,
            "stratum": r.stratum,
            "active_before": bool(r.active_before),
            "lapsed": bool(r.lapsed),
            "converted": False,
            "revenue_cents": 0,
            "purchases": 0,
        }
        for r in conn.execute(sa.select(m).where(mine))
    }
    bought = (
        sa.select(orders.c.customer_id, sa.func.count(), sa.func.sum(orders.c.amount_cents))
        .join(m, (m.c.customer_id == orders.c.customer_id) & (m.c.campaign_id == campaign["id"]))
        .where(
            sa.func.lower(sa.func.trim(orders.c.status)).in_(PURCHASE_STATUSES),
            orders.c.ordered_at >= start,
            orders.c.ordered_at < min(end, now),
        )
        .group_by(orders.c.customer_id)
    )
    for cid, n, revenue in conn.execute(bought):
        row = members.get(int(cid))
        if row is None:  # outside ``owners``
            continue
        row.update(converted=True, purchases=int(n), revenue_cents=int(revenue or 0))
    rows = list(members.values())
    overall = _estimates(rows)
    strata = []
    for name in sorted({r["stratum"] for r in rows}):
        part = [r for r in rows if r["stratum"] == name]
        est = _estimates(part)
        strata.append({"stratum": name, "customers": len(part),
                       "holdout": sum(r["arm"] == HOLDOUT for r in part), "uplift": est})  # fmt: skip
    msgs = campaign_messages
    states: dict[str, int] = dict(
        conn.execute(
            sa.select(outbox.c.status, sa.func.count())
            .select_from(msgs.join(outbox, outbox.c.idempotency_key == msgs.c.provider_id))
            .where(msgs.c.campaign_id == campaign["id"], msgs.c.customer_id.in_(sa.select(m.c.customer_id).where(mine)))
            .group_by(outbox.c.status)
        ).all()
    )
    holdout_messaged = conn.execute(
        sa.select(sa.func.count())
        .select_from(outbox.join(m, m.c.customer_id == outbox.c.customer_id))
        .where(mine, m.c.arm == HOLDOUT,
               outbox.c.idempotency_key.like(f"campaign:{int(campaign['id'])}:%"))
    ).scalar_one()  # fmt: skip
    holdout_n = sum(r["arm"] == HOLDOUT for r in rows)
    notes = {loc: [] for loc in ("zh", "en")}  # type: dict[str, list[str]]
    for loc in notes:
        if now < end:
            notes[loc].append(_text("window_open", loc).format(end=end.date().isoformat()))
        if holdout_n < SMALL_HOLDOUT:
            notes[loc].append(_text("small_holdout", loc).format(n=holdout_n))
    return {
        "members": {"measured": len(rows), "total": total, "scope": "all" if owners is None else "team"},
        "window": {"start": start.isoformat(), "end": end.isoformat(), "complete": now >= end},
        "arms": {
            arm: {
                "customers": sum(r["arm"] == arm for r in rows),
                "converted": sum(r["converted"] for r in rows if r["arm"] == arm),
                "revenue_cents": sum(r["revenue_cents"] for r in rows if r["arm"] == arm),
            }
            for arm in (TREATMENT, HOLDOUT)
        },
        "messages": {
            "sent": int(states.get("done", 0)),
            "failed": int(states.get("dead", 0)),
            "pending": sum(int(n) for k, n in states.items() if k not in ("done", "dead")),
            "to_holdout": int(holdout_messaged),
        },
        "uplift": overall,
        "verdict": {
            loc: {metric: verdict(metric, _as_estimate(overall[metric]), loc) for metric in overall}
            for loc in ("zh", "en")
        },
        "notes": notes,
        "strata": strata,
    }


def _as_estimate(d: Mapping[str, Any]) -> Estimate:
    return Estimate(d["treatment"], d["holdout"], d["difference"], d["low"], d["high"], d["level"], d["method"],
                    d.get("reason"), dict(d.get("detail") or {}))  # fmt: skip
