"""Every KPI's formula, defined once, as a pure function of plain data (no I/O).

The store-reading code in :mod:`kehu.metrics.report` gathers the inputs and calls these; the formulas are
also written out in ``docs/kpis.md``. A KPI whose inputs are empty returns ``None`` ("no data"), never 0:
an empty period has no retention rate, a survey nobody answered has no NPS.

Rates are fractions in [0, 1]; NPS is in [-100, 100]; CSAT is a percentage in [0, 100]; money is integer
cents in and cents (float) out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "average_order_value",
    "churn_rate",
    "clv_summary",
    "cohort_matrix",
    "csat",
    "csat_mean",
    "mean_hours",
    "median_time_to_event",
    "nps",
    "nps_breakdown",
    "repurchase_rate",
    "retention_rate",
    "revenue_concentration",
    "share",
    "task_completion_rate",
    "win_back_rate",
]


def share(part: int, whole: int) -> float | None:
    """``part / whole``; ``None`` when ``whole`` is 0."""
    return None if whole == 0 else part / whole


def retention_rate(previous_active: Iterable[int], current_active: Iterable[int]) -> float | None:
    """Retention rate = |active(P−1) ∩ active(P)| / |active(P−1)|.

    Of the customers who bought in the previous period, the share who bought again in this period.
    ``None`` when nobody bought in the previous period.
    """
    before = set(previous_active)
    return share(len(before & set(current_active)), len(before))


def wilson_lower_bound(successes: int, trials: int, z: float = 1.959964) -> float | None:
    """Lower end of the Wilson score interval (95 % by default) of the rate ``successes / trials``.

    A rate measured on few customers gets a low bound, so ranking by it does not put 3 of 3 above 180 of 200.
    ``None`` without trials.
    """
    if trials <= 0:
        return None
    if not 0 <= successes <= trials:
        raise ValueError(f"successes {successes} outside 0..{trials}")
    p, n, z2 = successes / trials, trials, z * z
    centre = p + z2 / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, (centre - spread) / (1 + z2 / n))


def churn_rate(previous_active: Iterable[int], current_active: Iterable[int]) -> float | None:
    """Churn rate = 1 − retention rate: of the previous period's buyers, the share who did not buy in this one."""
    kept = retention_rate(previous_active, current_active)
    return None if kept is None else 1.0 - kept


def repurchase_rate(orders_per_customer: Mapping[int, int]) -> float | None:
    """Repurchase rate (复购率) = customers with ≥ 2 purchases in P / customers with ≥ 1 purchase in P."""
    buyers = [n for n in orders_per_customer.values() if n >= 1]
    return share(sum(1 for n in buyers if n >= 2), len(buyers))


def average_order_value(revenue_cents: int, orders: int) -> float | None:
    """Average order value (客单价) = purchase revenue in P / purchases in P, in cents."""
    return None if orders == 0 else revenue_cents / orders


def clv_summary(values: Iterable[float | None]) -> dict[str, Any]:
    """CLV total = Σ clv_12m over scored customers; CLV mean = total / scored customers (money units as given)."""
    known = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    total = math.fsum(known)
    return {"customers": len(known), "total": total if known else None, "mean": total / len(known) if known else None}


def revenue_concentration(revenue_by_customer: Mapping[int, int], top: float = 0.2) -> float | None:
    """Revenue concentration = revenue of the top ⌈top·n⌉ buyers of P / revenue of all n buyers of P.

    Buyers are ranked by their revenue in P (ties broken by customer id, so the figure is reproducible).
    ``None`` with no buyers or no revenue.
    """
    if not 0 < top <= 1:
        raise ValueError(f"top must be in (0, 1], got {top}")
    ranked = sorted(revenue_by_customer.items(), key=lambda kv: (-kv[1], kv[0]))
    total = sum(v for _, v in ranked)
    if not ranked or total <= 0:
        return None
    k = math.ceil(top * len(ranked))
    return sum(v for _, v in ranked[:k]) / total


def nps_breakdown(scores: Iterable[int]) -> dict[str, Any]:
    """Promoters (9–10), passives (7–8), detractors (0–6), responses and the NPS (see :func:`nps`)."""
    values = list(scores)
    bad = [s for s in values if not 0 <= s <= 10]
    if bad:
        raise ValueError(f"NPS scores are 0-10; got {bad[:3]}")
    promoters = sum(1 for s in values if s >= 9)
    detractors = sum(1 for s in values if s <= 6)
    n = len(values)
    return {
        "responses": n,
        "promoters": promoters,
        "passives": n - promoters - detractors,
        "detractors": detractors,
        "nps": nps(values),
    }


