"""Acceptance: every churn reason published on the demo company and on CDNOW passes the checker of its code: the
purchase-churn reasons and the contract non-renewal reasons, each against its own scored population.

Each published reason is checked against the customer's published features (``customer_scores``, the numbers
the scoring read) and the "typical" figures of the scored customers, recomputed here from the same rows; its
two sentences must be the catalog's, filled with its values.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from kehu.config import load_settings
from kehu.models.churn import CHURN_FEATURES
from kehu.models.reason_checks import CHECKERS, check
from kehu.models.reasons import REASON_GROUPS, reference_values, render
from kehu.service.workspace import Workspace
from kehu.store.published import customer_scores

pytest.importorskip("lightgbm")
pytestmark = pytest.mark.slow


def _published(
    ws: Workspace, risk: str = "churn"
) -> tuple[list[tuple[int, dict[str, float], list[dict[str, Any]]]], dict[str, float]]:
    """(customer id, features, published reasons) of every customer with the ``risk`` (``churn``: purchase churn,
    ``renewal``: contract non-renewal) open, and the reference figures of that population."""
    cols = [customer_scores.c.customer_id, customer_scores.c.scores, *(customer_scores.c[f] for f in CHURN_FEATURES)]
    with ws.engine.connect() as conn:
        rows = conn.execute(sa.select(*cols).order_by(customer_scores.c.customer_id)).all()
    scored = []
    for cid, scores, *features in rows:
        s = json.loads(scores) if isinstance(scores, str) else (scores or {})
        if s.get(f"{risk}_risk") is not None and (risk == "churn" or s.get("renewal_state") == "open"):
            f = {n: (np.nan if v is None else float(v)) for n, v in zip(CHURN_FEATURES, features, strict=True)}
            scored.append((int(cid), f, s[f"{risk}_reasons"]))
    X = np.array([[f[n] for n in CHURN_FEATURES] for _, f, _ in scored], dtype=np.float64)
    return scored, reference_values(X, CHURN_FEATURES) if scored else {}


def _failures(ws: Workspace) -> tuple[list[str], Counter[str]]:
    failures: list[str] = []
    codes: Counter[str] = Counter()
    for risk in ("churn", "renewal"):
        scored, reference = _published(ws, risk)
        for cid, features, reasons in scored:
            for r in reasons:
                code, values = r["code"], r["values"]
                codes[code] += 1
                if code not in CHECKERS:
                    failures.append(f"customer {cid}: {code} has no checker")
                    continue
                problem = check(code, values, features, reference)
                if problem is not None:
                    failures.append(f"customer {cid}: {risk} {code} {values}: {problem}")
                if (r["zh"], r["en"]) != (render(code, values, "zh"), render(code, values, "en")):
                    failures.append(f"customer {cid}: {code}: the sentences are not the catalog's")
            if len({r["code"] for r in reasons}) != len(reasons):
                failures.append(f"customer {cid}: a reason is repeated")
    return failures, codes


def test_every_published_demo_reason_is_true(tmp_path: Path) -> None:
    with Workspace(load_settings(home=tmp_path / "demo")) as ws:
        ws.init()
        ws.load_demo(customers=1_500, seed=11)
        ws.system().models.train(engine="duckdb")
        ws.run(engine="duckdb", progress=lambda *_: None)
        failures, codes = _failures(ws)
    assert not failures, "\n".join(failures[:20])
    assert sum(codes.values()) > 300 and len(codes) >= 6, codes  # the check has something to check
    assert not set(codes) & {"orders_90d", "one_order", "short_history"}  # retired: not true / not risk reasons
    assert REASON_GROUPS["history"]  # tenure and totals stay features of the model, never reasons


def test_every_published_cdnow_reason_is_true(tmp_path: Path) -> None:
    """CDNOW_sample (2,357 customers), trained as in docs/churn.md, scored on the test day 1997-09-30."""
    from kehu_testdata import cdnow_path

    with Workspace(load_settings(home=tmp_path / "cdnow")) as ws:
        ws.init()
        mapping = Path(__file__).resolve().parents[2] / "examples" / "cdnow" / "sample.yaml"
        ws.import_file("orders", cdnow_path("CDNOW_sample.txt"), mapping=mapping, source="cdnow")
        ws.run(engine="duckdb", progress=lambda *_: None)
        ws.system().models.train(engine="duckdb", horizon_days=273, grace_days=0, lapsed_days=400, test_snapshots=1)
        failures, codes = _failures(ws)
    assert not failures, "\n".join(failures[:20])
    assert sum(codes.values()) > 300, codes
