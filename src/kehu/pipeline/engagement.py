"""Per-customer engagement and service features as of a day: interactions, tickets, feedback, contracts.

Definitions (``as_of`` included; local calendar days in the workspace time zone):

- ``interactions_Nd``: interactions dated in (as_of - N, as_of]; ``interaction_trend_90d``: last 90 days
  minus the 90 before; ``days_since_last_interaction``.
- ``tickets_90d`` / ``complaints_90d``: tickets opened in the last 90 days (complaints: ``is_complaint``);
  ``first_response_hours_mean``: mean hours from opening to first response, over tickets whose first
  response came on or before as_of (whole seconds; responses dated before the opening are ignored).
- ``latest_nps`` / ``latest_csat``: the score of the latest response of each kind (ties on time: the
  higher store id, i.e. the later import).
- Contracts (drafts ignored; a contract counts from its signing day, else its start day):
  ``contracts_active`` (start <= as_of <= end), ``contract_days_to_end`` (latest end - as_of; negative once
  all have ended) and ``contract_renewals`` (contracts that renew another).

Every customer of ``customer_base`` gets one row; counts are 0 and the rest NULL without activity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from kehu.pipeline.step import Context, Step, left_join

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = ["ENGAGEMENT_FEATURES"]

_COUNTS = (
    "interactions_total",
    "interactions_30d",
    "interactions_90d",
    "interactions_prev_90d",
    "interaction_trend_90d",
    "tickets_total",
    "tickets_90d",
    "complaints_90d",
    "contracts_active",
    "contract_renewals",
)


def _count_if(condition: ir.BooleanValue) -> ir.IntegerScalar:
    import ibis

    return ibis.ifelse(condition, 1, 0).sum().cast("int64")


def _interactions(t: ir.Table, ctx: Context) -> ir.Table:
    t = t.filter(t.occurred_at < ctx.cutoff_value())
    day = t.occurred_at.date()
    last90 = day > ctx.days_ago(90)
    prev90 = (day > ctx.days_ago(180)) & ~last90
    agg = t.group_by(customer_id=t.customer_id.cast("int64")).aggregate(
        interactions_total=t.count().cast("int64"),
        interactions_30d=_count_if(day > ctx.days_ago(30)),
        interactions_90d=_count_if(last90),
        interactions_prev_90d=_count_if(prev90),
        last_interaction_date=day.max(),
    )
    return agg.mutate(
        interaction_trend_90d=agg.interactions_90d - agg.interactions_prev_90d,
        days_since_last_interaction=ctx.days_since(agg.last_interaction_date),
    ).drop("last_interaction_date")


def _tickets(t: ir.Table, ctx: Context) -> ir.Table:
    import ibis

    t = t.filter(t.opened_at < ctx.cutoff_value())
    recent = t.opened_at.date() > ctx.days_ago(90)
    answered = t.first_response_at.notnull() & (t.first_response_at < ctx.cutoff_value())
    seconds = t.first_response_at.truncate("s").epoch_seconds() - t.opened_at.truncate("s").epoch_seconds()
    hours = ibis.ifelse(answered & (seconds >= 0), seconds.cast("float64") / 3600, ibis.null("float64"))
    return t.group_by(customer_id=t.customer_id.cast("int64")).aggregate(
        tickets_total=t.count().cast("int64"),
        tickets_90d=_count_if(recent),
        complaints_90d=_count_if(recent & t.is_complaint),
        first_response_hours_mean=hours.mean(),
    )


def _feedback(t: ir.Table, ctx: Context) -> ir.Table:
    import ibis

    kind = t.kind.lower().strip()
    t = t.mutate(kind=kind).filter((t.responded_at < ctx.cutoff_value()) & kind.isin(("nps", "csat")))
    order = ibis.row_number().over(group_by=[t.customer_id, t.kind], order_by=[t.responded_at.desc(), t.id.desc()])
    latest = t.mutate(rank=order)
    latest = latest.filter(latest["rank"] == 0)
    return latest.group_by(customer_id=latest.customer_id.cast("int64")).aggregate(
        latest_nps=ibis.ifelse(latest.kind == "nps", latest.score, ibis.null("int64")).max().cast("int64"),
        latest_csat=ibis.ifelse(latest.kind == "csat", latest.score, ibis.null("int64")).max().cast("int64"),
    )


def _contracts(t: ir.Table, ctx: Context) -> ir.Table:
    import ibis

    known = ibis.coalesce(t.signed_at, t.start_date) <= ctx.as_of_value()
    t = t.filter(known & (t.status.lower() != "draft"))
    as_of = ctx.as_of_value()
    agg = t.group_by(customer_id=t.customer_id.cast("int64")).aggregate(
        contracts_active=_count_if((t.start_date <= as_of) & (t.end_date >= as_of)),
        contract_renewals=_count_if(t.renewal_of.notnull()),
        latest_end=t.end_date.max(),
    )
    return agg.mutate(contract_days_to_end=agg.latest_end.delta(as_of, unit="day").cast("int64")).drop("latest_end")


def _engagement(tables: Mapping[str, ir.Table], ctx: Context) -> ir.Table:
    base = tables["customer_base"].select("customer_id")
    t = left_join(base, _interactions(tables["interactions"], ctx), "customer_id")
    t = left_join(t, _tickets(tables["tickets"], ctx), "customer_id")
    t = left_join(t, _feedback(tables["feedback"], ctx), "customer_id")
    t = left_join(t, _contracts(tables["contracts"], ctx), "customer_id")
    return t.mutate(**{name: t[name].fill_null(0) for name in _COUNTS})


ENGAGEMENT_FEATURES = Step(
    name="engagement_features",
    inputs=("customer_base", "interactions", "tickets", "feedback", "contracts"),
    grain=("customer_id",),
    columns={
        "customer_id": "int64",
        "interactions_total": "int64",
        "interactions_30d": "int64",
        "interactions_90d": "int64",
        "interactions_prev_90d": "int64",
        "interaction_trend_90d": "int64",
        "days_since_last_interaction": "int64",
        "tickets_total": "int64",
        "tickets_90d": "int64",
        "complaints_90d": "int64",
        "first_response_hours_mean": "float64",
        "latest_nps": "int64",
        "latest_csat": "int64",
        "contracts_active": "int64",
        "contract_days_to_end": "int64",
        "contract_renewals": "int64",
    },
    build=_engagement,
    description="interactions, tickets, feedback and contracts per customer",
)
