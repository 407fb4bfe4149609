"""The customers list: segment, lifecycle-stage and churn-tier filters, sorting by published values (customers
without the value last), keyset pages across that boundary, the rep's scope, both languages, and hostile input.
The store functions also run on PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import delete, func, insert, select
from web_testkit import SCRIPT_NAME, WebEnv

from kehu.publish.scores import write_scores  # the one routine that merges model scores
from kehu.service.workspace import Workspace
from kehu.store import customer_list as store
from kehu.store.published import customer_scores, pipeline_runs
from kehu.store.schema import customers, users
from kehu.store.segments import run_ids, segment_definitions, segment_memberships, segment_runs

TIERS = ("high", "medium", "low")


def _walk(client: Any, params: dict[str, Any], path: str = "/customers.json") -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    page = client.get(path, params=params).json()
    while True:
        rows += page["customers"]
        if not page["next"]:
            return rows
        page = client.get(path, params={**params, "after": page["next"]}).json()


def _with_churn_scores(web: WebEnv) -> dict[int, tuple[float, str]]:
    """Churn risk and tier for two customers in three (written the way churn scoring writes them)."""
    with web.ws.engine.begin() as conn:
        as_of = conn.execute(select(func.max(customer_scores.c.as_of))).scalar_one()
        ids = sorted(conn.execute(select(customer_scores.c.customer_id)).scalars())
        scored = {}
        for i, cid in enumerate(ids):
            if i % 3 == 2:
                continue
            risk = round(((cid * 37) % 100) / 100, 2)  # ties on purpose: the id breaks them
            scored[cid] = (risk, TIERS[0] if risk >= 0.6 else TIERS[1] if risk >= 0.3 else TIERS[2])
        write_scores(conn, as_of, {cid: {"churn_risk": r, "churn_tier": t} for cid, (r, t) in scored.items()})
    return scored


def _newest(web: WebEnv, scheme: str) -> dict[int, str]:
    with web.ws.engine.connect() as conn:
        run = run_ids(conn)[scheme]
        m = segment_memberships
        return dict(conn.execute(select(m.c.customer_id, m.c.segment).where(m.c.run_id == run["id"])).all())


def _expected(values: dict[int, Any], every: list[int], desc: bool) -> list[int]:
    """Customers with a value by (value, id) in the direction asked, then those without one by id."""
    valued = sorted((cid for cid in every if values.get(cid) is not None), key=lambda c: (values[c], c), reverse=desc)
    return valued + sorted(cid for cid in every if values.get(cid) is None)


@pytest.mark.parametrize(
    ("sort", "desc"), [("value", True), ("value", False), ("risk", True), ("revenue", True), ("last_order", False)]
)
def test_sorting_by_published_values_lists_every_customer_once(web: WebEnv, sort: str, desc: bool) -> None:
    _with_churn_scores(web)
    column = {"value": "clv_12m", "risk": "churn_risk", "revenue": "total_revenue_cents", "last_order": "last_order_at"}
    with web.ws.engine.begin() as conn:  # a customer the pipeline has not published yet
        conn.execute(delete(customer_scores).where(customer_scores.c.customer_id == web.owned["rep_b"]))
        every = list(conn.execute(select(customers.c.id)).scalars())
        values = dict(conn.execute(select(customer_scores.c.customer_id, customer_scores.c[column[sort]])).all())
    assert web.owned["rep_b"] not in values
    rows = _walk(web.login("admin"), {"sort": sort, "desc": int(desc), "limit": 20})
    assert [r["id"] for r in rows] == _expected(values, every, desc)


def test_previous_pages_cross_back_from_customers_without_a_value(web: WebEnv) -> None:
    scored = _with_churn_scores(web)
    c = web.login("admin")
    pages = [c.get("/customers.json", params={"sort": "risk", "desc": 1, "limit": 20}).json()]
    while pages[-1]["next"]:
        pages.append(c.get("/customers.json", params={"sort": "risk", "desc": 1, "limit": 20,
                                                      "after": pages[-1]["next"]}).json())  # fmt: skip
    # going back from every page gives the page before it, including across the valued/unvalued boundary
    boundary = next(i for i, p in enumerate(pages) if any(r["id"] not in scored for r in p["customers"]))
    assert 0 < boundary < len(pages) - 1
    for i in range(len(pages) - 1, 0, -1):
        back = c.get("/customers.json", params={"sort": "risk", "desc": 1, "limit": 20, "before": pages[i]["prev"]})
        assert [r["id"] for r in back.json()["customers"]] == [r["id"] for r in pages[i - 1]["customers"]]


def test_segment_stage_and_risk_filters_match_the_newest_runs(web: WebEnv) -> None:
    scored = _with_churn_scores(web)
    c = web.login("admin")
    choices = c.get("/customers.json").json()["choices"]
    rfm = next(s for s in choices["segments"] if s["scheme"] == "rfm_cn")
    placed = _newest(web, "rfm_cn")
    segment = max({s for s in placed.values()}, key=lambda s: list(placed.values()).count(s))
    assert f"rfm_cn:{segment}" in [s["value"] for s in rfm["segments"]]
    found = _walk(c, {"segment": f"rfm_cn:{segment}", "sort": "value", "desc": 1, "limit": 20})
    assert sorted(r["id"] for r in found) == sorted(cid for cid, s in placed.items() if s == segment)

    stages = _newest(web, "lifecycle")
    stage = sorted(set(stages.values()))[0]
    assert stage in [s["value"] for s in choices["stages"]]
    found = _walk(c, {"stage": stage, "sort": "name", "limit": 20})
    assert sorted(r["id"] for r in found) == sorted(cid for cid, s in stages.items() if s == stage)

    for tier in TIERS:
        found = _walk(c, {"risk": tier, "limit": 100})
        assert sorted(r["id"] for r in found) == sorted(cid for cid, (_, t) in scored.items() if t == tier)
        assert all(r["churn_tier"] == tier for r in found)

    both = _walk(c, {"risk": "high", "segment": f"rfm_cn:{segment}", "stage": stage, "sort": "risk", "limit": 20})
    want = {cid for cid, (_, t) in scored.items() if t == "high"} & {k for k, v in placed.items() if v == segment}
    assert {r["id"] for r in both} == want & {k for k, v in stages.items() if v == stage}
    # the API gives the same answer
    api = web.client().get("/api/customers", params={"risk": "high", "limit": 100}, headers=web.token("admin"))
    assert api.status_code == 200
    assert {r["id"] for r in api.json()["customers"]} <= {cid for cid, (_, t) in scored.items() if t == "high"}


def test_a_rep_sees_only_their_own_customers_with_every_filter_and_sort(web: WebEnv) -> None:
    _with_churn_scores(web)
    rep = web.accounts["rep_a"]
    with web.ws.engine.connect() as conn:
        own = set(conn.execute(select(customers.c.id).where(customers.c.owner_id == rep.id)).scalars())
    c = web.login("rep_a")
    data = c.get("/customers.json").json()
    assert data["choices"]["owners"] == []  # no owner filter for a rep
    stage = data["choices"]["stages"][0]["value"]
    for params in ({"sort": "value", "desc": 1}, {"sort": "risk"}, {"risk": "low"}, {"stage": stage},
                   {"segment": data["choices"]["segments"][0]["segments"][0]["value"], "sort": "revenue"}):  # fmt: skip
        rows = _walk(c, {**params, "limit": 20})
        assert {r["id"] for r in rows} <= own, params
    assert {r["id"] for r in _walk(c, {"sort": "last_order", "limit": 20})} == own
    # another rep's id as the owner filter finds nothing, on the page, its twin and the API
    other = web.accounts["other_rep"].id
    assert c.get("/customers.json", params={"owner": other}).json()["customers"] == []
    api = web.client().get("/api/customers", params={"owner": other, "sort": "value"}, headers=web.token("rep_a"))
    assert api.json()["customers"] == []


def test_a_reps_list_is_the_same_read_through_the_owner_index_or_in_sort_order(
    web: WebEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rep's list sorted by a published score or the region may be read from the sort key's index in order
    (the owner then only a check per row) instead of through the owner index: same rows, same order, own only."""
    _with_churn_scores(web)
    # a company where nearly every customer has an owner: the customers nobody owns go to everyone but rep_a in turn
    with web.ws.engine.begin() as conn:
        others = list(conn.execute(select(users.c.id).where(users.c.id != web.accounts["rep_a"].id)).scalars())
        unowned = list(conn.execute(select(customers.c.id).where(customers.c.owner_id.is_(None))).scalars())
        for i, cid in enumerate(unowned):
            conn.execute(customers.update().where(customers.c.id == cid).values(owner_id=others[i % len(others)]))
    c = web.login("rep_a")
    stage = c.get("/customers.json").json()["choices"]["stages"][0]["value"]
    cases = [{"sort": s, "desc": d} for s in ("value", "risk", "revenue", "last_order", "region") for d in (0, 1)]
    cases += [{"sort": "value", "stage": stage}, {"sort": "risk", "risk": "high", "desc": 1}]
    by_plan = {}
    for few in (True, False):
        monkeypatch.setattr(store, "_filtered_few", lambda *_args, few=few: few)
        by_plan[few] = [[r["id"] for r in _walk(c, {**params, "limit": 20})] for params in cases]
    assert by_plan[True] == by_plan[False] and any(by_plan[True])
    with web.ws.engine.connect() as conn:
        own = set(
            conn.execute(select(customers.c.id).where(customers.c.owner_id == web.accounts["rep_a"].id)).scalars()
        )
    assert set().union(*map(set, by_plan[False])) <= own
    # the shares decide: a page is found in order after about limit x customers / owned rows; read in order when
    # that is fewer than half as many as the owners have (a scope of every user), else through the owner index
    monkeypatch.undo()
    with web.ws.engine.connect() as conn:
        every_user = list(conn.execute(select(users.c.id)).scalars())
        owned = conn.execute(select(func.count()).where(customers.c.owner_id.is_not(None))).scalar_one()
        total = conn.execute(select(func.max(customers.c.id))).scalar_one()
        assert 2 * 21 * total / owned < owned and 2 * 21 * total / len(own) > len(own)
        wide, narrow = (
            store.CustomerFilter(owner_ids=every_user),
            store.CustomerFilter(owner_ids=[web.accounts["rep_a"].id]),
        )
        assert store._filtered_few(conn, wide, store.SORT_KEYS["value"], 21) is False
        assert store._filtered_few(conn, narrow, store.SORT_KEYS["value"], 21) is True
        assert store._filtered_few(conn, wide, store.SORT_KEYS["name"], 21) is True  # (owner, name) is in order
        assert store._filtered_few(conn, replace(wide, tag="VIP"), store.SORT_KEYS["value"], 21) is True  # unknown


