"""Rule fields on model scores are exactly the published figures: no stand-in for a missing score, the same
members in the engine and in the store's SQL, and the missing count the rule editor reports."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow.compute as pc
from segments_testkit import make_store, publish_profile, random_profile

from kehu.config import load_settings
from kehu.segments.fields import PROFILE_FIELDS, SCORE_FIELDS
from kehu.segments.profile import profile_arrow, score_coverage, store_members
from kehu.segments.rules import parse_rule

DAY = dt.date(2025, 6, 30)


def _scores(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Every buyer has P(alive); only every third a purchase-churn risk, every fifth a non-renewal risk."""
    out: dict[int, dict[str, Any]] = {}
    for r in rows:
        cid = r["customer_id"]
        if not r["orders"]:
            continue
        s: dict[str, Any] = {"p_alive": (cid % 10) / 10, "clv_12m": float(cid)}
        if cid % 3 == 0:
            s["churn_risk"] = (cid % 7) / 7
        else:
            s.update(churn_risk=None, winback=(cid % 4) / 4, winback_value=100.0 * cid)
        if cid % 5 == 0:
            s["renewal_risk"] = (cid % 9) / 9
        out[cid] = s
    return out


def test_score_fields_are_the_published_figures_and_missing_stays_missing(tmp_path: Any) -> None:
    settings = load_settings(home=tmp_path / "home")
    store = make_store(settings)
    rows = random_profile(5, range(1, 301), DAY)
    scores = _scores(rows)
    publish_profile(store, rows, DAY, scores)
    assert set(SCORE_FIELDS) >= {"churn_risk", "renewal_risk", "winback", "winback_value"}
    with store.connect() as conn:
        profile = profile_arrow(conn, DAY)
        ids = profile.column("customer_id").to_pylist()
        for name in SCORE_FIELDS:
            expected = [scores.get(cid, {}).get(name) for cid in ids]
            assert profile.column(name).to_pylist() == expected, name
        for rule_data, name in (
            ({"field": "churn_risk", "ge": 0.5}, "churn_risk"),
            ({"field": "renewal_risk", "ge": 0.5}, "renewal_risk"),
            ({"field": "winback", "ge": 0.5}, "winback"),
        ):
            rule = parse_rule(rule_data, catalog=PROFILE_FIELDS, where="test")
            want = sorted(cid for cid, s in scores.items() if s.get(name) is not None and s[name] >= 0.5)
            assert store_members(conn, rule, DAY) == want, name
            # a customer with a low P(alive) and no published risk is not matched through 1 - P(alive)
            assert all(scores[c].get(name) is not None for c in want)
        # the rule editor's count of customers without the figure
        coverage = score_coverage(conn, DAY, {"churn_risk", "winback", "orders"})
        n = len(ids)
        for name in ("churn_risk", "winback"):
            have = int(pc.sum(pc.is_valid(profile.column(name))).as_py())
            assert coverage[name] == {"published": have, "missing": n - have}
        assert set(coverage) == {"churn_risk", "winback"}
    store.dispose()
