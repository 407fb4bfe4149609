"""Every rule's holdout: drawn per customer and rule, the same on every run, the share exact per block of ids; the
held-out customers get nothing from the rule (no outbox row, task, coupon, tag, owner or message), and their
firings are recorded with the fate ``held_out`` and counted per rule by the dry run and the run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from playbooks_testkit import DAY, NOW, T0, segment_run, write

from kehu.models.holdout import BLOCK, held_out
from kehu.playbooks import PlaybookError, parse_playbook
from kehu.playbooks.effects import verdict_of, verdict_text
from kehu.service.workspace import Workspace
from kehu.store import schema

IDS = range(9, 309)  # 300 customers beside the testkit's 1..8
EVERYTHING = """
playbook: care
quiet_hours: null
rules:
  - id: welcome
    holdout: 0.25
    when: {entered: {segment: "rfm_cn:important_value"}}
    then:
      - owner: {assign: {round_robin: {role: rep}}, only_if_unowned: true}
      - tag: {add: [新贵宾]}
      - coupon: {amount: 20, expires_in_days: 30, prefix: HO}
      - task: {assignee: owner, due_in_days: 2, priority: high, title: "欢迎 {name}"}
      - message: {channel: email, to: customer, subject: "欢迎", body: "{name} 您好"}
