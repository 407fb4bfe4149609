"""Acceptance (issue 17): one coherent story per customer on the seeded, trained golden demo company.

1. Every scored customer is scanned for figures that would contradict each other without a stated definition: a
   high purchase-churn risk next to P(alive) > 0.9 and a purchase in the last 30 days, and a non-renewal risk next
   to a renewal probability. The renewal probability must be 1 - the non-renewal risk; the pages (HTML) and their
   JSON twins of those customers must name each figure's kind and give its definition.
2. Every customer with at least one order has a purchase-churn risk or a win-back figure, and the customers of the
   RFM segment 不能失去 (cant_lose_them) all appear in the at-risk or the 待挽回 view.
"""

from __future__ import annotations

import html
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from golden_kit import PASSWORD, build
from kehu.config import load_settings
from kehu.store.published import customer_scores
from kehu.web.i18n import Translator

pytest.importorskip("lightgbm")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[int, dict[str, Any]]]]:
    """The golden demo company (600 customers, seed 11, trained and run), an admin's client and every customer's
    published scores and features."""
    from fastapi.testclient import TestClient

    from kehu.web.app import create_app

    home = tmp_path_factory.mktemp("story") / "home"
    build(home)
    settings = load_settings(home=home)
    app = create_app(settings)
    with TestClient(app) as client:
        client.get("/login")
        form = {"name": "admin", "password": PASSWORD, "csrf_token": client.cookies["kehu_login_csrf"]}
        r = client.post("/login", data=form, follow_redirects=False)
        assert r.status_code == 303, r.text
        c = customer_scores.c
        from kehu.store.db import create_store_engine

        engine = create_store_engine(settings.resolved_database_url)
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(c.customer_id, c.scores, c.orders, c.days_since_last_order, c.overdue_ratio)
            ).all()
        engine.dispose()
        customers = {
            int(cid): {"scores": json.loads(s) if isinstance(s, str) else (s or {}), "orders": orders or 0,
                       "days_since_last_order": dslo, "overdue_ratio": overdue}
            for cid, s, orders, dslo, overdue in rows
        }  # fmt: skip
        yield client, customers


def _named(client: Any, cid: int, kinds: set[str]) -> None:
    """The customer's JSON twin and page both name every figure of ``kinds`` with its definition."""
    twin = client.get(f"/customers/{cid}.json")
    assert twin.status_code == 200
    figures = {f["kind"]: f for f in twin.json()["figures"]}
    page = html.unescape(client.get(f"/customers/{cid}").text)
    t = Translator("zh-CN")
    for kind in kinds:
        assert kind in figures, (cid, kind, sorted(figures))
        assert figures[kind]["label"] and figures[kind]["definition"], (cid, kind)
        label = t(f"figure.{kind}")
        assert label in page, (cid, kind, label)
        assert figures[kind]["definition"] in page, (cid, kind)  # the twin and the page are both zh-CN here


def test_no_figures_contradict_without_a_stated_definition(demo: tuple[Any, dict[int, dict[str, Any]]]) -> None:
    client, customers = demo
    scored = {cid: c for cid, c in customers.items() if c["scores"].get("churn_risk") is not None}
    assert len(scored) > 100
    active_high = [
        cid for cid, c in scored.items()
        if c["scores"].get("churn_tier") == "high" and (c["scores"].get("p_alive") or 0) > 0.9
        and c["days_since_last_order"] is not None and c["days_since_last_order"] <= 30
    ]  # fmt: skip
    renewal = {cid: c for cid, c in customers.items() if c["scores"].get("renewal_risk") is not None}
    assert renewal, "the demo has contracts up for renewal"
    for cid, c in renewal.items():
        s = c["scores"]
        # one renewal probability per contract customer: the model's, the complement of its risk
        assert s["renewal_probability"] == pytest.approx(1 - s["renewal_risk"], abs=1e-6), cid
        if s["renewal_state"] in ("renewed", "draft"):
            assert s["renewal_risk"] == 0 and s["renewal_tier"] == "low", cid
    for cid in active_high:
        _named(client, cid, {"purchase_churn", "activity"})
    for cid, c in renewal.items():
        kinds = {"contract_non_renewal", "renewal_probability"}
        if c["scores"].get("cohort_renewal_rate") is not None:
            kinds.add("cohort_renewal_baseline")
        if c["scores"].get("churn_risk") is not None:
            kinds.add("purchase_churn")
        _named(client, cid, kinds)


def test_recent_buyers_are_inactive_only_by_a_published_figure(demo: tuple[Any, dict[int, dict[str, Any]]]) -> None:
    """The cross segments' 低活跃 side (lifecycle at risk, dormant, lost) holds a customer who ordered in the last 30
    days only when a figure the page shows says so: a high published risk, or purchases overdue."""
    client, customers = demo
    inactive = set()
    for key in ("high_value_inactive", "high_potential_inactive", "mid_value_inactive", "low_value_churn_risk"):
        inactive |= _listed(client, f"segment=cross:{key}")
    assert inactive
    for cid in inactive:
        c = customers[cid]
        if c["days_since_last_order"] is None or c["days_since_last_order"] > 30:
            continue
        s = c["scores"]
        why = [(s.get("churn_risk") or 0) >= 0.6, (s.get("renewal_risk") or 0) >= 0.6, (c["overdue_ratio"] or 0) >= 2]
        assert any(why), (cid, s.get("churn_risk"), s.get("renewal_risk"), s.get("renewal_state"))


def test_every_buyer_has_a_risk_or_a_winback_figure(demo: tuple[Any, dict[int, dict[str, Any]]]) -> None:
    _client, customers = demo
    buyers = {cid: c for cid, c in customers.items() if c["orders"] >= 1}
    missing = [cid for cid, c in buyers.items()
               if c["scores"].get("churn_risk") is None and c["scores"].get("winback") is None]  # fmt: skip
    assert not missing, missing[:20]
    both = [cid for cid, c in buyers.items()
            if c["scores"].get("churn_risk") is not None and c["scores"].get("winback") is not None]  # fmt: skip
    assert not both, both[:20]  # a buyer is either recent (a risk) or lapsed (win-back), never both


def test_cant_lose_them_customers_are_in_the_at_risk_or_winback_view(
    demo: tuple[Any, dict[int, dict[str, Any]]],
) -> None:
    client, customers = demo
    members = _segment_members(client, "rfm_en", "cant_lose_them")
    assert members, "the demo has 不能失去 customers"
    at_risk = _listed(client, "risk=high") | _listed(client, "risk_kind=renewal&risk=high")
    winback = _listed(client, "risk_kind=winback&sort=winback&desc=1")
    left_out = [cid for cid in members if cid not in at_risk | winback]
    assert not left_out, [(cid, customers[cid]["scores"].get("churn_risk")) for cid in left_out]
    page = client.get("/dashboard").text
    assert "待挽回" in page


def _segment_members(client: Any, scheme: str, segment: str) -> set[int]:
    return _listed(client, f"segment={scheme}:{segment}")


def _listed(client: Any, query: str) -> set[int]:
    """Every customer of the list narrowed by ``query``, page by page."""
    ids: set[int] = set()
    url: str | None = f"/customers.json?{query}&limit=100"
    while url is not None:
        r = client.get(url)
        assert r.status_code == 200, (url, r.text[:300])
        body = r.json()
        ids |= {int(c["id"]) for c in body["customers"]}
        url = f"/customers.json?{query}&limit=100&after={body['next']}" if body["next"] else None
    return ids
