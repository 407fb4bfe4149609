"""Sign-in, sessions, CSRF, throttling, password changes and API tokens."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from sqlalchemy import update
from web_testkit import PASSWORD, WebEnv, csrf_of, login_form

from kehu.service import access
from kehu.store.auth import login_attempts


def _post_login(c, name: str, password: str, **extra: str):
    token = c.cookies.get("kehu_login_csrf") or login_form(c)
    return c.post(
        "/login", data={"name": name, "password": password, "csrf_token": token, **extra}, follow_redirects=False
    )


def test_login_opens_a_session_and_logout_ends_it(web: WebEnv) -> None:
    c = web.client()
    r = c.get("/dashboard", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2Fdashboard")
    assert c.get("/dashboard.json").status_code == 401

    c = web.login("rep_a")
    assert c.get("/dashboard").status_code == 200
    cookie = c.cookies["kehu_session"]
    page = c.get("/account").text
    r = c.post("/logout", data={"csrf_token": csrf_of(page)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    # the old cookie no longer works even if someone kept it
    stale = web.client()
    stale.cookies.set("kehu_session", cookie)
    assert stale.get("/dashboard.json").status_code == 401


def test_a_session_follows_its_user_at_once(web: WebEnv) -> None:
    """The session and its user are read together on every request: a role change applies to the next request,
    and a deactivated user's session stops working at once."""
    from kehu.store.schema import users

    c = web.login("rep_a")
    assert c.get("/account.json").json()["user"]["role"] == "rep"
    assert c.get("/settings.json").status_code == 403
    with web.ws.engine.begin() as conn:
        conn.execute(update(users).where(users.c.id == web.accounts["rep_a"].id).values(role="admin"))
    assert c.get("/account.json").json()["user"]["role"] == "admin"
    assert c.get("/settings.json").status_code == 200
    with web.ws.engine.begin() as conn:
        conn.execute(update(users).where(users.c.id == web.accounts["rep_a"].id).values(active=False))
    assert c.get("/dashboard.json").status_code == 401


def test_wrong_password_and_unknown_user_get_the_same_answer(web: WebEnv) -> None:
    c = web.client()
    wrong = _post_login(c, web.accounts["rep_a"].name, "not the password")
    unknown = _post_login(c, "nobody-at-all", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "kehu_session" not in c.cookies
    # the message is the same whichever part was wrong
    assert wrong.text.split('role="alert">')[1][:40] == unknown.text.split('role="alert">')[1][:40]


def test_login_redirects_only_to_this_site(web: WebEnv) -> None:
    c = web.client()
    r = _post_login(c, "admin", PASSWORD, next="//evil.example/x")
    assert r.status_code == 303 and r.headers["location"] == "/dashboard"
    c2 = web.client()
    r = _post_login(c2, "admin", PASSWORD, next="/customers?q=1")
    assert r.headers["location"] == "/customers?q=1"


def test_login_form_without_its_csrf_token_is_refused(web: WebEnv) -> None:
    c = web.client()
    login_form(c)
    r = c.post("/login", data={"name": "admin", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 403
    r = c.post("/login", data={"name": "admin", "password": PASSWORD, "csrf_token": "forged"}, follow_redirects=False)
    assert r.status_code == 403
    assert "kehu_session" not in c.cookies


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/logout", {}),
        ("/users", {"name": "intruder", "role": "admin", "password": "intruder-pass"}),
        ("/users/1/password", {"password": "takeover-pass"}),
        ("/account/password", {"current_password": PASSWORD, "new_password": "another-pass-1"}),
        ("/account/locale", {"locale": "en"}),
        ("/account/tokens", {"name": "stolen"}),
        ("/imports", {"kind": "customers", "source": "x"}),
    ],
)
def test_every_form_post_without_csrf_is_refused(web: WebEnv, path: str, fields: dict[str, str]) -> None:
    c = web.login("admin")
    users_before = web.ws.system().users.all()
    for token in (None, "forged-token"):
        data = dict(fields, **({"csrf_token": token} if token else {}))
        r = c.post(path, data=data, follow_redirects=False)
        assert r.status_code == 403, (path, r.status_code)
    assert web.ws.system().users.all() == users_before
    assert c.get("/dashboard.json").status_code == 200  # still signed in: logout was refused too
    assert access.list_api_tokens(web.ws, _principal(web, "admin")) == []


def _principal(web: WebEnv, who: str) -> access.Principal:
    a = web.accounts[who]
    return access.Principal(a.id, a.name, a.name, a.role, a.team, None)


def test_session_cookie_is_httponly_samesite_and_secure_over_https(web: WebEnv) -> None:
    c = web.client(base_url="https://testserver")
    login_form(c)
    r = _post_login(c, "admin", PASSWORD)
    cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("kehu_session="))
    low = cookie.lower()
    assert "httponly" in low and "samesite=lax" in low and "secure" in low
    plain = web.client()
    r = _post_login(plain, "admin", PASSWORD)
    cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("kehu_session="))
    assert "httponly" in cookie.lower() and "secure" not in cookie.lower()