@pytest.mark.parametrize(
    ("locale", "labels"),
    [
        ("zh-CN", ("客户分群", "生命周期阶段", "购买流失风险", "客户价值（12个月 CLV）", "最近下单", "累计收入")),
        ("en", ("Segment", "Lifecycle stage", "Purchase churn risk", "CLV (12 months)", "Last order", "Revenue")),
    ],
)
def test_filters_and_sorts_are_labelled_in_both_languages(web: WebEnv, locale: str, labels: tuple[str, ...]) -> None:
    _with_churn_scores(web)
    c = web.login("admin")
    c.cookies.set("kehu_locale", locale)
    with web.ws.engine.begin() as conn:
        conn.execute(users.update().where(users.c.name == "admin").values(locale=locale))
    placed = list(_newest(web, "lifecycle").values())
    stages = c.get("/customers.json").json()["choices"]["stages"]
    stage = max(stages, key=lambda s: placed.count(s["value"]))
    html = c.get("/customers", params={"stage": stage["value"], "sort": "value", "desc": 1, "limit": 20}).text
    for label in labels:
        assert label in html, label
    assert stage["labels"]["zh" if locale == "zh-CN" else "en"] in html
    # the filter state travels in the next-page link
    link = html.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    params = parse_qs(urlparse(link).query)
    assert params["stage"] == [stage["value"]] and params["sort"] == ["value"] and params["limit"] == ["20"]
    assert params["desc"] == ["1"] and params["after"]
    html = c.get("/customers", params={"risk": "low"}).text
    assert 'value="low" selected' in html


