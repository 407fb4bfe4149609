"""Loyalty ledger: points never negative through expiry, tier thresholds (with minimum spend), no double awards."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import sqlalchemy as sa

from kehu.errors import ValidationError
from kehu.loyalty.rules import LoyaltyRules, Tier
from kehu.service.workspace import Workspace
from kehu.store.care import loyalty_ledger, loyalty_tier_changes
from loop_testkit import Store

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
D = dt.date.fromisoformat


def test_tier_for_honours_thresholds_and_minimum_spend() -> None:
    rules = LoyaltyRules()  # silver 1000 pts; gold 5000 pts + 5000 yuan; diamond 20000 pts + 20000 yuan
    assert rules.tier_for(999, 10**9).key == "standard"
    assert rules.tier_for(1000, 0).key == "silver"
    assert rules.tier_for(5000, 499_999).key == "silver"  # enough points, 4,999.99 yuan spent: not gold
    assert rules.tier_for(5000, 500_000).key == "gold"
    assert rules.tier_for(50_000, 1_999_999).key == "gold"
    assert rules.tier_for(20_000, 2_000_000).key == "diamond"
    spend = LoyaltyRules(
        basis="spend", tiers=(Tier("standard", "普通", "Standard"), Tier("silver", "银卡", "Silver", 300))
    )
    assert spend.tier_for(0, 30_000).key == "silver" and spend.tier_for(10**6, 29_999).key == "standard"
    assert rules.points_for_spend(12_345) == 123  # 123.45 yuan at 1 point per yuan, rounded down


def test_bad_rules() -> None:
    with pytest.raises(ValidationError, match="must need more"):
        LoyaltyRules.from_config({"tiers": [{"key": "a", "threshold": 0}, {"key": "b", "threshold": 0}]})
    with pytest.raises(ValidationError, match="basis"):
        LoyaltyRules.from_config({"basis": "vibes"})
    with pytest.raises(ValidationError, match="unknown setting"):
        LoyaltyRules.from_config({"points": 1})
    with pytest.raises(ValidationError, match="review"):
        LoyaltyRules().action_points("dance")


@pytest.fixture
def shop(workspace: Workspace) -> tuple[Workspace, Store]:
    (workspace.settings.home / "loop.yaml").write_text(
        "loyalty:\n  expiry_days: 365\n  window_days: 365\n", encoding="utf-8"
    )
    return workspace, Store(workspace.engine)


def _ledger(ws: Workspace) -> list[tuple[int, str, int]]:
    with ws.engine.connect() as conn:
        return [
            (r.customer_id, r.kind, r.points)
            for r in conn.execute(sa.select(loyalty_ledger).order_by(loyalty_ledger.c.id))
        ]


def test_rerunning_a_period_does_not_double_award(shop: tuple[Workspace, Store]) -> None:
    ws, s = shop
    a = s.customer(name="a")
    s.order(a, "2025-03-01", 1200)
    s.order(a, "2025-03-02", 30, status="refunded")  # not a purchase: no points
    first = ws.system().loyalty.run_period(start=D("2025-03-01"), end=D("2025-03-31"), now=NOW)
    assert first["points_awarded"] == 1200 and first["tier_changes"] == 1
    again = ws.system().loyalty.run_period(start=D("2025-03-01"), end=D("2025-03-31"), now=NOW)
    assert again["points_awarded"] == 0 and again["tier_changes"] == 0
    overlapping = ws.system().loyalty.run_period(start=D("2025-02-01"), end=D("2025-03-31"), now=NOW)
    assert overlapping["points_awarded"] == 0
    assert _ledger(ws) == [(a, "earn", 1200)]
    assert ws.system().loyalty.action(str(a), "review", "order:1", day=D("2025-03-05"), now=NOW)["points"] == 50
    assert ws.system().loyalty.action(str(a), "review", "order:1", day=D("2025-03-05"), now=NOW)["already_awarded"]
    assert ws.system().loyalty.statement(str(a))["balance"] == 1250
    with ws.engine.connect() as conn:
        changes = conn.execute(sa.select(loyalty_tier_changes)).all()
    assert [(c.from_tier, c.to_tier) for c in changes] == [("standard", "silver")]


def test_points_never_negative_through_expiry(shop: tuple[Workspace, Store]) -> None:
    ws, s = shop
    a = s.customer(name="a")
    s.order(a, "2025-01-10", 100)
    s.order(a, "2025-06-10", 300)
    ws.system().loyalty.run_period(start=D("2025-01-01"), end=D("2025-06-30"), now=NOW)
    ws.system().loyalty.redeem(
        str(a), 150, "coupon:1", day=D("2025-07-01"), now=NOW
    )  # takes all 100 of Jan, 50 of June
    assert ws.system().loyalty.statement(str(a))["balance"] == 250
    out = ws.system().loyalty.run_period(
        start=D("2025-07-01"), end=D("2026-01-31"), now=NOW
    )  # the January lot expired, but is empty
    assert out["points_expired"] == 0
    out = ws.system().loyalty.run_period(
        start=D("2026-02-01"), end=D("2026-06-10"), now=NOW
    )  # the June lot expires on 2026-06-10
    assert out["points_expired"] == 250
    st = ws.system().loyalty.statement(str(a))
    assert st["balance"] == 0
    assert ws.system().loyalty.run_period(start=D("2026-06-01"), end=D("2026-12-31"), now=NOW)["points_expired"] == 0
    with pytest.raises(ValidationError, match="has 0 points"):
        ws.system().loyalty.redeem(str(a), 1, "coupon:2", now=NOW)


def test_random_histories_never_go_negative(shop: tuple[Workspace, Store]) -> None:
    ws, s = shop
    rng = np.random.default_rng(8)
    ids = [s.customer(name=f"c{i}") for i in range(5)]
    day = D("2024-01-01")
    for step in range(60):
        day += dt.timedelta(days=int(rng.integers(5, 30)))
        cid = ids[int(rng.integers(len(ids)))]
        if rng.random() < 0.5:
            s.order(cid, day.isoformat(), int(rng.integers(10, 500)))
            ws.system().loyalty.run_period(start=day, end=day, now=NOW)
        else:
            have = ws.system().loyalty.statement(str(cid))["balance"]
            if have:
                ws.system().loyalty.redeem(str(cid), int(rng.integers(1, have + 1)), f"r{step}", day=day, now=NOW)
            ws.system().loyalty.run_period(start=day, end=day, now=NOW)  # expires what is due
        with ws.engine.connect() as conn:
            sums = conn.execute(sa.select(loyalty_ledger.c.customer_id, sa.func.sum(loyalty_ledger.c.points))
                                .group_by(loyalty_ledger.c.customer_id)).all()  # fmt: skip
            lots = conn.execute(sa.select(sa.func.min(loyalty_ledger.c.remaining))).scalar()
        assert all(total >= 0 for _, total in sums)
        assert lots is None or lots >= 0


def test_tiers_follow_the_rolling_window_and_minimum_spend(shop: tuple[Workspace, Store]) -> None:
    ws, s = shop
    a, b = s.customer(name="a"), s.customer(name="b")
    s.order(a, "2025-02-01", 4_500)
    for i in range(3):  # three referrals: 600 points, no spend
        ws.system().loyalty.action(str(a), "referral", f"friend:{i}", day=D("2025-02-02"), now=NOW)
    s.order(b, "2025-02-01", 5_000)
    out = ws.system().loyalty.run_period(start=D("2025-01-01"), end=D("2025-02-28"), now=NOW)
    tiers = {c["customer_id"]: c["to_tier"] for c in out["changes"]}
    assert tiers == {a: "silver", b: "gold"}  # a has 5,100 points but spent 4,500 yuan: the gold minimum is 5,000
    # a year later the purchases are out of the 365-day window: both fall back, each change recorded once
    out = ws.system().loyalty.run_period(start=D("2025-03-01"), end=D("2026-02-02"), now=NOW)
    assert {c["customer_id"]: (c["from_tier"], c["to_tier"]) for c in out["changes"]} == {
        a: ("silver", "standard"), b: ("gold", "standard"),
    }  # fmt: skip
    summary = ws.system().loyalty.tiers()
    assert [t["label_zh"] for t in summary["tiers"]] == ["普通", "银卡", "金卡", "钻石"]
    assert summary["tiers"][0]["customers"] == 2
