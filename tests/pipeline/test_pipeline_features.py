"""Hand-checked features on a small store, on every engine.

Every expectation is computed here from the raw rows with plain date arithmetic, never copied from the
pipeline. as_of is 2024-06-30; rows dated after it are present and must not count.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterator
from typing import Any

import pytest
from pipeline_testkit import Store, at, features_by_customer, run_features

AS_OF = dt.date(2024, 6, 30)
D = dt.date


def days(a: dt.date, b: dt.date) -> int:
    return (a - b).days


@pytest.fixture(scope="module", params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def hand(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The store, its ids and the pipeline output on one engine."""
    if request.param == "spark":
        request.getfixturevalue("spark_started")
    s = Store(tmp_path_factory.mktemp("hand") / "home")
    ids: dict[str, Any] = {}
    a = ids["a"] = s.customer(name="regular")
    s.order(a, at(2024, 1, 10, 10), 10_000, category="tea", gross_margin_cents=3_000)
    s.order(a, at(2024, 1, 10, 18), 5_000, status="completed", category="cups")  # same day: one purchase day
    s.order(a, at(2024, 3, 10), 20_000, category="tea", discount_cents=1_000, gross_margin_cents=5_000)
    s.order(a, at(2024, 5, 20), 8_000, category="cups", discount_cents=500)
    s.order(a, at(2024, 6, 15), 3_000, status="refunded", category="tea", gross_margin_cents=1_000)
    s.order(a, at(2024, 6, 20), 9_999, status="cancelled", category="toys")
    s.order(a, at(2024, 6, 25), 7_777, status="pending", category="toys")
    s.order(a, at(2024, 7, 5), 50_000, category="toys")  # after as_of
    b = ids["b"] = s.customer(name="one-time")
    s.order(b, at(2024, 6, 30, 23, 59, 59), 1_234, category="tea")  # last second of as_of: counts
    s.order(b, at(2024, 7, 1, 0, 0, 0), 4_321)  # first second after as_of: does not
    ids["c"] = s.customer(name="no orders", signup_at=at(2024, 2, 1, 3))
    ids["d"] = s.customer(name="joins later", signup_at=at(2024, 8, 1))
    e = ids["e"] = s.customer(name="refunds only")
    s.order(e, at(2024, 6, 1), 500, status="refunded")
    # engagement of customer a
    for when in (at(2024, 6, 29), at(2024, 5, 1), at(2024, 3, 15), at(2024, 7, 2)):
        s.interaction(a, when)
    s.ticket(a, at(2024, 6, 1, 8), first_response_at=at(2024, 6, 1, 10, 30), is_complaint=True)
    s.ticket(a, at(2024, 2, 1, 9), first_response_at=at(2024, 2, 2, 9))
    s.ticket(a, at(2024, 6, 29, 9), first_response_at=at(2024, 7, 1, 9))  # answered after as_of
    s.ticket(a, at(2024, 7, 3), is_complaint=True)  # after as_of
    s.feedback(a, "nps", 9, at(2024, 3, 1))
    s.feedback(a, "nps", 6, at(2024, 6, 1))
    s.feedback(a, "nps", 10, at(2024, 7, 10))  # after as_of
    s.feedback(a, "csat", 4, at(2024, 5, 5, 10))
    s.feedback(a, "csat", 5, at(2024, 5, 5, 10))  # same instant, imported later: wins
    s.contract(a, D(2023, 7, 1), D(2024, 6, 30), contract_id="c1")
    s.contract(a, D(2024, 7, 1), D(2025, 6, 30), signed_at=D(2024, 6, 15), renewal_of="c1")
    s.contract(a, D(2024, 1, 1), D(2026, 1, 1), status="draft")
    s.contract(a, D(2024, 8, 1), D(2027, 1, 1), signed_at=D(2024, 7, 15))  # signed after as_of
    output = run_features(s, request.param, AS_OF)
    yield {"ids": ids, "output": output, "features": features_by_customer(output)}
    s.engine.dispose()


def test_customers_known_as_of(hand: dict[str, Any]) -> None:
    ids = hand["ids"]
    assert set(hand["features"]) == {ids["a"], ids["b"], ids["c"], ids["e"]}  # d signs up after as_of