@pytest.mark.parametrize(
    "params",
    [
        {"segment": "rfm_cn:x' OR '1'='1"},
        {"segment": "nope:champions"},
        {"segment": "rfm_cn"},
        {"stage": "' OR 1=1 --"},
        {"stage": '"; DROP TABLE customers; --'},
        {"risk": "high' OR '1'='1"},
        {"sort": "value; DROP TABLE customers"},
    ],
)
def test_sql_fragments_in_the_new_filters_are_refused_harmlessly(web: WebEnv, params: dict[str, str]) -> None:
    c = web.login("admin")
    with web.ws.engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(customers)).scalar_one()
    r = c.get("/customers.json", params=params)
    assert r.status_code == 422 and r.json()["error"]
    assert c.get("/customers", params=params).status_code == 422
    assert web.client().get("/api/customers", params=params, headers=web.token("admin")).status_code == 422
    with web.ws.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(customers)).scalar_one() == before


def test_markup_in_names_stays_inert_in_filtered_and_sorted_lists(web: WebEnv) -> None:
    c = web.login("admin")
    placed = _newest(web, "lifecycle")
    stage = placed.get(web.script_customer)
    assert stage is not None
    html = c.get("/customers", params={"stage": stage, "sort": "name", "limit": 100}).text
    assert SCRIPT_NAME not in html and "&lt;script&gt;" in html


