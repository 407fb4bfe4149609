"""The default playbooks on the demo company: a capped first run, tasks for the right owners, nothing twice, and
a look back at a past day that acts only when asked to."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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
    acted = _kehu(home, "run", "--as-of", past.isoformat(), "--act-on-past-day")
    assert acted.stdout.index("--act-on-past-day") < acted.stdout.index("lifecycle_strategies/activity_dropped_30d")
    with ws.engine.connect() as conn:
        on_past = conn.execute(sa.text("SELECT count(*) FROM playbook_firings WHERE day = :d"), {"d": past}).scalar()
    assert on_past and _state(ws)["counts"]["playbook_firings"] == after["counts"]["playbook_firings"] + on_past
    ws.close()
