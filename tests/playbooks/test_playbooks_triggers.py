"""Triggers on a frozen clock: date triggers fire on the daily sweep without new data, state triggers on change."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from playbooks_testkit import DAY, LOOP_SLA, NOW, count, days_ago, scores, segment_run, write

from kehu.service.workspace import Workspace

DATE_RULES = """
playbook: dates
rules:
  - id: dormant
    when: {days_since_last_order: {days: 30, catch_up_days: 7}}
    then: [{task: {title: "{name}: {days} days since {last_order_date}"}}]
  - id: tips
    when: {days_since_first_order: {days: 7, catch_up_days: 0}}
    then: [{task: {title: "tips for {name}"}}]
  - id: renewal
    when: {contract_ends_within: {days: 30}}
    then: [{task: {title: "renew {contract_id} by {contract_end}", assignee: {user: bob}}}]
  - id: detractor
    when: {feedback: {kind: nps, max_score: 6}}
    then: [{task: {title: "call {name}: NPS {feedback_score} {feedback_comment}", due_in_days: 2}}]
  - id: sla
    when: {ticket_past_sla: {priorities: [high, urgent]}}
    then: [{task: {title: "ticket {ticket_id} open {hours_open} h"}}]
"""


def _fired(d: dict, rule: str) -> list[int]:
    return next(r for r in d["rules"] if r["rule"] == rule)["customers"]


def test_each_date_trigger_picks_the_right_customers(pb_ws: Workspace, tmp_path: Path) -> None:
    f = write(tmp_path, "dates.yaml", DATE_RULES)
    (pb_ws.settings.home / "loop.yaml").unlink()
    assert (
        _fired(pb_ws.system().playbooks.dry_run([f], now=NOW), "dates/sla") == []
    )  # default resolution target: high 24 h
    (pb_ws.settings.home / "loop.yaml").write_text(LOOP_SLA, encoding="utf-8")  # high: resolution in 8 h
    d = pb_ws.system().playbooks.dry_run([f], now=NOW)
    assert d["day"] == DAY
    assert _fired(d, "dates/dormant") == [1, 4, 6]  # 30, 31 (catch-up) and 30 days; 2 ordered 2 days ago
    assert _fired(d, "dates/tips") == [5]
    assert _fired(d, "dates/renewal") == [3]  # 4's contract has a renewal; 2's ends in 90 days
    assert _fired(d, "dates/detractor") == [2]  # 8's NPS is 60 days old, 1's is a 9
    assert _fired(d, "dates/sla") == [3]  # 10 h > loop.yaml's 8 h for high; 4's ticket is 5 h old
    sample = next(r for r in d["rules"] if r["rule"] == "dates/renewal")["samples"][0]
    assert sample["actions"] == [{"task": {"assignee": "bob", "due_date": DAY + dt.timedelta(days=3)}}]


def test_the_daily_sweep_fires_date_triggers_without_new_data(pb_ws: Workspace, tmp_path: Path) -> None:
    f = write(tmp_path, "dates.yaml", DATE_RULES)
    day_before = pb_ws.system().playbooks.run([f], now=NOW - dt.timedelta(days=1))
    assert [r["fired"] for r in day_before["rules"] if r["rule"] == "dates/dormant"] == [1]  # only 4 (30 days)
    before = count(pb_ws.engine, "tasks", "WHERE rule = 'dormant'")
    assert before == 1
    pb_ws.system().playbooks.run([f], now=NOW)  # the clock moved; no data changed
    with pb_ws.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT customer_id, title FROM tasks WHERE rule = 'dormant' ORDER BY id").all()
        waiting = conn.exec_driver_sql("SELECT customer_id FROM backlog WHERE rule = 'dormant'").scalars().all()
    assert [r[0] for r in rows] == [4, 1] and waiting == [6]  # 6 has no owner: the backlog, for a manager
    assert rows[1][1] == f"客户1: 30 days since {days_ago(30).isoformat()}"
    pb_ws.system().playbooks.run([f], now=NOW + dt.timedelta(hours=3))  # the same day again: nothing new
    pb_ws.system().playbooks.run([f], now=NOW + dt.timedelta(days=1))  # the next day: 1, 4 and 6 already fired
    assert count(pb_ws.engine, "tasks", "WHERE rule = 'dormant'") == 2
    assert count(pb_ws.engine, "backlog", "WHERE rule = 'dormant'") == 1


def test_a_new_last_order_is_a_new_occurrence(pb_ws: Workspace, tmp_path: Path) -> None:
    from playbooks_testkit import at

    from kehu.store.schema import orders

    f = write(tmp_path, "dates.yaml", DATE_RULES)
    pb_ws.system().playbooks.run([f], now=NOW)
    with pb_ws.engine.begin() as conn:  # customer 1 orders again the next day, then goes quiet for 30 days
        conn.execute(orders.insert().values(source="t", order_id="o9", customer_id=1, row_hash=0,
                                            ordered_at=at(DAY + dt.timedelta(days=1)), amount_cents=1, currency="CNY",
                                            status="paid"))  # fmt: skip
    pb_ws.system().playbooks.run([f], now=NOW + dt.timedelta(days=31))
    with pb_ws.engine.connect() as conn:
        occurrences = (
            conn.exec_driver_sql(
                "SELECT occurrence FROM playbook_firings WHERE rule = 'dormant' AND customer_id = 1 ORDER BY id"
            )
            .scalars()
            .all()
        )
    assert occurrences == [f"last_order:30:{days_ago(30)}", f"last_order:30:{DAY + dt.timedelta(days=1)}"]


SEGMENT_RULES = """
playbook: moves
rules:
  - id: in_vip
    when: {entered: {segment: "rfm_cn:important_value", within_days: 3}}
    then: [{tag: {add: [vip]}}]
  - id: out_vip
    when: {left: {segment: "rfm_cn:important_value"}}
    then: [{tag: {remove: [vip], add: [ex-vip]}}]
  - id: churny
    when: {score_crossed: {score: churn_risk, above: 0.7, initial: false}}
    then: [{task: {title: "{name}: churn risk {score_value} crossed {threshold}"}}]