def test_regular_buyer_rfm_with_same_day_orders(hand: dict[str, Any]) -> None:
    f = hand["features"][hand["ids"]["a"]]
    first, last = D(2024, 1, 10), D(2024, 5, 20)
    assert f["orders"] == 4
    assert f["purchase_days"] == 3
    assert f["frequency"] == 2
    assert f["first_order_date"] == first and f["last_order_date"] == last
    assert f["first_order_at"] == dt.datetime(2024, 1, 10, 10)
    assert f["last_order_at"] == dt.datetime(2024, 5, 20, 12)
    assert f["recency_days"] == days(last, first)
    assert f["T_days"] == days(AS_OF, first)
    assert f["recency_weeks"] == pytest.approx(days(last, first) / 7)
    assert f["T_weeks"] == pytest.approx(days(AS_OF, first) / 7)
    assert f["days_since_last_order"] == days(AS_OF, last)
    assert f["tenure_days"] == days(AS_OF, D(2023, 7, 1))  # first seen: contract start
    revenue = 10_000 + 5_000 + 20_000 + 8_000
    assert f["total_revenue_cents"] == revenue
    assert f["mean_order_value_cents"] == pytest.approx(revenue / 4)
    assert f["monetary_value_cents"] == pytest.approx((revenue - 15_000) / 2)
    assert f["total_margin_cents"] == 3_000 + 5_000


def test_trailing_windows_and_trend(hand: dict[str, Any]) -> None:
    f = hand["features"][hand["ids"]["a"]]
    purchases = [(D(2024, 1, 10), 10_000), (D(2024, 1, 10), 5_000), (D(2024, 3, 10), 20_000), (D(2024, 5, 20), 8_000)]
    for n in (30, 90, 180, 365):
        inside = [c for d, c in purchases if days(AS_OF, d) < n]
        assert f[f"revenue_{n}d_cents"] == sum(inside), n
        assert f[f"orders_{n}d"] == len(inside), n
    prev = [c for d, c in purchases if 90 <= days(AS_OF, d) < 180]
    last90 = [c for d, c in purchases if days(AS_OF, d) < 90]
    assert f["revenue_prev_90d_cents"] == sum(prev) and f["orders_prev_90d"] == len(prev)
    assert f["revenue_trend_90d"] == pytest.approx((sum(last90) - sum(prev)) / sum(prev))
    assert f["order_trend_90d"] == len(last90) - len(prev)


def test_gaps_and_overdue(hand: dict[str, Any]) -> None:
    f = hand["features"][hand["ids"]["a"]]
    gaps = [days(D(2024, 3, 10), D(2024, 1, 10)), days(D(2024, 5, 20), D(2024, 3, 10))]
    assert f["gap_mean_days"] == pytest.approx(statistics.mean(gaps))
    assert f["gap_std_days"] == pytest.approx(statistics.stdev(gaps))
    assert f["overdue_ratio"] == pytest.approx(days(AS_OF, D(2024, 5, 20)) / statistics.mean(gaps))


def test_refund_discount_and_categories(hand: dict[str, Any]) -> None:
    f = hand["features"][hand["ids"]["a"]]
    assert f["refunded_orders"] == 1
    assert f["refund_share"] == pytest.approx(1 / 5)  # 1 refunded of 4 purchases + 1 refund
    assert f["discount_share"] == pytest.approx(2 / 4)
    assert f["top_category"] == "tea"  # 2 orders each; tea has more revenue (30000 vs 13000)
    assert f["category_count"] == 2  # toys were only cancelled/pending/after as_of


def test_one_time_buyer_on_the_last_second(hand: dict[str, Any]) -> None:
    f = hand["features"][hand["ids"]["b"]]
    assert (f["orders"], f["frequency"], f["recency_days"], f["T_days"]) == (1, 0, 0, 0)
    assert f["total_revenue_cents"] == 1_234 and f["revenue_30d_cents"] == 1_234
    assert f["monetary_value_cents"] is None
    assert f["gap_mean_days"] is None and f["gap_std_days"] is None and f["overdue_ratio"] is None
    assert f["tenure_days"] == 0
    assert f["top_category"] == "tea" and f["category_count"] == 1


