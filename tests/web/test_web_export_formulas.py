"""No export cell starts a formula (issue 23, acceptance 5): every CSV/XLSX download of the route table, with the
hostile corpus (markup and formula payloads) in names, companies, tags, regions and the quarantine.

The export routes are found in the app's route table (a path ending in ``.csv`` or ``/export.{fmt}``); one that
this module does not know fails the test. Each is read as the admin and as rep A, who owns the planted customers.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa
from corpus_testkit import FORMULAS, CorpusEnv, starts_a_formula
from suite_testkit import route_table
from web_testkit import PASSWORD, login_form

from kehu.store.segments import segment_memberships, segment_runs

#: export route -> the downloads it stands for (``{scheme}``/``{segment}``: a segment with planted customers)
EXPORTS = {
    "GET /customers/export.csv": ["/customers/export.csv", "/customers/export.csv?q=%3D"],
    "GET /segments/{scheme}/{segment}/export.{fmt}": ["/segments/{scheme}/{segment}/export.csv",
                                                      "/segments/{scheme}/{segment}/export.xlsx"],
    "GET /imports/{run_id:id}/quarantine.csv": ["/imports/{run}/quarantine.csv"],
    "GET /api/imports/{run_id}/quarantine.csv": ["/api/imports/{run}/quarantine.csv"],
}  # fmt: skip
#: the quarantine file's writer is engineer A's (issue 23: quarantine formulas); only tested here


def _client(env: CorpusEnv, who: str) -> Any:
    from fastapi.testclient import TestClient

    c = TestClient(env.app)
    token = login_form(c)
    r = c.post("/login", data={"name": env.accounts[who]["name"], "password": PASSWORD, "csrf_token": token},
               follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    return c


def _segment(env: CorpusEnv) -> tuple[str, str]:
    """A (scheme, segment) of the newest runs with the most planted customers in it."""
    with env.ws.engine.connect() as conn:
        newest = sa.select(segment_runs.c.scheme, sa.func.max(segment_runs.c.id).label("id")).group_by(
            segment_runs.c.scheme
        ).subquery()  # fmt: skip
        row = conn.execute(
            sa.select(newest.c.scheme, segment_memberships.c.segment, sa.func.count().label("n"))
            .join(newest, newest.c.id == segment_memberships.c.run_id)
            .where(segment_memberships.c.customer_id.in_(list(env.planted)))
            .group_by(newest.c.scheme, segment_memberships.c.segment)
            .order_by(sa.desc("n"))
        ).first()  # fmt: skip
    assert row is not None, "no planted customer is in a segment"
    return str(row[0]), str(row[1])


def _cells(response: Any) -> list[Any]:
    kind = response.headers["content-type"]
    if "spreadsheetml" in kind:
        book = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True)
        return [c for sheet in book.worksheets for row in sheet.iter_rows(values_only=True) for c in row]
    assert kind.startswith("text/csv"), kind
    text = response.content.decode("utf-8-sig")
    return [c for row in csv.reader(io.StringIO(text, newline="")) for c in row]


def test_every_export_of_the_route_table_is_checked(tmp_path: Path) -> None:
    from kehu.config import load_settings
    from kehu.web.app import create_app

    app = create_app(load_settings(home=tmp_path))
    exports = {f"{m} {p}" for m, p in route_table(app) if p.endswith(".csv") or "/export." in p}
    assert exports == set(EXPORTS), f"export routes: {sorted(exports)}; checked: {sorted(EXPORTS)}"


@pytest.mark.slow
@pytest.mark.parametrize("who", ["admin", "rep_a"])
@pytest.mark.parametrize("route", [r for r in EXPORTS if "quarantine" not in r])
def test_no_export_cell_starts_a_formula(corpus: CorpusEnv, route: str, who: str) -> None:
    scheme, segment = _segment(corpus)
    c = _client(corpus, who)
    for url in EXPORTS[route]:
        r = c.get(url.format(scheme=scheme, segment=segment))
        assert r.status_code == 200, (url, r.text[:300])
        cells = _cells(r)
        bad = [cell for cell in cells if starts_a_formula(cell)]
        assert bad == [], f"{url}: cells that start a formula: {bad[:10]}"
        # the payloads did reach the file, as text
        kept = {cell for cell in cells if isinstance(cell, str)}
        assert {"'" + f for f in FORMULAS} & kept, f"{url}: no planted formula payload in the file"
    c.close()


@pytest.mark.slow
@pytest.mark.parametrize("route", [r for r in EXPORTS if "quarantine" in r])
def test_no_quarantine_cell_starts_a_formula(corpus: CorpusEnv, route: str) -> None:
    c = _client(corpus, "admin")
    headers = {}
    if route.startswith("GET /api/"):
        from kehu.service import access

        a = corpus.accounts["admin"]
        p = access.Principal(a["id"], a["name"], a["name"], "admin", None, None)
        headers = {"Authorization": f"Bearer {access.create_api_token(corpus.ws, p, 'formulas')[1]}"}
    assert corpus.quarantine_runs
    for run in corpus.quarantine_runs:
        r = c.get(EXPORTS[route][0].format(run=run), headers=headers)
        assert r.status_code == 200, r.text[:300]
        cells = _cells(r)
        assert any(isinstance(x, str) and "window.__xss" in x for x in cells)  # the hostile rows are in it
        bad = [cell for cell in cells if starts_a_formula(cell)]
        assert bad == [], f"quarantine of run {run}: cells that start a formula: {bad[:10]}"
    c.close()
