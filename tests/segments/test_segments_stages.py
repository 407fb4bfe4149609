"""Lifecycle stages, ABC value tiers and cross segments on both engines; monotone thresholds (hypothesis)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from segments_testkit import buyer, run_schemes, segments_of

from kehu.segments.config import load_config


def _contract(cid: int, *, to_end: int, tenure: int, renewals: int = 0, **extra: Any) -> dict[str, Any]:
    return {"customer_id": cid, "orders": 0, "total_revenue_cents": 0, "contract_days_to_end": to_end,
            "contracts_active": 1 if to_end >= 0 else 0, "contract_renewals": renewals, "tenure_days": tenure,
            **extra}  # fmt: skip


def _buyer(cid: int, *, days: int, orders: int, t_days: int, **extra: Any) -> dict[str, Any]:
    return {**buyer(cid, days=days, orders=orders, revenue=1000 * orders), "T_days": t_days, **extra}


# Each row names its expected stage; the comment says which other stages' rules it also matches.
STAGES = [
    ({"customer_id": 1, "orders": 0, "total_revenue_cents": 0, "tenure_days": 500}, "prospect"),
    (_buyer(2, days=400, orders=3, t_days=900, overdue_ratio=5.0), "lost"),  # also dormant, at_risk
    (_buyer(3, days=200, orders=2, t_days=600, overdue_ratio=3.0), "dormant"),  # also at_risk
    (_buyer(4, days=60, orders=4, t_days=80, overdue_ratio=2.5), "at_risk"),  # also new
    (_buyer(5, days=10, orders=9, t_days=900, churn_risk=0.7), "at_risk"),  # also mature
    (_buyer(6, days=20, orders=1, t_days=20), "new"),  # also growing
    (_buyer(7, days=20, orders=3, t_days=200, overdue_ratio=0.5), "growing"),
    (_buyer(8, days=10, orders=8, t_days=800, overdue_ratio=0.8), "mature"),
    # contract customers: the published non-renewal risk and purchases decide, not a contract date alone
    (_contract(9, to_end=-200, tenure=900, orders=5, days_since_last_order=10), "mature"),  # still buying
    (_contract(10, to_end=30, tenure=400, renewal_risk=0.7), "at_risk"),
    (_contract(16, to_end=30, tenure=900, renewals=2, renewal_risk=0.1), "mature"),  # ends soon, low risk
    (_contract(17, to_end=-200, tenure=900), "lost"),  # ended long ago, no purchase
    (_contract(11, to_end=-10, tenure=400), "at_risk"),  # ended 10 days ago, not renewed, no purchase
    (_contract(12, to_end=300, tenure=800, renewals=1), "mature"),
    (_contract(13, to_end=300, tenure=200), "growing"),
    (_contract(14, to_end=300, tenure=30), "new"),
    (_contract(15, to_end=300, tenure=900, renewals=2, orders=2, days_since_last_order=500), "mature"),
]


def test_lifecycle_stages_and_precedence(backend: Any) -> None:
    members, _ = run_schemes(backend, [row for row, _ in STAGES], only=("lifecycle",))
    assert segments_of(members["lifecycle"]) == {row["customer_id"]: stage for row, stage in STAGES}


def test_lifecycle_engine_agrees_with_first_match_reference(backend: Any) -> None:
    """Random profiles: the engine's CASE gives the stage of Python's first-match evaluation, run after run."""
    rng = random.Random(5)
    rows = []
    for cid in range(1, 121):
        orders = rng.choice((0, 1, 2, 5, 9))
        row = _buyer(
            cid,
            days=rng.randint(0, 600),
            orders=max(orders, 1),
            t_days=rng.randint(0, 1200),
            overdue_ratio=rng.choice((None, 0.3, 1.9, 2.0, 4.0)),
            churn_risk=rng.choice((None, 0.1, 0.6)),
        )
        if orders == 0:
            row = {"customer_id": cid, "orders": 0, "total_revenue_cents": 0, "tenure_days": rng.randint(0, 400)}
        if rng.random() < 0.3:
            to_end = rng.choice((-300, -91, -90, -5, 0, 60, 61, 400))
            row.update(contract_days_to_end=to_end, contracts_active=int(to_end >= 0),
                       contract_renewals=rng.choice((0, 1)), tenure_days=rng.randint(0, 900))  # fmt: skip
        rows.append(row)
    scheme = load_config().schemes["lifecycle"]
    first, _ = run_schemes(backend, rows, only=("lifecycle",))
    again, _ = run_schemes(backend, rows, only=("lifecycle",))
    expected = {}
    for row in rows:
        to_end = row.get("contract_days_to_end")
        values = {**row, "days_since_contract_end": -to_end if to_end is not None and to_end < 0 else None}
        expected[row["customer_id"]] = scheme.classify(values)
    assert segments_of(first["lifecycle"]) == expected == segments_of(again["lifecycle"])
    assert None not in expected.values()


def _lifecycle_sets(backend: Any, rows: list[dict[str, Any]], thresholds: dict[str, float]) -> dict[str, set[int]]:
    members, _ = run_schemes(backend, rows, load_config({"lifecycle": {"thresholds": thresholds}}),
                             only=("lifecycle",))  # fmt: skip
    out: dict[str, set[int]] = {}
    for cid, segment in segments_of(members["lifecycle"]).items():
        out.setdefault(segment, set()).add(cid)
    return out


_RNG = random.Random(9)
MONOTONE_ROWS = [
    _buyer(cid, days=_RNG.randint(0, 800), orders=_RNG.randint(1, 9), t_days=_RNG.randint(0, 1500),
           overdue_ratio=round(_RNG.uniform(0, 5), 2))
    for cid in range(1, 61)
]  # fmt: skip


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 800), st.integers(0, 800))
def test_more_lost_days_never_lose_more_customers(a: int, b: int) -> None:
    from kehu.config import load_settings
    from kehu.engine import connect

    low, high = sorted((a, b))
    con = connect(load_settings(), engine="duckdb")
    try:
        loose = _lifecycle_sets(con, MONOTONE_ROWS, {"lost_days": low, "dormant_days": 0})
        strict = _lifecycle_sets(con, MONOTONE_ROWS, {"lost_days": high, "dormant_days": 0})
    finally:
        con.disconnect()
    assert strict.get("lost", set()) <= loose.get("lost", set())


@settings(max_examples=12, deadline=None)
@given(st.floats(0, 6), st.floats(0, 6), st.integers(0, 400))
def test_higher_thresholds_never_flag_more_customers(a: float, b: float, dormant: int) -> None:
    """Raising the overdue threshold (or dormant days) never adds customers to the inactive stages."""
    from kehu.config import load_settings
    from kehu.engine import connect

    low, high = sorted((a, b))
    inactive = ("at_risk", "dormant", "lost")
    con = connect(load_settings(), engine="duckdb")
    try:
        loose = _lifecycle_sets(con, MONOTONE_ROWS, {"overdue_ratio": low, "dormant_days": dormant})
        strict = _lifecycle_sets(con, MONOTONE_ROWS, {"overdue_ratio": high, "dormant_days": dormant + 50})
    finally:
        con.disconnect()
    flagged = lambda sets: set().union(*(sets.get(s, set()) for s in inactive))  # noqa: E731
    assert flagged(strict) <= flagged(loose)
    assert strict.get("dormant", set()) | strict.get("lost", set()) <= loose.get("dormant", set()) | loose.get(
        "lost", set()
    )


def _value_rows(revenues: list[int]) -> list[dict[str, Any]]:
    return [buyer(i + 1, days=10, orders=1, revenue=r) for i, r in enumerate(revenues)]


def test_value_tiers_by_hand_with_ties_and_pareto(backend: Any) -> None:
    # positive total 10000: 5000 starts at share 0 (A), 3000 at 0.5 (A), 1000 at 0.8 (B), the tied 500s at
    # 0.9 (B), 0 and -100 have no positive value (C). Top 20% of 7 customers = 2 customers = 8000 / 10000.
    members, stats = run_schemes(backend, _value_rows([5000, 3000, 1000, 500, 500, 0, -100]), only=("value",))
    assert segments_of(members["value"]) == {1: "A", 2: "A", 3: "B", 4: "B", 5: "B", 6: "C", 7: "C"}
    assert stats["value"]["pareto"] == {"customers": 7, "top_customers": 2, "total_value_cents": 10_000,
                                        "top_value_cents": 8_000}  # fmt: skip


def test_equal_values_share_a_tier(backend: Any) -> None:
    members, _ = run_schemes(backend, _value_rows([3000, 3000, 3000, 1000]), only=("value",))
    assert segments_of(members["value"]) == {1: "A", 2: "A", 3: "A", 4: "B"}


def test_value_tiers_by_margin_and_monotone_in_a_share(backend: Any) -> None:
    rows = _value_rows([5000, 3000, 1000, 900])
    for row, margin in zip(rows, (100, 200, 5000, None), strict=True):
        row["total_margin_cents"] = margin
    by_margin, _ = run_schemes(backend, rows, load_config({"value": {"basis": "margin"}}), only=("value",))
    assert segments_of(by_margin["value"]) == {3: "A", 2: "B", 1: "C", 4: "C"}
    sizes = []
    for share in (0.3, 0.6, 0.9):
        members, _ = run_schemes(backend, rows, load_config({"value": {"a_share": share}}), only=("value",))
        sizes.append({c for c, s in segments_of(members["value"]).items() if s == "A"})
    assert sizes[0] <= sizes[1] <= sizes[2]


def test_cross_segments_by_hand(backend: Any) -> None:
    rows = [
        _buyer(1, days=10, orders=6, t_days=800, total_revenue_cents=50_000),  # A, mature
        _buyer(2, days=200, orders=5, t_days=900, total_revenue_cents=40_000),  # A, dormant
        _buyer(3, days=100, orders=2, t_days=400, total_revenue_cents=1_000, overdue_ratio=3.0, clv_12m=99_999.0),
        _buyer(4, days=500, orders=1, t_days=500, total_revenue_cents=500, clv_12m=1.0),  # C, lost
        _buyer(5, days=10, orders=1, t_days=10, total_revenue_cents=800, clv_12m=5.0),  # C, new
        {"customer_id": 6, "orders": 0, "total_revenue_cents": 0, "tenure_days": 3},  # prospect: not in cross
    ]
    members, _ = run_schemes(backend, rows, only=("cross",))
    assert segments_of(members["cross"]) == {
        1: "high_value_active",
        2: "high_value_inactive",
        3: "high_potential_inactive",  # C tier, at risk, CLV percentile (2 + 3) / 6 = 0.83 >= 0.8
        4: "low_value_churn_risk",
        5: "low_value_active",
    }
    assert members["cross"][3]["potential_pct"] == pytest.approx(5 / 6)
