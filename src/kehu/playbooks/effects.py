"""What works: each playbook rule's treated customers against the ones it held out, after the firing.

Definitions (days are local days in ``KEHU_TIMEZONE``; ``H`` is the horizon, ``KEHU_PLAYBOOK_EFFECT_DAYS``):

- a rule's customers over a window of firing days ``[since, until]``: every customer with a firing of the rule on
  a day of the window, once, at their first such firing (day ``d``); *treated* when that firing acted, *held out*
  when its fate is ``held_out`` (the rule's holdout, :func:`kehu.models.holdout.held_out`: nothing was done);
- the outcome span: the ``H`` days after the firing day (``d + 1`` to ``d + H``). A firing is measured once its
  span has ended by the data's as-of day (the day of the newest order in the store); until then it is *pending*;
- repurchase: share of the customers with a purchase (a paid or completed order) in the outcome span;
- retention: repurchase among the customers *active* when fired (a purchase in the ``H`` days up to ``d``);
- win-back: repurchase among those *lapsed* when fired (a purchase before, none in the :data:`LAPSE_DAYS` days up
  to ``d``);
- revenue per customer: purchase revenue in the span over all the arm's customers, zeros included (cents).

The uplift is treated − held out with the campaigns' intervals (:mod:`kehu.models.uplift`): Agresti–Caffo for the
rates, Welch with buyer degrees of freedom and the no-verdict rule for revenue. The rule's verdict is its revenue's:
``positive`` (the 95% interval lies above 0), ``negative`` (below 0), ``none`` (no measurable effect: the interval
holds 0) or ``too_few`` (no interval: an arm is empty or has too few buyers for spend that uneven). A rule whose
verdict is ``none`` or ``negative`` is *flagged*. :func:`revenue_effects` gives the ranking the revenue estimate
per rule.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import sqlalchemy as sa

from kehu import i18n
from kehu.models.uplift import Estimate, mean_difference, proportion_difference
from kehu.store.actions import playbook_firings
from kehu.store.schema import orders

__all__ = [
    "LAPSE_DAYS",
    "MAX_MULTIPLIER",
    "METRICS",
    "VERDICTS",
    "effect_multipliers",
    "revenue_effects",
    "rule_effects",
    "verdict_of",
    "verdict_text",
]

#: A customer is lapsed when fired after this many days without a purchase (as campaigns count win-back).
LAPSE_DAYS = 180
METRICS = ("repurchase", "retention", "win_back", "revenue_per_customer")
VERDICTS = ("positive", "none", "negative", "too_few")
_ARMS = ("treated", "held_out")
_CHUNK = 900


def _local_start(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC)


def _purchase() -> Any:
    from kehu.vocabulary import PURCHASE_STATUSES

    return sa.func.lower(sa.func.trim(orders.c.status)).in_(PURCHASE_STATUSES)


def data_as_of(conn: sa.Connection, tz: ZoneInfo) -> dt.date | None:
    """The local day of the newest order in the store (None: no orders)."""
    newest = conn.execute(sa.select(sa.func.max(orders.c.ordered_at))).scalar()
    if newest is None:
        return None
    if newest.tzinfo is None:
        newest = newest.replace(tzinfo=dt.UTC)
    return newest.astimezone(tz).date()


def _firings(
    conn: sa.Connection, since: dt.date | None, until: dt.date | None
) -> dict[str, dict[int, tuple[dt.date, str]]]:
    """Rule ref -> customer -> (day, fate) of their first firing in the window."""
    f = playbook_firings
    stmt = sa.select(f.c.playbook, f.c.rule, f.c.customer_id, f.c.day, f.c.fate).order_by(f.c.day, f.c.id)
    if since is not None:
        stmt = stmt.where(f.c.day >= since)
    if until is not None:
        stmt = stmt.where(f.c.day <= until)
    out: dict[str, dict[int, tuple[dt.date, str]]] = {}
    for pb, rule, cid, day, fate in conn.execute(stmt):
        out.setdefault(f"{pb}/{rule}", {}).setdefault(int(cid), (day, str(fate)))
    return out


def _purchases(conn: sa.Connection, ids: Sequence[int], before: dt.datetime) -> dict[int, tuple[list[Any], list[int]]]:
    """Customer -> (order times ascending, amounts in cents) of their purchases before ``before``."""
    out: dict[int, tuple[list[Any], list[int]]] = {}
    for i in range(0, len(ids), _CHUNK):
        part = ids[i : i + _CHUNK]
        stmt = (
            sa.select(orders.c.customer_id, orders.c.ordered_at, orders.c.amount_cents)
            .where(_purchase(), orders.c.customer_id.in_(part), orders.c.ordered_at < before)
            .order_by(orders.c.customer_id, orders.c.ordered_at)
        )
        for cid, at, cents in conn.execute(stmt):
            times, amounts = out.setdefault(int(cid), ([], []))
            times.append(at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC))
            amounts.append(int(cents or 0))
    return out


def _outcome(history: tuple[list[Any], list[int]] | None, day: dt.date, horizon: int, tz: ZoneInfo) -> dict[str, Any]:
    """What one customer did in the span after the firing day, and how they stood when fired."""
    if not history:
        return {"bought": False, "revenue_cents": 0, "active": False, "lapsed": False}
    times, amounts = history
    start = _local_start(day + dt.timedelta(days=1), tz)
    end = _local_start(day + dt.timedelta(days=1 + horizon), tz)
    lo, hi = bisect.bisect_left(times, start), bisect.bisect_left(times, end)
    before = times[lo - 1] if lo else None
    active = before is not None and before >= _local_start(day + dt.timedelta(days=1 - horizon), tz)
    lapsed = before is not None and before < _local_start(day + dt.timedelta(days=1 - LAPSE_DAYS), tz)
    return {"bought": hi > lo, "revenue_cents": sum(amounts[lo:hi]), "active": active, "lapsed": lapsed}


def _estimates(rows: Mapping[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for metric, only in (("repurchase", None), ("retention", "active"), ("win_back", "lapsed")):
        t = [r for r in rows["treated"] if only is None or r[only]]
        c = [r for r in rows["held_out"] if only is None or r[only]]
        est = proportion_difference(sum(r["bought"] for r in t), len(t), sum(r["bought"] for r in c), len(c))
        out[metric] = {**est.as_dict(), "treated_n": len(t), "held_out_n": len(c)}
    money = mean_difference(
        np.array([r["revenue_cents"] for r in rows["treated"]], dtype=np.float64),
        np.array([r["revenue_cents"] for r in rows["held_out"]], dtype=np.float64),
    )
    out["revenue_per_customer"] = {**money.as_dict(), "treated_n": len(rows["treated"]),
                                   "held_out_n": len(rows["held_out"])}  # fmt: skip
    return out


def verdict_of(est: Estimate | Mapping[str, Any]) -> str:
    """``positive``, ``negative``, ``none`` (the interval holds 0) or ``too_few`` (no interval) of an estimate."""
    low, high = (est.low, est.high) if isinstance(est, Estimate) else (est.get("low"), est.get("high"))
    if low is None or high is None:
        return "too_few"
    return "positive" if low > 0 else "negative" if high < 0 else "none"


def _money(cents: float, locale: str) -> str:
    pattern = i18n.text("effects.units.money", locale)
    sign = "-" if cents < 0 else ""
    return sign + pattern.format(v=f"{abs(cents) / 100:,.2f}")


def verdict_text(
    verdict: str, revenue: Mapping[str, Any], *, horizon: int, locale: str, no_holdout: bool = False
) -> str:
    """The rule's verdict in plain words (``locale``: zh-CN or en), with the revenue uplift and its interval;
    ``no_holdout``: the rule held nobody out in the window (``holdout: 0``), so nothing can be compared."""
    diff = revenue.get("difference")
    values = {"horizon": horizon, "diff": _money(diff, locale) if diff is not None else "—"}
    if verdict != "too_few" and diff is not None:
        values.update(low=_money(revenue["low"], locale), high=_money(revenue["high"], locale),
                      size=_money(abs(diff), locale))  # fmt: skip
        return i18n.text(f"effects.verdict.{verdict}", locale).format(**values)
    if no_holdout:
        return i18n.text("effects.verdict.too_few_no_holdout", locale).format(**values)
    if revenue.get("treated_n", 0) == 0 or revenue.get("held_out_n", 0) == 0:
        return i18n.text("effects.verdict.too_few_empty", locale).format(**values)
    d = revenue.get("detail") or {}
    values.update(treated=int(d.get("buyers_treatment", 0)), held_out=int(d.get("buyers_holdout", 0)),
                  required=f"{int(d.get('required', 0)):,}")  # fmt: skip
    return i18n.text("effects.verdict.too_few_buyers", locale).format(**values)


def rule_effects(
    conn: sa.Connection,
    *,
    tz: ZoneInfo,
    horizon_days: int,
    since: dt.date | None = None,
    until: dt.date | None = None,
    refs: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Per rule fired in the window: treated and held-out customers, outcomes, uplift, verdict (see the module).

    Parameters
    ----------
    since, until
        First and last firing day of the window (None: from the first firing; up to the newest).
    refs
        Only these rules (``playbook/rule``); default every rule with firings in the window.

    Returns
    -------
    dict
        ``as_of`` (the data's as-of day), ``horizon_days``, ``lapse_days``, ``window`` (``since``, ``until``,
        ``measurable_until``: the newest firing day whose span has ended) and ``rules``: per rule ``ref``,
        ``fired_customers`` (customers per fate, measured or not), ``pending`` (customers whose span has not ended),
        ``arms`` (customers, buyers, revenue per arm), ``uplift`` per metric, ``verdict``, ``flagged`` and
        ``says`` (the verdict in zh-CN and en).
    """
    if since is not None and until is not None and since > until:
        from kehu.errors import ValidationError

        raise ValidationError(f"--since {since} is after --until {until}: give a window whose start comes first")
    as_of = data_as_of(conn, tz)
    measurable = as_of - dt.timedelta(days=horizon_days) if as_of is not None else None
    wanted = set(refs) if refs is not None else None
    fired = {ref: c for ref, c in _firings(conn, since, until).items() if wanted is None or ref in wanted}
    measured = {ref: {cid: v for cid, v in c.items() if measurable is not None and v[0] <= measurable}
                for ref, c in fired.items()}  # fmt: skip
    ids = sorted({cid for c in measured.values() for cid in c})
    history: dict[int, tuple[list[Any], list[int]]] = {}
    if ids and measurable is not None:
        history = _purchases(conn, ids, _local_start(measurable + dt.timedelta(days=1 + horizon_days), tz))
    rules = []
    for ref in sorted(fired):
        rows: dict[str, list[dict[str, Any]]] = {arm: [] for arm in _ARMS}
        for cid, (day, fate) in measured[ref].items():
            rows["held_out" if fate == "held_out" else "treated"].append(
                _outcome(history.get(cid), day, horizon_days, tz)
            )
        uplift = _estimates(rows)
        verdict = verdict_of(uplift["revenue_per_customer"])
        held = sum(fate == "held_out" for _, fate in fired[ref].values())
        rules.append({
            "ref": ref,
            "fired_customers": {"treated": len(fired[ref]) - held, "held_out": held},
            "pending": len(fired[ref]) - len(measured[ref]),
            "arms": {arm: {"customers": len(v), "buyers": sum(r["bought"] for r in v),
                           "revenue_cents": sum(r["revenue_cents"] for r in v)} for arm, v in rows.items()},
            "uplift": uplift,
            "verdict": verdict,
            "flagged": verdict in ("none", "negative"),
            "says": {loc: verdict_text(verdict, uplift["revenue_per_customer"], horizon=horizon_days, locale=loc,
                                       no_holdout=held == 0) for loc in ("zh-CN", "en")},
        })  # fmt: skip
    return {
        "as_of": as_of,
        "horizon_days": horizon_days,
        "lapse_days": LAPSE_DAYS,
        "window": {"since": since, "until": until, "measurable_until": measurable},
        "rules": rules,
    }


