"""Roles and row-level access: the same rule on pages, their JSON twins, the API and exports."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select
from web_testkit import WebEnv, csrf_of

from kehu.store.schema import customers, users


def _owner_ids(web: WebEnv, *, team: str | None = None, user_id: int | None = None) -> set[int]:
    with web.ws.engine.connect() as conn:
        if user_id is not None:
            stmt = select(customers.c.id).where(customers.c.owner_id == user_id)
        else:
            stmt = select(customers.c.id).join(users, users.c.id == customers.c.owner_id).where(users.c.team == team)
        return set(conn.execute(stmt).scalars())


def _all_listed(client, url: str, **headers: str) -> list[dict]:
    rows: list[dict] = []
    params = {"limit": 100}
    while True:
        page = client.get(url, params=params, headers=headers).json()
        rows += page["customers"]
        if not page["next"]:
            return rows
        params = {"limit": 100, "after": page["next"]}


def _export_ids(client, query: str = "") -> list[int]:
    r = client.get("/customers/export.csv" + query)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    reader = csv.DictReader(io.StringIO(r.text.lstrip("\ufeff")))
    return [int(row["id"]) for row in reader]


def test_a_rep_sees_only_their_own_customers_everywhere(web: WebEnv) -> None:
    rep = web.login("rep_a")
    mine = _owner_ids(web, user_id=web.accounts["rep_a"].id)
    theirs = web.owned["rep_b"]
    assert mine and theirs not in mine

    # list (JSON twin and API), export
    assert {c["id"] for c in _all_listed(rep, "/customers.json")} == mine
    assert {c["id"] for c in _all_listed(web.client(), "/api/customers", **web.token("rep_a"))} == mine
    assert set(_export_ids(rep)) == mine
    # asking for another owner's customers by filter gives nothing, not their customers
    other_owner = web.accounts["rep_b"].id
    assert rep.get("/customers.json", params={"owner": other_owner}).json()["customers"] == []
    assert _export_ids(rep, f"?owner={other_owner}") == []

    # one customer: page, twin and API all refuse
    assert rep.get(f"/customers/{web.owned['rep_a']}").status_code == 200
    page = rep.get(f"/customers/{theirs}")
    assert page.status_code == 403
    with web.ws.engine.connect() as conn:
        their_phone = conn.execute(select(customers.c.phone).where(customers.c.id == theirs)).scalar_one()
    assert their_phone and their_phone not in page.text
    assert rep.get(f"/customers/{theirs}.json").status_code == 403
    api = web.client().get(f"/api/customers/{theirs}", headers=web.token("rep_a"))
    assert api.status_code == 403 and "error" in api.json()
    assert rep.get("/customers/999999.json").status_code == 404


def test_a_manager_sees_the_whole_team_and_nothing_else(web: WebEnv) -> None:
    manager = web.login("manager")
    team = _owner_ids(web, team=web.accounts["manager"].team)
    assert web.owned["rep_a"] in team and web.owned["rep_b"] in team
    assert {c["id"] for c in _all_listed(manager, "/customers.json")} == team
    assert manager.get(f"/customers/{web.owned['rep_b']}.json").status_code == 200
    assert manager.get(f"/customers/{web.owned['other_rep']}.json").status_code == 403
    assert set(_export_ids(manager)) == team
    dash = manager.get("/dashboard.json").json()
    assert dash["scope"] == "team" and dash["totals"]["customers"] == len(team)


def test_an_admin_sees_everyone(web: WebEnv) -> None:
    admin = web.login("admin")
    with web.ws.engine.connect() as conn:
        everyone = set(conn.execute(select(customers.c.id)).scalars())
    assert {c["id"] for c in _all_listed(admin, "/customers.json")} == everyone
    assert admin.get(f"/customers/{web.owned['other_rep']}.json").status_code == 200
    assert admin.get("/dashboard.json").json()["totals"]["customers"] == len(everyone)


def test_reps_cannot_manage_users_or_import(web: WebEnv) -> None:
    rep = web.login("rep_a")
    listed = rep.get("/users.json").json()
    assert [u["id"] for u in listed["users"]] == [web.accounts["rep_a"].id] and listed["can_edit"] is False
    page = rep.get("/users").text
    r = rep.post("/users", data={"csrf_token": csrf_of(page), "name": "mine", "role": "admin", "password": "x" * 10})
    assert r.status_code == 403
    assert all(u["name"] != "mine" for u in web.ws.system().users.all())
    assert rep.get("/imports").status_code == 403
    assert web.client().get("/api/imports", headers=web.token("rep_a")).status_code == 403
    r = web.client().post(
        "/api/users", json={"name": "mine", "role": "admin", "password": "x" * 10}, headers=web.token("manager")
    )
    assert r.status_code == 403


def test_managers_see_their_team_in_users(web: WebEnv) -> None:
    manager = web.login("manager")
    rows = manager.get("/users.json").json()["users"]
    assert {u["team"] for u in rows} == {web.accounts["manager"].team}
