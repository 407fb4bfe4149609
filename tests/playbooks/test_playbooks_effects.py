"""What works, on data simulated with known rule effects: orders after the firings follow a purchase rate that the
rule raises, leaves alone or lowers for the customers it acted on; `kehu playbooks effects --json` must say so.

Three rules fire on the same day for 1,500 customers each (30% held out). After the firing every customer buys
in the next 60 days with probability 0.4 (held out, and acted on for the null rule), 0.6 (acted on, positive
rule) or 0.2 (acted on, negative rule), spending a lognormal amount (median ¥100, σ 0.3): revenue per customer
moves by about ¥21 either way, some six standard errors.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import sqlalchemy as sa
from playbooks_testkit import segment_run, write

from effects_kit import BASE_RATE, T0, order_row, orders_after
from kehu.config import load_settings
from kehu.errors import ValidationError
from kehu.playbooks.effects import revenue_effects, rule_effects
from kehu.service.workspace import Workspace
from kehu.store import schema
from test_cli import kehu

FIRE_DAY = dt.date(2026, 6, 1)
FIRE_NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
pytestmark = pytest.mark.slow  # 4,500 customers through a real run, and the CLI in subprocesses

PER_RULE = 1500
RATES = {"up": 0.6, "flat": BASE_RATE, "down": 0.2}  # purchase rate of the acted-on customers
SEGMENTS = {"up": "important_value", "flat": "important_develop", "down": "important_keep"}
PLAYBOOK = """
playbook: sim
quiet_hours: null
rules:
""" + "".join(
    f"""  - id: {rule}
    holdout: 0.3
    when: {{entered: {{segment: "rfm_cn:{segment}"}}}}
    then: [{{tag: {{add: [sim_{rule}]}}}}]
