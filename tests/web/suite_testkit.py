"""The adversarial suite's kit: the app's route table, the eight principals, planted customer markers, the
objects whose ids fill path parameters, and the access MATRIX (one entry per route; see access_matrix.py).

One seeded store per test module (a copy of the session's demo template): every customer's name carries a
marker ``kq<id>z``, so a response can be checked for customers outside the principal's scope by reading the
markers in it.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from web_testkit import PASSWORD, login_form

from kehu.config import Settings, load_settings
from kehu.service import access
from kehu.service.workspace import Workspace
from kehu.store.actions import outbox, tasks
from kehu.store.auth import api_tokens, web_sessions
from kehu.store.notifications import add_notification, notifications
from kehu.store.refresh import refresh_runs
from kehu.store.schema import customers, tickets, users
from kehu.web.render import SESSION_COOKIE

#: the principals of the matrix, in the order of its columns
PRINCIPALS = ("admin", "manager_x", "manager_y", "rep_a", "rep_b", "anon", "deactivated", "revoked")
MARKER = re.compile(r"kq(\d+)z")


def marker(customer_id: int) -> str:
    """The marker planted in a customer's name."""
    return f"kq{customer_id}z"


def route_table(app: Any) -> list[tuple[str, str]]:
    """Every (method, path) the app answers (HEAD left out; a mount as ``GET <path>``), in declaration order."""

    def walk(routes: list[Any], prefix: str) -> Iterator[tuple[str, str]]:
        for route in routes:
            if hasattr(route, "original_router"):  # FastAPI's included router
                yield from walk(route.original_router.routes, prefix + route.include_context.prefix)
            elif hasattr(route, "methods") and route.methods:
                for method in sorted(set(route.methods) - {"HEAD"}):
                    yield method, prefix + route.path
            else:
                yield "GET", prefix + route.path

    return list(dict.fromkeys(walk(app.routes, "")))


@dataclass
class Who:
    """One principal: a signed-in web client (cookie session) and API headers (bearer token), or neither."""

    key: str
    user_id: int | None
    role: str | None
    client: Any
    headers: dict[str, str]
    csrf: str = ""
    #: customers this principal may see
    scope: set[int] = field(default_factory=set)


@dataclass
class SuiteEnv:
    """The module's store, app and principals, plus the ids of planted objects."""

    home: Path
    settings: Settings
    ws: Workspace
    app: Any
    who: dict[str, Who]
    everyone: set[int]
    #: kind -> owner principal key -> an id (customer, task, ticket, backlog, notification, token)
    ids: dict[str, dict[str, Any]]
    campaign: str
    #: rep key (rep_a, rep_b, other_rep) -> user id
    reps: dict[str, int]


def _client(app: Any) -> Any:
    from fastapi.testclient import TestClient

    return TestClient(app, follow_redirects=False)


def _sign_in(app: Any, name: str) -> tuple[Any, str]:
    client = _client(app)
    token = login_form(client)
    r = client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303, r.text[:300]
    page = client.get("/account").text
    mark = 'name="csrf_token" value="'
    start = page.index(mark) + len(mark)
    return client, page[start : page.index('"', start)]


def _scope(conn: Any, *, role: str, user_id: int, team: str | None) -> set[int]:
    if role == "admin":
        return set(conn.execute(sa.select(customers.c.id)).scalars())
    if role == "manager":
        stmt = sa.select(customers.c.id).join(users, users.c.id == customers.c.owner_id).where(users.c.team == team)
        return set(conn.execute(stmt).scalars())
    return set(conn.execute(sa.select(customers.c.id).where(customers.c.owner_id == user_id)).scalars())


