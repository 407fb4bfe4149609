"""The REST API of the loop: KPIs and campaigns for managers, tickets within the user's scope."""

from __future__ import annotations

from web_testkit import WebEnv


def test_kpis_and_feedback_for_managers_only(web: WebEnv) -> None:
    c = web.client()
    k = c.get("/api/kpis", params={"period": "quarter"}, headers=web.token("manager"))
    assert k.status_code == 200 and k.json()["period"]["kind"] == "quarter"
    assert "retention_rate" in k.json()["kpis"] and isinstance(k.json()["leaderboard"], list)
    assert c.get("/api/kpis", headers=web.token("rep_a")).status_code == 403
    assert c.get("/api/kpis", params={"period": "decade"}, headers=web.token("admin")).status_code == 422
    f = c.get("/api/feedback", params={"periods": 2}, headers=web.token("admin")).json()
    assert len(f["trend"]) == 2
    assert c.get("/api/campaigns", headers=web.token("admin")).json() == []
    assert c.get("/api/campaigns/nope/results", headers=web.token("admin")).status_code == 404


def test_tickets_within_scope(web: WebEnv) -> None:
    c, h = web.client(), web.token("rep_a")
    mine, theirs = web.owned["rep_a"], web.owned["other_rep"]
    r = c.post("/api/tickets", json={"customer_id": mine, "topic": "退款", "priority": "high", "complaint": True},
               headers=h)  # fmt: skip
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["assignee"] == web.accounts["rep_a"].name  # the customer's owner
    assert c.post("/api/tickets", json={"customer_id": theirs}, headers=h).status_code == 403
    assert c.post("/api/tickets", json={"customer_id": mine, "priority": "asap"}, headers=h).status_code == 422
    done = c.patch(f"/api/tickets/{t['id']}", json={"respond": True, "resolve": True, "satisfaction": 4}, headers=h)
    assert done.status_code == 200 and done.json()["status"] == "resolved" and done.json()["satisfaction"] == 4
    other = c.post("/api/tickets", json={"customer_id": theirs}, headers=web.token("admin")).json()
    assert c.patch(f"/api/tickets/{other['id']}", json={"respond": True}, headers=h).status_code == 403
    assert c.patch("/api/tickets/99999999", json={}, headers=h).status_code == 404
    # reading: the list and one ticket, within the same scope as the pages
    listed = c.get("/api/tickets", params={"limit": 500}, headers=h).json()
    assert t["id"] in {x["id"] for x in listed["tickets"]} and other["id"] not in {x["id"] for x in listed["tickets"]}
    assert all(x["owner_id"] == web.accounts["rep_a"].id for x in listed["tickets"])
    one = c.get(f"/api/tickets/{t['id']}", headers=h).json()
    assert one["ticket"]["satisfaction"] == 4 and one["customer"]["id"] == mine and one["sla"]["resolution_hours"] >= 0
    assert c.get(f"/api/tickets/{other['id']}", headers=h).status_code == 403
    assert c.get("/api/tickets", params={"status": "bogus"}, headers=h).status_code == 422
    every = c.get("/api/tickets", params={"limit": 500}, headers=web.token("admin")).json()
    assert every["scope"] == "all" and every["total"] > listed["total"]
