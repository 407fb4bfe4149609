"""Web hardening, tested from the app itself (issue 23, acceptance 6): CSRF on every state-changing route (the list
is generated from the app's route table, so a new route is covered the day it is added), session cookie flags
over plain HTTP, TLS and a trusted proxy, and the content security policy of every page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from web_testkit import PASSWORD, WebEnv, login_form

from kehu.store.actions import audit_log
from kehu.store.auth import api_tokens, web_sessions
from kehu.store.schema import users
from kehu.web.app import create_app

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "kehu" / "web" / "templates"
#: the one state-changing route a signed-out visitor may use: it carries its own cookie-bound CSRF token
#: (tested in test_web_auth.test_login_form_without_its_csrf_token_is_refused)
SIGN_IN = ("POST", "/login")


def _routes(routes: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Every route of a route list, looking into included routers (FastAPI keeps them as branches)."""
    out = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            out += _routes(inner.routes, prefix + (getattr(route.include_context, "prefix", "") or ""))
        else:
            out.append((prefix, route))
    return out


def _writes(app: Any) -> list[tuple[str, str]]:
    out = []
    for prefix, route in _routes(app.routes):
        if isinstance(route, APIRoute):
            out += [(m, prefix + route.path) for m in sorted(route.methods & STATE_CHANGING)]
    return sorted(set(out))


def _concrete(path: str) -> str:
    """A path with every parameter filled (an id of 1, a name of ``x``)."""
    return re.sub(r"\{([^}:]+)(:[a-z]+)?\}", lambda m: "1" if m.group(2) == ":int" or "id" in m.group(1) else "x", path)


def _state(web: WebEnv) -> tuple[int, ...]:
    with web.ws.engine.connect() as conn:
        tables = (audit_log, users, api_tokens, web_sessions)
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one() for t in tables)


def test_the_route_table_has_state_changing_routes_to_check(web: WebEnv) -> None:
    writes = _writes(web.app)
    assert SIGN_IN in writes and ("POST", "/logout") in writes and len(writes) > 20
    assert ("POST", "/users/{user_id:id}/active") in writes


def test_every_state_changing_route_refuses_a_session_without_its_csrf_token(web: WebEnv) -> None:
    """For every POST/PUT/PATCH/DELETE of the app: a signed-in admin's session cookie with no CSRF token, and with
    a forged one, is refused (403 for forms, 401 for the API: a cookie is no API credential) and nothing is
    stored."""
    c = web.login("admin")
    before = _state(web)
    wrong: dict[str, list[int]] = {}
    for method, path in _writes(web.app):
        if (method, path) == SIGN_IN:
            continue
        url = _concrete(path)
        for token in (None, "forged-token"):
            data = {"csrf_token": token} if token else {}
            r = c.request(method, url, data=data, follow_redirects=False)
            allowed = {401} if path.startswith("/api/") else {403}
            if r.status_code not in allowed:
                wrong.setdefault(f"{method} {path}", []).append(r.status_code)
    assert wrong == {}
    assert _state(web) == before
    assert c.get("/dashboard.json").status_code == 200  # still signed in: logout was refused too


def test_a_json_body_with_a_session_cookie_is_refused_too(web: WebEnv) -> None:
    c = web.login("admin")
    r = c.post("/api/users", json={"name": "intruder", "role": "admin", "password": "intruder-pass"})
    assert r.status_code == 401
    r = c.post("/users", json={"name": "intruder", "role": "admin"}, follow_redirects=False)
    assert r.status_code == 403
    assert all(u["name"] != "intruder" for u in web.ws.system().users.all())


def _session_cookie(r: Any) -> str:
    return next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("kehu_session="))


def _sign_in(c: Any) -> Any:
    token = login_form(c)  # a Secure cookie (over TLS) is not sent back to the http:// test URL: send it by hand
    return c.post("/login", data={"name": "admin", "password": PASSWORD, "csrf_token": token},
                  headers={"Cookie": f"kehu_login_csrf={token}"}, follow_redirects=False)  # fmt: skip


@pytest.mark.parametrize(
    ("proxies", "peer", "base", "headers", "secure"),
    [
        ("", "testclient", "http://testserver", {}, False),
        ("", "testclient", "https://testserver", {}, True),  # served over TLS
        ("10.0.0.1", "10.0.0.1", "http://testserver", {"X-Forwarded-Proto": "https"}, True),  # trusted proxy
        ("", "10.0.0.1", "http://testserver", {"X-Forwarded-Proto": "https"}, False),  # no proxy is trusted
        ("10.0.0.1", "10.0.0.9", "http://testserver", {"X-Forwarded-Proto": "https"}, False),  # not that one
    ],
)
def test_session_cookie_flags(
    web: WebEnv, proxies: str, peer: str, base: str, headers: dict[str, str], secure: bool
) -> None:
    app = create_app(web.settings.model_copy(update={"trusted_proxies": proxies}), workspace=web.ws)
    with TestClient(app, base_url=base, client=(peer, 40000)) as c:
        c.headers.update(headers)
        r = _sign_in(c)
        assert r.status_code == 303
        parts = [p.strip().lower() for p in _session_cookie(r).split(";")]
    assert "httponly" in parts and "samesite=lax" in parts and "path=/" in parts
    assert ("secure" in parts) is secure


def _csp(r: Any) -> dict[str, str]:
    return {d.split()[0]: d.split(" ", 1)[1] if " " in d else "" for d in
            (x.strip() for x in r.headers["content-security-policy"].split(";")) if d}  # fmt: skip


@pytest.mark.parametrize("path", ["/login", "/dashboard", "/customers", "/users", "/account", "/settings",
                                  "/dashboard.json", "/no-such-page"])  # fmt: skip
def test_every_answer_has_a_csp_without_inline_script_and_with_frame_ancestors(web: WebEnv, path: str) -> None:
    c = web.login("admin") if path != "/login" else web.client()
    r = c.get(path, follow_redirects=False)
    csp = _csp(r)
    assert csp["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval', no other host
    assert csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'" and csp["base-uri"] == "'none'"
    assert csp["default-src"] == "'self'" and csp["form-action"] == "'self'"
    assert r.headers["x-frame-options"] == "DENY"


def test_no_template_has_an_inline_script_or_event_handler() -> None:
    """Pages run only the app's own script files (a CSP without 'unsafe-inline' would block anything else)."""
    found = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        text = template.read_text(encoding="utf-8")
        for m in re.finditer(r"<script\b([^>]*)>", text):
            if "src=" not in m.group(1) and 'type="application/json"' not in m.group(1):
                found.append(f"{template.name}: {m.group(0)}")
        found += [f"{template.name}: {m.group(0)}" for m in re.finditer(r"\son[a-z]+\s*=", text)]
        found += [f"{template.name}: javascript: URL" for _ in re.finditer(r"javascript:", text, re.IGNORECASE)]
    assert found == []
