"""The hostile corpus of the adversarial suite: markup and script payloads (XSS, ECharts labels and tooltips) and
spreadsheet formula payloads, planted in customers, companies, tags, a region (a chart label), notes, tickets,
tasks, a user's display name and a campaign's texts; shared by the XSS (Chromium) and the export formula tests.

The customers and tickets arrive through the importer (a customers and a tickets CSV, as a user would bring them);
the payloads with a leading tab or carriage return, which the importer trims, are also written to the store
directly so the exporters meet them as they are.
"""

from __future__ import annotations

import csv
import io
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from web_testkit import PASSWORD

from kehu.config import Settings, load_settings
from kehu.service import access
from kehu.service.workspace import Workspace
from kehu.store.schema import customers, import_runs, users

#: markup that runs script if rendered unescaped; each sets the trap window.__xss
XSS = (
    "<script>window.__xss=1</script>",
    "\"'><img src=x onerror=window.__xss=1>",
    "javascript:window.__xss=1",
    "<img src=x onerror=window.__xss=1>",
    "<svg/onload=window.__xss=1>",
    "</script><script>window.__xss=1</script>",
    '<a href="javascript:window.__xss=1">x</a>',
    "<b onmouseover=window.__xss=1>hover</b>",
    '<iframe srcdoc="<script>parent.__xss=1</script>"></iframe>',
)
#: text a spreadsheet program would run as a formula
FORMULAS = ("=cmd|' /C calc'!A0", "@SUM(1)", "+1", "-1", "\tTAB=1", "\rCR=1", '=HYPERLINK("http://x","y")')
CORPUS = XSS + FORMULAS
#: the region of every planted customer: enough of them to be a label of the dashboard's regions chart
REGION = XSS[3]
#: a campaign whose template, coupon and description carry the corpus
CAMPAIGN = "hostile"


@dataclass
class CorpusEnv:
    """A store with the corpus planted, its app, and the planted customers."""

    home: Path
    settings: Settings
    ws: Workspace
    app: Any
    accounts: dict[str, dict[str, Any]]
    #: customer id -> the corpus entry in its name
    planted: dict[int, str]
    #: the import runs whose quarantine file carries the corpus
    quarantine_runs: list[int]


