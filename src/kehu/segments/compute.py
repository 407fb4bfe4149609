"""Every scheme as Ibis expressions over the customer profile: pure tables in, tables out.

:func:`segment_tables` takes the profile (one row per customer: ``customer_id`` plus the fields of
:data:`~kehu.segments.fields.PROFILE_FIELDS`) and returns, per scheme, a table of ``customer_id``,
``segment`` and the fields that decide it, plus small statistics tables (the Chinese scheme's split values,
the value tiers' Pareto statistic). Nothing is executed here; the caller fetches what it needs.

Populations: the RFM schemes, value tiers and cross segments look at customers with at least one purchase;
lifecycle stages and user-defined segments at every customer in the profile.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kehu.segments.config import BUILTIN_SCHEMES, SegmentConfig
from kehu.segments.rfm import cut_scores, midrank_percentile, quantile_scores
from kehu.segments.rules import compile_ibis
from kehu.segments.scheme import Scheme

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = ["PERSISTED", "SchemeTables", "custom_scheme_table", "rfm_table", "segment_tables", "with_purchases"]


#: names of the intermediate tables :func:`segment_tables` asks ``persist`` to keep
PERSISTED = ("kehu_seg_rfm", "kehu_seg_lifecycle", "kehu_seg_value")


@dataclass
class SchemeTables:
    """One scheme's result expressions.

    Attributes
    ----------
    scheme
        The scheme.
    members
        ``customer_id``, ``segment`` (NULL: in the population but in no segment) and the scheme's fields.
    stats
        Name -> a one-row table of statistics published with the run.
    """

    scheme: Scheme
    members: ir.Table
    stats: dict[str, ir.Table] = field(default_factory=dict)


def with_purchases(profile: ir.Table) -> ir.Table:
    """The customers with at least one purchase."""
    return profile.filter(profile.orders > 0)


def rfm_table(profile: ir.Table, config: SegmentConfig) -> ir.Table:
    """Customers with purchases and their RFM values, scores 1..5, ``fm_score`` and high/low flags.

    Columns: ``customer_id``, ``recency``, ``frequency_value``, ``monetary``, ``r_score``, ``f_score``,
    ``m_score``, ``fm_score`` ((F + M) / 2), ``r_high``/``f_high``/``m_high`` (1 when the score is at or above
    the population's mean or median score, per ``rfm_cn.split``).
    """
    import ibis

    s = config.scoring
    base = with_purchases(profile)
    base = base.filter(
        base[s.recency_field].notnull() & base[s.frequency_field].notnull() & base[s.monetary_field].notnull()
    )
    base = base.select(
        "customer_id",
        recency=base[s.recency_field].cast("float64"),
        frequency_value=base[s.frequency_field].cast("float64"),
        monetary=base[s.monetary_field].cast("float64"),
    )
    scored = base
    for name, column, lower in (("r_score", "recency", True), ("f_score", "frequency_value", False),
                                ("m_score", "monetary", False)):  # fmt: skip
        if s.method == "quantile":
            scores = quantile_scores(base, column, lower_is_better=lower)
        else:
            scores = cut_scores(base, column, s.cuts[column.split("_")[0]], lower_is_better=lower)
        scored = scored.join(scores.rename({name: "score"}), "customer_id")
    scored = scored.mutate(fm_score=(scored.f_score + scored.m_score).cast("float64") / 2.0)
    splits = _splits(scored, s.split)
    joined = scored.cross_join(splits)
    return joined.select(
        *scored.columns,
        **{
            f"{d}_high": ibis.ifelse(joined[f"{d}_score"] >= joined[f"{d}_split"], 1, 0).cast("int64")
            for d in ("r", "f", "m")
        },
    )


def _splits(scored: ir.Table, how: str) -> ir.Table:
    """One row: ``r_split``, ``f_split``, ``m_split`` (the mean or median score)."""
    aggs = {}
    for d in ("r", "f", "m"):
        col = scored[f"{d}_score"].cast("float64")
        aggs[f"{d}_split"] = col.mean() if how == "mean" else col.quantile(0.5)
    return scored.aggregate(**aggs)


def _classified(scheme: Scheme, table: ir.Table, as_of: dt.date) -> ir.Table:
    fields = [f for f in scheme.all_fields() if f != "customer_id"]
    return table.select("customer_id", *fields, segment=scheme.segment_expr(table, as_of=as_of))


def _lifecycle_input(profile: ir.Table) -> ir.Table:
    import ibis

    ended = profile.contract_days_to_end < 0
    return profile.mutate(days_since_contract_end=ibis.ifelse(ended, -profile.contract_days_to_end, ibis.null("int64")))


def _value_input(profile: ir.Table, config: SegmentConfig) -> tuple[ir.Table, ir.Table]:
    """Customers with purchases, their tier value and ``value_share_before``; and the Pareto statistics."""
    import ibis

    basis = config.value.basis_field
    base = with_purchases(profile)
    base = base.mutate(_value=base[basis].fill_null(0).cast("int64"))
    base = base.mutate(_positive=ibis.greatest(base._value, 0))
    groups = base.group_by("_value").aggregate(_n=ibis._.count(), _sum=ibis._._positive.sum().cast("int64"))
    groups = groups.mutate(
        _cum=groups._sum.sum().over(ibis.cumulative_window(order_by=ibis.desc(groups._value))),
        _total=groups._sum.sum().over(ibis.window()),
    )
    share = (groups._cum - groups._sum).cast("float64") / groups._total.cast("float64").nullif(0.0)
    groups = groups.select(_value2="_value", _share=share)
    joined = base.join(groups, base._value == groups._value2)
    tiered = joined.mutate(
        value_share_before=ibis.ifelse(joined._value > 0, joined._share, ibis.literal(1.0)).fill_null(1.0)
    ).drop("_value2", "_share", "_value", "_positive")
    ranked = base.mutate(
        _rank=ibis.row_number().over(order_by=[ibis.desc(base._value), base.customer_id]),  # 0-based
        _n=base.customer_id.count().over(ibis.window()),
    )
    ranked = ranked.mutate(_top=(ranked._n.cast("float64") * config.value.pareto_top).ceil().cast("int64"))
    pareto = ranked.aggregate(
        customers=ranked.count(),
        top_customers=ranked._top.max(),
        total_value_cents=ranked._positive.sum().cast("int64"),
        top_value_cents=ibis.ifelse(ranked._rank < ranked._top, ranked._positive, 0).sum().cast("int64"),
    )
    return tiered, pareto


def segment_tables(
    profile: ir.Table,
    config: SegmentConfig,
    as_of: dt.date,
    custom: Sequence[Scheme] = (),
    *,
    persist: Callable[[str, ir.Table], ir.Table] | None = None,
    only: Collection[str] | None = None,
) -> dict[str, SchemeTables]:
    """Every built-in scheme (and the given custom segments) over ``profile``, as unexecuted expressions.

    Parameters
    ----------
    profile
        One row per customer: ``customer_id`` and the profile fields.
    config
        From :func:`~kehu.segments.config.load_config`.
    as_of
        The day the profile describes (for date-relative rules).
    custom
        User-defined segments (see :func:`custom_scheme_table`).
    persist
        ``persist(name, table)`` keeps an intermediate result in the engine and returns it as a table (e.g.
        :func:`kehu.engine.materialize`); used for the RFM scores, the lifecycle stages and the value tiers,
        which several schemes read. Names start with ``kehu_seg_``. Default: plain expressions.
    only
        Build only these built-in schemes (and what they depend on); default all.

    Returns
    -------
    dict
        Scheme name -> :class:`SchemeTables`, built-ins first in the order of
        :data:`~kehu.segments.config.BUILTIN_SCHEMES`.
    """
    wanted = set(BUILTIN_SCHEMES if only is None else only)
    unknown = wanted - set(BUILTIN_SCHEMES)
    if unknown:
        raise ValueError(f"unknown built-in scheme(s): {', '.join(sorted(unknown))}")
    schemes = config.schemes
    out: dict[str, SchemeTables] = {}
    keep = persist or (lambda _name, table: table)
    if wanted & {"rfm_cn", "rfm_en"}:
        rfm = keep("kehu_seg_rfm", rfm_table(profile, config))
        for name in ("rfm_cn", "rfm_en"):
            if name in wanted:
                out[name] = SchemeTables(schemes[name], _classified(schemes[name], rfm, as_of))
        if "rfm_cn" in wanted:
            out["rfm_cn"].stats["split"] = _splits(rfm, config.scoring.split)
    if wanted & {"lifecycle", "cross"}:
        stages = _classified(schemes["lifecycle"], _lifecycle_input(profile), as_of)
        lifecycle = keep("kehu_seg_lifecycle", stages)
        if "lifecycle" in wanted:
            out["lifecycle"] = SchemeTables(schemes["lifecycle"], lifecycle)
    if wanted & {"value", "cross"}:
        tiered, pareto = _value_input(profile, config)
        value = keep("kehu_seg_value", _classified(schemes["value"], tiered, as_of))
        if "value" in wanted:
            out["value"] = SchemeTables(schemes["value"], value, {"pareto": pareto})
    if "cross" in wanted:
        buyers = with_purchases(profile)
        potential = midrank_percentile(buyers, "clv_12m").select(_clv="value", potential_pct="p")
        cross = buyers.join(lifecycle.select("customer_id", lifecycle="segment"), "customer_id")
        cross = cross.join(value.select("customer_id", value_tier="segment"), "customer_id")
        cross = cross.left_join(potential, cross.clv_12m == potential._clv).drop("_clv")
        cross = cross.mutate(potential_pct=cross.potential_pct.cast("float64"))
        out["cross"] = SchemeTables(schemes["cross"], _classified(schemes["cross"], cross, as_of))
    for scheme in custom:
        out[scheme.name] = SchemeTables(scheme, custom_scheme_table(profile, scheme, as_of))
    return out


def custom_scheme_table(profile: ir.Table, scheme: Scheme, as_of: dt.date) -> ir.Table:
    """The members of a user-defined segment (one-segment scheme): ``customer_id``, ``segment`` and its fields."""
    import ibis

    (segment,) = scheme.segments
    members = profile.filter(compile_ibis(segment.rule, profile, as_of=as_of))
    fields = [f for f in scheme.all_fields() if f != "customer_id"]
    return members.select("customer_id", *fields, segment=ibis.literal(segment.key))
