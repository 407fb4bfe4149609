"""The at-risk views read the named published figures: the dashboard's at-risk list says which risk is high, the
待挽回 list ranks lapsed customers by value at stake x chance, and the customers list narrows to either kind."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "segments"))
from segments_testkit import make_store, publish_profile, random_profile

from kehu.config import load_settings
from kehu.publish.scores import write_scores
from kehu.store.customer_list import CustomerFilter, count_customers, list_customers, risk_tier_sizes
from kehu.store.dashboard import DEFAULT_RISK_DAYS, at_risk_customers, risk_days, winback_customers

DAY = dt.date(2025, 6, 30)


def _scores(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for r in rows:
        cid = r["customer_id"]
        if not r["orders"]:
            continue
        s: dict[str, Any] = {"clv_12m": float(cid), "p_alive": 0.9}
        if r["days_since_last_order"] <= 180:
            risk = (cid % 10) / 10
            s.update(churn_risk=risk, churn_tier="high" if risk >= 0.5 else "low", winback=None, winback_value=None)
        else:
            s.update(churn_risk=None, churn_tier=None, winback=(cid % 5) / 5 + 0.1, winback_value=1000.0 + cid % 7)
        if cid % 4 == 0:
            s.update(renewal_risk=(cid % 3) / 3, renewal_tier="high" if cid % 3 == 2 else "low")
        out[cid] = s
    return out


def test_risk_lists_name_the_kind_and_rank_winback_by_value_times_chance(tmp_path: Path) -> None:
    store = make_store(load_settings(home=tmp_path / "home"))
    rows = random_profile(7, range(1, 401), DAY)
    scores = _scores(rows)
    publish_profile(store, rows, DAY)
    with store.connect() as conn:
        assert risk_days(conn) == DEFAULT_RISK_DAYS  # nothing scored yet
    for s in scores.values():
        s["risk_days"] = {"horizon": 60, "grace": 14, "lapsed": 120}
    with store.begin() as conn:
        write_scores(conn, DAY, scores)
    with store.connect() as conn:
        assert risk_days(conn) == {"horizon": 60, "grace": 14, "lapsed": 120}
        at_risk = at_risk_customers(conn, None, limit=400)
        flagged = {c for c, s in scores.items() if "high" in (s.get("churn_tier"), s.get("renewal_tier"))}
        assert {r["id"] for r in at_risk} == flagged
        for r in at_risk:
            s = scores[r["id"]]
            assert r["kinds"] == [k for k, t in (("purchase", "churn_tier"), ("renewal", "renewal_tier"))
                                  if s.get(t) == "high"]  # fmt: skip
        lapsed = winback_customers(conn, None, limit=400)
        expected = sorted(
            (c for c, s in scores.items() if s.get("winback") is not None),
            key=lambda c: (-scores[c]["winback"] * scores[c]["winback_value"], c),
        )
        assert [r["id"] for r in lapsed] == expected
        assert all(float(r["winback_expected"]) == round(r["winback"] * float(r["winback_value"]), 2) for r in lapsed)
        # the customers list narrowed to 待挽回, sorted by value x chance; and to a high non-renewal risk
        page = list_customers(conn, CustomerFilter(risk_kind="winback"), sort="winback", descending=True, limit=500)
        by_list = sorted(expected, key=lambda c: (-scores[c]["winback"] * scores[c]["winback_value"], -c))
        assert [r["id"] for r in page.rows] == by_list  # a descending list breaks ties by id descending
        assert count_customers(conn, CustomerFilter(risk_kind="winback"), bound=1000) == (len(expected), False)
        renewal_high = sorted(c for c, s in scores.items() if s.get("renewal_tier") == "high")
        flt = CustomerFilter(risk_kind="renewal", risk_tier="high")
        assert [r["id"] for r in list_customers(conn, flt, limit=500).rows] == renewal_high
        assert count_customers(conn, flt, bound=1000) == (len(renewal_high), False)
        assert risk_tier_sizes(conn, "renewal")["high"] == len(renewal_high)
        churn_high = sorted(c for c, s in scores.items() if s.get("churn_tier") == "high")
        assert [r["id"] for r in list_customers(conn, CustomerFilter(risk_tier="high"), limit=500).rows] == churn_high
    store.dispose()