"""
    for rule, segment in SEGMENTS.items()
)


def _simulate(ws: Workspace, tmp_path: Path) -> dict[str, dict[int, str]]:
    """Customers, their history, the firing day's run and the orders after it; returns rule -> customer -> fate."""
    ids = list(range(1, 3 * PER_RULE + 1))
    # two thirds bought 20 days before the firing (active), the others 200 days before (lapsed)
    history = [order_row(f"before-{c}", c, FIRE_DAY - dt.timedelta(days=20 if c % 3 else 200), 8_000) for c in ids]
    with ws.engine.begin() as conn:
        conn.execute(sa.insert(schema.customers), [{"id": c, "name": f"客户{c}", "created_at": T0, "updated_at": T0}
                                                  for c in ids])  # fmt: skip
        conn.execute(sa.insert(schema.orders), history)
    rules = list(SEGMENTS)
    segment_run(ws.engine, "rfm_cn", FIRE_DAY, {c: SEGMENTS[rules[(c - 1) // PER_RULE]] for c in ids})
    f = write(tmp_path, "sim.yaml", PLAYBOOK)
    ran = ws.system().playbooks.run([f], now=FIRE_NOW, day=FIRE_DAY)
    assert {r["rule"]: r["fired"] for r in ran["rules"]} == {f"sim/{r}": PER_RULE for r in rules}
    with ws.engine.connect() as conn:
        fates: dict[str, dict[int, str]] = {}
        for rule, cid, fate in conn.execute(sa.text("SELECT rule, customer_id, fate FROM playbook_firings")):
            fates.setdefault(rule, {})[int(cid)] = fate
    after = orders_after(fates, RATES, FIRE_DAY, seed=20261207)
    after.append(order_row("last", 1, FIRE_DAY + dt.timedelta(days=75), 5_000))  # the data run to 75 days after
    with ws.engine.begin() as conn:
        conn.execute(sa.insert(schema.orders), after)
    return fates


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, dict[str, dict[int, str]]]]:
    """One simulated store for the module's tests (they only read it)."""
    tmp_path = tmp_path_factory.mktemp("effects")
    ws = Workspace(load_settings(home=tmp_path / "home"))
    ws.init()
    yield ws, _simulate(ws, tmp_path)
    ws.close()


def test_effects_json_gives_the_known_verdicts(simulated: tuple[Workspace, dict[str, dict[int, str]]]) -> None:
    ws, fates = simulated
    out = kehu(ws.settings.home, "playbooks", "effects", "--since", "2026-05-01", "--until", "2026-06-30", "--json")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["as_of"] == "2026-08-15" and d["horizon_days"] == 60 and d["window"]["measurable_until"] == "2026-06-16"
    by_rule = {r["ref"]: r for r in d["rules"]}
    assert {ref: r["verdict"] for ref, r in by_rule.items()} == {
        "sim/up": "positive", "sim/flat": "none", "sim/down": "negative"}  # fmt: skip
    assert d["flagged"] == ["sim/down", "sim/flat"]
    for rule, arms in fates.items():
        r = by_rule[f"sim/{rule}"]
        held = sum(f == "held_out" for f in arms.values())
        assert r["arms"]["held_out"]["customers"] == held == r["fired_customers"]["held_out"]
        assert r["arms"]["treated"]["customers"] == PER_RULE - held and r["pending"] == 0
        assert abs(held - 0.3 * PER_RULE) <= 15  # 15 blocks of 100 ids, each exactly 30 held out
        rev = r["uplift"]["revenue_per_customer"]
        true_diff = (RATES[rule] - BASE_RATE) * 10_000 * np.exp(0.3**2 / 2)
        assert rev["low"] < true_diff < rev["high"]
        assert r["uplift"]["repurchase"]["low"] < RATES[rule] - BASE_RATE < r["uplift"]["repurchase"]["high"]
        assert r["uplift"]["win_back"]["treated_n"] + r["uplift"]["retention"]["treated_n"] == PER_RULE - held
        assert r["holdout"] == 0.3 or r["in_workspace"] is False
        assert r["says"]["zh-CN"] and r["says"]["en"]
    assert "有效" in by_rule["sim/up"]["says"]["zh-CN"] and "No measurable effect" in by_rule["sim/flat"]["says"]["en"]
    text = kehu(ws.settings.home, "playbooks", "effects", "--lang", "en")
    assert text.returncode == 0 and "sim/down" in text.stdout and "FLAGGED" in text.stdout


def test_a_window_before_the_horizon_ends_is_pending(simulated: tuple[Workspace, dict[str, dict[int, str]]]) -> None:
    ws, _ = simulated
    d = ws.system().playbooks.effects(horizon=90)  # 90 days after June 1 is past the data's as-of day
    assert all(r["pending"] == PER_RULE and r["verdict"] == "too_few" for r in d["rules"])
    assert all(r["arms"]["treated"]["customers"] == 0 for r in d["rules"])
    assert "90" in d["rules"][0]["says"]["zh-CN"]
    assert ws.system().playbooks.effects(since=dt.date(2026, 7, 1))["rules"] == []


def test_the_ranking_reads_the_revenue_effect_per_rule(simulated: tuple[Workspace, dict[str, dict[int, str]]]) -> None:
    ws, _ = simulated
    with ws.engine.connect() as conn:
        est = revenue_effects(conn, tz=ZoneInfo(ws.settings.timezone), horizon_days=60)
        full = rule_effects(conn, tz=ZoneInfo(ws.settings.timezone), horizon_days=60)
    assert est["sim/up"].significant and est["sim/up"].low > 0  # type: ignore[operator]
    assert est["sim/down"].significant and est["sim/down"].high < 0  # type: ignore[operator]
    assert not est["sim/flat"].significant
    assert est["sim/up"].difference == next(r for r in full["rules"] if r["ref"] == "sim/up")["uplift"][
        "revenue_per_customer"]["difference"]  # fmt: skip


def test_bad_windows_are_refused(simulated: tuple[Workspace, dict[str, dict[int, str]]]) -> None:
    ws, _ = simulated
    out = kehu(ws.settings.home, "playbooks", "effects", "--since", "2026-07-01", "--until", "2026-06-01")
    assert out.returncode != 0 and "--since" in out.stderr
    with pytest.raises(ValidationError, match="horizon 0 days"):
        ws.system().playbooks.effects(horizon=0)
