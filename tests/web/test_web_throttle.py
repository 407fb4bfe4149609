"""Sign-in throttling that holds under concurrency and cannot be used to lock someone out (issue 23):
simultaneous wrong attempts get exactly the allowed number through, on SQLite and PostgreSQL; the limit is per name
*and* address, so an attacker elsewhere does not lock out the real admin; the throttled answer is the same for a
name that exists and one that does not; ``X-Forwarded-For`` counts only from a trusted proxy."""

from __future__ import annotations

import datetime as dt
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from http.cookies import SimpleCookie
from typing import Any

import pytest
from browser_testkit import served
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from web_testkit import PASSWORD, WebEnv, login_form

from kehu.service import access
from kehu.service.workspace import Workspace
from kehu.store.auth import login_attempts
from kehu.web.app import create_app
from kehu.web.proxy import client_address

WRONG = "not-the-password"


def _post_login(c: Any, name: str, password: str, headers: dict[str, str] | None = None) -> Any:
    token = c.cookies.get("kehu_login_csrf") or login_form(c)
    return c.post("/login", data={"name": name, "password": password, "csrf_token": token},
                  headers=headers or {}, follow_redirects=False)  # fmt: skip


def _alert(html: str) -> str:
    return html.split('role="alert">')[1].split("<")[0]


@pytest.mark.parametrize("attempts", [40])
def test_simultaneous_wrong_attempts_get_exactly_the_limit_through(workspace: Workspace, attempts: int) -> None:
    """Threads against the real app served by uvicorn, all released at once: 5 are checked (401), the rest are
    refused (429) — on each store."""
    access.create_user(workspace, "target", role="admin", password=PASSWORD)
    app = create_app(workspace.settings, workspace=workspace)
    statuses: list[int] = []
    with served(app) as base:
        tokens = [_login_token(base) for _ in range(attempts)]
        start = threading.Barrier(attempts)
        lock = threading.Lock()

        def attempt(i: int) -> None:
            body = urllib.parse.urlencode({"name": "target", "password": WRONG, "csrf_token": tokens[i]}).encode()
            request = urllib.request.Request(f"{base}/login", data=body, method="POST",
                                             headers={"Cookie": f"kehu_login_csrf={tokens[i]}"})  # fmt: skip
            start.wait()
            try:
                with urllib.request.urlopen(request, timeout=120) as r:
                    status = r.status
            except urllib.error.HTTPError as exc:
                status = exc.code
                exc.close()  # an error answer holds its connection open until closed
            with lock:
                statuses.append(status)

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(attempts)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
    assert Counter(statuses) == {401: access.MAX_FAILURES_PER_NAME, 429: attempts - access.MAX_FAILURES_PER_NAME}
    with workspace.engine.connect() as conn:
        recorded = conn.execute(select(func.count()).where(login_attempts.c.name == "target")).scalar_one()
    assert recorded == access.MAX_FAILURES_PER_NAME


def _login_token(base: str) -> str:
    with urllib.request.urlopen(f"{base}/login", timeout=30) as r:
        jar = SimpleCookie()
        for header in r.headers.get_all("Set-Cookie") or []:
            jar.load(header)
    return jar["kehu_login_csrf"].value


def _behind_proxy(web: WebEnv, proxies: str) -> Any:
    return create_app(web.settings.model_copy(update={"trusted_proxies": proxies}), workspace=web.ws)


def _from(app: Any, peer: str) -> TestClient:
    return TestClient(app, client=(peer, 40000))


def test_an_attacker_elsewhere_does_not_lock_out_the_real_admin(web: WebEnv) -> None:
    app = _behind_proxy(web, "10.0.0.1")
    attacker = _from(app, "10.0.0.1")
    for _ in range(access.MAX_FAILURES_PER_NAME):
        assert _post_login(attacker, "admin", WRONG, {"X-Forwarded-For": "203.0.113.66"}).status_code == 401
    refused = _post_login(attacker, "admin", PASSWORD, {"X-Forwarded-For": "203.0.113.66"})
    assert refused.status_code == 429  # the attacker's address is stopped, even with the right password
    assert int(refused.headers["retry-after"]) == access.THROTTLE_WINDOW.total_seconds()
    owner = _from(app, "10.0.0.1")
    r = _post_login(owner, "admin", PASSWORD, {"X-Forwarded-For": "198.51.100.7"})
    assert r.status_code == 303 and "kehu_session" in owner.cookies  # the admin from their own address is not


def test_many_attacking_addresses_are_slowed_but_the_owner_is_not(web: WebEnv) -> None:
    app = _behind_proxy(web, "10.0.0.1")
    proxy = _from(app, "10.0.0.1")
    n = access.PAUSE_AFTER_FAILURES + 3  # the pause is then 16 s: far longer than the next request takes
    for i in range(n):  # one try from each of many addresses: none reaches its own limit
        assert _post_login(proxy, "admin", WRONG, {"X-Forwarded-For": f"203.0.113.{i + 1}"}).status_code == 401
    assert access.account_pause(n) == dt.timedelta(seconds=16)
    again = _post_login(proxy, "admin", WRONG, {"X-Forwarded-For": f"203.0.113.{n}"})
    assert again.status_code == 429  # an address that just failed must now wait its pause
    assert int(again.headers["retry-after"]) == 16  # a pause, not the 15-minute window
    owner = _from(app, "10.0.0.1")
    assert _post_login(owner, "admin", PASSWORD, {"X-Forwarded-For": "198.51.100.7"}).status_code == 303