def _csv(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode("utf-8")


def build_corpus(template: Path, info: dict[str, Any], home: Path) -> CorpusEnv:
    """Copy the demo template to ``home`` and plant the corpus (owned by rep A, so both a rep and the admin see it)."""
    from kehu.web.app import create_app

    shutil.copytree(template, home)
    settings = load_settings(home=home)
    ws = Workspace(settings)
    acc = info["accounts"]
    rep_a = acc["rep_a"]
    n = len(CORPUS)
    rows = [["customer_id", "name", "company", "tags", "region", "city", "phone"]]
    for i, text in enumerate(CORPUS):
        rows.append([f"XSS{i:03d}", text, CORPUS[(i + 1) % n], CORPUS[(i + 2) % n].replace(",", " "),
                     REGION, CORPUS[(i + 4) % n], f"1390000{i:04d}"])  # fmt: skip
    # rows the importer refuses (no id, an impossible phone): quarantined with their hostile text
    for i, text in enumerate(CORPUS):
        rows.append(["", text, text, "", "", "", ""])
        rows.append([f"BAD{i:03d}", text, text, "", "", "", "not a phone " + text])
    upload = home / "hostile-customers.csv"
    upload.write_bytes(_csv(rows))
    with ws.engine.connect() as conn:
        before = conn.execute(sa.select(sa.func.max(customers.c.id))).scalar_one()
    ws.import_file("customers", upload, source="hostile")
    orders = [["order_id", "customer_id", "order_date", "amount"]]  # buyers: they are placed in segments
    for i in range(n):
        orders += [[f"O-XSS-{i}-1", f"XSS{i:03d}", "2026-09-01", "120.50"],
                   [f"O-XSS-{i}-2", f"XSS{i:03d}", "2026-11-15", "80"]]  # fmt: skip
    orders_file = home / "hostile-orders.csv"
    orders_file.write_bytes(_csv(orders))
    ws.import_file("orders", orders_file, source="hostile")
    tickets = [["ticket_id", "customer_id", "opened_at", "topic", "assignee"]]
    for i, text in enumerate(CORPUS):
        tickets.append([f"T-XSS-{i}", f"XSS{i:03d}", "2026-11-01 10:00", text, CORPUS[(i + 5) % n]])
    tickets.append(["", "XSS000", "2026-11-01", *CORPUS[:1], ""])  # refused: no ticket id
    tickets_file = home / "hostile-tickets.csv"
    tickets_file.write_bytes(_csv(tickets))
    ws.import_file("tickets", tickets_file, source="hostile")
    with ws.engine.begin() as conn:
        conn.execute(sa.update(customers).where(customers.c.id > before).values(owner_id=rep_a["id"]))
        planted = dict(conn.execute(sa.select(customers.c.id, customers.c.name).where(customers.c.id > before)).all())
        # what the importer trims reaches the store as typed by another tool
        for cid, text in list(planted.items()):
            original = next((c for c in CORPUS if c.strip() == text), text)
            if original != text:
                conn.execute(sa.update(customers).where(customers.c.id == cid).values(name=original, company=original))
                planted[cid] = original
        # a rep whose display name is a payload (owners are chart labels and table cells)
        conn.execute(sa.update(users).where(users.c.id == rep_a["id"]).values(display_name=XSS[3]))
        runs = list(conn.execute(
            sa.select(import_runs.c.id)
            .where(import_runs.c.source == "hostile", import_runs.c.quarantine_file.is_not(None))
        ).scalars())  # fmt: skip
    rep = access.Principal(rep_a["id"], rep_a["name"], rep_a["name"], "rep", rep_a["team"], None)
    actor = ws.as_user(rep)
    for i, (cid, text) in enumerate(sorted(planted.items())):
        actor.customers.add_note(cid, text)
        actor.customers.create_task(cid, title=text.strip() or "task", body=CORPUS[(i + 7) % n], priority="high")
    ws.run()  # scores, segments and charts over the planted customers
    app = create_app(settings, workspace=ws)
    env = CorpusEnv(home, settings, ws, app, acc, planted, runs)
    _campaign(env)
    return env


@pytest.fixture(scope="session")
def corpus(web_template: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The demo store with the corpus planted, built once per session (the tests that use it only read)."""
    template, info = web_template
    env = build_corpus(template, info, tmp_path_factory.mktemp("corpus") / "home")
    yield env
    env.ws.close()


def _campaign(env: CorpusEnv) -> None:
    """A launched campaign with the corpus in its template and coupon (created by the manager)."""
    from fastapi.testclient import TestClient
    from web_testkit import csrf_of, login_form

    c = TestClient(env.app, follow_redirects=False)
    token = login_form(c)
    r = c.post("/login", data={"name": env.accounts["manager"]["name"], "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303
    csrf = csrf_of(c.get("/campaigns").text)
    form = {"csrf_token": csrf, "name": CAMPAIGN, "target_kind": "segment", "segment": "lifecycle:lost",
            "channel": "file", "template": " ".join(XSS), "coupon": "X1", "holdout": "20", "seed": "7",
            "window": "30", "lapse_days": "180", "stratify_by": ""}  # fmt: skip
    r = c.post("/campaigns", data=form)
    assert r.status_code == 303, _error_of(r.text)
    r = c.post(f"/campaigns/{CAMPAIGN}/launch", data={"csrf_token": csrf})
    assert r.status_code in (200, 303), r.text[:800]
    c.close()


def _error_of(page: str) -> str:
    import html
    import re

    found = re.search(r'id="campaign-error"[^>]*>(.*?)<', page, re.S)
    return html.unescape(found.group(1)) if found else page[-600:]


def starts_a_formula(cell: Any) -> bool:
    """Whether a spreadsheet program would run ``cell`` as a formula."""
    return isinstance(cell, str) and cell.startswith(("=", "+", "-", "@", "\t", "\r"))
