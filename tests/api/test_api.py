"""The REST API: resources, roles, errors and the OpenAPI schema."""

from __future__ import annotations

import csv
import io

from web_testkit import PASSWORD, WebEnv


def test_openapi_schema_lists_the_resources_with_bearer_auth(web: WebEnv) -> None:
    schema = web.client().get("/api/openapi.json").json()
    paths = set(schema["paths"])
    assert {"/api/me", "/api/customers", "/api/customers/{customer_id}", "/api/dashboard", "/api/imports",
            "/api/users", "/api/users/{user_id}/password"} <= paths  # fmt: skip
    assert not any(p.startswith("/customers") or p == "/login" for p in paths)  # pages are not API
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    # no interactive docs that would load assets from elsewhere
    assert web.client().get("/docs").status_code == 404


def test_customers_pages_and_one_customer(web: WebEnv) -> None:
    c, h = web.client(), web.token("rep_a")
    first = c.get("/api/customers", params={"limit": 20, "sort": "name"}, headers=h).json()
    assert set(first) == {"customers", "count", "count_is_lower_bound", "next", "prev"}
    assert all(r["owner_id"] == web.accounts["rep_a"].id for r in first["customers"])
    one = c.get(f"/api/customers/{first['customers'][0]['id']}", headers=h).json()
    assert one["id"] == first["customers"][0]["id"] and "orders" in one and "records" in one
    assert isinstance(one["orders"]["revenue"], str)  # money travels as an exact decimal string
    assert c.get("/api/customers/0", headers=h).status_code == 422
    assert c.get("/api/customers/99999999", headers=h).json() == {"error": "no customer with id 99999999"}


def test_admin_creates_users_and_resets_passwords(web: WebEnv) -> None:
    c, h = web.client(), web.token("admin")
    r = c.post(
        "/api/users", json={"name": "li.lei", "role": "rep", "team": "华北销售部", "password": "li-lei-pass"}, headers=h
    )
    assert r.status_code == 201 and r.json()["role"] == "rep" and "password" not in r.text
    uid = r.json()["id"]
    assert c.post("/api/users", json={"name": "x", "role": "boss"}, headers=h).status_code == 422
    assert c.post("/api/users", json={"name": "x", "role": "rep", "password": "short"}, headers=h).status_code == 422
    assert c.post(f"/api/users/{uid}/password", json={"password": "new-pass-123"}, headers=h).status_code == 204
    assert c.post("/api/users/999999/password", json={"password": "new-pass-123"}, headers=h).status_code == 404
    signed = web.client()
    signed.get("/login")
    form = {"name": "li.lei", "password": "new-pass-123", "csrf_token": signed.cookies["kehu_login_csrf"]}
    r = signed.post("/login", data=form, follow_redirects=False)
    assert r.status_code == 303
    assert PASSWORD not in c.get("/api/users", headers=h).text


def test_import_through_the_api(web: WebEnv) -> None:
    buf = io.StringIO()
    csv.writer(buf).writerows([["客户编号", "客户名称", "手机号"], ["A1", "张三", "13900000001"], ["", "无编号", "1"]])
    c, h = web.client(), web.token("admin")
    r = c.post("/api/imports", data={"kind": "customers", "source": "api"},
               files={"file": ("c.csv", buf.getvalue().encode("gb18030"), "text/csv")}, headers=h)  # fmt: skip
    assert r.status_code == 200, r.text
    summary = r.json()
    assert summary["read"] == 2 and summary["inserted"] == 1 and summary["quarantined"] == 1
    q = c.get(f"/api/imports/{summary['run_id']}/quarantine.csv", headers=h)
    assert q.status_code == 200 and "无编号" in q.text
    assert c.get(f"/api/imports/{summary['run_id']}/quarantine.csv", headers=web.token("rep_a")).status_code == 403
    bad = c.post("/api/imports", data={"kind": "customers", "source": "api"},
                 files={"file": ("c.csv", b"", "text/csv")}, headers=h)  # fmt: skip
    assert bad.status_code == 422 and "empty" in bad.json()["error"]


def test_dashboard_scope_follows_the_role(web: WebEnv) -> None:
    c = web.client()
    rep = c.get("/api/dashboard", headers=web.token("rep_a")).json()
    admin = c.get("/api/dashboard", headers=web.token("admin")).json()
    assert rep["scope"] == "own" and admin["scope"] == "all"
    assert 0 < rep["totals"]["customers"] < admin["totals"]["customers"]
