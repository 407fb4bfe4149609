"""Denial of service and sloppy input through the web app and the API (issue 23): a YAML alias bomb in the rule
box, the playbook editor and the campaign form is refused at once; every id in a path or a query is bounded, so
ids of 2**63 and 10**23 give 404/422 on every route of the app's route table, never a 5xx."""

from __future__ import annotations

import re
import resource
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest
from annotated_types import Le
from fastapi.routing import APIRoute
from web_testkit import WebEnv, csrf_of, form_fields, start_previewed_import

from kehu.api.routes import MAX_ID
from kehu.web.render import IdConvertor
from limits_kit import alias_bomb

HUGE = (2**63, 10**23)
_PARAM = re.compile(r"\{([^}:]+)(?::([^}]+))?\}")


def _rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def test_the_alias_bomb_is_refused_in_the_rule_box_at_once(web: WebEnv) -> None:
    rep = web.login("rep_a")
    bomb = alias_bomb()
    rep.get("/segments/preview.json", params={"rule": "{field: orders, gt: 0}"})  # warm up the page's code
    before, started = _rss_kib(), time.perf_counter()
    refused = rep.get("/segments/preview.json", params={"rule": bomb})
    assert time.perf_counter() - started < 1.0
    assert _rss_kib() - before < 50 * 1024  # peak RSS grew by less than 50 MB (the bomb took +620 MB)
    assert refused.status_code == 422
    assert "YAML" in refused.json()["error"] and "rule" in refused.json()["error"]
    rep.cookies.set("kehu_locale", "en")
    english = rep.get("/segments/preview.json", params={"rule": bomb})
    rep.cookies.set("kehu_locale", "zh-CN")
    chinese = rep.get("/segments/preview.json", params={"rule": bomb})
    assert "more than 5000 values once its YAML aliases are expanded" in english.json()["error"]
    assert "展开 YAML 别名后取值超过 5000 个" in chinese.json()["error"]


def test_the_alias_bomb_is_refused_by_the_segment_and_campaign_forms(web: WebEnv) -> None:
    manager = web.login("manager")
    token = csrf_of(manager.get("/segments").text)
    form = {"csrf_token": token, "name": "bomb", "label_zh": "炸弹", "label_en": "Bomb", "rule": alias_bomb()}
    for action in ("preview", "save"):
        page = manager.post("/segments", data={**form, "action": action})
        assert page.status_code == 422 and "YAML" in page.text
    assert manager.get("/segments/custom.bomb/bomb.json").status_code == 404
    admin = web.login("admin")
    token = csrf_of(admin.get("/campaigns").text)
    launched = admin.post(
        "/campaigns",
        data={"csrf_token": token, "name": "bomb", "target_kind": "rule", "rule": alias_bomb(), "channel": "email",
              "template": "Hi {name}"},
    )  # fmt: skip
    assert launched.status_code == 422 and "YAML" in launched.text


def test_the_playbook_editor_refuses_the_bomb_and_keeps_the_file(web: WebEnv) -> None:
    manager = web.login("admin")  # a company-wide playbook (a manager edits only their team's)
    name = "rfm_cn_strategies"
    page = manager.get(f"/playbooks/{name}")
    token, path = csrf_of(page.text), web.settings.resolved_playbooks_dir / "rfm_cn.yaml"
    kept = path.read_text(encoding="utf-8")
    text = f"playbook: {name}\nrules:\n  - name: r\n    when:\n" + textwrap.indent(alias_bomb(levels=6), " " * 6)
    started = time.perf_counter()
    saved = manager.post(f"/playbooks/{name}", data={"csrf_token": token, "action": "save", "text": text})
    assert time.perf_counter() - started < 2.0
    assert saved.status_code < 500 and "YAML aliases" in saved.text
    assert path.read_text(encoding="utf-8") == kept


# -- huge ids --------------------------------------------------------------------------------------------------
def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if hasattr(route, "original_router"):  # an included router (FastAPI keeps it as one entry)
            yield from _routes(route.original_router.routes)
        elif isinstance(route, APIRoute):
            yield route


def _params(dependant: Any) -> Iterator[Any]:
    yield from dependant.path_params
    yield from dependant.query_params
    for sub in dependant.dependencies:
        yield from _params(sub)


def _int_params(route: APIRoute) -> dict[str, tuple[str, Any]]:
    """The route's whole-number parameters: name -> (path or query, field info)."""
    path_names = {m.group(1) for m in _PARAM.finditer(route.path)}
    return {
        p.name: ("path" if p.name in path_names else "query", p.field_info)
        for p in _params(route.dependant)
        if p.field_info.annotation in (int, int | None)
    }


def _url(route: APIRoute, value: int) -> str:
    def fill(m: re.Match[str]) -> str:
        name, convertor = m.group(1), m.group(2)
        return str(value) if name.endswith("id") or convertor in ("id", "int") else "x"

    return _PARAM.sub(fill, route.path)


