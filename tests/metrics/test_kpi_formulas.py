"""Each KPI formula against numbers worked out by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from kehu.metrics import formulas as f
from kehu.metrics.periods import last_complete_period, period_containing


def test_retention_and_churn() -> None:
    # previous buyers {1,2,3,4}; of them 2 and 4 bought again; 5 is new
    assert f.retention_rate({1, 2, 3, 4}, {2, 4, 5}) == 0.5
    assert f.churn_rate({1, 2, 3, 4}, {2, 4, 5}) == 0.5
    assert f.retention_rate(set(), {1}) is None and f.churn_rate(set(), {1}) is None


def test_repurchase_rate() -> None:
    # 3 buyers, one with 2 orders, one with 3: 2/3
    assert f.repurchase_rate({1: 1, 2: 2, 3: 3}) == pytest.approx(2 / 3)
    assert f.repurchase_rate({}) is None


def test_average_order_value() -> None:
    assert f.average_order_value(100_00 + 300_00, 2) == 200_00
    assert f.average_order_value(0, 0) is None


def test_clv_summary() -> None:
    assert f.clv_summary([100.0, None, 300.0]) == {"customers": 2, "total": 400.0, "mean": 200.0}
    assert f.clv_summary([]) == {"customers": 0, "total": None, "mean": None}


def test_revenue_concentration() -> None:
    # 10 buyers: top 20% = 2 buyers with 50 + 30 of 100 in all
    revenue = {1: 50, 2: 30, **{i: 20 / 8 for i in range(3, 11)}}
    assert f.revenue_concentration(revenue) == pytest.approx(0.8)
    # 3 buyers: ceil(0.6) = 1 buyer; ties broken by id
    assert f.revenue_concentration({7: 10, 3: 10, 9: 0}) == 0.5
    assert f.revenue_concentration({}) is None
    with pytest.raises(ValueError, match="top"):
        f.revenue_concentration({1: 1}, top=0)


def test_nps_by_hand_and_edge_cases() -> None:
    # 2 promoters (9, 10), 1 passive (7), 2 detractors (0, 6): 100 * (2 - 2) / 5 = 0
    assert f.nps([9, 10, 7, 0, 6]) == 0.0
    # 3 promoters, 1 detractor of 4: 50
    assert f.nps([10, 9, 9, 3]) == 50.0
    assert f.nps([]) is None  # no responses: no data, not 0
    assert f.nps([9, 10, 10]) == 100.0  # all promoters
    assert f.nps([0, 6]) == -100.0
    b = f.nps_breakdown([9, 10, 7, 0, 6])
    assert (b["promoters"], b["passives"], b["detractors"], b["responses"]) == (2, 1, 2, 5)
    assert f.nps_breakdown([])["nps"] is None
    with pytest.raises(ValueError, match="0-10"):
        f.nps_breakdown([11])


def test_csat_by_hand_and_edge_cases() -> None:
    # 4 and 5 are satisfied: 3 of 4
    assert f.csat([5, 4, 4, 2]) == 75.0
    assert f.csat_mean([5, 4, 4, 2]) == 3.75
    assert f.csat([]) is None and f.csat_mean([]) is None
    assert f.csat([5, 5]) == 100.0
    with pytest.raises(ValueError, match="1-5"):
        f.csat([0])


def test_mean_hours_win_back_tasks() -> None:
    assert f.mean_hours([3600, 3 * 3600]) == 2.0
    assert f.mean_hours([]) is None
    assert f.win_back_rate({1, 2, 3, 4}, {1, 9}) == 0.25
    assert f.win_back_rate(set(), {1}) is None
    assert f.task_completion_rate(3, 4) == 0.75
    assert f.task_completion_rate(0, 0) is None


def test_cohort_matrix() -> None:
    jan, feb = dt.date(2025, 1, 1), dt.date(2025, 2, 1)
    rows = [
        {"cohort_month": jan, "months_since": 0, "cohort_customers": 4, "active_customers": 4},
        {"cohort_month": jan, "months_since": 1, "cohort_customers": 4, "active_customers": 1},
        {"cohort_month": feb, "months_since": 0, "cohort_customers": 2, "active_customers": 2},
    ]
    m = f.cohort_matrix(rows)
    assert m["cohorts"] == ["2025-01-01", "2025-02-01"]
    assert m["size"] == [4, 2]
    assert m["retention"] == [[1.0, 0.25], [1.0, None]]


def test_periods() -> None:
    p = last_complete_period(dt.date(2025, 6, 30), "month")
    assert (p.start, p.end, p.label) == (dt.date(2025, 6, 1), dt.date(2025, 7, 1), "2025-06")
    assert last_complete_period(dt.date(2025, 6, 29), "month").label == "2025-05"
    assert period_containing(dt.date(2025, 12, 5), "quarter").end == dt.date(2026, 1, 1)
    assert period_containing(dt.date(2025, 1, 5), "month").previous().label == "2024-12"
    assert period_containing(dt.date(2025, 6, 4), "week").start == dt.date(2025, 6, 2)
    assert last_complete_period(dt.date(2025, 12, 31), "year").label == "2025"


def test_periods_out_of_range() -> None:
    from kehu.errors import ValidationError

    with pytest.raises(ValidationError, match="out of range"):
        last_complete_period(dt.date(1, 1, 1), "month")
    with pytest.raises(ValidationError, match="out of range"):
        period_containing(dt.date(9999, 12, 31), "year")
    with pytest.raises(ValidationError, match="period 'decade'"):
        period_containing(dt.date(2025, 1, 1), "decade")


@pytest.mark.parametrize(("kept", "base"), [(180, 200), (1, 2), (7, 30), (999, 1000)])
def test_wilson_lower_bound_solves_the_score_equation(kept: int, base: int) -> None:
    # the Wilson bounds are the rates p with (observed - p)^2 = z^2 p (1 - p) / n; the lower one is below observed
    low, z, observed = f.wilson_lower_bound(kept, base), 1.959964, kept / base
    assert low is not None and 0 < low < observed
    assert (observed - low) ** 2 == pytest.approx(z * z * low * (1 - low) / base, rel=1e-9)


def test_wilson_lower_bound_edges_and_ranking() -> None:
    assert f.wilson_lower_bound(0, 0) is None
    assert f.wilson_lower_bound(0, 5) == 0.0
    assert f.wilson_lower_bound(3, 3) == pytest.approx(3 / (3 + 1.959964**2))  # all kept: n / (n + z^2)
    small, large = f.wilson_lower_bound(3, 3), f.wilson_lower_bound(180, 200)
    assert small is not None and large is not None and small < large  # 3 of 3 does not outrank 180 of 200
    with pytest.raises(ValueError, match="outside"):
        f.wilson_lower_bound(4, 3)


def test_median_time_to_event_counts_the_ones_still_waiting() -> None:
    from kehu.metrics.formulas import median_time_to_event

    assert median_time_to_event([]) is None
    assert median_time_to_event([(3.0, True), (1.0, True), (2.0, True)]) == 2.0  # every event seen: the median
    # 1 and 2 happened, 5 and 9 still waiting: S(1) = 3/4, S(2) = 3/4 * 2/3 = 1/2 -> 2 (leaving the waiting ones out
    # would say 1.5; counting them as done would say 3.5)
    assert median_time_to_event([(1.0, True), (2.0, True), (5.0, False), (9.0, False)]) == 2.0
    # a case censored before an event leaves the risk set: S(4) = 1 - 1/3 after one waiting at 1 -> 2/3, S(6) = 1/3
    assert median_time_to_event([(1.0, False), (4.0, True), (6.0, True), (8.0, False)]) == 6.0
    assert median_time_to_event([(1.0, True), (5.0, False), (6.0, False)]) is None  # fewer than half seen
    with pytest.raises(ValueError):
        median_time_to_event([(-1.0, True)])
