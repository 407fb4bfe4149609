"""Tickets with a frozen clock: automatic assignment, SLA breaches recorded once, follow-ups of resolved complaints."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from kehu.errors import ConfigError, ValidationError
from kehu.service.workspace import Workspace
from kehu.store.care import satisfaction_followups, ticket_assignments
from kehu.tickets.policy import AssignmentPolicy, TicketPolicy, breaches, choose_assignee
from loop_testkit import Store

T0 = dt.datetime(2025, 6, 2, 1, 0, tzinfo=dt.UTC)  # a Monday, 09:00 in Shanghai


def hours(h: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=h)


def _ticket(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {"priority": "high", "status": "open", "opened_at": T0, "first_response_at": None,
                               "resolved_at": None}  # fmt: skip
    return {**base, **kw}


def test_breaches_by_the_clock() -> None:
    policy = TicketPolicy()  # high: first response 4 h, resolution 24 h
    assert breaches(_ticket(), policy, hours(4)) == {}  # exactly at the due time: not late yet
    assert set(breaches(_ticket(), policy, hours(4.01))) == {"first_response"}
    assert breaches(_ticket(first_response_at=hours(3)), policy, hours(23)) == {}
    late = breaches(_ticket(first_response_at=hours(5)), policy, hours(5))
    assert late == {"first_response": hours(4)}  # answered late: breached even though answered
    assert set(breaches(_ticket(first_response_at=hours(1)), policy, hours(25))) == {"resolution"}
    done = _ticket(first_response_at=hours(1), resolved_at=hours(20), status="resolved")
    assert breaches(done, policy, hours(100)) == {}
    assert set(breaches(_ticket(priority="urgent"), policy, hours(1.5))) == {"first_response"}


def test_configured_targets() -> None:
    policy = TicketPolicy.from_config({"sla": {"high": {"first_response": 1, "resolution": 2}}})
    assert set(breaches(_ticket(), policy, hours(2.5))) == {"first_response", "resolution"}
    assert policy.sla["low"].first_response == 24  # the rest keep their defaults
    with pytest.raises(ValidationError, match=r"tickets\.sla\.high"):
        TicketPolicy.from_config({"sla": {"high": {"first_response": 5}}})
    with pytest.raises(ValidationError, match="unknown priority"):
        TicketPolicy.from_config({"sla": {"critical": {"first_response": 1, "resolution": 2}}})


def test_round_robin_choice() -> None:
    policy = AssignmentPolicy(topics={"退款": ["amy", "ben", "gone"]}, team="客服部")
    active = {"amy": "客服部", "ben": "客服部", "cat": "客服部", "owner1": "销售"}
    pick = choose_assignee(owner="owner1", topic="退款", policy=policy, active=active, positions={})
    assert pick == ("owner1", "owner", None, None)
    pick = choose_assignee(owner="inactive", topic="退款", policy=policy, active=active, positions={})
    assert pick == ("amy", "round_robin", "topic:退款", 0)
    pick = choose_assignee(owner=None, topic="退款", policy=policy, active=active, positions={"topic:退款": 0})
    assert pick == ("ben", "round_robin", "topic:退款", 1)
    pick = choose_assignee(owner=None, topic="物流", policy=policy, active=active, positions={"team:客服部": 2})
    assert pick == ("amy", "round_robin", "team:客服部", 0)  # wraps around amy, ben, cat
    assert choose_assignee(owner=None, topic=None, policy=AssignmentPolicy(), active=active, positions={}) is None


@pytest.fixture
def desk(workspace: Workspace) -> tuple[Workspace, Store, dict[str, int]]:
    (workspace.settings.home / "loop.yaml").write_text(
        "tickets:\n  assignment:\n    topics: {退款: [amy, ben]}\n    team: 客服部\n  followup_hours: 48\n",
        encoding="utf-8",
    )
    s = Store(workspace.engine)
    ids = {name: s.user(name, team="客服部" if name != "olga" else "销售") for name in ("amy", "ben", "cat", "olga")}
    return workspace, s, ids


def test_assignment_owner_then_topic_round_robin_then_team(desk: tuple[Workspace, Store, dict[str, int]]) -> None:
    ws, s, users = desk
    owned = s.customer(owner=users["olga"], name="有主客户")
    free = s.customer(name="无主客户")
    assert ws.system().tickets.create(str(owned), topic="退款", now=T0)["assignee"] == "olga"
    got = [ws.system().tickets.create(str(free), topic="退款", now=T0)["assignee"] for _ in range(3)]
    assert got == ["amy", "ben", "amy"]
    got = [ws.system().tickets.create(str(free), topic="发票", now=T0)["assignee"] for _ in range(4)]
    assert got == ["amy", "ben", "cat", "amy"]  # the team pool: every active member of 客服部, by name
    # imported tickets without an assignee are assigned by the check, with the same rules
    s.ticket(free, hours(-1), topic="退款")
    out = ws.system().tickets.check(now=T0)
    assert out["assigned"] == 1 and out["unassigned"] == 0
    with ws.engine.connect() as conn:
        rules = [r for (r,) in conn.execute(sa.select(ticket_assignments.c.rule).order_by(ticket_assignments.c.id))]
    assert rules == ["owner"] + ["round_robin"] * 8


def test_breaches_recorded_once_with_a_frozen_clock(desk: tuple[Workspace, Store, dict[str, int]]) -> None:
    ws, s, _ = desk
    cid = s.customer(name="c")
    t = ws.system().tickets.create(str(cid), topic="退款", priority="urgent", now=T0)  # 1 h / 8 h
    assert ws.system().tickets.check(now=hours(0.5))["new_breaches"] == 0
    first = ws.system().tickets.check(now=hours(2))
    assert [(b["ticket_id"], b["kind"]) for b in first["breaches"]] == [(t["id"], "first_response")]
    assert ws.system().tickets.check(now=hours(3))["new_breaches"] == 0  # recorded once
    ws.system().tickets.update(t["id"], respond=True, now=hours(3))
    assert [b["kind"] for b in ws.system().tickets.check(now=hours(9))["breaches"]] == ["resolution"]
    assert {b["kind"] for b in ws.system().tickets.breaches()} == {"first_response", "resolution"}


def test_resolved_complaint_schedules_a_followup(desk: tuple[Workspace, Store, dict[str, int]]) -> None:
    ws, s, _ = desk
    cid = s.customer(name="c")
    complaint = ws.system().tickets.create(str(cid), topic="退款", complaint=True, now=T0)
    question = ws.system().tickets.create(str(cid), topic="退款", now=T0)
    ws.system().tickets.update(complaint["id"], respond=True, now=hours(1))
    resolved = ws.system().tickets.update(complaint["id"], resolve=True, now=hours(5))
    assert resolved["status"] == "resolved" and resolved["resolved_at"] == hours(5)
    ws.system().tickets.update(question["id"], resolve=True, now=hours(5))
    ws.system().tickets.update(complaint["id"], status="closed", now=hours(6))  # closing again schedules nothing new
    with ws.engine.connect() as conn:
        rows = conn.execute(sa.select(satisfaction_followups)).all()
    assert [(r.ticket_id, r.due_at, r.status) for r in rows] == [(complaint["id"], hours(53), "scheduled")]
    # an imported resolved complaint gets its follow-up from the check
    imported = s.ticket(cid, hours(-10), first=hours(-9), resolved=hours(-2), complaint=True, status="resolved")
    assert ws.system().tickets.check(now=T0)["followups_scheduled"] == 1
    with ws.engine.connect() as conn:
        due = conn.execute(
            sa.select(satisfaction_followups.c.due_at).where(satisfaction_followups.c.ticket_id == imported)
        ).scalar_one()
    assert due == hours(46)


def test_bad_input(desk: tuple[Workspace, Store, dict[str, int]]) -> None:
    ws, s, _ = desk
    cid = s.customer(name="c")
    with pytest.raises(ValidationError, match="priority"):
        ws.system().tickets.create(str(cid), priority="asap", now=T0)
    t = ws.system().tickets.create(str(cid), now=T0)
    with pytest.raises(ValidationError, match="satisfaction"):
        ws.system().tickets.update(t["id"], satisfaction=9, now=T0)
    with pytest.raises(ValidationError, match="not an active user"):
        ws.system().tickets.update(t["id"], assignee="nobody", now=T0)
    (ws.settings.home / "loop.yaml").write_text("ticket: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown section"):
        ws.system().tickets.check(now=T0)
