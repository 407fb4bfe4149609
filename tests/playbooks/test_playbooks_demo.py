"""The default playbooks on the demo company: a capped first run, tasks for the right owners, nothing twice, and
a look back at a past day that acts only when asked to."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from kehu.config import load_settings
from kehu.playbooks import DEFAULTS_DIR, load_playbooks
from kehu.service.workspace import Workspace
from kehu.store.schema import customers

#: what a run may create: its firings, outbox rows (messages and store actions), tasks, coupons, audit entries
ACTS = ["playbook_firings", "outbox", "tasks", "coupons", "audit_log"]


def _state(ws: Workspace) -> dict[str, Any]:
    with ws.engine.connect() as conn:
        counts = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in ACTS}
        people = {
            int(cid): (owner, sorted(tags or []))
            for cid, owner, tags in conn.execute(sa.select(customers.c.id, customers.c.owner_id, customers.c.tags))
        }
    return {"counts": counts, "customers": people}


def _kehu(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEHU_")}
    ran = subprocess.run([sys.executable, "-m", "kehu.cli", *args, "--home", str(home)], env=env,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    return ran


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
    # every fate but held_out was acted on (task, merged, backlog, automated: capacity planning's fates)
    arms = {arm: np.array([r[1:] for r in rows if (r[0] == "held_out") == (arm == "held_out")], dtype=float)
            for arm in ("acted", "held_out")}  # fmt: skip
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


# capacities small enough that the 2,000-customer demo overflows them (the 20,000-customer one does at 15 a day)
CAPACITY = {"task_capacity_rep": 6, "task_capacity_manager": 3, "task_capacity_admin": 1, "capacity_days": 3}


@pytest.mark.slow
def test_default_playbooks_on_the_demo_company(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    ws = Workspace(load_settings(home=home))
    ws.init()
    loaded = ws.load_demo(customers=2_000, seed=3)
    assert len(loaded["playbooks"]) == 3  # the defaults are installed, enabled
    rules = [(f"{pb.name}/{r.id}", r) for pb in load_playbooks([DEFAULTS_DIR]) for r in pb.rules]
    caps = {ref: int(r.max_per_day or 0) for ref, r in rules}
    entries = {ref for ref, r in rules if r.when.kind == "entered"}
    with ws.engine.connect() as conn:
        owners_before = dict(conn.exec_driver_sql("SELECT id, owner_id FROM customers").all())
        roles = dict(conn.exec_driver_sql("SELECT id, role FROM users").all())

    # the first run: only what is due today fires (no member of a segment is new in the first snapshot), capped
    result = ws.run()
    day = dt.date.fromisoformat(result["as_of"])
    assert result["playbooks"]["day"] == day and result["playbooks"]["acted"] is True
    fired = {r["rule"]: r["fired"] for r in result["playbooks"]["rules"]}
    acted = {r["rule"]: r["fired"] - r["held_out"] for r in result["playbooks"]["rules"]}
    with capsys.disabled():
        print(f"\nfirst run of the demo company (2,000 customers, seed 3): {sum(fired.values())} firings "
              f"(caps {sum(caps.values())}):")  # fmt: skip
        for rule, n in sorted(fired.items()):
            print(f"  {rule:<50} {n:>5}")
    assert set(fired) == set(caps) and all(fired[r] <= caps[r] for r in caps)
    assert sum(fired.values()) <= sum(caps.values())
    assert all(fired[r] == 0 for r in entries)
    for rule in ("lifecycle_strategies/activity_dropped_30d", "service_strategies/contract_renewal_30d",
                 "service_strategies/nps_detractor_call"):  # fmt: skip
        assert fired[rule] > 0, rule
    assert sum(r["fired"] for r in ws.run()["playbooks"]["rules"]) == 0  # the same day again: nothing twice

    # a look back two weeks: computed and published, nothing acted
    before = _state(ws)
    past = day - dt.timedelta(days=14)
    looked = _kehu(home, "run", "--as-of", past.isoformat())
    assert f"未执行自动化策略：{past.isoformat()} 早于最新数据日 {day.isoformat()}" in looked.stdout
    assert _state(ws) == before
    with ws.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT max(as_of) FROM pipeline_runs")).scalar_one() is not None
        published = {str(d) for d in conn.execute(sa.text("SELECT DISTINCT as_of FROM segment_runs")).scalars()}
    assert past.isoformat() in published

    # the present acts: who entered a class or stage since the look back
    present = ws.run()["playbooks"]
    fired = {r["rule"]: r["fired"] for r in present["rules"]}
    assert fired["rfm_cn_strategies/important_value_manager"] > 0
    assert sum(fired[r] for r in entries) > 0 and all(fired[r] <= caps[r] for r in caps)
    after = _state(ws)
    assert after["counts"]["tasks"] > before["counts"]["tasks"] and after["customers"] != before["customers"]
    with ws.engine.connect() as conn:
        tasks = conn.exec_driver_sql(
            "SELECT t.customer_id, t.assignee_id, t.rule, t.due_date, t.priority, c.owner_id FROM tasks t "
            "JOIN customers c ON c.id = t.customer_id"
        ).all()
        coupons = conn.exec_driver_sql("SELECT count(*), count(DISTINCT code) FROM coupons").one()
        per_rule = dict(conn.exec_driver_sql("SELECT rule, count(*) FROM tasks GROUP BY rule").all())
    # the held-out customers get nothing: no rule made more tasks than it acted on, over both runs
    present_acted = {r["rule"]: r["fired"] - r["held_out"] for r in present["rules"]}
    for ref, n in per_rule.items():
        full = next(r for r in acted if r.endswith("/" + ref))
        assert n <= acted[full] + present_acted[full], ref
    for cid, assignee, rule, due, priority, owner_now in tasks:
        if owners_before[cid] is not None:
            assert assignee == owners_before[cid], (cid, rule)  # the customer's own account owner
        else:
            assert roles[assignee] == "rep", (cid, rule)  # unowned: a rep by round-robin
            if rule == "important_value_manager":
                assert owner_now == assignee  # ... who became their dedicated manager
        if rule == "nps_detractor_call":
            due_day = due if isinstance(due, dt.date) else dt.date.fromisoformat(str(due))
            assert due_day == day + dt.timedelta(days=2) and priority == "urgent"
    assert coupons[0] == coupons[1]

    # asked to, the look back acts for its day, after saying what it will do
    asked = _kehu(home, "run", "--as-of", past.isoformat(), "--act-on-past-day")
    assert asked.stdout.index("--act-on-past-day") < asked.stdout.index("lifecycle_strategies/activity_dropped_30d")
    with ws.engine.connect() as conn:
        on_past = conn.execute(sa.text("SELECT count(*) FROM playbook_firings WHERE day = :d"), {"d": past}).scalar()
    assert on_past and _state(ws)["counts"]["playbook_firings"] == after["counts"]["playbook_firings"] + on_past
    ws.close()


#: a playbook whose rules fire for every member of the 8 RFM classes on the first run (initial entries), so that
#: the held-out and the acted-on customers are many enough to compare
EVERY_CLASS = "playbook: balance\nquiet_hours: null\nrules:\n" + "".join(
    f'  - id: {c}\n    when: {{entered: {{segment: "rfm_cn:{c}", initial: true}}}}\n'
    f"    then:\n      - tag: {{add: [balance-{c}]}}\n"
    for c in (
        "important_value",
        "important_develop",
        "important_keep",
        "important_retain",
        "general_value",
        "general_develop",
        "general_keep",
        "general_retain",
    )
)


@pytest.mark.slow
def test_rule_holdouts_are_random_with_respect_to_the_customers(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ws = Workspace(load_settings(home=home))
    ws.init()
    ws.load_demo(customers=2_000, seed=3)
    folder = ws.settings.resolved_playbooks_dir
    for f in folder.glob("*.yaml"):
        f.unlink()  # only the balance playbook: every class member fires once
    (folder / "balance.yaml").write_text(EVERY_CLASS, encoding="utf-8")
    result = ws.run()
    rules = result["playbooks"]["rules"]
    assert sum(int(r["fired"]) for r in rules) > 1_000
    _holdouts_are_balanced(ws, rules)
    ws.close()


def _rules_of(ws: Workspace, customer_id: int) -> list[str]:
    with ws.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            f"SELECT playbook, rule FROM playbook_firings WHERE customer_id = {int(customer_id)} "
            "AND fate IN ('task', 'merged', 'backlog')"
        ).all()
    return [f"{p}/{r}" for p, r in rows]
