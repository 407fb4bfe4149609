"""Data with known playbook rule effects, for the tests of `kehu playbooks effects` and the "what works" page.

After a firing on ``day``, each customer buys in the next 60 days with probability 0.4 when held out, or with
the rule's rate when acted on, spending a lognormal amount (median ¥100, σ 0.3). :func:`orders_after` writes those
orders for firings already recorded; :func:`seed_rule_effects` records the firings too (new customers, each with one
earlier purchase, their arms drawn by the planner's own :func:`kehu.models.holdout.held_out`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import sqlalchemy as sa

from kehu.models.holdout import held_out
from kehu.store import schema
from kehu.store.actions import playbook_firings

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
BASE_RATE = 0.4  # purchase rate in the 60 days after the firing without the rule
SPAN = 60


def noon(day: dt.date) -> dt.datetime:
    """Noon in Shanghai, as UTC."""
    return dt.datetime(day.year, day.month, day.day, 4, tzinfo=dt.UTC)


def order_row(key: str, cid: int, day: dt.date, cents: int) -> dict[str, object]:
    return {"source": "sim", "order_id": key, "customer_id": cid, "row_hash": 0, "created_at": T0,
            "updated_at": T0, "ordered_at": noon(day), "amount_cents": cents, "currency": "CNY",
            "status": "completed"}  # fmt: skip


def orders_after(
    fates: Mapping[str, Mapping[int, str]], rates: Mapping[str, float], day: dt.date, *, seed: int
) -> list[dict[str, object]]:
    """Orders in the 60 days after ``day`` of the customers of each rule (``fates``: rule -> customer -> fate),
    bought at ``rates[rule]`` when acted on (any fate but ``held_out``: a task, a merge into an open one, the
    backlog or an automated action) and at :data:`BASE_RATE` when held out."""
    rng = np.random.default_rng(seed)
    rows = []
    for rule in sorted(fates):
        for cid, fate in sorted(fates[rule].items()):
            if rng.random() < (BASE_RATE if fate == "held_out" else rates[rule]):
                when = day + dt.timedelta(days=int(rng.integers(1, SPAN + 1)))
                cents = round(10_000 * rng.lognormal(0.0, 0.3))
                rows.append(order_row(f"after-{rule}-{cid}", cid, when, cents))
    return rows


def seed_rule_effects(
    engine: sa.Engine, rates: Mapping[str, float], day: dt.date, *, first_id: int, per_rule: int, share: float,
    seed: int,
) -> dict[str, dict[int, str]]:  # fmt: skip
    """New customers ``first_id`` … fired on ``day`` by the rules of ``rates`` (``per_rule`` each; refs
    ``playbook/rule``), held out at ``share``, with orders after; returns ref -> customer -> fate."""
    fates: dict[str, dict[int, str]] = {}
    customers, history, firings = [], [], []
    cid = first_id
    for ref in sorted(rates):
        playbook, _, rule = ref.partition("/")
        ids = list(range(cid, cid + per_rule))
        cid += per_rule
        held = held_out(ids, share=share, key=ref)
        fates[ref] = {c: "held_out" if c in held else "acted" for c in ids}
        for c in ids:
            customers.append({"id": c, "name": f"模拟客户{c}", "created_at": T0, "updated_at": T0})
            history.append(order_row(f"before-{c}", c, day - dt.timedelta(days=20 if c % 3 else 200), 8_000))
            firings.append({"playbook": playbook, "rule": rule, "customer_id": c, "occurrence": f"sim:{day}",
                            "day": day, "decided_at": noon(day), "fate": fates[ref][c],
                            "reason": {"trigger": "entered"}})  # fmt: skip
    with engine.begin() as conn:
        conn.execute(sa.insert(schema.customers), customers)
        conn.execute(sa.insert(schema.orders), history + orders_after(fates, rates, day, seed=seed))
        conn.execute(sa.insert(playbook_firings), firings)
    return fates
