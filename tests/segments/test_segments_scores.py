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


def test_profile_takes_only_numbers_from_the_scores_even_from_a_document_with_nan(tmp_path: Any) -> None:
    """Text, booleans and nulls are no score; a document holding a NaN (which SQLite's JSON functions cannot
    parse) is decoded in Python and gives its numbers all the same."""
    import math

    import sqlalchemy as sa

    from kehu.store.published import customer_score_history as h

    store = make_store(load_settings(home=tmp_path / "home"))
    rows = random_profile(6, range(1, 6), DAY)
    publish_profile(store, rows, DAY, {r["customer_id"]: {"p_alive": 0.5} for r in rows})
    documents = {
        1: '{"p_alive": 0.25, "clv_12m": 12, "churn_risk": "n/a", "winback": true, "renewal_risk": null}',
        2: '{"p_alive": NaN, "clv_12m": 3.5, "churn_risk": "high", "winback": false}',
        3: "null",
        4: '{"p_alive": 1, "reasons": {"churn_risk": 0.9}}',
    }
    with store.begin() as conn:
        for cid, text in documents.items():
            conn.exec_driver_sql("UPDATE customer_score_history SET scores = ? WHERE customer_id = ?", (text, cid))
        conn.execute(sa.update(h).where(h.c.customer_id == 5).values(scores=None))
    with store.connect() as conn:
        profile = {r["customer_id"]: r for r in profile_arrow(conn, DAY).to_pylist()}
    store.dispose()
    assert {n: profile[1][n] for n in ("p_alive", "clv_12m", "churn_risk", "winback", "renewal_risk")} == {
        "p_alive": 0.25, "clv_12m": 12.0, "churn_risk": None, "winback": None, "renewal_risk": None}  # fmt: skip
    assert math.isnan(profile[2]["p_alive"]) and profile[2]["clv_12m"] == 3.5
    assert profile[2]["churn_risk"] is None and profile[2]["winback"] is None
    assert all(profile[c][n] is None for c in (3, 5) for n in SCORE_FIELDS)
    assert profile[4]["p_alive"] == 1.0 and profile[4]["churn_risk"] is None
