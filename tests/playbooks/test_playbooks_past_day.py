"""Only the present acts: playbooks run for a day before the newest data day change nothing, unless asked to."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from typing import Any

import pytest
import sqlalchemy as sa
from playbooks_testkit import DAY, NOW, count, days_ago, snapshot, write

from kehu.service.kpis import default_as_of
from kehu.service.present import past_day
from kehu.service.workspace import Workspace
from kehu.store.data_day import newest_data_day
from kehu.store.schema import customers

#: every action kind, on a trigger that matches customer 3 (contract K1) five days ago and today
RENEW = """
playbook: look_back
quiet_hours: null
rules:
  - id: renew
    when: {contract_ends_within: {days: 30}}
    then:
      - owner: {assign: {user: carol}}
      - tag: {add: [续约]}
      - coupon: {amount: 10, expires_in_days: 30}
      - task: {title: "续约 {name}", assignee: owner}
      - message: {channel: email, to: customer, subject: "续约", body: "{contract_id}"}
"""

TABLES = ["customers", "tasks", "outbox", "playbook_firings", "coupons", "audit_log", "playbook_runs",
          "delivery_attempts"]  # fmt: skip

PAST = days_ago(5)  # the testkit's newest order is two days before DAY


def test_the_newest_data_day_is_the_newest_order_day(pb_ws: Workspace) -> None:
    tz = pb_ws.settings.timezone
    with pb_ws.engine.connect() as conn:
        assert newest_data_day(conn, tz) == days_ago(2) == default_as_of(conn, tz)
    assert past_day(pb_ws.engine, pb_ws.settings, None) is None  # a run that names no day is the present
    assert past_day(pb_ws.engine, pb_ws.settings, days_ago(2)) is None
    assert past_day(pb_ws.engine, pb_ws.settings, DAY) is None
    past = past_day(pb_ws.engine, pb_ws.settings, days_ago(3))
    assert past is not None and (past.day, past.newest_data_day) == (days_ago(3), days_ago(2))
    with pb_ws.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM orders"))
        assert newest_data_day(conn, tz) is None
    assert past_day(pb_ws.engine, pb_ws.settings, days_ago(300)) is None  # no data: nothing lies behind it


def test_a_past_day_changes_nothing_and_the_present_still_fires(pb_ws: Workspace) -> None:
    f = write(pb_ws.settings.home / "look", "renew.yaml", RENEW)
    assert pb_ws.system().playbooks.dry_run([f], day=PAST)["rules"][0]["would_fire"] == 1  # there is work to do
    before = snapshot(pb_ws.engine, TABLES)
    out = pb_ws.system().playbooks.run([f], day=PAST, now=NOW)
    assert (out["acted"], out["reason"], out["rules"], out["playbooks"]) == (False, "past_day", [], ["look_back"])
    assert (out["past_day"]["day"], out["past_day"]["newest_data_day"]) == (PAST, days_ago(2))
    assert out["past_day"]["message"].startswith("未执行自动化策略：2026-10-28 早于最新数据日 2026-10-31")
    assert "--act-on-past-day" in out["past_day"]["message"]
    assert snapshot(pb_ws.engine, TABLES) == before  # no task, message, coupon, tag, owner, firing or run record
    present = pb_ws.system().playbooks.run([f], now=NOW)  # the look back used up no occurrence
    assert (present["acted"], present["past_day"]) == (True, None)
    assert present["rules"][0]["fired"] == 1
    assert count(pb_ws.engine, "tasks") == count(pb_ws.engine, "coupons") == 1


def test_acting_on_a_past_day_says_what_it_will_do_first(pb_ws: Workspace) -> None:
    f = write(pb_ws.settings.home / "look", "renew.yaml", RENEW)
    before = snapshot(pb_ws.engine, TABLES)
    said: list[dict[str, Any]] = []

    def announce(plan: dict[str, Any]) -> None:
        assert snapshot(pb_ws.engine, [t for t in TABLES if t != "playbook_runs"]) == {
            t: rows for t, rows in before.items() if t != "playbook_runs"
        }  # said before anything is done
        said.append(plan)

    out = pb_ws.system().playbooks.run([f], day=PAST, now=NOW, act_on_past_day=True, announce=announce)
    assert [(r["rule"], r["would_fire"]) for r in said[0]["rules"]] == [("look_back/renew", 1)]
    assert said[0]["past_day"]["acted"] is True and "2026-10-28" in said[0]["past_day"]["plan"]
    assert out["acted"] is True and out["past_day"]["acted"] is True and out["rules"][0]["fired"] == 1
    with pb_ws.engine.connect() as conn:
        fired_on = conn.execute(sa.text("SELECT day FROM playbook_firings")).scalars().all()
        owner, tags = conn.execute(sa.select(customers.c.owner_id, customers.c.tags).where(customers.c.id == 3)).one()
    assert [dt.date.fromisoformat(str(d)) for d in fired_on] == [PAST]
    assert owner == 3 and "续约" in tags
    assert count(pb_ws.engine, "tasks") == count(pb_ws.engine, "coupons") == 1


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_the_command_line_says_why_nothing_acted(sqlite_ws: Workspace, locale: str) -> None:
    write(sqlite_ws.settings.resolved_playbooks_dir, "renew.yaml", RENEW)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEHU_")}
    env.update(KEHU_HOME=str(sqlite_ws.settings.home), KEHU_DATABASE_URL=sqlite_ws.settings.resolved_database_url,
               KEHU_LOCALE=locale)  # fmt: skip

    def kehu(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kehu.cli", *args], env=env, capture_output=True, text=True,
                              timeout=120)  # fmt: skip

    looked = kehu("playbooks", "run", "--today", PAST.isoformat())
    assert looked.returncode == 0, looked.stderr
    said = {"en": "playbooks not run: 2026-10-28 is before the newest data day 2026-10-31",
            "zh-CN": "未执行自动化策略：2026-10-28 早于最新数据日 2026-10-31"}  # fmt: skip
    assert looked.stdout.startswith(said[locale]) and "--act-on-past-day" in looked.stdout
    assert count(sqlite_ws.engine, "playbook_firings") == 0
    acted = kehu("playbooks", "run", "--today", PAST.isoformat(), "--act-on-past-day")
    assert acted.returncode == 0, acted.stderr
    plan_at = acted.stdout.index("look_back/renew")
    assert acted.stdout.index("--act-on-past-day") < plan_at < acted.stdout.index("fired      1")
    assert count(sqlite_ws.engine, "playbook_firings") == 1
