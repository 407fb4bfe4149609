"""Campaigns through the workspace: create, launch (arms recorded before sending; holdout never messaged, also
over real SMTP), results with a hand-checked outcome."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from kehu.campaigns.spec import CampaignSpec
from kehu.config import load_settings
from kehu.errors import NotFoundError, ValidationError
from kehu.playbooks.channels import Message, RecordingChannel
from kehu.service.workspace import Workspace
from kehu.store.campaigns import campaign_members
from loop_testkit import Store, segment_run

LAUNCH = dt.datetime(2025, 6, 1, 2, tzinfo=dt.UTC)


@pytest.fixture
def target(workspace: Workspace) -> tuple[Workspace, list[int]]:
    """60 customers in lifecycle:at_risk (40) and lifecycle:dormant (20), with e-mail addresses."""
    s = Store(workspace.engine)
    ids = [s.customer(name=f"客户{i}", email=f"c{i}@example.test") for i in range(60)]
    placements = {cid: ("at_risk" if i < 40 else "dormant") for i, cid in enumerate(ids)}
    segment_run(workspace.engine, "lifecycle", dt.date(2025, 5, 31), placements)
    segment_run(workspace.engine, "winback", dt.date(2025, 5, 31), dict.fromkeys(ids, "targets"))
    return workspace, ids


def _spec(name: str = "spring", **kw: object) -> CampaignSpec:
    base: dict[str, object] = {"name": name, "target": {"segment": "winback:targets"}, "channel": "file",
                               "template": "{name}，您好：回来看看，优惠码 {coupon}", "offer": {"coupon": "BACK20"},
                               "holdout_share": 0.25, "seed": 42}  # fmt: skip
    return CampaignSpec(**{**base, **kw})  # type: ignore[arg-type]


class _CheckingChannel(RecordingChannel):
    """Records messages; on the first one, checks (in another connection) that all arms are already stored."""

    def __init__(self, engine: sa.Engine) -> None:
        super().__init__()
        self.engine = engine
        self.members_seen: int | None = None

    def send(self, message: Message) -> str:
        if self.members_seen is None:
            with self.engine.connect() as conn:
                self.members_seen = conn.execute(sa.select(sa.func.count()).select_from(campaign_members)).scalar_one()
        return super().send(message)


def _arms(ws: Workspace, name: str) -> dict[int, str]:
    cid = next(c["id"] for c in ws.system().campaigns.all() if c["name"] == name)
    with ws.engine.connect() as conn:
        rows = conn.execute(sa.select(campaign_members).where(campaign_members.c.campaign_id == cid))
        return {r.customer_id: r.arm for r in rows}


def test_arms_recorded_before_sending_and_holdout_never_messaged(target: tuple[Workspace, list[int]]) -> None:
    ws, ids = target
    ws.system().campaigns.create(_spec(), now=LAUNCH)
    channel = _CheckingChannel(ws.engine)
    out = ws.system().campaigns.launch("spring", channels={"file": channel}, now=LAUNCH)
    assert channel.members_seen == len(ids)  # every arm was in the store before the first message left
    arms = _arms(ws, "spring")
    held = {c for c, a in arms.items() if a == "holdout"}
    assert out["holdout"] == len(held) == 15  # 25% of 40 and of 20: exactly 10 + 5
    assert {m.data["customer_id"] for m in channel.sent} == set(ids) - held
    assert out["queued"] == 45 and out["delivery"]["sent"] == 45
    assert channel.sent[0].key == f"campaign:1:customer:{channel.sent[0].data['customer_id']}"
    assert "BACK20" in channel.sent[0].body and "客户" in channel.sent[0].body
    # stratified by lifecycle: 10 of the 40 at risk, 5 of the 20 dormant
    assert sum(1 for i, c in enumerate(ids) if i < 40 and c in held) == 10
    # launching again assigns nothing new and sends nothing twice
    again = ws.system().campaigns.launch("spring", channels={"file": channel}, now=LAUNCH)
    assert again["queued"] == 0 and not again["assigned"] and len(channel.sent) == len(ids) - 15


def test_assignment_is_reproducible_from_the_seed(target: tuple[Workspace, list[int]]) -> None:
    ws, _ = target
    for name, seed in (("a", 42), ("b", 42), ("c", 43)):
        ws.system().campaigns.create(_spec(name, seed=seed), now=LAUNCH)
        ws.system().campaigns.launch(name, channels={"file": RecordingChannel()}, now=LAUNCH)
    assert _arms(ws, "a") == _arms(ws, "b")
    assert _arms(ws, "a") != _arms(ws, "c")


def test_results_by_hand(target: tuple[Workspace, list[int]]) -> None:
    ws, ids = target
    ws.system().campaigns.create(_spec(attribution_days=30), now=LAUNCH)
    ws.system().campaigns.launch("spring", channels={"file": RecordingChannel()}, now=LAUNCH)
    arms = _arms(ws, "spring")
    treated = [c for c in ids if arms[c] == "treatment"]
    held = [c for c in ids if arms[c] == "holdout"]
    s = Store(ws.engine)
    for c in treated[:30]:  # 30 of 45 treated buy 100 yuan in the window
        s.order(c, "2025-06-10", 100)
    for c in held[:3]:  # 3 of 15 held out buy
        s.order(c, "2025-06-10", 100)
    s.order(treated[40], "2025-07-15", 500)  # after the window: not counted
    r = ws.system().campaigns.results("spring", now=dt.datetime(2025, 7, 20, tzinfo=dt.UTC))
    assert r["arms"]["treatment"] == {"customers": 45, "converted": 30, "revenue_cents": 300_000}
    assert r["arms"]["holdout"] == {"customers": 15, "converted": 3, "revenue_cents": 30_000}
    conv = r["uplift"]["conversion"]
    assert conv["difference"] == pytest.approx(30 / 45 - 3 / 15)
    assert conv["significant"] and conv["low"] > 0
    assert r["uplift"]["revenue_per_customer"]["difference"] == pytest.approx(300_000 / 45 - 30_000 / 15)
    assert r["messages"] == {"sent": 45, "failed": 0, "pending": 0, "to_holdout": 0}
    assert r["window"]["complete"]
    assert "提高" in r["verdict"]["zh"]["conversion"] and "raised" in r["verdict"]["en"]["conversion"]
    assert r["uplift"]["win_back"]["treatment_n"] == 0  # nobody had bought before: no lapsed targets
    assert "一方" not in r["verdict"]["zh"]["win_back"] and "nothing to compare" in r["verdict"]["en"]["win_back"]
    assert [s["stratum"] for s in r["strata"]] == ["at_risk", "dormant"]
    assert sum(s["holdout"] for s in r["strata"]) == 15
    assert any("holdout" in n for n in r["notes"]["en"])  # 15 held out: a small holdout is said so


def test_bad_definitions(target: tuple[Workspace, list[int]]) -> None:
    ws, _ = target
    with pytest.raises(ValidationError, match="placeholder"):
        ws.system().campaigns.create(_spec(template="hi {password}"))
    with pytest.raises(ValidationError, match="holdout share"):
        ws.system().campaigns.create(_spec(holdout_share=0))
    with pytest.raises(NotFoundError, match="no run"):
        ws.system().campaigns.create(_spec(target={"segment": "nosuch:x"}))
    with pytest.raises(ValidationError, match="channel"):
        ws.system().campaigns.create(_spec(channel="pigeon"))
    with pytest.raises(ValidationError, match="webhook:NAME"):
        ws.system().campaigns.create(_spec(channel="webhook"))
    ws.system().campaigns.create(_spec())
    with pytest.raises(ValidationError, match="exists"):
        ws.system().campaigns.create(_spec())
    with pytest.raises(ValidationError, match="not been launched"):
        ws.system().campaigns.results("spring")


@pytest.fixture
def smtp_server() -> Iterator[tuple[str, int, list[tuple[str, list[str], bytes]]]]:
    aiosmtpd = pytest.importorskip("aiosmtpd.controller")
    received: list[tuple[str, list[str], bytes]] = []

    class Handler:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))  # type: ignore[attr-defined]
            return "250 OK"

    with socket.socket() as probe:  # a free port (the controller checks it can connect, so port 0 will not do)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = aiosmtpd.Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield "127.0.0.1", port, received
    finally:
        controller.stop()


def test_holdout_never_receives_over_smtp(
    store_url: str, tmp_path: object, smtp_server: tuple[str, int, list[tuple[str, list[str], bytes]]]
) -> None:
    host, port, received = smtp_server
    settings = load_settings(home=tmp_path, database_url=store_url, smtp_host=host, smtp_port=port,  # type: ignore[arg-type]
                             smtp_from="shop@example.test")  # fmt: skip
    with Workspace(settings) as ws:
        ws.init()
        s = Store(ws.engine)
        ids = [s.customer(name=f"c{i}", email=f"c{i}@example.test") for i in range(40)]
        segment_run(ws.engine, "winback", dt.date(2025, 5, 31), dict.fromkeys(ids, "targets"))
        ws.system().campaigns.create(_spec(channel="email", subject="{name}: 回来看看"), now=LAUNCH)
        out = ws.system().campaigns.launch("spring", now=LAUNCH)
        arms = _arms(ws, "spring")
    held_addresses = {f"c{i}@example.test" for i, c in enumerate(ids) if arms[c] == "holdout"}
    treated_addresses = {f"c{i}@example.test" for i, c in enumerate(ids) if arms[c] == "treatment"}
    got = {rcpt for _, rcpts, _ in received for rcpt in rcpts}
    assert out["delivery"]["sent"] == len(treated_addresses) == len(received) and out["delivery"]["dead"] == 0
    assert got == treated_addresses
    assert not got & held_addresses and len(held_addresses) == 10
    assert all(sender == "shop@example.test" for sender, _, _ in received)


def test_failed_and_waiting_messages_are_counted(target: tuple[Workspace, list[int]]) -> None:
    ws, _ = target
    ws.system().campaigns.create(_spec("broken"), now=LAUNCH)
    out = ws.system().campaigns.launch(
        "broken", channels={"file": RecordingChannel(fail=10**6, retryable=False)}, now=LAUNCH
    )
    assert out["delivery"]["dead"] == 45
    ws.system().campaigns.create(
        _spec("later", channel="email"), now=LAUNCH
    )  # no SMTP server configured: messages wait
    out = ws.system().campaigns.launch("later", now=LAUNCH)
    assert out["queued"] == 45 and out["delivery"]["unconfigured"] == {"email": 45}
    at = dt.datetime(2025, 7, 20, tzinfo=dt.UTC)
    assert ws.system().campaigns.results("broken", now=at)["messages"]["failed"] == 45
    assert ws.system().campaigns.results("later", now=at)["messages"] == {
        "sent": 0, "failed": 0, "pending": 45, "to_holdout": 0,
    }  # fmt: skip