def build_suite(template: Path, info: dict[str, Any], home: Path) -> SuiteEnv:
    """Copy the demo template to ``home``, plant markers and objects, sign the principals in."""
    from kehu.web.app import create_app

    shutil.copytree(template, home)
    settings = load_settings(home=home)
    ws = Workspace(settings)
    app = create_app(settings, workspace=ws)
    acc = info["accounts"]
    other_team = acc["other_rep"]["team"]
    all_users = ws.system().users.all()
    manager_y = next(u for u in all_users if u["role"] == "manager" and u["team"] == other_team)
    access.reset_password(ws, None, manager_y["id"], PASSWORD)
    gone = access.create_user(ws, "gone", role="rep", password=PASSWORD, team=acc["rep_a"]["team"])
    with ws.engine.begin() as conn:
        conn.execute(
            sa.update(customers).values(name="kq" + sa.cast(customers.c.id, sa.String) + "z " + customers.c.name)
        )
    people = {
        "admin": acc["admin"], "manager_x": acc["manager"],
        "manager_y": dict(id=manager_y["id"], name=manager_y["name"], role="manager", team=other_team),
        "rep_a": acc["rep_a"], "rep_b": acc["rep_b"], "other_rep": acc["other_rep"],
        "deactivated": dict(id=gone, name="gone", role="rep", team=acc["rep_a"]["team"]),
        "revoked": acc["rep_a"],
    }  # fmt: skip
    who: dict[str, Who] = {}
    with ws.engine.connect() as conn:
        for key, p in people.items():
            client, csrf = _sign_in(app, p["name"])
            principal = access.Principal(p["id"], p["name"], p["name"], p["role"], p["team"], None)
            _tid, token = access.create_api_token(ws, principal, f"suite-{key}")
            scope = _scope(conn, role=p["role"], user_id=p["id"], team=p["team"])
            who[key] = Who(key, p["id"], p["role"], client, {"Authorization": f"Bearer {token}"}, csrf, scope)
        everyone = set(conn.execute(sa.select(customers.c.id)).scalars())
    who["anon"] = Who("anon", None, None, _client(app), {}, "", set())
    with ws.engine.begin() as conn:
        # deactivated: the user's session and token exist, the user is inactive
        conn.execute(sa.update(users).where(users.c.id == people["deactivated"]["id"]).values(active=False))
        # revoked: rep A's session row and token row of this principal deleted (a signed-out cookie, a revoked token)
        revoked = who["revoked"]
        digest = access._digest(revoked.client.cookies[SESSION_COOKIE])
        conn.execute(sa.delete(web_sessions).where(web_sessions.c.id == digest))
        conn.execute(sa.delete(api_tokens).where(api_tokens.c.name == "suite-revoked"))
    for key in ("deactivated", "revoked", "anon"):
        who[key].scope = set()
    ids = _plant(ws, who, info)
    campaign = _campaign(ws, who)
    reps = {k: int(acc[k]["id"]) for k in ("rep_a", "rep_b", "other_rep")}
    return SuiteEnv(home, settings, ws, app, who, everyone, ids, campaign, reps)


