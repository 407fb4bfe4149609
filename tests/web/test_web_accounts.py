"""Credentials end when they should (issue 23): a password change or an admin's reset revokes the user's API tokens
and other sessions; an admin deactivates and reactivates users and revokes anyone's token, from the users page and
the command line, and each of these is in the audit log."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner
from web_testkit import PASSWORD, WebEnv, csrf_of, login_form

from kehu.cli import app as cli_app
from kehu.service import access
from kehu.store.actions import audit_log


def _post_login(c: Any, name: str, password: str) -> Any:
    token = c.cookies.get("kehu_login_csrf") or login_form(c)
    return c.post("/login", data={"name": name, "password": password, "csrf_token": token}, follow_redirects=False)


def _audit(web: WebEnv, action: str) -> list[dict[str, Any]]:
    with web.ws.engine.connect() as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.id))
        return [dict(r) for r in rows.mappings()]


def _me(web: WebEnv, headers: dict[str, str]) -> int:
    return int(web.client().get("/api/me", headers=headers).status_code)


def test_a_password_change_revokes_the_users_api_tokens_and_other_sessions(web: WebEnv) -> None:
    rep = web.login("rep_a")
    other = web.login("rep_a")
    headers = web.token("rep_a")
    bystander = web.token("rep_b")
    assert _me(web, headers) == 200
    page = rep.get("/account").text
    r = rep.post("/account/password", data={"csrf_token": csrf_of(page), "current_password": PASSWORD,
                                            "new_password": "a-new-password-1"})  # fmt: skip
    assert r.status_code == 200
    assert _me(web, headers) == 401  # the token stopped with the old password
    assert other.get("/dashboard.json").status_code == 401
    assert rep.get("/dashboard.json").status_code == 200  # the session that made the change stays
    assert _me(web, bystander) == 200  # nobody else's tokens are touched
    assert [e["actor"] for e in _audit(web, "user.password")] == [web.accounts["rep_a"].name]


def test_an_admin_reset_revokes_every_token_and_session_of_the_user(web: WebEnv) -> None:
    rep = web.login("rep_a")
    headers = web.token("rep_a")
    admin = web.login("admin")
    uid = web.accounts["rep_a"].id
    r = admin.post(f"/users/{uid}/password", data={"csrf_token": csrf_of(admin.get("/users").text),
                                                   "password": "reset-by-admin-1"})  # fmt: skip
    assert r.status_code == 200
    assert _me(web, headers) == 401
    assert rep.get("/dashboard.json").status_code == 401
    entry = _audit(web, "user.password_reset")[-1]  # (the test workspace's own set-up reset passwords too)
    assert entry["actor"] == "admin" and entry["target"] == f"user:{uid}"
    assert entry["detail"] == {"sessions": 1, "tokens": 1}


def test_an_admin_deactivates_and_reactivates_a_user_from_the_users_page(web: WebEnv) -> None:
    rep = web.login("rep_a")
    headers = web.token("rep_a")
    admin = web.login("admin")
    uid, name = web.accounts["rep_a"].id, web.accounts["rep_a"].name
    page = admin.get("/users").text
    assert f'id="user-active-{uid}"' in page
    r = admin.post(f"/users/{uid}/active", data={"csrf_token": csrf_of(page), "active": "0"})
    assert r.status_code == 200
    assert rep.get("/dashboard.json").status_code == 401  # the open session stops at once
    assert _me(web, headers) == 401  # and so does the token
    assert _post_login(web.client(), name, PASSWORD).status_code == 401  # no new sign-in either
    row = next(u for u in admin.get("/users.json").json()["users"] if u["id"] == uid)
    assert row["active"] is False
    r = admin.post(f"/users/{uid}/active", data={"csrf_token": csrf_of(page), "active": "1"})
    assert r.status_code == 200
    assert _post_login(web.client(), name, PASSWORD).status_code == 303
    assert _me(web, headers) == 401  # the revoked token does not come back with the user
    assert [e["target"] for e in _audit(web, "user.deactivate")] == [f"user:{uid}"]
    assert [e["target"] for e in _audit(web, "user.activate")] == [f"user:{uid}"]


def test_only_an_admin_deactivates_and_not_themselves(web: WebEnv) -> None:
    manager = web.login("manager")
    r = manager.post(f"/users/{web.accounts['rep_a'].id}/active",
                     data={"csrf_token": csrf_of(manager.get("/account").text), "active": "0"})  # fmt: skip
    assert r.status_code == 403
    admin = web.login("admin")
    page = admin.get("/users").text
    assert f'id="user-active-{web.accounts["admin"].id}"' not in page
    r = admin.post(f"/users/{web.accounts['admin'].id}/active", data={"csrf_token": csrf_of(page), "active": "0"})
    assert r.status_code == 403
    assert admin.get("/dashboard.json").status_code == 200
    assert _audit(web, "user.deactivate") == []


def test_an_admin_revokes_another_users_token(web: WebEnv) -> None:
    headers = web.token("rep_b")
    admin = web.login("admin")
    page = admin.get("/users").text
    listed = admin.get("/users.json").json()["tokens"]
    (tok,) = [k for k in listed if k["user_id"] == web.accounts["rep_b"].id]
    assert "token_hash" not in tok and f'id="token-revoke-{tok["id"]}"' in page
    r = admin.post(f"/users/tokens/{tok['id']}/revoke", data={"csrf_token": csrf_of(page)})
    assert r.status_code == 200
    assert _me(web, headers) == 401
    assert [e["target"] for e in _audit(web, "token.revoke")] == [f"token:{tok['id']}"]
    # a rep cannot revoke someone else's token, neither from the users page nor from their account page
    other = web.token("rep_a")
    own = access.list_api_tokens(web.ws, _principal(web, "rep_a"))[0]["id"]
    rep = web.login("rep_b")
    token = csrf_of(rep.get("/account").text)
    assert rep.post(f"/users/tokens/{own}/revoke", data={"csrf_token": token}).status_code == 403
    assert rep.post(f"/account/tokens/{own}/revoke", data={"csrf_token": token}).status_code == 404
    assert _me(web, other) == 200


def _principal(web: WebEnv, who: str) -> access.Principal:
    a = web.accounts[who]
    return access.Principal(a.id, a.name, a.name, a.role, a.team, None)


@pytest.fixture
def cli(web: WebEnv) -> Any:
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(cli_app, [*args, "--home", str(web.home)])

    return run


def test_the_command_line_deactivates_activates_and_revokes(web: WebEnv, cli: Any) -> None:
    name = web.accounts["rep_a"].name
    rep = web.login("rep_a")
    headers = web.token("rep_a")
    r = cli("users", "deactivate", name)
    assert r.exit_code == 0, r.output
    assert rep.get("/dashboard.json").status_code == 401 and _me(web, headers) == 401
    assert "inactive" in cli("users", "list").output
    assert _post_login(web.client(), name, PASSWORD).status_code == 401
    assert cli("users", "activate", name).exit_code == 0
    assert _post_login(web.client(), name, PASSWORD).status_code == 303
    fresh = web.token("rep_a")
    listed = cli("users", "tokens", name, "--json")
    assert listed.exit_code == 0 and "token_hash" not in listed.output
    live = [k for k in access.list_api_tokens(web.ws, _principal(web, "rep_a")) if not k["revoked"]]
    r = cli("users", "revoke-token", str(live[0]["id"]))
    assert r.exit_code == 0, r.output
    assert _me(web, fresh) == 401
    assert cli("users", "revoke-token", "999999").exit_code != 0
    assert cli("users", "deactivate", "no-such-user").exit_code != 0
    actions = [e["actor"] for a in ("user.deactivate", "user.activate", "token.revoke") for e in _audit(web, a)]
    assert actions == ["cli", "cli", "cli"]