def test_the_throttled_answer_does_not_reveal_whether_the_account_exists(web: WebEnv) -> None:
    answers = {}
    for name in ("admin", "nobody-by-this-name"):
        c = web.client()
        for _ in range(access.MAX_FAILURES_PER_NAME):
            assert _post_login(c, name, WRONG).status_code == 401
        r = _post_login(c, name, WRONG)
        answers[name] = (r.status_code, _alert(r.text))
    assert answers["admin"] == answers["nobody-by-this-name"]
    assert answers["admin"][0] == 429


def test_forwarded_for_from_an_untrusted_client_is_ignored(web: WebEnv) -> None:
    """No trusted proxy is configured (the default): rotating X-Forwarded-For does not give fresh addresses."""
    c = web.client()
    for i in range(access.MAX_FAILURES_PER_NAME):
        r = _post_login(c, "admin", WRONG, {"X-Forwarded-For": f"192.0.2.{i + 1}"})
        assert r.status_code == 401
    assert _post_login(c, "admin", WRONG, {"X-Forwarded-For": "192.0.2.200"}).status_code == 429
    with web.ws.engine.connect() as conn:
        clients = set(conn.execute(select(login_attempts.c.client).where(login_attempts.c.name == "admin")).scalars())
    assert clients == {"testclient"}
    # also a loopback peer is not trusted unless listed
    local = _from(web.app, "127.0.0.1")
    r = _post_login(local, "rep-nobody", WRONG, {"X-Forwarded-For": "192.0.2.9"})
    with web.ws.engine.connect() as conn:
        seen = conn.execute(select(login_attempts.c.client).where(login_attempts.c.name == "rep-nobody")).scalar()
    assert r.status_code == 401 and seen == "127.0.0.1"


def test_a_trusted_proxy_gives_the_right_most_untrusted_address(web: WebEnv) -> None:
    app = _behind_proxy(web, "10.0.0.0/24, 172.16.5.5")
    c = _from(app, "10.0.0.3")
    r = _post_login(c, "who", WRONG, {"X-Forwarded-For": "1.2.3.4, 198.51.100.20, 172.16.5.5"})
    assert r.status_code == 401
    with web.ws.engine.connect() as conn:
        seen = conn.execute(select(login_attempts.c.client).where(login_attempts.c.name == "who")).scalar()
    assert seen == "198.51.100.20"  # not the client-written 1.2.3.4, not the inner proxy


@pytest.mark.parametrize(
    ("peer", "header", "expected"),
    [
        ("203.0.113.9", "1.1.1.1", ("203.0.113.9", False)),  # untrusted peer: header ignored
        ("10.0.0.1", None, ("10.0.0.1", True)),  # trusted, no header: the proxy itself
        ("10.0.0.1", "1.1.1.1, 2.2.2.2", ("2.2.2.2", True)),  # right-most untrusted
        ("10.0.0.1", "1.1.1.1, 10.0.0.7", ("1.1.1.1", True)),  # trusted hops skipped
        ("10.0.0.1", "10.0.0.8, 10.0.0.7", ("10.0.0.8", True)),  # all trusted: the left-most
        ("10.0.0.1", "1.1.1.1, garbage", ("10.0.0.1", True)),  # malformed: stop at the last trusted hop
        ("::1", "1.1.1.1", ("::1", False)),
    ],
)
def test_client_address(peer: str, header: str | None, expected: tuple[str, bool]) -> None:
    import ipaddress

    assert client_address(peer, header, [ipaddress.ip_network("10.0.0.0/24")]) == expected


def test_kehu_serve_leaves_forwarded_headers_to_the_app(web: WebEnv) -> None:
    """uvicorn's own proxy-header handling would believe X-Forwarded-For from any loopback client: served the way
    `kehu serve` serves it, a local client's forged header is not the address that is counted."""
    import socket

    import uvicorn

    from kehu.web.server import uvicorn_options

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(web.app, **uvicorn_options("127.0.0.1", port, access_log=False), log_level="warning",
                            lifespan="off")  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        token = _login_token(base)
        body = urllib.parse.urlencode({"name": "forger", "password": WRONG, "csrf_token": token}).encode()
        request = urllib.request.Request(f"{base}/login", data=body, method="POST", headers={
            "Cookie": f"kehu_login_csrf={token}", "X-Forwarded-For": "192.0.2.77"})  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=30)
        err.value.close()
        assert err.value.code == 401
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    with web.ws.engine.connect() as conn:
        seen = conn.execute(select(login_attempts.c.client).where(login_attempts.c.name == "forger")).scalar()
    assert seen == "127.0.0.1"
