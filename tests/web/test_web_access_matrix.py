"""The access matrix generated from the app's route table: every route × principal is allowed, filtered or refused
as tests/web/access_matrix.py declares; a route without an entry fails (issue 23, acceptance 1).

One seeded store for the module; the cells run reads first, then writes, then the writes that end something
(sign-out, a password change, a run). Anonymous, a deactivated user (users.active = false, their session and
token kept) and a revoked principal (a deleted session row and a deleted token row) must be refused everywhere
but on the public routes.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from access_matrix import BODIES, HOLES, MATRIX, QUERIES, SKIPS_OUTSIDE
from suite_testkit import PRINCIPALS, SuiteEnv, build_suite, markers_in, route_table
from web_testkit import PASSWORD

from kehu.service import access

#: writes that end something (a session, a password, a run, open tasks): after all other cells
_ENDING = ("POST /api/tasks/{task_id}/complete", "POST /tasks/bulk", "POST /logout", "POST /account/password",
           "POST /playbooks/run-now", "POST /refresh", "POST /api/refresh", "POST /users/{user_id:id}/password",
           "POST /users/{user_id:id}/active", "POST /api/users/{user_id}/password")  # fmt: skip
_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
#: whose object a principal's "inside" and "outside" ids are (objects owned by the reps)
_OWNER_SIDE = {"admin": ("other_rep", None), "manager_x": ("rep_a", "other_rep"), "manager_y": ("other_rep", "rep_a"),
               "rep_a": ("rep_a", "rep_b"), "rep_b": ("rep_b", "rep_a")}  # fmt: skip
_OWNED_KINDS = {
    "customer_id": "customer",
    "task_id": "task",
    "ticket_id": "ticket",
    "entry_id": "backlog",
    "outbox_id": "outbox",
}
_OWN_KINDS = {"notification_id": "notification", "token_id": "token", "job_id": "job"}


def _order(key: str) -> tuple[int, str]:
    return (2 if key in _ENDING else 0 if key.startswith("GET ") else 1), key


CELLS = [(route, who) for route in sorted(MATRIX, key=_order) for who in PRINCIPALS]


@pytest.fixture(scope="module")
def suite(web_template: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[SuiteEnv]:
    template, info = web_template
    env = build_suite(template, info, tmp_path_factory.mktemp("matrix") / "home")
    _add_jobs(env)
    yield env
    _wait_for_runs(env)
    for w in env.who.values():
        w.client.close()
    env.ws.close()


def _wait_for_runs(env: SuiteEnv, timeout: float = 120) -> None:
    """Let a refresh started by a cell end before the store closes."""
    import sqlalchemy as sa

    from kehu.store.refresh import refresh_runs

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with env.ws.engine.connect() as conn:
            running = conn.execute(sa.select(sa.func.count()).where(refresh_runs.c.status == "running")).scalar_one()
        if not running:
            return
        time.sleep(0.2)


def _orders_csv() -> bytes:
    return "订单编号,客户编号,订单日期,订单金额\nM1,NOBODY,2024-13-40,10\n".encode()


def _add_jobs(env: SuiteEnv) -> None:
    """An import job of each manager and the admin (one order with an impossible date: quarantined, nothing else
    changes)."""
    from web_testkit import start_previewed_import

    env.ids["job"], env.ids["import_run"] = {}, {}
    for key in ("manager_x", "manager_y", "admin"):
        w = env.who[key]
        r = w.client.post("/imports", data={"csrf_token": w.csrf, "kind": "orders", "source": "erp"},
                          files={"file": ("o.csv", _orders_csv(), "text/csv")})  # fmt: skip
        assert r.status_code == 200, r.text[:300]
        env.ids["job"][key] = start_previewed_import(w.client, r.text, source="erp")
        job = w.client.get(f"/imports/jobs/{env.ids['job'][key]}.json").json()["job"]
        assert job["summary"]["has_quarantine"], job
        env.ids["import_run"][key] = job["summary"]["run_id"]


def _ids(env: SuiteEnv, principal: str, name: str, path: str) -> tuple[Any, Any]:
    """The (inside, outside) value of path parameter ``name`` for ``principal`` (outside None: no such object)."""
    inside_key, outside_key = _OWNER_SIDE.get(principal, ("rep_a", None))
    if name in _OWNED_KINDS:
        table = env.ids[_OWNED_KINDS[name]]
        return table[inside_key], (table[outside_key] if outside_key else None)
    if name in _OWN_KINDS:
        table = env.ids[_OWN_KINDS[name]]
        mine = table.get(principal, table.get("manager_x" if name == "job_id" else "rep_a"))
        other = table["manager_y" if principal == "manager_x" else "manager_x"] if name == "job_id" else (
            table["rep_b" if principal == "rep_a" else "rep_a"])  # fmt: skip
        return mine, (other if principal not in ("admin",) and other != mine else None)
    if name == "user_id":
        return env.who["deactivated"].user_id, None
    if name == "run_id" and "refresh" in path:
        return env.ids["refresh_run"]["any"], None
    if name == "run_id":  # an import run of one's own; a manager's outside: the admin's import
        runs = env.ids["import_run"]
        return runs.get(principal, runs["manager_x"]), (runs["admin"] if principal.startswith("manager") else None)
    if name == "name":
        return (env.campaign if "campaign" in path else env.ids["playbook"]["any"]), None
    values = {"scheme": "lifecycle", "segment": "lost", "fmt": "csv"}
    return values[name], None


def _fill(env: SuiteEnv, principal: str, value: Any, *, outside: bool = False) -> Any:
    """A body value with its placeholders filled; ``outside``: the customer and task outside the scope."""
    if not isinstance(value, str) or "{" not in value:
        return value
    w = env.who[principal]
    inside = _OWNER_SIDE.get(principal, ("rep_a", None))[0]
    whose = (_OWNER_SIDE[principal][1] or inside) if outside else inside
    owner = env.reps[inside]
    text = value.format(principal=principal, slug=principal.replace("_", ""), customer=env.ids["customer"][whose],
                        task=env.ids["task"][whose], self=w.user_id or 0, owner=owner, owner_name=_name_of(env, owner),
                        tomorrow=(dt.date.today() + dt.timedelta(days=1)).isoformat())  # fmt: skip
    return int(text) if text.isdigit() else text


def _send(env: SuiteEnv, route: str, principal: str, path: str, *, outside: bool = False) -> Any:
    method, _template = route.split(" ", 1)
    w = env.who[principal]
    api = path.startswith("/api/")
    client = env.who["anon"].client if api else w.client  # the API with the bearer token alone
    headers = dict(w.headers) if api else {}
    kind, fields = BODIES.get(route, ("json" if api else "form", {}))
    body = {k: _fill(env, principal, v, outside=outside) for k, v in fields.items()}
    if method == "GET":
        return client.get(path, headers=headers)
    if kind == "login":
        from suite_testkit import _client
        from web_testkit import login_form

        client = _client(env.app)  # a browser of its own: the principal's session stays as it is
        token = login_form(client)
        name = _name(env, principal) if w.user_id else "nobody"
        return client.post(path, data={"name": name, "password": PASSWORD, "csrf_token": token})
    if kind in ("form", "form-upload"):
        data = {"csrf_token": w.csrf, **{k: str(v) for k, v in body.items()}}
        if kind == "form-upload":
            data |= {"kind": "orders", "source": "erp"}
            return client.post(path, data=data, files={"file": ("o.csv", _orders_csv(), "text/csv")})
        return client.request(method, path, data=data)
    if kind == "upload":
        return client.post(path, headers=headers, data={"kind": "orders", "source": "erp"},
                           files={"file": ("o.csv", io.BytesIO(_orders_csv()), "text/csv")})  # fmt: skip
    return client.request(method, path, json=body, headers=headers)


def _name(env: SuiteEnv, principal: str) -> str:
    return _name_of(env, env.who[principal].user_id)


def _name_of(env: SuiteEnv, user_id: int | None) -> str:
    return next((u["name"] for u in env.ws.system().users.all() if u["id"] == user_id), "nobody")


def _outcome(r: Any) -> str:
    location = r.headers.get("location", "")
    if r.status_code in (401, 403, 404) or (r.status_code in (302, 303, 307) and location.startswith("/login")):
        return "no"
    return "5xx" if r.status_code >= 500 else "ok"


def _check(env: SuiteEnv, route: str, principal: str, path: str, code: str, *, outside: bool = False) -> None:
    if route == "POST /logout" and code == "ok":  # sign out a session of its own: it is gone afterwards
        from suite_testkit import _sign_in

        client, csrf = _sign_in(env.app, _name(env, principal))
        token = client.cookies["kehu_session"]
        r = client.post(path, data={"csrf_token": csrf})
        assert r.status_code == 303 and access.resolve_session(env.ws, token) is None, r.text[:300]
        return
    r = _send(env, route, principal, path, outside=outside)
    got = _outcome(r)
    where = f"{route} as {principal}{' (outside ids in the body)' if outside else ''}: {path} -> {r.status_code} " \
            f"{r.text[:300]!r}"  # fmt: skip
    if code == "no":
        assert got == "no", where
        return
    assert got == "ok", where
    if route.startswith("GET ") and code != "open":
        assert r.status_code in (200, 303), where
    w = env.who[principal]
    shown = markers_in(r.text) & env.everyone
    foreign = shown - w.scope
    assert not foreign, f"{where}: shows customers outside the scope: {sorted(foreign)[:10]}"
    if code == "list":
        assert shown, f"{where}: lists none of the principal's customers"


def test_every_route_of_the_app_has_an_entry(tmp_path: Path) -> None:
    """Fast (no store): a new route without a MATRIX entry fails here first."""
    from kehu.config import load_settings
    from kehu.web.app import create_app

    routes = [f"{m} {p}" for m, p in route_table(create_app(load_settings(home=tmp_path)))]
    assert len(routes) > 100
    missing = [r for r in routes if r not in MATRIX]
    assert missing == [], f"routes without an entry in tests/web/access_matrix.py MATRIX: {missing}"
    stale = sorted(set(MATRIX) - set(routes))
    assert stale == [], f"MATRIX entries of routes the app no longer has: {stale}"


@pytest.mark.slow
@pytest.mark.parametrize(("route", "principal"), CELLS, ids=[f"{r}|{p}" for r, p in CELLS])
def test_access(suite: SuiteEnv, route: str, principal: str, request: pytest.FixtureRequest) -> None:
    hole = HOLES.get((route, principal))
    if hole:
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"issue 23: {hole}"))
    code = MATRIX[route].code(principal)
    template = route.split(" ", 1)[1]
    names = _PARAM.findall(template)
    inside = {n: _ids(suite, principal, n, template) for n in names}
    path = _PARAM.sub(lambda m: str(inside[m.group(1)][0]), template) + QUERIES.get(route, "")
    _check(suite, route, principal, path, code)
    outside = {n: v[1] for n, v in inside.items() if v[1] is not None}
    if outside and code in ("ok", "list"):
        values = {n: outside.get(n, v[0]) for n, v in inside.items()}
        other = _PARAM.sub(lambda m: str(values[m.group(1)]), template)
        _check(suite, route, principal, other, "no")
    fields = str(BODIES.get(route, ("", {}))[1])
    outsider = _OWNER_SIDE.get(principal, ("", None))[1]
    if code == "ok" and outsider and ("{customer}" in fields or "{task}" in fields):
        if route in SKIPS_OUTSIDE:  # the request goes through; the object outside the scope stays as it was
            before = _task_state(suite, suite.ids["task"][outsider])
            _check(suite, route, principal, path, "ok", outside=True)
            assert _task_state(suite, suite.ids["task"][outsider]) == before, f"{route} changed another's task"
        else:  # a customer or task outside the scope in the body: refused
            _check(suite, route, principal, path, "no", outside=True)


def _task_state(env: SuiteEnv, task_id: int) -> tuple[Any, ...]:
    import sqlalchemy as sa

    from kehu.store.actions import tasks

    with env.ws.engine.connect() as conn:
        row = conn.execute(sa.select(tasks.c.status, tasks.c.outcome, tasks.c.assignee_id, tasks.c.due_date)
                           .where(tasks.c.id == task_id)).one()  # fmt: skip
    return tuple(row)


@pytest.mark.slow
def test_the_outsiders_really_are_outsiders(suite: SuiteEnv) -> None:
    """The deactivated user and the revoked principal still hold a cookie and a token that once worked."""
    gone = suite.who["deactivated"]
    assert gone.client.cookies.get("kehu_session") and gone.headers["Authorization"].startswith("Bearer ")
    with pytest.raises(access.AuthenticationError):
        access.authenticate_token(suite.ws, gone.headers["Authorization"].split(" ", 1)[1])
    revoked = suite.who["revoked"]
    assert revoked.client.cookies.get("kehu_session")
    assert access.resolve_session(suite.ws, revoked.client.cookies["kehu_session"]) is None