def nps(scores: Iterable[int]) -> float | None:
    """NPS = 100 · (promoters − detractors) / responses; promoters score 9–10, detractors 0–6 (0–10 scale).

    ``None`` with no responses; 100 when everyone is a promoter, −100 when everyone is a detractor.
    """
    values = list(scores)
    if not values:
        return None
    promoters = sum(1 for s in values if s >= 9)
    detractors = sum(1 for s in values if s <= 6)
    return 100.0 * (promoters - detractors) / len(values)


def csat(scores: Iterable[int]) -> float | None:
    """CSAT = 100 · responses scoring 4 or 5 / responses (1–5 scale). ``None`` with no responses."""
    values = list(scores)
    bad = [s for s in values if not 1 <= s <= 5]
    if bad:
        raise ValueError(f"CSAT scores are 1-5; got {bad[:3]}")
    return None if not values else 100.0 * sum(1 for s in values if s >= 4) / len(values)


def csat_mean(scores: Iterable[int]) -> float | None:
    """Mean CSAT score (1–5); ``None`` with no responses."""
    values = list(scores)
    return None if not values else sum(values) / len(values)


def mean_hours(durations_seconds: Iterable[float]) -> float | None:
    """Mean of durations in hours (first response: first_response_at − opened_at; resolution: resolved_at −
    opened_at, over tickets opened in P that have the later time). ``None`` when there are none."""
    values = [float(s) for s in durations_seconds]
    return None if not values else sum(values) / len(values) / 3600.0


def win_back_rate(lapsed: Iterable[int], buyers: Iterable[int]) -> float | None:
    """Win-back rate = lapsed customers who bought in P / customers lapsed at the start of P.

    A customer is lapsed at the start of P when they bought before P but not in the ``lapse_days`` before it.
    """
    gone = set(lapsed)
    return share(len(gone & set(buyers)), len(gone))


def task_completion_rate(done: int, due: int) -> float | None:
    """Task completion = tasks due in P that are done / tasks due in P."""
    return share(done, due)


def median_time_to_event(durations: Iterable[tuple[float, bool]]) -> float | None:
    """Median time to an event (e.g. a task's first touch) by the Kaplan–Meier estimate, from ``(time, happened)``.

    A case where the event has not happened yet (``happened`` false) is *censored* at its ``time``: it is known to
    wait at least that long. Leaving such cases out would make the median look shorter than it is; counting their
    time as if the event happened then would too. The survival S(t) = Π over event times u ≤ t of (1 − events at u
    / cases still waiting at u); the median is the first event time where S(t) ≤ ½. ``None`` with no cases, or
    when fewer than half are known to have had the event (S never falls to ½ over the times seen).
    """
    cases = sorted((float(t), bool(e)) for t, e in durations)
    if any(t < 0 or math.isnan(t) for t, _ in cases):
        raise ValueError("times to an event must be non-negative numbers")
    waiting, survival, i = len(cases), 1.0, 0
    while i < len(cases):
        t = cases[i][0]
        j = i
        while j < len(cases) and cases[j][0] == t:
            j += 1
        events = sum(1 for _, e in cases[i:j] if e)
        if events:
            survival *= 1.0 - events / waiting
            if survival <= 0.5:
                return t
        waiting -= j - i
        i = j
    return None


def cohort_matrix(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The cohort retention matrix: one row per first-purchase month, one column per months since.

    Parameters
    ----------
    rows
        ``cohort_month`` (date), ``months_since`` (int), ``cohort_customers``, ``active_customers``.

    Returns
    -------
    dict
        ``cohorts`` (ISO months), ``months`` (0..max), ``size`` per cohort and ``retention``: per cohort a
        list of ``active / cohort size`` per month since (``None`` beyond what has been observed).
    """
    cohorts = sorted({r["cohort_month"] for r in rows})
    width = 1 + max((int(r["months_since"]) for r in rows), default=-1)
    index = {c: i for i, c in enumerate(cohorts)}
    matrix: list[list[float | None]] = [[None] * width for _ in cohorts]
    size = [0] * len(cohorts)
    for r in rows:
        i = index[r["cohort_month"]]
        size[i] = int(r["cohort_customers"])
        matrix[i][int(r["months_since"])] = share(int(r["active_customers"]), int(r["cohort_customers"]))
    return {
        "cohorts": [c.isoformat() if hasattr(c, "isoformat") else str(c) for c in cohorts],
        "months": list(range(width)),
        "size": size,
        "retention": matrix,
    }