def test_every_whole_number_parameter_is_bounded_by_construction(web: WebEnv) -> None:
    # a path id is either a page's {name:id} (at most 18 digits) or an API id with le=MAX_ID; a query whole
    # number always has an upper bound
    unbounded = []
    for route in _routes(web.app.routes):
        convertors = route.param_convertors
        for name, (where, info) in _int_params(route).items():
            if where == "path" and isinstance(convertors.get(name), IdConvertor):
                continue
            if not any(isinstance(m, Le) and int(m.le) <= 2**63 - 1 for m in info.metadata):
                unbounded.append(f"{sorted(route.methods)} {route.path} {where} {name}")
    assert unbounded == []
    assert MAX_ID <= 2**63 - 1


def test_huge_ids_give_404_or_422_on_every_route(web: WebEnv) -> None:
    api = web.client(raise_server_exceptions=False)
    api.headers.update(web.token("admin"))
    pages = web.login("admin", web.client(raise_server_exceptions=False))
    pages_csrf = csrf_of(pages.get("/account").text)
    tried, failures = 0, []
    for route in _routes(web.app.routes):
        ints = _int_params(route)
        path_ids = [m.group(1) for m in _PARAM.finditer(route.path) if m.group(1).endswith("id")]
        query_ids = [n for n, (where, _info) in ints.items() if where == "query"]
        if not path_ids and not query_ids:
            continue
        client = api if route.path.startswith("/api/") else pages
        for method in sorted(route.methods - {"HEAD"}):
            for value in HUGE:
                url = _url(route, value)
                params = dict.fromkeys(query_ids, str(value))
                if method == "GET":
                    answer = client.get(url, params=params)
                elif route.path.startswith("/api/"):
                    answer = client.request(method, url, params=params, json={})
                else:
                    answer = client.request(method, url, params=params, data={"csrf_token": pages_csrf})
                tried += 1
                if answer.status_code >= 500 or answer.status_code in (200, 303):
                    failures.append(f"{method} {url}?{params}: {answer.status_code}")
    assert failures == []
    assert tried >= 2 * 40  # the walk really went through the routes with ids (about 50 of them)


@pytest.mark.parametrize("url", ["/customers?owner={n}", "/customers?limit={n}", "/tickets?before={n}",
                                 "/tasks?owner={n}", "/segments/rfm_cn/important_value.json?after={n}"])  # fmt: skip
def test_huge_numbers_in_page_queries_are_refused(web: WebEnv, url: str) -> None:
    admin = web.login("admin", web.client(raise_server_exceptions=False))
    for n in HUGE:
        assert admin.get(url.format(n=n)).status_code in (404, 422)


# -- a binary file named .csv through the web import and the API (acceptance 7) --------------------------------
def _binary() -> bytes:
    return b"\x00\x01\x02PK\x89\xff\xfe" * 3000


def test_the_web_import_refuses_a_binary_csv_naming_it(web: WebEnv) -> None:
    manager = web.login("manager")
    manager.cookies.set("kehu_locale", "en")
    token = csrf_of(manager.get("/imports").text)
    page = manager.post(
        "/imports",
        data={"csrf_token": token, "kind": "orders", "source": "shop"},
        files={"file": ("订单.csv", _binary(), "text/csv")},
    )
    assert page.status_code == 422
    assert "订单.csv: this is not a text file" in page.text and "although its name ends in .csv" in page.text
    assert str(web.home) not in page.text  # the server's copy of the upload is not named
    manager.cookies.set("kehu_locale", "zh-CN")
    again = manager.post(
        "/imports",
        data={"csrf_token": token, "kind": "orders", "source": "shop"},
        files={"file": ("订单.csv", _binary(), "text/csv")},
    )
    assert again.status_code == 422 and "订单.csv: 这不是文本文件" in again.text
    job = start_previewed_import(manager, again.text, source="shop")  # started anyway: the job says why it failed
    state = manager.get(f"/imports/jobs/{job}.json").json()["job"]
    assert state["state"] == "failed" and state["error"].startswith("订单.csv: 这不是文本文件")
    api = web.client()
    answer = api.post(
        "/api/imports",
        headers={**web.token("manager"), "Accept-Language": "en"},
        data={"kind": "orders", "source": "shop"},
        files={"file": ("orders.csv", _binary(), "text/csv")},
    )
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error.startswith("orders.csv: this is not a text file") and error.isprintable()


def test_the_web_preview_names_rival_columns_and_lets_the_user_choose(web: WebEnv) -> None:
    manager = web.login("manager")
    manager.cookies.set("kehu_locale", "en")
    token = csrf_of(manager.get("/imports").text)
    text = "订单编号,客户编号,下单时间,金额,amount,订单金额\nO1,C000001,2024-01-05,100,200,300\n"
    page = manager.post(
        "/imports",
        data={"csrf_token": token, "kind": "orders", "source": "shop"},
        files={"file": ("三列.csv", text.encode(), "text/csv")},
    )
    assert page.status_code == 422
    assert (
        "三列.csv: columns &#39;金额&#39;, &#39;amount&#39;, &#39;订单金额&#39; all mean the field amount" in page.text
    )
    fields = form_fields(page.text, "mapping-form")
    assert [fields[f"header_{i}"] for i in range(6)][3:] == ["金额", "amount", "订单金额"]
    fields.update(field_3="amount", field_4="_", field_5="_")
    chosen = manager.post("/imports/preview", data=fields)
    assert chosen.status_code == 200 and 'id="preview-error"' not in chosen.text
