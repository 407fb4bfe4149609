"""The demo company behaves like a real one: repeat buying, seasonality, renewals, fading engagement before
churn, complaints before churn, lower NPS among churners, and a member list that overlaps the CRM."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict

import numpy as np
import pytest
from demo_helpers import column, file_of, read_rows, read_truth

from kehu.demo import DemoCompany

_DATE = re.compile(r"^(\d{4})[-/年](\d{1,2})[-/月](\d{1,2})")


def _day(value: object) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    m = _DATE.match(str(value or ""))
    if not m:
        return None
    try:
        return dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def _events(demo: DemoCompany, kind: str, when: str) -> dict[str, list[dt.date]]:
    """Customer id -> dates of the valid-looking rows of one file."""
    names, rows = read_rows(file_of(demo, kind))
    ci, wi = names.index("客户编号"), names.index(when)
    out: dict[str, list[dt.date]] = defaultdict(list)
    for r in rows:
        d = _day(r[wi])
        if r[ci] and d:
            out[str(r[ci])].append(d)
    return out


@pytest.fixture(scope="module")
def truth(shape_demo: DemoCompany) -> dict[str, list[object]]:
    return read_truth(shape_demo)


def test_b2c_repeat_buying_and_b2b_share(truth: dict[str, list[object]]) -> None:
    b2b = np.array(truth["is_b2b"])
    orders = np.array(truth["orders"])
    assert 0.08 <= b2b.mean() <= 0.12
    buyers = ~b2b & (orders >= 1)
    repeat = (orders[buyers] >= 2).mean()
    assert 0.35 <= repeat <= 0.85, repeat
    rates = np.array(truth["purchase_rate_per_year"])[buyers]
    assert rates.std() / rates.mean() > 0.8  # heterogeneous rates
    assert 0.15 <= np.array(truth["churned"])[~b2b].mean() <= 0.7


def test_orders_peak_in_november_and_dip_at_new_year(shape_demo: DemoCompany) -> None:
    months = Counter((d.year, d.month) for ds in _events(shape_demo, "orders", "下单时间").values() for d in ds)
    assert months[2025, 11] > 1.5 * months[2025, 9], months
    assert months[2024, 11] > 1.5 * months[2024, 9], months
    assert months[2025, 6] > 1.15 * months[2025, 7], months
    days = Counter(d for ds in _events(shape_demo, "orders", "下单时间").values() for d in ds)
    festival = days[dt.date(2025, 11, 11)]
    ordinary = np.mean([days[dt.date(2025, 9, k)] for k in range(1, 29)])
    spring = np.mean([days[dt.date(2025, 1, 29) + dt.timedelta(k)] for k in range(-5, 6)])
    assert festival > 3 * ordinary and spring < 0.7 * ordinary


def test_refunds_and_cancellations_are_a_few_percent(shape_demo: DemoCompany) -> None:
    status = Counter(column(file_of(shape_demo, "orders"), "订单状态"))
    total = sum(status.values())
    share = (status["已退款"] + status["已取消"] + status["交易关闭"]) / total
    assert 0.025 <= share <= 0.06, status


def test_history_spans_two_years_and_ends_at_as_of(shape_demo: DemoCompany) -> None:
    days = [d for ds in _events(shape_demo, "orders", "下单时间").values() for d in ds if d.year < 2100]
    valid = [d for d in days if d <= shape_demo.as_of]
    assert len(valid) == len(days)
    assert min(valid) <= shape_demo.as_of - dt.timedelta(days=730)


def test_b2b_contracts_renew_or_lapse_into_inactivity(shape_demo: DemoCompany, truth: dict[str, list[object]]) -> None:
    names, rows = read_rows(file_of(shape_demo, "contracts"))
    status = Counter(r[names.index("合同状态")] for r in rows)
    assert status["已续约"] > 0 and status["已到期"] > 0 and status["执行中"] > 0
    renewals = [r for r in rows if r[names.index("原合同编号")]]
    ids = {r[names.index("合同编号")] for r in rows}
    assert renewals and all(r[names.index("原合同编号")] in ids for r in renewals)
    orders = _events(shape_demo, "orders", "下单时间")
    lapsed = [
        (cid, c)
        for cid, b2b, churned, c in zip(
            truth["customer_id"], truth["is_b2b"], truth["churned"], truth["churn_date"], strict=True
        )
        if b2b and churned
    ]
    assert len(lapsed) >= 10
    for cid, churn in lapsed:
        assert all(d <= churn for d in orders.get(str(cid), [])), cid


def test_interactions_fade_before_churn(shape_demo: DemoCompany, truth: dict[str, list[object]]) -> None:
    inter = _events(shape_demo, "interactions", "互动时间")
    last, before = 0, 0
    for cid, churned, churn, signup in zip(
        truth["customer_id"], truth["churned"], truth["churn_date"], truth["signup_date"], strict=True
    ):
        if not churned or (churn - signup).days < 200:
            continue
        for d in inter.get(str(cid), []):
            gap = (churn - d).days
            last += 0 < gap <= 90
            before += 90 < gap <= 180
    assert before > 100
    assert last < 0.75 * before, (last, before)


def test_complaints_precede_churn(shape_demo: DemoCompany, truth: dict[str, list[object]]) -> None:
    names, rows = read_rows(file_of(shape_demo, "tickets"))
    complaints: dict[str, list[dt.date]] = defaultdict(list)
    for r in rows:
        d = _day(r[names.index("创建时间")])
        if r[names.index("是否投诉")] == "是" and d and r[names.index("客户编号")]:
            complaints[str(r[names.index("客户编号")])].append(d)
    window = dt.timedelta(days=90)
    churners, hit_c, stayers, hit_s = 0, 0, 0, 0
    for cid, churned, churn in zip(truth["customer_id"], truth["churned"], truth["churn_date"], strict=True):
        end = churn if churned else shape_demo.as_of
        hit = any(end - window <= d <= end for d in complaints.get(str(cid), []))
        if churned:
            churners, hit_c = churners + 1, hit_c + hit
        else:
            stayers, hit_s = stayers + 1, hit_s + hit
    assert hit_c / churners > 3 * hit_s / stayers, (hit_c, churners, hit_s, stayers)


def test_nps_lower_for_churners(shape_demo: DemoCompany, truth: dict[str, list[object]]) -> None:
    names, rows = read_rows(file_of(shape_demo, "feedback"))
    churned = dict(zip(truth["customer_id"], truth["churned"], strict=True))
    scores: dict[bool, list[int]] = {True: [], False: []}
    for r in rows:
        cid, kind, score = r[names.index("客户编号")], r[names.index("问卷类型")], r[names.index("评分")]
        if kind == "NPS" and cid in churned and score and score.isdigit() and int(score) <= 10:
            scores[bool(churned[cid])].append(int(score))
    assert len(scores[True]) > 100 and len(scores[False]) > 100
    assert np.mean(scores[True]) < np.mean(scores[False]) - 1.0
    csat = [
        int(r[names.index("评分")])
        for r in rows
        if r[names.index("问卷类型")] == "CSAT" and r[names.index("评分")] and r[names.index("评分")].isdigit()
    ]
    assert csat and set(csat) <= {1, 2, 3, 4, 5}


def _phone(text: str | None) -> str | None:
    digits = re.sub(r"\D", "", text or "")
    return digits[-11:] if len(digits) >= 11 else None


def test_store_members_overlap_the_crm_by_phone_or_email(shape_demo: DemoCompany) -> None:
    crm_names, crm_rows = read_rows(file_of(shape_demo, "customers"))
    phones = [_phone(r[crm_names.index("手机号")]) for r in crm_rows if r[0]]
    emails = [(r[crm_names.index("邮箱")] or "").strip().lower() for r in crm_rows if r[0]]
    assert len(set(phones)) == len(phones)
    assert len({e for e in emails if e}) == len([e for e in emails if e])
    names, rows = read_rows(file_of(shape_demo, "customers", "store"))
    phone_set, email_set = set(phones), {e for e in emails if e}
    matched = sum(
        _phone(r[names.index("手机号码")]) in phone_set
        or (r[names.index("电子邮箱")] or "").strip().lower() in email_set
        for r in rows
    )
    assert matched == shape_demo.expected_merges
    assert 0.03 * len(phones) <= matched <= 0.07 * len(phones)
    assert len(rows) > matched  # some members are only known to the stores
    assert all(m.startswith("M") for m in column(file_of(shape_demo, "customers", "store"), "会员编号"))


def test_owners_and_places(shape_demo: DemoCompany, truth: dict[str, list[object]]) -> None:
    owners = {o.name for o in shape_demo.owners}
    used = {o for o in column(file_of(shape_demo, "customers"), "负责人") if o}
    assert used <= owners and len(used) >= len(owners) - 2
    b2b_owned = [o for o, b in zip(truth["owner"], truth["is_b2b"], strict=True) if b]
    assert all(b2b_owned)
    assert len(set(truth["province"])) >= 20