"""


def test_the_draw_is_keyed_stable_and_exact_per_block() -> None:
    everyone = range(0, 20 * BLOCK)
    held = held_out(everyone, share=0.1, key="pb/rule")
    assert held == held_out(reversed(everyone), share=0.1, key="pb/rule")  # order does not matter
    part = range(150, 1234, 7)
    assert held_out(part, share=0.1, key="pb/rule") == held & set(part)  # nor who else fires that day
    for block in range(20):
        assert sum(c // BLOCK == block for c in held) == 10  # 10% of every 100 consecutive ids, exactly
    other = held_out(everyone, share=0.1, key="pb/other_rule")
    assert other != held and 0 < len(other & held) < 60  # another rule draws its own, independently
    assert held_out(everyone, share=0, key="pb/rule") == set()
    odd = held_out(range(1000), share=0.055, key="x")  # 5.5 per block: 5 or 6, rounded at random
    assert {sum(c // BLOCK == b for c in odd) for b in range(10)} == {5, 6}
    with pytest.raises(ValueError, match="share"):
        held_out(everyone, share=1, key="pb/rule")


@pytest.mark.parametrize("value", ["1", "1.5", "-0.1", "'10%'"])
def test_a_bad_share_names_file_line_and_field(value: str) -> None:
    text = EVERYTHING.replace("holdout: 0.25", f"holdout: {value}")
    with pytest.raises(PlaybookError) as err:
        parse_playbook(text, "care.yaml")
    assert str(err.value).startswith("care.yaml:6: rules[0].holdout: ") and "0 (hold nobody out)" in str(err.value)
    assert parse_playbook(EVERYTHING.replace("    holdout: 0.25\n", ""), "care.yaml").rules[0].holdout == 0.1


def _customers(ws: Workspace) -> None:
    with ws.engine.begin() as conn:
        conn.execute(sa.insert(schema.customers), [
            {"id": c, "name": f"客户{c}", "email": f"c{c}@shop.test", "created_at": T0, "updated_at": T0}
            for c in IDS])  # fmt: skip


def _fates(ws: Workspace) -> dict[tuple[int, str], str]:
    with ws.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT customer_id, occurrence, fate FROM playbook_firings")).all()
    return {(int(c), str(o)): str(f) for c, o, f in rows}


@pytest.mark.slow
def test_held_out_customers_receive_nothing(
    sqlite_ws: Workspace, tmp_path: Path, with_settings: Callable[..., Workspace]
) -> None:
    # room for every acted-on customer's task, so each of them gets all five actions (none waits in the backlog)
    sqlite_ws = with_settings(sqlite_ws, task_capacity_rep=len(IDS))
    _customers(sqlite_ws)
    segment_run(sqlite_ws.engine, "rfm_cn", DAY, dict.fromkeys(IDS, "important_value"))
    f = write(tmp_path, "care.yaml", EVERYTHING)
    dry = sqlite_ws.system().playbooks.dry_run([f], now=NOW)["rules"][0]
    run = sqlite_ws.system().playbooks.run([f], now=NOW)["rules"][0]
    fates = {c: fate for (c, _), fate in _fates(sqlite_ws).items()}
    held = {c for c, fate in fates.items() if fate == "held_out"}
    acted = {c for c, fate in fates.items() if fate != "held_out"}  # task, merged, backlog, automated
    assert held == held_out(IDS, share=0.25, key="care/welcome") and acted == set(IDS) - held
    assert 60 <= len(held) <= 90  # 25% of 300, drawn per block of 100 ids
    assert dry["held_out"] == run["held_out"] == len(held) and dry["would_fire"] == run["fired"] == len(IDS)
    assert all(s["customer_id"] in acted for s in dry["samples"])
    with sqlite_ws.engine.connect() as conn:

        def per_customer(sql: str) -> dict[int, int]:
            return {int(c): int(n) for c, n in conn.execute(sa.text(sql))}

        outbox = per_customer("SELECT customer_id, count(*) FROM outbox GROUP BY customer_id")
        tasks = per_customer("SELECT customer_id, count(*) FROM tasks GROUP BY customer_id")
        coupons = per_customer("SELECT customer_id, count(*) FROM coupons GROUP BY customer_id")
        people = {int(c): (o, t) for c, o, t in conn.execute(sa.select(
            schema.customers.c.id, schema.customers.c.owner_id, schema.customers.c.tags))}  # fmt: skip
        unlinked = conn.execute(sa.text(
            "SELECT count(*) FROM outbox o JOIN playbook_firings f ON f.id = o.firing_id WHERE f.fate = 'held_out'"
        )).scalar_one()  # fmt: skip
        audited = conn.execute(sa.text("SELECT count(*) FROM audit_log WHERE action = 'playbook.held_out'")).scalar()
    assert unlinked == 0 and audited == len(held)
    for c in held:
        assert c not in outbox and c not in tasks and c not in coupons, c
        assert people[c] == (None, None), c  # no owner assigned, no tag
    for c in acted:  # owner, tag, coupon, task and the e-mail: five outbox rows each
        assert outbox[c] == 5 and tasks[c] == 1 and coupons[c] == 1, c
        assert people[c][0] is not None and people[c][1] == ["新贵宾"], c


@pytest.mark.slow
def test_the_same_customer_is_held_out_on_every_run(sqlite_ws: Workspace, tmp_path: Path) -> None:
    _customers(sqlite_ws)
    day_b, day_c = DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2)
    segment_run(sqlite_ws.engine, "rfm_cn", DAY, dict.fromkeys(IDS, "important_value"))
    segment_run(sqlite_ws.engine, "rfm_cn", day_b, dict.fromkeys(range(150, 309), "important_value"))
    segment_run(sqlite_ws.engine, "rfm_cn", day_c, dict.fromkeys(IDS, "important_value"))  # 9..149 re-enter
    f = write(tmp_path, "care.yaml", EVERYTHING)
    sqlite_ws.system().playbooks.run([f], now=NOW, day=DAY)
    later = dt.datetime.combine(day_c, dt.time(2), dt.UTC)
    again = sqlite_ws.system().playbooks.run([f], now=later, day=day_c)["rules"][0]
    fates = _fates(sqlite_ws)
    first = {c: fate for (c, o), fate in fates.items() if o.endswith(DAY.isoformat())}
    second = {c: fate for (c, o), fate in fates.items() if o.endswith(day_c.isoformat())}
    assert set(second) == set(range(9, 150)) and again["fired"] == len(second)
    # the same arm as the first time, customer by customer (held out, or acted on whatever became of the action)
    assert all((second[c] == "held_out") == (first[c] == "held_out") for c in second)
    assert again["held_out"] == sum(f == "held_out" for f in second.values()) > 0


def test_a_rule_that_holds_nobody_out_says_why_it_cannot_tell() -> None:
    revenue = {"difference": None, "low": None, "high": None, "treated_n": 40, "held_out_n": 0, "detail": {}}
    assert verdict_of(revenue) == "too_few"
    assert "holdout 0" in verdict_text("too_few", revenue, horizon=60, locale="en", no_holdout=True)
    assert "没有留出对照组" in verdict_text("too_few", revenue, horizon=60, locale="zh-CN", no_holdout=True)
    assert "60 天" in verdict_text("too_few", revenue, horizon=60, locale="zh-CN")  # an arm still empty
