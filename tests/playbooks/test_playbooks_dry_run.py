"""The dry run is the plan a real run commits: same customers, and nothing changes."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from playbooks_testkit import DAY, NOW, count, days_ago, scores, segment_run, snapshot, write

from kehu.service.workspace import Workspace

ALL = """
playbook: everything
quiet_hours: null
rules:
  - id: vip
    when: {entered: {segment: "rfm_cn:important_value"}}
    priority: 9
    holdout: 0  # both newcomers are acted on (holdouts: test_playbooks_holdout.py)
    then:
      - owner: {assign: {round_robin: {role: rep}}, only_if_unowned: true}
      - tag: {add: [vip], remove: [老客]}
      - task: {title: "welcome {name}", assignee: owner}
  - id: dormant
    when: {days_since_last_order: {days: 30, catch_up_days: 7}}
    max_per_day: 2
    then:
      - coupon: {percent: 15, expires_in_days: 14}
      - task: {title: "{coupon_code}", assignee: {round_robin: {team: east}}}
  - id: renew
    when: {contract_ends_within: {days: 30}}
    then: [{message: {channel: email, to: owner, subject: "renew", body: "{contract_id}"}}]
"""

TABLES = ["customers", "tasks", "outbox", "playbook_firings", "coupons", "audit_log", "playbook_runs",
          "delivery_attempts"]  # fmt: skip


def _firings(ws: Workspace) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    with ws.engine.connect() as conn:
        for pb, rule, cid in conn.exec_driver_sql(
            "SELECT playbook, rule, customer_id FROM playbook_firings ORDER BY customer_id"
        ):
            out.setdefault(f"{pb}/{rule}", []).append(cid)
    return out


def test_dry_run_plans_exactly_what_the_run_does_and_changes_nothing(pb_ws: Workspace, tmp_path: Path) -> None:
    f = write(tmp_path, "all.yaml", ALL)
    segment_run(pb_ws.engine, "rfm_cn", days_ago(1), {1: "important_value", 5: "important_value", 6: "general_value"})
    scores(pb_ws.engine, days_ago(1), {})
    before = snapshot(pb_ws.engine, TABLES)
    dry = pb_ws.system().playbooks.dry_run([f], now=NOW)
    assert snapshot(pb_ws.engine, TABLES) == before
    planned = {r["rule"]: r["customers"] for r in dry["rules"] if r["customers"]}
    assert planned == {"everything/vip": [1, 5], "everything/dormant": [1, 4], "everything/renew": [3]}
    vip = next(r for r in dry["rules"] if r["rule"] == "everything/vip")
    assert vip["samples"][1]["actions"][0] == {"owner": "carol"}  # 5 has no owner: round-robin over the reps
    pb_ws.system().playbooks.run([f], now=NOW)
    assert _firings(pb_ws) == planned
    with pb_ws.engine.connect() as conn:
        owner5 = conn.exec_driver_sql("SELECT owner_id FROM customers WHERE id = 5").scalar_one()
        task5 = conn.exec_driver_sql("SELECT assignee_id FROM tasks WHERE customer_id = 5").scalar_one()
        tags1 = conn.exec_driver_sql("SELECT tags FROM customers WHERE id = 1").scalar_one()
        dormant_titles = conn.exec_driver_sql("SELECT title FROM tasks WHERE rule = 'dormant'").scalars().all()
        codes = conn.exec_driver_sql("SELECT code FROM coupons ORDER BY customer_id").scalars().all()
        tasks1 = conn.exec_driver_sql("SELECT rule FROM tasks WHERE customer_id = 1").scalars().all()
        audit = conn.exec_driver_sql("SELECT actor, action FROM audit_log WHERE customer_id = 5 ORDER BY id").all()
    assert owner5 == task5 == 3  # the task goes to the owner just assigned
    assert (json.loads(tags1) if isinstance(tags1, str) else tags1) == ["vip"]
    # customer 1 fired vip and dormant: one task (vip's, decided first), the coupon of each rule
    assert tasks1 == ["vip"] and dormant_titles == codes[1:] and all(c.startswith("KH-") for c in codes)
    assert [tuple(a) for a in audit] == [
        ("playbook:everything/vip", "playbook.fired"), ("playbook:everything/vip", "owner.change"),
        ("playbook:everything/vip", "tag.change"), ("playbook:everything/vip", "task.create"),
    ]  # fmt: skip
    after = pb_ws.system().playbooks.dry_run([f], now=NOW + dt.timedelta(hours=1))
    assert all(not r["customers"] for r in after["rules"])  # the same day again: nothing left to do


def test_dry_run_and_tasks_from_the_command_line(pb_ws: Workspace, tmp_path: Path) -> None:
    write(pb_ws.settings.resolved_playbooks_dir, "all.yaml", ALL)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEHU_")}
    env.update(KEHU_HOME=str(pb_ws.settings.home), KEHU_DATABASE_URL=pb_ws.settings.resolved_database_url)

    def kehu(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kehu.cli", *args], env=env, capture_output=True, text=True,
                              timeout=120)  # fmt: skip

    dry = kehu("playbooks", "dry-run", "--today", DAY.isoformat(), "--json")
    assert dry.returncode == 0, dry.stderr
    assert {r["rule"]: r["would_fire"] for r in json.loads(dry.stdout)["rules"]} == {
        "everything/vip": 0, "everything/dormant": 2, "everything/renew": 1
    }  # fmt: skip
    text = kehu("playbooks", "dry-run", "--today", DAY.isoformat())
    assert "everything/dormant" in text.stdout and "would fire      2" in text.stdout and "dry run" in text.stdout
    assert count(pb_ws.engine, "playbook_firings") == 0
    ran = kehu("playbooks", "run", "--today", DAY.isoformat())
    assert ran.returncode == 0, ran.stderr
    assert "fired      2" in ran.stdout and "channel not configured {'email': 1}" in ran.stdout
    listed = json.loads(kehu("tasks", "list", "--owner", "alice", "--json").stdout)
    assert [t["customer_id"] for t in listed] == [1]  # round-robin over team east: alice, then bob
    assert json.loads(kehu("tasks", "list", "--owner", "bob", "--json").stdout)[0]["customer_id"] == 4
    task_id = str(listed[0]["id"])
    bad = kehu("tasks", "done", task_id, "--outcome", "maybe")
    assert bad.returncode == 2 and "outcome 'maybe' is not one of reached" in bad.stderr
    done = kehu("tasks", "done", task_id, "--outcome", "won_back", "--note", "下周再下单", "--as", "alice")
    assert done.returncode == 0 and "won_back" in done.stdout
    closed = json.loads(kehu("tasks", "list", "--status", "done", "--json").stdout)
    assert closed[0]["outcome"] == "won_back" and closed[0]["notes"].endswith("alice] 下周再下单")
    with pb_ws.engine.connect() as conn:
        audit = conn.exec_driver_sql("SELECT actor, action FROM audit_log WHERE target = 'task:" + task_id + "'").all()
    assert [tuple(a) for a in audit] == [("playbook:everything/dormant", "task.create"), ("alice", "task.done")]
    assert kehu("tasks", "list", "--owner", "nobody").returncode == 2
    bad_file = write(tmp_path, "bad.yaml", "playbook: x\nrules: []\n")
    invalid = kehu("playbooks", "validate", str(bad_file))
    assert invalid.returncode == 2 and f"{bad_file}:2: rules:" in invalid.stderr
    assert kehu("playbooks", "validate", str(pb_ws.settings.resolved_playbooks_dir)).returncode == 0
    schema = json.loads(kehu("playbooks", "schema").stdout)
    assert schema["title"] == "Kehu playbook"
    outbox = kehu("playbooks", "outbox", "--json")
    assert {r["status"] for r in json.loads(outbox.stdout)} == {"done", "pending"}
