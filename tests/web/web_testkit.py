"""Shared fixtures of the web and API tests: a seeded demo workspace with known users, and signed-in clients.

The demo company (300 customers, seed 1) is generated once per test session into a template folder; each test
gets its own copy, so tests that change users or data cannot affect one another.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from kehu.config import Settings, load_settings
from kehu.service import access
from kehu.service.workspace import Workspace
from kehu.store.schema import customers, metadata

PASSWORD = "correct horse battery"
SCRIPT_NAME = "<script>alert('xss')</script>"
IMG_COMPANY = '"><img src=x onerror="document.title=1">'


@dataclass(frozen=True)
class Account:
    """A user of the test workspace with their password."""

    id: int
    name: str
    role: str
    team: str | None
    password: str = PASSWORD


@dataclass
class WebEnv:
    """One test's workspace, app and well-known users and customers."""

    home: Path
    settings: Settings
    ws: Workspace
    app: Any
    accounts: dict[str, Account]
    #: account key -> a customer owned by that account (rep_a, rep_b, other_rep)
    owned: dict[str, int]
    script_customer: int
    _clients: list[Any] = field(default_factory=list)

    def client(self, **kwargs: Any) -> Any:
        """A fresh TestClient (no session)."""
        from fastapi.testclient import TestClient

        c = TestClient(self.app, **kwargs)
        self._clients.append(c)
        return c

    def login(self, who: str, client: Any = None) -> Any:
        """A client signed in as ``who`` (an accounts key)."""
        c = client or self.client()
        login_form(c)
        account = self.accounts[who]
        r = c.post(
            "/login",
            data={"name": account.name, "password": account.password, "csrf_token": c.cookies["kehu_login_csrf"]},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        return c

    def token(self, who: str) -> dict[str, str]:
        """Authorization headers with a fresh API token of ``who``."""
        account = self.accounts[who]
        p = access.Principal(account.id, account.name, account.name, account.role, account.team, None)
        _tid, token = access.create_api_token(self.ws, p, f"test-{who}")
        return {"Authorization": f"Bearer {token}"}


def login_form(client: Any) -> str:
    """Open the login page (sets the login CSRF cookie); returns its token."""
    r = client.get("/login")
    assert r.status_code == 200
    return str(client.cookies["kehu_login_csrf"])


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def _build_template(home: Path) -> dict[str, Any]:
    ws = Workspace(load_settings(home=home))
    ws.init()
    metadata.create_all(ws.engine)  # tables of this build that have no migration yet
    with ws.engine.begin() as conn:  # and indexes on existing tables (create_all skips those)
        for index in customers.indexes:
            index.create(conn, checkfirst=True)
    ws.load_demo(customers=300, seed=1)
    day = dt.date.fromisoformat(ws.run()["as_of"])  # scores and segments for the pages that show them
    ws.run(as_of=day - dt.timedelta(days=91))  # an earlier run: trends and flows between runs
    users = ws.system().users.all()
    with ws.engine.connect() as conn:
        counts = dict(
            conn.execute(
                select(customers.c.owner_id, func.count())
                .where(customers.c.owner_id.is_not(None))
                .group_by(customers.c.owner_id)
            ).all()
        )
    reps = sorted((u for u in users if u["role"] == "rep" and counts.get(u["id"])), key=lambda u: -counts[u["id"]])
    rep_a = reps[0]
    rep_b = next(u for u in reps if u["team"] == rep_a["team"] and u["id"] != rep_a["id"])
    other = next(u for u in reps if u["team"] != rep_a["team"])
    manager = next(u for u in users if u["role"] == "manager" and u["team"] == rep_a["team"])
    access.create_user(ws, "admin", role="admin", password=PASSWORD, display_name="Admin")
    chosen = {"rep_a": rep_a, "rep_b": rep_b, "other_rep": other, "manager": manager}
    for u in chosen.values():
        access.reset_password(ws, None, u["id"], PASSWORD)
    accounts = {k: dict(id=u["id"], name=u["name"], role=u["role"], team=u["team"]) for k, u in chosen.items()}
    admin = next(u for u in ws.system().users.all() if u["name"] == "admin")
    accounts["admin"] = dict(id=admin["id"], name="admin", role="admin", team=None)
    owned = {}
    with ws.engine.begin() as conn:
        for key in ("rep_a", "rep_b", "other_rep"):
            owned[key] = conn.execute(
                select(func.min(customers.c.id)).where(customers.c.owner_id == accounts[key]["id"])
            ).scalar_one()
        script_customer = conn.execute(
            select(func.max(customers.c.id)).where(customers.c.owner_id == accounts["rep_a"]["id"])
        ).scalar_one()
        conn.execute(
            update(customers)
            .where(customers.c.id == script_customer)
            .values(name=SCRIPT_NAME, company=IMG_COMPANY, tags=["<b>vip</b>"])
        )
    ws.close()
    return {"accounts": accounts, "owned": owned, "script_customer": script_customer}


@pytest.fixture(scope="session")
def web_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The seeded demo workspace, built once per session (copied for each test)."""
    home = tmp_path_factory.mktemp("web-template") / "home"
    info = _build_template(home)
    return home, info


@pytest.fixture
def web(web_template: tuple[Path, dict[str, Any]], tmp_path: Path) -> Iterator[WebEnv]:
    """A private copy of the demo workspace with the app over it."""
    from kehu.web.app import create_app

    template, info = web_template
    home = tmp_path / "home"
    shutil.copytree(template, home)
    settings = load_settings(home=home)
    ws = Workspace(settings)
    app = create_app(settings, workspace=ws)
    env = WebEnv(
        home=home,
        settings=settings,
        ws=ws,
        app=app,
        accounts={k: Account(**v) for k, v in info["accounts"].items()},
        owned=dict(info["owned"]),
        script_customer=int(info["script_customer"]),
    )
    yield env
    for c in env._clients:
        c.close()
    ws.close()


class _FormFields(HTMLParser):
    """The submitted values of one form (hidden and text inputs, selected options) by field name."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id, self.inside, self.select = form_id, False, None
        self.values: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        elif self.inside and tag == "input" and a.get("name") and a.get("type") not in ("file", "submit"):
            self.values[str(a["name"])] = a.get("value") or ""
        elif self.inside and tag == "select":
            self.select = a.get("name")
        elif self.inside and tag == "option" and self.select and "selected" in a:
            self.values[str(self.select)] = a.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None


def form_fields(html: str, form_id: str) -> dict[str, str]:
    """What submitting the form ``form_id`` of ``html`` unchanged would send."""
    parser = _FormFields(form_id)
    parser.feed(html)
    return parser.values


def start_previewed_import(
    client: Any, preview_html: str, *, source: str, changes: dict[str, str] | None = None, timeout: float = 60
) -> str:
    """Confirm an import preview (optionally changing fields) and wait until the job ended; returns its id."""
    fields = {**form_fields(preview_html, "mapping-form"), "source": source, **(changes or {})}
    r = client.post("/imports/start", data=fields, follow_redirects=False)
    assert r.status_code == 303, r.text[:800]
    job = r.headers["location"].rsplit("/", 1)[-1]
    deadline = time.monotonic() + timeout
    while True:
        state = client.get(f"/imports/jobs/{job}.json").json()["job"]
        if state["state"] not in ("running", "queued"):
            return job
        assert time.monotonic() < deadline, state
        time.sleep(0.05)
