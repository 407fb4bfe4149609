"""The pages and their JSON twins: customers list (search, filters, sort, keyset pages), customer 360, dashboard,
imports, users and language."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from web_testkit import PASSWORD, WebEnv, csrf_of, start_previewed_import

from kehu.store import customer_list as store
from kehu.store.schema import customers, orders
from kehu.vocabulary import LOCALES
from kehu.web.i18n import Translator, catalog, flat_keys, negotiate


def _walk(client, params: dict) -> tuple[list[dict], list[str]]:
    rows, cursors = [], []
    page = client.get("/customers.json", params=params).json()
    while True:
        rows += page["customers"]
        if not page["next"]:
            return rows, cursors
        cursors.append(page["next"])
        page = client.get("/customers.json", params={**params, "after": page["next"]}).json()


@pytest.mark.parametrize(
    ("sort", "desc"), [("id", False), ("name", False), ("name", True), ("region", True), ("created", False)]
)
def test_keyset_pages_cover_every_customer_once_in_order(web: WebEnv, sort: str, desc: bool) -> None:
    c = web.login("admin")
    rows, _ = _walk(c, {"sort": sort, "desc": int(desc), "limit": 20})
    col = store.SORT_KEYS[sort]
    order = [col.desc(), customers.c.id.desc()] if desc else [col.asc(), customers.c.id.asc()]
    if sort == "id":
        order = order[-1:]
    with web.ws.engine.connect() as conn:
        expected = list(conn.execute(select(customers.c.id).order_by(*order)).scalars())
    assert [r["id"] for r in rows] == expected


def test_previous_page_returns_the_same_rows(web: WebEnv) -> None:
    c = web.login("admin")
    first = c.get("/customers.json", params={"sort": "name", "limit": 20}).json()
    second = c.get("/customers.json", params={"sort": "name", "limit": 20, "after": first["next"]}).json()
    third = c.get("/customers.json", params={"sort": "name", "limit": 20, "after": second["next"]}).json()
    back = c.get("/customers.json", params={"sort": "name", "limit": 20, "before": third["prev"]}).json()
    assert [r["id"] for r in back["customers"]] == [r["id"] for r in second["customers"]]
    assert first["prev"] is None and second["prev"] is not None
    # a cursor of one sort order is refused by another
    assert c.get("/customers.json", params={"sort": "id", "after": first["next"]}).status_code == 422


def test_search_by_name_phone_email_and_company_prefix(web: WebEnv) -> None:
    c = web.login("admin")
    with web.ws.engine.connect() as conn:
        name, phone, email = conn.execute(
            select(customers.c.name, customers.c.phone, customers.c.email)
            .where(customers.c.email.is_not(None), customers.c.phone.is_not(None))
            .order_by(customers.c.id)
        ).first()
        company = conn.execute(select(customers.c.company).where(customers.c.company.is_not(None))).scalar()
    cases = {name[:1]: "name", phone[:5]: "phone", email.split("@")[0]: "email", company[:4]: "company"}
    cases[email.split("@")[0] + "@"] = "email"
    for q, field in cases.items():
        found = c.get("/customers.json", params={"q": q, "limit": 100}).json()["customers"]
        assert found, q
        if field == "name":
            assert all((r["name"] or "").startswith(q) or (r["company"] or "").startswith(q) for r in found)
        elif field == "email":
            assert all((r["email"] or "").startswith(q) for r in found)
        elif field == "phone":
            assert all((r["phone"] or "").startswith(q) or (r["email"] or "").startswith(q) for r in found)
        else:
            assert all((r[field] or "").startswith(q) for r in found), q
    # phone numbers typed with separators are found too
    spaced = f"{phone[:3]}-{phone[3:7]}"
    assert c.get("/customers.json", params={"q": spaced}).json()["customers"]


def test_region_and_tag_filters(web: WebEnv) -> None:
    c = web.login("admin")
    data = c.get("/customers.json").json()
    region = data["choices"]["regions"][0]
    tag = "VIP"
    assert tag in data["choices"]["tags"]
    by_region, _ = _walk(c, {"region": region, "limit": 100})
    by_tag, _ = _walk(c, {"tag": tag, "limit": 100})
    with web.ws.engine.connect() as conn:
        n_region = conn.execute(select(func.count()).where(customers.c.region == region)).scalar_one()
        tagged = [t for (t,) in conn.execute(select(customers.c.tags)) if isinstance(t, list) and tag in t]
    assert len(by_region) == n_region and all(r["region"] == region for r in by_region)
    assert len(by_tag) == len(tagged) and all(tag in r["tags"] for r in by_tag)
    both = c.get("/customers.json", params={"region": region, "tag": tag, "limit": 100}).json()["customers"]
    assert all(r["region"] == region and tag in r["tags"] for r in both)


def test_count_is_bounded(web: WebEnv) -> None:
    with web.ws.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(customers)).scalar_one()
        assert store.count_customers(conn, store.CustomerFilter(), bound=total + 5) == (total, False)
        assert store.count_customers(conn, store.CustomerFilter(), bound=100) == (100, True)
    html = web.login("admin").get("/customers").text
    assert "customer-count" in html


def test_customer_360_shows_profile_activity_and_records(web: WebEnv) -> None:
    c = web.login("admin")
    with web.ws.engine.connect() as conn:
        cid, n, cents = conn.execute(
            select(orders.c.customer_id, func.count(), func.sum(orders.c.amount_cents))
            .where(orders.c.status.notin_(("refunded", "cancelled")))
            .group_by(orders.c.customer_id)
            .order_by(func.count().desc(), orders.c.customer_id)
        ).first()
    data = c.get(f"/customers/{cid}.json").json()
    assert data["orders"]["count"] == n and Decimal(data["orders"]["revenue"]) == Decimal(cents) / 100
    recent = data["orders"]["recent"]
    assert recent and [r["ordered_at"] for r in recent] == sorted((r["ordered_at"] for r in recent), reverse=True)
    assert data["records"] and data["records"][0]["source"]
    html = c.get(f"/customers/{cid}").text
    assert recent[0]["order_id"] in html
    assert Translator("zh-CN").money(Decimal(data["orders"]["revenue"])) in html
    assert data["profile"]["name"] in html


def test_customer_360_shows_published_features(web: WebEnv) -> None:
    from kehu.store.published import customer_scores

    cid = web.owned["rep_a"]
    with web.ws.engine.connect() as conn:
        row = conn.execute(select(customer_scores).where(customer_scores.c.customer_id == cid)).mappings().one()
    data = web.login("rep_a").get(f"/customers/{cid}.json").json()
    assert data["features"]["as_of"] == row["as_of"].isoformat()
    assert data["features"]["orders"] == row["orders"] and data["features"]["recency_days"] == row["recency_days"]
    assert data["scores"] == (row["scores"] or {})
    html = web.login("rep_a").get(f"/customers/{cid}").text
    assert "recency_days" in html


def test_dashboard_numbers_match_the_store(web: WebEnv) -> None:
    c = web.login("admin")
    data = c.get("/dashboard.json").json()
    with web.ws.engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(customers)).scalar_one()
        n_orders, cents = conn.execute(
            select(func.count(), func.sum(orders.c.amount_cents)).where(
                orders.c.status.notin_(("refunded", "cancelled"))
            )
        ).one()
    totals = data["totals"]
    assert (totals["customers"], totals["orders"]) == (n, n_orders)
    assert Decimal(totals["revenue"]) == Decimal(cents) / 100 and totals["revenue"].endswith(".00")
    months = data["revenue_by_month"]
    assert months and [m["month"] for m in months] == sorted(m["month"] for m in months)
    assert sum(Decimal(m["revenue"]) for m in months) <= Decimal(cents) / 100
    assert data["customers_by_region"][0]["customers"] >= data["customers_by_region"][-1]["customers"]
    html = c.get("/dashboard").text
    assert 'id="chart-revenue"' in html and Translator("zh-CN").number(n) in html


def _gbk_csv() -> bytes:
    rows = [
        ["客户编号", "客户名称", "手机号", "邮箱", "省份", "城市", "标签"],
        ["W0001", "欧阳䶮", "13800000001", "w1@example.com", "浙江省", "杭州市", "VIP"],
        ["W0002", "陈𠀾", "13800000002", "", "江苏省", "南京市", ""],
        ["", "没有编号", "13800000003", "", "江苏省", "南京市", ""],
        ["W0004", "坏邮箱", "13800000004", "not-an-email", "江苏省", "南京市", ""],
    ]
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode("gb18030")


def test_upload_a_gbk_csv_shows_the_summary_and_the_quarantine_file(web: WebEnv) -> None:
    c = web.login("manager")
    page = c.get("/imports").text
    r = c.post(
        "/imports",
        data={"csrf_token": csrf_of(page), "kind": "customers", "source": "weboffice"},
        files={"file": ("客户.csv", _gbk_csv(), "text/csv")},
    )
    assert r.status_code == 200, r.text[:500]
    assert 'id="mapping-table"' in r.text and "gb18030" in r.text and 'id="import-summary"' not in r.text
    job = start_previewed_import(c, r.text, source="weboffice")
    html = c.get(f"/imports/jobs/{job}").text
    assert 'id="import-summary"' in html and 'id="quarantine-link"' in html
    read = int(html.split('id="summary-read">')[1].split("<")[0])
    quarantined = int(html.split('id="summary-quarantined">')[1].split("<")[0])
    inserted = int(html.split('id="summary-inserted">')[1].split("<")[0])
    assert read == 4 and quarantined >= 1 and inserted + quarantined == read
    link = html.split('id="quarantine-link" href="')[1].split('"')[0]
    q = c.get(link)
    assert q.status_code == 200 and "没有编号" in q.text
    # the imported names kept their rare characters
    found = web.login("admin").get("/customers.json", params={"q": "欧阳"}).json()["customers"]
    assert [r["name"] for r in found] == ["欧阳䶮"]
    # listed in the history (JSON twin)
    runs = c.get("/imports.json").json()["runs"]
    assert runs[0]["source"] == "weboffice" and runs[0]["has_quarantine"] is True
    assert "quarantine_file" not in runs[0]  # server paths are not shown


def test_upload_refuses_unknown_kinds_and_odd_sources(web: WebEnv) -> None:
    c = web.login("admin")
    token = csrf_of(c.get("/imports").text)
    for fields in ({"kind": "secrets", "source": "x"}, {"kind": "customers", "source": "../../etc"}):
        r = c.post("/imports", data={"csrf_token": token, **fields}, files={"file": ("a.csv", b"x\n1\n", "text/csv")})
        assert r.status_code == 422


def test_admin_adds_a_user_who_can_then_sign_in(web: WebEnv) -> None:
    admin = web.login("admin")
    token = csrf_of(admin.get("/users").text)
    r = admin.post(
        "/users",
        data={
            "csrf_token": token,
            "name": "wang.fang",
            "role": "manager",
            "team": "华北销售部",
            "password": "manager-pass",
        },
    )
    assert r.status_code == 200
    user = next(u for u in admin.get("/users.json").json()["users"] if u["name"] == "wang.fang")
    assert user["role"] == "manager" and user["team"] == "华北销售部"
    c = web.client()
    c.get("/login")
    r = c.post(
        "/login",
        data={"name": "wang.fang", "password": "manager-pass", "csrf_token": c.cookies["kehu_login_csrf"]},
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = admin.post(f"/users/{user['id']}/password", data={"csrf_token": token, "password": "reset-by-admin"})
    assert r.status_code == 200
    assert c.get("/dashboard.json").status_code == 401  # the reset signed them out
    assert PASSWORD not in r.text


def test_both_catalogs_have_the_same_labels() -> None:
    keys = {loc: flat_keys(catalog(loc)) for loc in LOCALES}
    assert keys["zh-CN"] == keys["en"]
    assert len(keys["en"]) > 150


def test_language_follows_the_browser_then_the_user_choice(web: WebEnv) -> None:
    assert negotiate("en-US,en;q=0.9,zh-CN;q=0.5") == "en"
    assert negotiate("zh-TW,zh;q=0.9") == "zh-CN"
    assert negotiate("fr-FR, de;q=0.5") == "zh-CN"
    assert negotiate("zh;q=0, en;q=0.1") == "en"
    en = web.client(headers={"Accept-Language": "en-US,en;q=0.9"})
    assert "Sign in" in en.get("/login").text
    zh = web.client(headers={"Accept-Language": "zh-CN"})
    assert "登录" in zh.get("/login").text
    c = web.login("rep_a", web.client(headers={"Accept-Language": "en"}))
    assert "Customers" in c.get("/customers").text
    token = csrf_of(c.get("/customers").text)
    r = c.post(
        "/account/locale", data={"csrf_token": token, "locale": "zh-CN", "next": "/customers"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/customers"
    html = c.get("/customers").text
    assert "客户列表" in html and "Customers</h1>" not in html
    rep_a = next(u for u in web.ws.system().users.all() if u["id"] == web.accounts["rep_a"].id)
    assert rep_a["locale"] == "zh-CN"
    # the choice is the user's: a new browser session in English still gets Chinese after sign-in
    again = web.login("rep_a", web.client(headers={"Accept-Language": "en"}))
    assert "客户列表" in again.get("/customers").text


def test_numbers_dates_and_money_per_locale() -> None:
    import datetime as dt

    zh, en = Translator("zh-CN"), Translator("en")
    assert zh.money(Decimal("1234567.5")) == "¥1,234,567.50" and en.money(Decimal("1234567.5")) == "CN¥1,234,567.50"
    assert en.money(Decimal("-3"), "USD") == "-$3.00"
    when = dt.datetime(2026, 3, 31, 17, 5, tzinfo=dt.UTC)  # 2026-04-01 01:05 in Shanghai
    assert zh.date(when) == "2026年4月1日" and en.date(when) == "Apr 1, 2026"
    assert zh.datetime(when) == "2026年4月1日 01:05" and en.datetime(when) == "Apr 1, 2026 01:05"
    assert zh.month("2025-11") == "2025年11月" and en.month("2025-11") == "Nov 2025"
    assert zh.number(1234567) == en.number(1234567) == "1,234,567"
    # rounding is half up, whatever the input's type; money keeps the sign in front of the symbol
    assert zh.number(2.5) == "3" and zh.number(Decimal("0.125"), 2) == "0.13" and zh.number(-1234.5, 1) == "-1,234.5"
    assert zh.money(0.005) == "¥0.01" and zh.money(-1234) == "-¥1,234.00" and zh.money(Decimal("7.10")) == "¥7.10"
    assert en.money(Decimal("12"), "XYZ") == "XYZ 12.00"
    # dates are remembered per day, in the display time zone (a naive datetime is taken as local already)
    assert zh.date(when) == "2026年4月1日" and zh.date(dt.datetime(2026, 3, 31, 17, 5)) == "2026年3月31日"
    assert en.date(dt.date(2026, 12, 5)) == "Dec 5, 2026" and zh.date(None) == ""