# -- the store functions on SQLite and PostgreSQL ----------------------------------------------------------------
def _small_store(ws: Workspace) -> dict[str, Any]:
    """Six customers (two owners), published values for four, one segment run."""
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    with ws.engine.begin() as conn:
        owner = conn.execute(
            insert(users)
            .values(name="rep", role="rep", password_hash="x", active=True, created_at=now)
            .returning(users.c.id)
        ).scalar_one()
        for i in range(1, 7):
            region = "浙江省" if i % 2 else "江苏省"
            mine = owner if i <= 3 else None
            row = {
                "id": i,
                "name": f"客户{i}",
                "region": region,
                "owner_id": mine,
                "created_at": now,
                "updated_at": now,
            }
            conn.execute(insert(customers).values(**row))
        run = conn.execute(
            insert(pipeline_runs).values(as_of=now.date(), engine="duckdb", started_at=now, finished_at=now,
                                         customers=4, seconds=1.0, step_seconds={}).returning(pipeline_runs.c.id)
        ).scalar_one()  # fmt: skip
        for cid, clv, tier in ((1, 50.0, "high"), (2, 80.0, "low"), (3, None, None), (5, 80.0, "high")):
            conn.execute(insert(customer_scores).values(
                customer_id=cid, as_of=now.date(), run_id=run, total_revenue_cents=cid * 100,
                last_order_at=now - dt.timedelta(days=cid), clv_12m=clv, churn_tier=tier,
                churn_risk=None if tier is None else (0.9 if tier == "high" else 0.1),
                scores={"clv_12m": clv} if clv is not None else {},
            ))  # fmt: skip
        definition = conn.execute(
            insert(segment_definitions).values(scheme="rfm_cn", version=1, kind="rfm_cn", definition={},
                                               digest="d", created_at=now).returning(segment_definitions.c.id)
        ).scalar_one()  # fmt: skip
        seg_run = conn.execute(
            insert(segment_runs).values(scheme="rfm_cn", as_of=now.date(), definition_id=definition, engine="duckdb",
                                        created_at=now, population=6).returning(segment_runs.c.id)
        ).scalar_one()  # fmt: skip
        for cid in (1, 2, 5, 6):
            conn.execute(insert(segment_memberships).values(run_id=seg_run, customer_id=cid, segment="a"))
    return {"owner": owner, "run": seg_run}


def _all_pages(conn: Any, flt: store.CustomerFilter, sort: str, desc: bool, limit: int = 2) -> list[int]:
    ids: list[int] = []
    key = None
    while True:
        page = store.list_customers(conn, flt, sort=sort, descending=desc, after=key, limit=limit)
        ids += [r["id"] for r in page.rows]
        if page.next_key is None:
            return ids
        key = page.next_key


