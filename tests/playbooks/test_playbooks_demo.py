"""The default playbooks on the demo company: tasks for the right owners, counts per rule, nothing twice."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kehu.config import load_settings
from kehu.service.workspace import Workspace


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
    assert per_rule == {r.split("/")[1]: n for r, n in fired.items() if n and "usage_tips" not in r
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
    assert coupons[0] == coupons[1] == fired["rfm_cn_strategies/important_retain_coupon"]
    again = ws.run()
    assert sum(r["fired"] for r in again["playbooks"]["rules"]) == 0
    with ws.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM tasks").scalar_one() == len(tasks)
    ws.close()
