"""Triggers on the loop's events: SLA breaches recorded by `kehu tickets check` and loyalty tier changes, each
firing once per event on a frozen clock."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import sqlalchemy as sa
from playbooks_testkit import DAY, NOW, count, write

from kehu.service.workspace import Workspace
from kehu.store.care import loyalty_tier_changes, ticket_sla_breaches

RULES = """
playbook: loop
rules:
  - id: late_answer
    when: {ticket_breached: {kinds: [first_response], priorities: [low]}}
    then: [{task: {title: "ticket {ticket_id} ({ticket_priority}): {breach_kind} was due {due_at}"}}]
  - id: gold
    when: {tier_changed: {to: [gold], within_days: 3}}
    then: [{task: {title: "{name}: {from_tier} -> {to_tier} on {changed_on}"}}]
"""


def _fired(d: dict, rule: str) -> list[int]:
    return next(r for r in d["rules"] if r["rule"] == rule)["customers"]


def test_recorded_breaches_and_tier_changes_fire_once(pb_ws: Workspace, tmp_path: Path) -> None:
    t = pb_ws.system().tickets.create(5, now=NOW - dt.timedelta(days=3), topic="发票", priority="low")
    pb_ws.system().tickets.check(now=NOW - dt.timedelta(days=1))  # 2 days without an answer: low allows 24 h
    with pb_ws.engine.begin() as conn:
        for cid, to, days in [(2, "gold", 1), (6, "gold", 10), (7, "silver", 1)]:
            conn.execute(sa.insert(loyalty_tier_changes).values(
                customer_id=cid, from_tier="silver" if to == "gold" else "standard", to_tier=to,
                on_day=DAY - dt.timedelta(days=days), created_at=NOW,
            ))  # fmt: skip
        late = {
            int(c)
            for c, k, p in conn.execute(
                sa.select(ticket_sla_breaches.c.customer_id, ticket_sla_breaches.c.kind, ticket_sla_breaches.c.priority)
            )
            if k == "first_response" and p == "low"
        }
    assert 5 in late
    f = write(tmp_path, "loop.yaml", RULES)
    d = pb_ws.system().playbooks.dry_run([f], now=NOW)
    assert _fired(d, "loop/late_answer") == sorted(late)
    assert _fired(d, "loop/gold") == [2]  # 6 changed 10 days ago, 7 went to silver
    pb_ws.system().playbooks.run([f], now=NOW)
    pb_ws.system().playbooks.run([f], now=NOW + dt.timedelta(days=1))  # the same events again: nothing new
    assert count(pb_ws.engine, "tasks", "WHERE rule = 'gold'") == 1
    # customer 5 has no owner: the task waits in the backlog for a manager to give it to someone
    assert count(pb_ws.engine, "backlog", "WHERE rule = 'late_answer' AND assignee_id IS NULL") == len(late)
    with pb_ws.engine.connect() as conn:
        titles = [r[0] for r in conn.exec_driver_sql("SELECT title FROM tasks ORDER BY id")]
        waiting = [json.loads(r[0]) if isinstance(r[0], str) else r[0]
                   for r in conn.exec_driver_sql("SELECT task FROM backlog ORDER BY id")]  # fmt: skip
    assert f"客户2: silver -> gold on {(DAY - dt.timedelta(days=1)).isoformat()}" in titles
    assert any(x["title"].startswith(f"ticket {t['ticket_id']} (low): first_response was due ") for x in waiting)