@pytest.mark.parametrize("big", [False, True])  # segment and tier read member by member, or probed per customer
def test_store_lists_sort_and_filter_on_every_store(workspace: Workspace, big: bool) -> None:
    facts = _small_store(workspace)
    size = store.SMALL_SET + 1 if big else 4
    with workspace.engine.connect() as conn:
        every = store.CustomerFilter()
        assert _all_pages(conn, every, "value", True) == [5, 2, 1, 3, 4, 6]  # ties by id; no value last by id
        assert _all_pages(conn, every, "value", False) == [1, 2, 5, 3, 4, 6]
        assert _all_pages(conn, every, "revenue", True) == [5, 3, 2, 1, 4, 6]
        assert _all_pages(conn, every, "last_order", False) == [5, 3, 2, 1, 4, 6]
        scope = store.CustomerFilter(owner_ids=[facts["owner"]])
        assert _all_pages(conn, scope, "value", True) == [2, 1, 3]
        pick = store.SegmentPick(facts["run"], "a", size)
        segment = store.CustomerFilter(segments=(pick,), risk_tier="high", risk_tier_size=size)
        assert _all_pages(conn, segment, "value", True) == [5, 1]
        assert _all_pages(conn, segment, "name", False) == [1, 5]
        assert store.count_customers(conn, segment) == (2, False)
        regional = store.CustomerFilter(region="浙江省", segments=(pick,))
        assert _all_pages(conn, regional, "risk", True) == [5, 1]
        # previous page from the customers without a value
        page = store.list_customers(conn, every, sort="value", descending=True, before=(None, 4), limit=2)
        assert [r["id"] for r in page.rows] == [1, 3] and page.prev_key == (50.0, 1)
        assert page.next_key == (None, 3)
        assert store.risk_tier_sizes(conn) == {"high": 2, "low": 1}
        assert store.segment_sizes(conn, facts["run"]) == {"a": 4}


def test_export_follows_the_new_filters_and_carries_the_published_values(web: WebEnv) -> None:
    scored = _with_churn_scores(web)
    text = web.login("admin").get("/customers/export.csv", params={"risk": "high"}).content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(int(r["id"]) for r in rows) == sorted(cid for cid, (_, t) in scored.items() if t == "high")
    assert all(r["churn_tier"] == "high" and float(r["churn_risk"]) >= 0.6 for r in rows)
    assert {"clv_12m", "revenue", "last_order_at"} <= set(rows[0])


@pytest.mark.parametrize("plan", ["few", "many"])
def test_a_tier_sorted_by_risk_is_complete_and_ordered_and_follows_a_rescoring(
    web: WebEnv, plan: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sorted by risk, a tier is read in order from the (churn_tier, churn_risk) index — the plan for a tier of
    many customers ("many": every set counts as large here) — or read and sorted ("few"); either way it follows a
    rescoring (tiers move), and counts narrowed by a tier or segment stay exact."""
    if plan == "many":
        monkeypatch.setattr(store, "SMALL_SET", 0)
    c = web.login("admin")
    for attempt in range(2):
        scored = _with_churn_scores(web)
        if attempt:  # rescore: every risk moves, so the tiers' ranges move too
            with web.ws.engine.begin() as conn:
                as_of = conn.execute(select(func.max(customer_scores.c.as_of))).scalar_one()
                scored = {cid: (round(1 - r, 2), TIERS[0] if 1 - r >= 0.6 else TIERS[1] if 1 - r >= 0.3 else TIERS[2])
                          for cid, (r, _) in scored.items()}  # fmt: skip
                write_scores(conn, as_of, {cid: {"churn_risk": r, "churn_tier": t} for cid, (r, t) in scored.items()})
        for tier in TIERS:
            members = {cid: r for cid, (r, t) in scored.items() if t == tier}
            for desc in (True, False):
                found = _walk(c, {"risk": tier, "sort": "risk", "desc": int(desc), "limit": 20})
                assert [r["id"] for r in found] == _expected(members, list(members), desc), (attempt, tier, desc)
            page = c.get("/customers.json", params={"risk": tier, "sort": "risk"}).json()
            assert (page["count"], page["count_is_lower_bound"]) == (len(members), False)
    placed = _newest(web, "rfm_cn")
    for segment in set(placed.values()):
        page = c.get("/customers.json", params={"segment": f"rfm_cn:{segment}"}).json()
        assert page["count"] == sum(1 for s in placed.values() if s == segment)
