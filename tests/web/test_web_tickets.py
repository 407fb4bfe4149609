"""The tickets pages: list with filters and SLA state, detail, opening and changing tickets through CSRF forms,
each within the signed-in user's row-level scope; both languages; markup in names inert."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from web_testkit import SCRIPT_NAME, WebEnv, csrf_of

from kehu.store.care import satisfaction_followups
from kehu.store.schema import customers, tickets


def _ticket_ids(web: WebEnv, owner_id: int | None = None) -> set[int]:
    stmt = sa.select(tickets.c.id).join(customers, customers.c.id == tickets.c.customer_id)
    if owner_id is not None:
        stmt = stmt.where(customers.c.owner_id == owner_id)
    with web.ws.engine.connect() as conn:
        return set(conn.execute(stmt).scalars())


def _all_pages(client: object, url: str) -> list[dict]:
    items: list[dict] = []
    before = None
    while True:
        page = client.get(url + (f"&before={before}" if before else "")).json()  # type: ignore[attr-defined]
        items += page["tickets"]
        before = page["next_before"]
        if before is None:
            return items


def test_list_counts_filters_and_sla_state_for_an_admin(web: WebEnv) -> None:
    admin = web.login("admin")
    everything = _ticket_ids(web)
    assert everything, "the demo company has tickets"
    seen = _all_pages(admin, "/tickets.json?limit=100")
    assert {t["id"] for t in seen} == everything
    data = admin.get("/tickets.json").json()
    assert data["scope"] == "all" and data["total"] == len(everything)
    assert sum(data["counts"][s] for s in data["statuses"]) == len(everything)
    for status in ("open", "resolved"):
        part = admin.get("/tickets.json", params={"status": status, "limit": 500}).json()
        assert part["total"] == data["counts"][status] and all(t["status"] == status for t in part["tickets"])
    high = admin.get("/tickets.json", params={"priority": "high", "limit": 500}).json()
    assert all(t["priority"] == "high" for t in high["tickets"])
    topic = data["topics"][0]
    assert all(t["topic"] == topic for t in admin.get("/tickets.json", params={"topic": topic}).json()["tickets"])
    # SLA state: hours against the targets of the priority; breached tickets carry the kinds they missed
    for t in seen:
        sla = t["sla"]
        opened = dt.datetime.fromisoformat(t["opened_at"])
        if t["first_response_at"]:
            hours = (dt.datetime.fromisoformat(t["first_response_at"]) - opened).total_seconds() / 3600
            assert abs(sla["first_response_hours"] - hours) <= 0.05
            assert ("first_response" in sla["breached"]) == (hours > sla["first_response_target_hours"])
    breached = _all_pages(admin, "/tickets.json?breached=1&limit=100")
    assert len(breached) == data["counts"]["breached"] > 0
    assert all(t["sla"]["breached"] for t in breached if t["status"] in ("open", "in_progress"))
    assert {t["id"] for t in seen if t["sla"]["breached"] and t["status"] in ("open", "in_progress")} <= {
        t["id"] for t in breached
    }


def test_pages_in_both_languages(web: WebEnv) -> None:
    admin = web.login("admin")
    zh = admin.get("/tickets", headers={"Accept-Language": "zh-CN"}).text
    assert "工单" in zh and "SLA 超时" in zh and 'id="tickets-table"' in zh
    admin.post("/account/locale", data={"locale": "en", "csrf_token": csrf_of(zh), "next": "/tickets"})
    en = admin.get("/tickets").text
    assert "Tickets" in en and "SLA breached" in en and "工单" not in en
    tid = admin.get("/tickets.json").json()["tickets"][0]["id"]
    page = admin.get(f"/tickets/{tid}").text
    assert "Record first response" in page or "Resolution (h)" in page


def test_a_rep_sees_and_changes_only_own_customers_tickets(web: WebEnv) -> None:
    rep = web.login("rep_a")
    me = web.accounts["rep_a"].id
    mine = _ticket_ids(web, me)
    data = rep.get("/tickets.json?limit=500").json()
    assert data["scope"] == "own" and data["owners"] == []
    assert {t["id"] for t in data["tickets"]} == mine and all(t["owner_id"] == me for t in data["tickets"])
    others = _ticket_ids(web, web.accounts["other_rep"].id)
    assert others
    theirs = min(others)
    assert rep.get(f"/tickets/{theirs}").status_code == 403
    assert rep.get(f"/tickets/{theirs}.json").status_code == 403
    page = rep.get("/tickets").text
    before = web.ws.system().tickets.get(theirs)
    r = rep.post(f"/tickets/{theirs}", data={"csrf_token": csrf_of(page), "action": "resolve"})
    assert r.status_code == 403
    after = web.ws.system().tickets.get(theirs)
    assert (after["status"], after["resolved_at"], after["updated_at"]) == (
        before["status"], before["resolved_at"], before["updated_at"])  # fmt: skip
    other_customer = web.owned["other_rep"]
    r = rep.post("/tickets", data={"csrf_token": csrf_of(page), "customer_id": str(other_customer), "topic": "x"})
    assert r.status_code == 403
    assert rep.get("/tickets.json", params={"owner": web.accounts["rep_b"].id}).status_code == 403
    # a manager sees the team's tickets, not the other team's
    manager = web.login("manager")
    team = manager.get("/tickets.json?limit=500").json()
    assert team["scope"] == "team" and mine <= {t["id"] for t in team["tickets"]}
    assert not others & {t["id"] for t in team["tickets"]}
    assert manager.get(f"/tickets/{theirs}").status_code == 403


def test_open_respond_resolve_and_rate_through_forms(web: WebEnv) -> None:
    rep = web.login("rep_a")
    page = rep.get("/tickets").text
    customer = web.owned["rep_a"]
    form = {"csrf_token": csrf_of(page), "customer_id": str(customer), "topic": "退款", "priority": "high",
            "complaint": "1", "note": "客户要求退款"}  # fmt: skip
    r = rep.post("/tickets", data=form, follow_redirects=False)
    assert r.status_code == 303
    tid = int(r.headers["location"].rsplit("/", 1)[1])
    created = web.ws.system().tickets.get(tid)
    assert created["customer_id"] == customer and created["priority"] == "high" and created["is_complaint"]
    assert created["assignee"] == web.accounts["rep_a"].name  # assigned to the customer's owner
    detail = rep.get(f"/tickets/{tid}", headers={"Accept-Language": "zh-CN"}).text
    assert f'href="/customers/{customer}"' in detail and "记录首次响应" in detail and "客户要求退款" in detail
    token = csrf_of(detail)
    assert rep.post(f"/tickets/{tid}", data={"csrf_token": token, "action": "respond"}).status_code == 200
    after = web.ws.system().tickets.get(tid)
    assert after["first_response_at"] is not None and after["status"] == "in_progress"
    r = rep.post(f"/tickets/{tid}", data={"csrf_token": token, "action": "save", "status": "resolved",
                                          "priority": "high", "assignee": "", "satisfaction": "5"})  # fmt: skip
    assert r.status_code == 200
    done = web.ws.system().tickets.get(tid)
    assert done["status"] == "resolved" and done["resolved_at"] is not None and done["satisfaction"] == 5
    with web.ws.engine.connect() as conn:  # a resolved complaint schedules its satisfaction follow-up
        assert (
            conn.execute(
                sa.select(satisfaction_followups.c.status).where(satisfaction_followups.c.ticket_id == tid)
            ).scalar_one()
            == "scheduled"
        )
    data = rep.get(f"/tickets/{tid}.json").json()
    assert data["followup"]["status"] == "scheduled" and data["sla"]["resolution_hours"] is not None
    assert [a["rule"] for a in data["assignments"]] == ["owner"]  # saving unchanged fields adds no assignment


def test_bad_input_is_shown_with_the_field(web: WebEnv) -> None:
    rep = web.login("rep_a")
    page = rep.get("/tickets").text
    r = rep.post("/tickets", data={"csrf_token": csrf_of(page), "customer_id": "abc", "topic": "x"})
    assert r.status_code == 422 and "customer_id" in r.text and 'id="ticket-error"' in r.text
    r = rep.get("/tickets.json", params={"status": "bogus"})
    assert r.status_code == 422 and "status" in r.json()["error"]
    tid = min(_ticket_ids(web, web.accounts["rep_a"].id))
    r = rep.post(f"/tickets/{tid}", data={"csrf_token": csrf_of(page), "action": "save", "satisfaction": "9"})
    assert r.status_code == 422 and "satisfaction" in r.text


def test_forms_without_the_csrf_token_are_refused(web: WebEnv) -> None:
    rep = web.login("rep_a")
    before = _ticket_ids(web)
    r = rep.post("/tickets", data={"customer_id": str(web.owned["rep_a"]), "topic": "x"})
    assert r.status_code == 403 and _ticket_ids(web) == before
    tid = min(_ticket_ids(web, web.accounts["rep_a"].id))
    status = web.ws.system().tickets.get(tid)["status"]
    r = rep.post(f"/tickets/{tid}", data={"csrf_token": "forged", "action": "resolve"})
    assert r.status_code == 403 and web.ws.system().tickets.get(tid)["status"] == status


def test_markup_in_customer_names_is_inert(web: WebEnv) -> None:
    rep = web.login("rep_a")
    page = rep.get("/tickets").text
    form = {"csrf_token": csrf_of(page), "customer_id": str(web.script_customer), "topic": "<b>x</b>"}
    tid = int(rep.post("/tickets", data=form, follow_redirects=False).headers["location"].rsplit("/", 1)[1])
    for html in (rep.get("/tickets").text, rep.get(f"/tickets/{tid}").text):
        assert SCRIPT_NAME not in html and "<script>alert" not in html and "<b>x</b>" not in html
        assert "&lt;script&gt;alert(" in html