def revenue_effects(conn: sa.Connection, *, tz: ZoneInfo, horizon_days: int) -> dict[str, Estimate]:
    """Per rule ref: the measured effect on revenue per customer (cents, treated − held out) with its 95% interval,
    over every firing measured so far. The ranking uses the estimates whose interval excludes 0
    (``Estimate.significant``); the others have ``low``/``high`` None or an interval that holds 0."""
    out: dict[str, Estimate] = {}
    for rule in rule_effects(conn, tz=tz, horizon_days=horizon_days)["rules"]:
        d = rule["uplift"]["revenue_per_customer"]
        out[rule["ref"]] = Estimate(d["treatment"], d["holdout"], d["difference"], d["low"], d["high"], d["level"],
                                    d["method"], d.get("reason"), dict(d.get("detail") or {}))  # fmt: skip
    return out


#: the largest factor a measured effect gives a rule's value at stake (a holdout that bought almost nothing would
#: otherwise make one rule outrank every other by orders of magnitude)
MAX_MULTIPLIER = 5.0


def effect_multipliers(estimates: Mapping[str, Estimate]) -> dict[str, float]:
    """Per rule ref, the factor the capacity stage multiplies a firing's value at stake by: for a rule whose
    measured effect on revenue per customer has an interval that excludes zero, the treated customers' revenue per
    customer over the held-out customers' (0 for a rule that measurably lowers revenue to nothing, at most
    :data:`MAX_MULTIPLIER`; :data:`MAX_MULTIPLIER` when the held-out customers bought nothing and the rule raised
    revenue). Rules whose effect is not known yet are left out (the stage uses 1)."""
    out: dict[str, float] = {}
    for ref, e in estimates.items():
        if not e.significant or e.treatment is None or e.holdout is None:
            continue
        if e.holdout > 0:
            out[ref] = min(MAX_MULTIPLIER, max(0.0, e.treatment / e.holdout))
        else:
            out[ref] = MAX_MULTIPLIER if (e.difference or 0) > 0 else 0.0
    return out