def test_customer_without_orders(hand: dict[str, Any]) -> None:
    f = hand["features"][hand["ids"]["c"]]
    assert f["tenure_days"] == days(AS_OF, D(2024, 2, 1))
    for name in ("orders", "purchase_days", "total_revenue_cents", "revenue_365d_cents", "refunded_orders"):
        assert f[name] == 0, name
    for name in ("frequency", "recency_days", "T_days", "first_order_at", "mean_order_value_cents",
                 "refund_share", "discount_share", "top_category", "days_since_last_interaction"):  # fmt: skip
        assert f[name] is None, name
    assert f["interactions_total"] == 0 and f["tickets_total"] == 0 and f["contracts_active"] == 0


def test_refunds_only(hand: dict[str, Any]) -> None:
    f = hand["features"][hand["ids"]["e"]]
    assert f["orders"] == 0 and f["refunded_orders"] == 1
    assert f["refund_share"] == pytest.approx(1.0)
    assert f["frequency"] is None and f["first_order_date"] is None
    assert f["tenure_days"] == days(AS_OF, D(2024, 6, 1))


def test_interactions(hand: dict[str, Any]) -> None:
    f = hand["features"][hand["ids"]["a"]]
    dates = [D(2024, 6, 29), D(2024, 5, 1), D(2024, 3, 15)]  # 2024-07-02 is after as_of
    assert f["interactions_total"] == len(dates)
    assert f["interactions_30d"] == sum(days(AS_OF, d) < 30 for d in dates)
    assert f["interactions_90d"] == sum(days(AS_OF, d) < 90 for d in dates)
    assert f["interactions_prev_90d"] == sum(90 <= days(AS_OF, d) < 180 for d in dates)
    assert f["interaction_trend_90d"] == f["interactions_90d"] - f["interactions_prev_90d"] == 1
    assert f["days_since_last_interaction"] == days(AS_OF, max(dates))


def test_service(hand: dict[str, Any]) -> None:
    f = hand["features"][hand["ids"]["a"]]
    assert f["tickets_total"] == 3
    assert f["tickets_90d"] == 2  # 2024-06-01 and 2024-06-29
    assert f["complaints_90d"] == 1
    assert f["first_response_hours_mean"] == pytest.approx((2.5 + 24) / 2)  # the third answered after as_of
    assert f["latest_nps"] == 6
    assert f["latest_csat"] == 5


def test_contracts(hand: dict[str, Any]) -> None:
    f = hand["features"][hand["ids"]["a"]]
    assert f["contracts_active"] == 1  # c1 ends on as_of; the renewal starts the day after
    assert f["contract_days_to_end"] == days(D(2025, 6, 30), AS_OF)
    assert f["contract_renewals"] == 1


def test_cohorts(hand: dict[str, Any]) -> None:
    rows = hand["output"].to_arrow("cohorts").to_pylist()
    table = {(r["cohort_month"], r["months_since"]): r for r in rows}
    jan, jun = D(2024, 1, 1), D(2024, 6, 1)
    assert set(table) == {(jan, k) for k in range(6)} | {(jun, 0)}
    active = {0: 15_000, 2: 20_000, 4: 8_000}  # months with purchases by the January cohort
    for k in range(6):
        cell = table[(jan, k)]
        assert cell["cohort_customers"] == 1
        assert cell["active_customers"] == (1 if k in active else 0)
        assert cell["revenue_cents"] == active.get(k, 0)
        assert cell["retention"] == pytest.approx(1.0 if k in active else 0.0)
    assert table[(jan, 0)]["orders"] == 2
    assert (table[(jun, 0)]["active_customers"], table[(jun, 0)]["revenue_cents"]) == (1, 1_234)


def test_repeat_curve(hand: dict[str, Any]) -> None:
    rows = {r["months_since_first"]: r for r in hand["output"].to_arrow("repeat_curve").to_pylist()}
    # a: first purchase January, second purchase day in March (offset 2); b: June, no repeat
    expected = {0: (2, 0), 1: (1, 0), 2: (1, 1), 3: (1, 1), 4: (1, 1), 5: (1, 1)}
    assert {k: (r["customers"], r["repeat_customers"]) for k, r in rows.items()} == expected
    assert rows[0]["repeat_rate"] == pytest.approx(0.0) and rows[5]["repeat_rate"] == pytest.approx(1.0)


def test_step_reports(hand: dict[str, Any]) -> None:
    output = hand["output"]
    from kehu.pipeline import STEPS

    assert [r.name for r in output.steps] == [s.name for s in STEPS]
    assert output.rows("customer_features") == 4
    assert all(r.seconds >= 0 for r in output.steps)
