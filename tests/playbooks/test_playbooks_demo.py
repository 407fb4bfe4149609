"""The default playbooks on the demo company: tasks for the right owners, counts per rule, nothing twice."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from kehu.config import load_settings
from kehu.service.workspace import Workspace

#: customer features compared between the held-out and the acted-on customers of the demo's rules
BALANCE = ("recency_days", "frequency", "monetary_value_cents", "total_revenue_cents", "tenure_days", "orders_365d")


def _holdouts_are_balanced(ws: Workspace, rules: list[dict[str, object]]) -> None:
    """Every rule holds out about 10% of its firings, and over all rules the held-out customers look like the
    acted-on ones: no feature's means differ by more than 3.5 standard errors (Welch), as random assignment
    gives; a draw that followed a feature would differ by many more on this many customers."""
    for r in rules:
        n, held = int(r["fired"]), int(r["held_out"])  # type: ignore[call-overload]
        assert abs(held - 0.1 * n) <= 3 * (0.09 * n) ** 0.5 + 1, r["rule"]
    cols = ", ".join(f"s.{c}" for c in BALANCE)
    with ws.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            f"SELECT f.fate, {cols} FROM playbook_firings f JOIN customer_scores s ON s.customer_id = f.customer_id"
        ).all()
    arms = {fate: np.array([r[1:] for r in rows if r[0] == fate], dtype=float) for fate in ("acted", "held_out")}
    assert len(arms["held_out"]) >= 50, len(arms["held_out"])
    for i, name in enumerate(BALANCE):
        a, h = arms["acted"][:, i], arms["held_out"][:, i]
        a, h = a[~np.isnan(a)], h[~np.isnan(h)]
        z = abs(a.mean() - h.mean()) / np.sqrt(a.var(ddof=1) / a.size + h.var(ddof=1) / h.size)
        assert z < 3.5, (name, a.mean(), h.mean(), z)
    everyone = np.concatenate([arms["acted"], arms["held_out"]])[:, BALANCE.index("total_revenue_cents")]
    top = everyone >= np.quantile(everyone, 0.9)  # a "holdout" of the biggest spenders: the check must see it
    assert abs(everyone[top].mean() - everyone[~top].mean()) / np.sqrt(
        everyone[top].var(ddof=1) / top.sum() + everyone[~top].var(ddof=1) / (~top).sum()) > 3.5  # fmt: skip


@pytest.mark.slow
def test_default_playbooks_on_the_demo_company(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = Workspace(load_settings(home=tmp_path / "home"))
    ws.init()
    loaded = ws.load_demo(customers=2_000, seed=3)
    assert len(loaded["playbooks"]) == 3  # the defaults are installed, enabled
    with ws.engine.connect() as conn:
        owners_before = dict(conn.exec_driver_sql("SELECT id, owner_id FROM customers").all())
        roles = dict(conn.exec_driver_sql("SELECT id, role FROM users").all())
    result = ws.run()
    pb = result["playbooks"]
    day = dt.date.fromisoformat(result["as_of"])
    assert pb["day"] == day
    fired = {r["rule"]: r["fired"] for r in pb["rules"]}
    acted = {r["rule"]: r["fired"] - r["held_out"] for r in pb["rules"]}  # the held-out customers get nothing
    with capsys.disabled():
        print("\nfirings per rule on the demo company (2,000 customers, seed 3):")
        for rule, n in sorted(fired.items()):
            print(f"  {rule:<50} {n:>5}")
    for rule in ("rfm_cn_strategies/important_value_manager", "rfm_cn_strategies/important_keep_winback",
                 "rfm_cn_strategies/important_retain_coupon", "lifecycle_strategies/activity_dropped_30d",
                 "service_strategies/contract_renewal_30d", "service_strategies/nps_detractor_call"):  # fmt: skip
        assert fired[rule] > 0, rule
    with ws.engine.connect() as conn:
        tasks = conn.exec_driver_sql(
            "SELECT t.customer_id, t.assignee_id, t.rule, t.due_date, t.priority, c.owner_id FROM tasks t "
            "JOIN customers c ON c.id = t.customer_id"
        ).all()
        coupons = conn.exec_driver_sql("SELECT count(*), count(DISTINCT code) FROM coupons").one()
        per_rule = dict(conn.exec_driver_sql("SELECT rule, count(*) FROM tasks GROUP BY rule").all())
    assert per_rule == {r.split("/")[1]: n for r, n in acted.items() if n and "usage_tips" not in r
                        and "feedback_request" not in r}  # fmt: skip
    for cid, assignee, rule, due, priority, owner_now in tasks:
        before = owners_before[cid]
        if before is not None:
            assert assignee == before, (cid, rule)  # the customer's own account owner
        else:
            assert roles[assignee] == "rep", (cid, rule)  # unowned: a rep by round-robin
            if rule == "important_value_manager":
                assert owner_now == assignee  # ... who became their dedicated manager
        if rule == "nps_detractor_call":
            due_day = due if isinstance(due, dt.date) else dt.date.fromisoformat(str(due))
            assert due_day == day + dt.timedelta(days=2) and priority == "urgent"
    assert coupons[0] == coupons[1] == acted["rfm_cn_strategies/important_retain_coupon"]
    _holdouts_are_balanced(ws, pb["rules"])
    again = ws.run()
    assert sum(r["fired"] for r in again["playbooks"]["rules"]) == 0
    with ws.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM tasks").scalar_one() == len(tasks)
    ws.close()