def _plant(ws: Workspace, who: dict[str, Who], info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Tasks, backlog entries and tokens per rep; the customers and tickets they own."""
    from task_testkit import add_backlog_entry

    owned = info["owned"]
    rep_ids = {"rep_a": info["accounts"]["rep_a"]["id"], "rep_b": info["accounts"]["rep_b"]["id"],
               "other_rep": info["accounts"]["other_rep"]["id"]}  # fmt: skip
    ids: dict[str, dict[str, Any]] = {
        "customer": dict(owned),
        "task": {},
        "ticket": {},
        "backlog": {},
        "notification": {},
        "token": {},
    }
    now = dt.datetime.now(dt.UTC)
    shim = _KitWeb(ws, info)
    with ws.engine.begin() as conn:
        for key, uid in rep_ids.items():
            ids["task"][key] = conn.execute(
                sa.insert(tasks)
                .values(customer_id=owned[key], assignee_id=uid, title=f"call {marker(owned[key])}",
                        priority="high", status="open", due_date=now.date(), created_at=now, updated_at=now)
                .returning(tasks.c.id)
            ).scalar_one()  # fmt: skip
            ticket = conn.execute(
                sa.select(tickets.c.id).join(customers, customers.c.id == tickets.c.customer_id)
                .where(customers.c.owner_id == uid).order_by(tickets.c.id).limit(1)
            ).scalar_one()  # fmt: skip
            ids["ticket"][key] = ticket
            add_notification(conn, user_id=uid, kind="task_assigned", key=f"suite:{key}",
                             params={"title": marker(owned[key])}, link=f"/customers/{owned[key]}", now=now,
                             customer_id=owned[key])  # fmt: skip
            ids["notification"][key] = conn.execute(
                sa.select(notifications.c.id).where(notifications.c.key == f"suite:{key}")
            ).scalar_one()
        for key, w in who.items():
            if w.user_id is not None and key not in ("rep_a", "rep_b"):
                add_notification(conn, user_id=w.user_id, kind="task_assigned", key=f"suite:{key}",
                                 params={"title": "matrix"}, link="/tasks", now=now)  # fmt: skip
                ids["notification"][key] = conn.execute(
                    sa.select(notifications.c.id).where(notifications.c.key == f"suite:{key}")
                ).scalar_one()
        ids["refresh_run"] = {"any": conn.execute(
            sa.insert(refresh_runs).values(trigger="cli", started_at=now, finished_at=now, beat_at=now, status="done",
                                           steps=[]).returning(refresh_runs.c.id)
        ).scalar_one()}  # fmt: skip
        ids["outbox"] = {}
        for key in rep_ids:  # a dead message of each rep's customer, for the retry route (a manager's team only)
            ids["outbox"][key] = conn.execute(
                sa.insert(outbox)
                .values(idempotency_key=f"suite:{key}", customer_id=owned[key], kind="message", channel="email",
                        payload={"to": "x@example.invalid"}, status="dead", attempts=5, created_at=now,
                        next_attempt_at=now, last_error="matrix")
                .returning(outbox.c.id)
            ).scalar_one()  # fmt: skip
    for key in rep_ids:
        ids["backlog"][key] = add_backlog_entry(shim, key)[0]  # type: ignore[arg-type]
    for key, w in who.items():  # a spare token of each user, for the revoke route
        if w.user_id is not None:
            p = access.Principal(w.user_id, key, key, w.role or "rep", None, None)
            ids["token"][key] = access.create_api_token(ws, p, f"spare-{key}")[0]
    playbooks = who["admin"].client.get("/playbooks.json").json()
    ids["playbook"] = {"any": _first_name(playbooks)}
    return ids


def _first_name(overview: dict[str, Any]) -> str:
    """The name of the first playbook of the playbooks overview."""
    for value in overview.values():
        if isinstance(value, list) and value and isinstance(value[0], dict) and "name" in value[0]:
            return str(value[0]["name"])
    raise AssertionError(f"no playbook in {list(overview)}")


class _KitWeb:
    """What task_testkit's helpers read of a WebEnv (its workspace, accounts and owned customers)."""

    def __init__(self, ws: Workspace, info: dict[str, Any]) -> None:
        from web_testkit import Account

        self.ws = ws
        self.accounts = {k: Account(**v) for k, v in info["accounts"].items()}
        self.owned = dict(info["owned"])


def _campaign(ws: Workspace, who: dict[str, Who]) -> str:
    """A launched campaign created by the manager of team X (its members span the company's lost customers)."""
    client, csrf = who["manager_x"].client, who["manager_x"].csrf
    form = {"csrf_token": csrf, "name": "suitecamp", "target_kind": "segment", "segment": "lifecycle:lost",
            "channel": "file", "template": "{name} back", "coupon": "BACK20", "holdout": "20", "seed": "7",
            "window": "30", "lapse_days": "180", "stratify_by": ""}  # fmt: skip
    r = client.post("/campaigns", data=form)
    assert r.status_code == 303, r.text[:500]
    r = client.post("/campaigns/suitecamp/launch", data={"csrf_token": csrf})
    assert r.status_code in (200, 303), r.text[:500]
    return "suitecamp"


def markers_in(text: str) -> set[int]:
    """The customer ids whose markers appear in ``text``."""
    return {int(m) for m in MARKER.findall(text)}
