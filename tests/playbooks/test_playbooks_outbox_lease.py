"""The outbox lease (issue 23): each message is claimed with the time of its own claim, so one sent late in a long
delivery run still holds a live lease while it is being sent (another process must not take it for stopped)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from playbooks_testkit import NOW, write

from kehu.playbooks import Message, RecordingChannel
from kehu.playbooks import outbox as outbox_module
from kehu.playbooks.outbox import _lease, deliver
from kehu.service.workspace import Workspace
from kehu.store.actions import delivery_attempts, outbox

EVERYONE = """
playbook: hello
quiet_hours: null
rules:
  - id: hello
    when: {days_since_last_order: {days: 0, catch_up_days: 500}}
    then: [{message: {channel: webhook, webhook: ops, body: "hello {name}"}}]
"""


class Clock:
    """A test clock that moves only when told."""

    def __init__(self, start: dt.datetime) -> None:
        self.at = start

    def __call__(self) -> dt.datetime:
        return self.at


class SlowChannel(RecordingChannel):
    """Each send takes ``took`` of the clock's time; records the lease its row holds while it is being sent."""

    def __init__(self, engine: sa.Engine, clock: Clock, took: dt.timedelta) -> None:
        super().__init__()
        self.engine, self.clock, self.took = engine, clock, took
        self.lease_left: list[dt.timedelta] = []

    def send(self, message: Message) -> str:
        self.clock.at += self.took
        with self.engine.connect() as conn:
            until = conn.execute(
                sa.select(outbox.c.lease_until).where(outbox.c.idempotency_key == message.key)
            ).scalar_one()
        until = until if until.tzinfo else until.replace(tzinfo=dt.UTC)
        self.lease_left.append(until - self.clock.at)
        return super().send(message)


def _queue(pb_ws: Workspace, tmp_path: Path) -> int:
    """Run the playbook with its channel missing, so its messages wait in the outbox; their number."""
    f = write(tmp_path, "hello.yaml", EVERYONE)
    pb_ws.system().playbooks.run([f], now=NOW, channels={})
    with pb_ws.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(outbox)
                .where(outbox.c.kind == "message", outbox.c.status == "pending")
            ).scalar_one()
        )


def test_a_message_claimed_late_in_a_long_run_holds_a_live_lease(pb_ws: Workspace, tmp_path: Path) -> None:
    queued = _queue(pb_ws, tmp_path)
    assert queued >= 4
    lease = _lease(pb_ws.settings)
    clock = Clock(NOW + dt.timedelta(minutes=1))
    channel = SlowChannel(pb_ws.engine, clock, took=lease / 2)  # the run takes queued / 2 leases in all
    report = deliver(pb_ws.engine, pb_ws.settings, {"webhook": channel}, now=clock.at, clock=clock)
    assert report.sent == queued
    assert len(channel.lease_left) == queued
    assert all(left >= lease / 2 for left in channel.lease_left), channel.lease_left
    with pb_ws.engine.connect() as conn:
        starts = list(
            conn.execute(sa.select(delivery_attempts.c.started_at).order_by(delivery_attempts.c.id)).scalars()
        )
        done = list(conn.execute(sa.select(outbox.c.done_at).where(outbox.c.kind == "message").order_by(outbox.c.id)))
    assert len(set(starts)) == queued  # each claim has its own time ...
    assert starts == sorted(starts)  # ... in the order of the sends
    assert max(d for (d,) in done).replace(tzinfo=None) == clock.at.replace(tzinfo=None)


def test_without_a_clock_the_run_time_advances_with_the_real_time(
    pb_ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued = _queue(pb_ws, tmp_path)
    lease = _lease(pb_ws.settings).total_seconds()
    ticks = iter(range(0, 10**6, int(lease // 2)))  # every look at the clock: half a lease later
    monkeypatch.setattr(outbox_module, "_monotonic", lambda: float(next(ticks)))
    start = NOW + dt.timedelta(minutes=1)
    report = deliver(pb_ws.engine, pb_ws.settings, {"webhook": RecordingChannel()}, now=start)
    assert report.sent == queued
    with pb_ws.engine.connect() as conn:
        rows = conn.execute(
            sa.select(delivery_attempts.c.started_at, outbox.c.lease_until, outbox.c.done_at)
            .join(outbox, outbox.c.id == delivery_attempts.c.outbox_id)
            .order_by(delivery_attempts.c.id)
        ).all()
    starts = [r.started_at.replace(tzinfo=None) for r in rows]
    assert starts == sorted(starts) and len(set(starts)) == queued
    assert starts[-1] - start.replace(tzinfo=None) > dt.timedelta(seconds=lease)  # later than a first lease ran out