def test_login_throttling_per_name(web: WebEnv) -> None:
    name = web.accounts["rep_a"].name
    c = web.client()
    for _ in range(access.MAX_FAILURES_PER_NAME):
        assert _post_login(c, name, "guess").status_code == 401
    # even the right password is refused now, with 429
    r = _post_login(c, name, PASSWORD)
    assert r.status_code == 429 and "kehu_session" not in c.cookies
    # another user is not affected
    assert _post_login(web.client(), web.accounts["rep_b"].name, PASSWORD).status_code == 303
    # once the window has passed, the right password works again
    past = dt.datetime.now(dt.UTC) - access.THROTTLE_WINDOW - dt.timedelta(seconds=5)
    with web.ws.engine.begin() as conn:
        conn.execute(update(login_attempts).values(at=past))
    assert _post_login(web.client(), name, PASSWORD).status_code == 303


def test_a_success_resets_the_failure_count(web: WebEnv) -> None:
    name = web.accounts["rep_a"].name
    for _ in range(access.MAX_FAILURES_PER_NAME - 1):
        assert _post_login(web.client(), name, "guess").status_code == 401
    assert _post_login(web.client(), name, PASSWORD).status_code == 303
    for _ in range(access.MAX_FAILURES_PER_NAME - 1):
        assert _post_login(web.client(), name, "guess").status_code == 401
    assert _post_login(web.client(), name, PASSWORD).status_code == 303


def test_password_change_checks_the_old_one_and_signs_out_other_sessions(web: WebEnv) -> None:
    first = web.login("rep_a")
    other = web.login("rep_a")
    page = first.get("/account").text
    token = csrf_of(page)
    r = first.post(
        "/account/password", data={"csrf_token": token, "current_password": "wrong", "new_password": "x" * 12}
    )
    assert r.status_code == 400
    r = first.post(
        "/account/password", data={"csrf_token": token, "current_password": PASSWORD, "new_password": "short"}
    )
    assert r.status_code == 422
    r = first.post(
        "/account/password", data={"csrf_token": token, "current_password": PASSWORD, "new_password": "brand-new-pass"}
    )
    assert r.status_code == 200
    assert first.get("/dashboard.json").status_code == 200  # this session stays
    assert other.get("/dashboard.json").status_code == 401  # the other one is gone
    name = web.accounts["rep_a"].name
    assert _post_login(web.client(), name, PASSWORD).status_code == 401
    assert _post_login(web.client(), name, "brand-new-pass").status_code == 303


def test_passwords_are_never_logged_or_returned(web: WebEnv, caplog: pytest.LogCaptureFixture) -> None:
    secret = "s3cret-Passw0rd-xyz"
    caplog.set_level(logging.DEBUG)
    admin = web.login("admin")
    page = admin.get("/users").text
    r = admin.post("/users", data={"csrf_token": csrf_of(page), "name": "newbie", "role": "rep", "password": secret})
    assert r.status_code == 200
    assert secret not in r.text
    c = web.client()
    assert _post_login(c, "newbie", secret).status_code == 303
    bodies = [
        c.get("/account.json").text,
        admin.get("/users.json").text,
        admin.get("/users").text,
        admin.get("/api/users", headers=web.token("admin")).text,
        _post_login(web.client(), "newbie", secret + "-wrong").text,
    ]
    for body in bodies:
        assert secret not in body
        assert "password_hash" not in body and "$argon2" not in body
    for record in caplog.records:
        assert secret not in record.getMessage()
    stored = web.ws.engine.connect().exec_driver_sql("SELECT password_hash FROM users WHERE name='newbie'").scalar()
    assert stored is not None and stored.startswith("$argon2id$") and secret not in stored


def test_api_tokens_authenticate_and_can_be_revoked(web: WebEnv) -> None:
    c = web.client()
    assert c.get("/api/me").status_code == 401
    assert c.get("/api/me", headers={"Authorization": "Bearer kehu_not-a-token"}).status_code == 401
    # a browser session is not an API credential
    signed_in = web.login("rep_a")
    assert signed_in.get("/api/me").status_code == 401

    page = signed_in.get("/account").text
    r = signed_in.post("/account/tokens", data={"csrf_token": csrf_of(page), "name": "laptop"})
    token = r.text.split('id="new-token">')[1].split("<")[0]
    headers = {"Authorization": f"Bearer {token}"}
    me = c.get("/api/me", headers=headers).json()
    assert me["name"] == web.accounts["rep_a"].name and me["role"] == "rep"
    listed = signed_in.get("/account.json").json()["tokens"]
    assert len(listed) == 1 and token not in str(listed) and listed[0]["prefix"] == token[:9]
    r = signed_in.post(f"/account/tokens/{listed[0]['id']}/revoke", data={"csrf_token": csrf_of(page)})
    assert c.get("/api/me", headers=headers).status_code == 401
