"""Hostile input: markup in customer data renders inert, SQL fragments in filters are only text."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from web_testkit import IMG_COMPANY, SCRIPT_NAME, WebEnv

from kehu.store.schema import customers, users


def _assert_inert(html: str) -> None:
    assert SCRIPT_NAME not in html
    assert "<script>alert" not in html
    assert "<img src=x" not in html and "<b>vip</b>" not in html


def test_markup_in_customer_data_renders_inert_everywhere(web: WebEnv) -> None:
    c = web.login("rep_a")
    cid = web.script_customer
    pages = [
        c.get(f"/customers/{cid}").text,
        c.get("/customers", params={"q": "<script>"}).text,
        c.get("/customers", params={"sort": "id", "desc": 1}).text,
        c.get("/customers", params={"tag": "<b>vip</b>"}).text,
    ]
    for html in pages:
        _assert_inert(html)
        assert "&lt;script&gt;alert(" in html  # shown as text, not dropped
    assert "&lt;b&gt;vip&lt;/b&gt;" in pages[0]
    # JSON twins carry the value as data with a JSON content type
    r = c.get(f"/customers/{cid}.json")
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["profile"]["name"] == SCRIPT_NAME and r.json()["profile"]["company"] == IMG_COMPANY
    # CSV export: the text is kept as text
    assert SCRIPT_NAME in c.get("/customers/export.csv").text


def test_markup_in_user_names_renders_inert(web: WebEnv) -> None:
    from kehu.service import access

    access.create_user(web.ws, "evil", role="rep", display_name="<script>alert(2)</script>", password="x" * 10)
    html = web.login("admin").get("/users").text
    assert "<script>alert(2)" not in html and "&lt;script&gt;alert(2)" in html


def test_pages_send_a_strict_content_security_policy(web: WebEnv) -> None:
    r = web.login("admin").get("/dashboard")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
    # the page itself has no inline script: chart data travels as an inert JSON block
    body = r.text
    for chunk in body.split("<script")[1:]:
        head = chunk.split(">", 1)[0]
        assert "src=" in head or 'type="application/json"' in head


@pytest.mark.parametrize(
    "params",
    [
        {"q": "' OR 1=1 --"},
        {"q": "%"},
        {"q": "_"},
        {"q": "1' OR '1'='1"},
        {"region": "x' OR '1'='1"},
        {"region": "%"},
        {"tag": "%"},
        {"tag": '"; DROP TABLE customers; --'},
        {"tag": "_"},
        {"q": "a@b.c' UNION SELECT password_hash, 1 FROM users --"},
    ],
)
def test_sql_fragments_in_filters_are_plain_text(web: WebEnv, params: dict[str, str]) -> None:
    c = web.login("admin")
    with web.ws.engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(customers)).scalar_one()
    r = c.get("/customers.json", params=params)
    assert r.status_code == 200
    assert r.json()["customers"] == []
    assert c.get("/customers", params=params).status_code == 200
    assert web.client().get("/api/customers", params=params, headers=web.token("admin")).json()["customers"] == []
    with web.ws.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(customers)).scalar_one() == before
        assert conn.execute(select(func.count()).select_from(users)).scalar_one() > 0


@pytest.mark.parametrize(
    "params",
    [{"sort": "id; DROP TABLE customers"}, {"owner": "1 OR 1=1"}, {"limit": "10; --"}, {"after": "'; --"}],
)
def test_malformed_parameters_are_refused_with_a_message(web: WebEnv, params: dict[str, str]) -> None:
    c = web.login("admin")
    r = c.get("/customers.json", params=params)
    assert r.status_code == 422 and r.json()["error"]
    assert c.get("/customers", params=params).status_code == 422
    assert web.client().get("/api/customers", params=params, headers=web.token("admin")).status_code == 422