"""


def test_segment_entry_exit_and_score_crossing(pb_ws: Workspace, tmp_path: Path) -> None:
    f = write(tmp_path, "moves.yaml", SEGMENT_RULES)
    e = pb_ws.engine
    segment_run(e, "rfm_cn", days_ago(2), {1: "important_value", 2: "important_value", 3: "general_value"})
    scores(e, days_ago(2), {1: {"churn_risk": 0.2}, 2: {"churn_risk": 0.9}})
    first = pb_ws.system().playbooks.run([f], now=NOW - dt.timedelta(days=2))
    assert {r["rule"]: r["fired"] for r in first["rules"]} == {"moves/in_vip": 2, "moves/out_vip": 0, "moves/churny": 0}
    segment_run(e, "rfm_cn", days_ago(1), {1: "important_value", 2: "general_value", 3: "important_value"})
    scores(e, days_ago(1), {1: {"churn_risk": 0.75}, 2: {"churn_risk": 0.95}, 3: {"churn_risk": "n/a"}})
    second = pb_ws.system().playbooks.run([f], now=NOW - dt.timedelta(days=1))
    fired = {r["rule"]: r["customers"] if "customers" in r else r["fired"] for r in second["rules"]}
    assert fired == {"moves/in_vip": 1, "moves/out_vip": 1, "moves/churny": 1}
    with e.connect() as conn:
        tags = dict(conn.exec_driver_sql("SELECT id, tags FROM customers WHERE id IN (1, 2, 3)").all())
        title = conn.exec_driver_sql("SELECT title FROM tasks WHERE rule = 'churny'").scalar_one()
    import json

    tags = {k: json.loads(v) if isinstance(v, str) else v for k, v in tags.items()}
    assert tags == {1: ["老客", "vip"], 2: ["ex-vip"], 3: ["vip"]}
    assert title == "客户1: churn risk 0.75 crossed 0.7"
    third = pb_ws.system().playbooks.run([f], now=NOW)  # no new run: nothing moves, nothing fires again
    assert sum(r["fired"] for r in third["rules"]) == 0


def test_reentry_once_cooldown_and_caps(pb_ws: Workspace, tmp_path: Path) -> None:
    f = write(
        tmp_path,
        "p.yaml",
        """
playbook: policy
rules:
  - id: once
    when: {days_since_last_order: {days: 0, catch_up_days: 500}}
    reentry: once
    then: [{tag: {add: [seen]}}]
  - id: capped
    when: {days_since_last_order: {days: 0, catch_up_days: 500}}
    max_per_day: 2
    then: [{tag: {add: [capped]}}]
  - id: cool
    when: {days_since_last_order: {days: 0, catch_up_days: 500}}
    cooldown_days: 10
    then: [{tag: {add: [cool]}}]
""",
    )
    first = pb_ws.system().playbooks.run([f], now=NOW)
    got = {r["rule"]: (r["fired"], r["skipped"]) for r in first["rules"]}
    assert got["policy/once"] == (6, {})  # customers 1..6 have orders
    assert got["policy/capped"] == (2, {"max_per_day": 4})
    with pb_ws.engine.begin() as conn:  # everyone orders again: a new occurrence for each
        conn.exec_driver_sql(
            "INSERT INTO orders (source, order_id, customer_id, row_hash, ordered_at, amount_cents, currency, status,"
            " created_at, updated_at) SELECT 't', 'n' || id, id, 0, '2026-11-03 02:00:00', 1, 'CNY', 'paid',"
            " '2026-11-03 02:00:00', '2026-11-03 02:00:00' FROM customers WHERE id <= 6"
        )
    later = pb_ws.system().playbooks.run([f], now=NOW + dt.timedelta(days=1))
    got = {r["rule"]: (r["fired"], r["skipped"]) for r in later["rules"]}
    assert got["policy/once"] == (0, {"once": 6})
    assert got["policy/cool"] == (0, {"cooldown": 6})
    assert got["policy/capped"][0] == 2
    much_later = pb_ws.system().playbooks.run([f], now=NOW + dt.timedelta(days=11))
    assert {r["rule"]: r["fired"] for r in much_later["rules"]}["policy/cool"] == 6


def test_if_uses_the_segments_rule_language_on_the_published_profile(pb_ws: Workspace, tmp_path: Path) -> None:
    f = write(
        tmp_path,
        "p.yaml",
        """
playbook: rich
rules:
  - id: rich_dormant
    when: {days_since_last_order: {days: 30, catch_up_days: 7}}
    if: {all: [{field: clv_12m, ge: 1000}, {field: orders, ge: 2}]}
    then: [{task: {title: "{name} CLV {clv_12m}"}}]
""",
    )
    none_published = pb_ws.system().playbooks.dry_run([f], now=NOW)
    assert none_published["rules"][0]["matched"] == 3 and none_published["rules"][0]["would_fire"] == 0
    scores(pb_ws.engine, days_ago(1), {1: {"clv_12m": 5000.0}, 4: {"clv_12m": 10.0}}, orders={1: 2, 4: 2})
    d = pb_ws.system().playbooks.dry_run([f], now=NOW)
    assert d["rules"][0]["customers"] == [1]
