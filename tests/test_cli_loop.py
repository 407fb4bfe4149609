"""The closing-the-loop commands as a user runs them: kpis, feedback, tickets, loyalty, campaigns."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from test_cli import kehu


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "orders.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["order_id", "customer_id", "ordered_at", "amount"])
        n = 0
        for c in range(1, 41):
            for month in range(1, 2 + c % 6):
                n += 1
                w.writerow([f"O{n}", f"C{c:03d}", f"2025-{month:02d}-{1 + c % 27:02d}", 100 + 10 * c])
    home = tmp_path / "home"
    assert kehu(home, "init").returncode == 0
    out = kehu(home, "import", "orders", str(path))
    assert out.returncode == 0, out.stderr
    return home


def _json(home: Path, *args: str) -> object:
    out = kehu(home, *args, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.slow
def test_loop_commands(home: Path) -> None:
    k = _json(home, "kpis", "--period", "month", "--as-of", "2025-05-31")
    assert k["period"]["label"] == "2025-05" and k["kpis"]["active_customers"] > 0  # type: ignore[index]
    assert k["kpis"]["nps"] is None and k["kpis"]["task_completion_rate"] is None  # type: ignore[index]
    assert kehu(home, "kpis").returncode == 0
    f = _json(home, "feedback", "--periods", "3")
    assert len(f["trend"]) == 3  # type: ignore[index]

    t = _json(
        home,
        "tickets",
        "create",
        "C001",
        "--topic",
        "退款",
        "--priority",
        "urgent",
        "--complaint",
        "--at",
        "2025-06-01T09:00",
    )
    assert t["priority"] == "urgent" and t["assignee"] is None  # type: ignore[index]
    c = _json(home, "tickets", "check", "--at", "2025-06-01T12:00")
    assert c["new_breaches"] == 1  # type: ignore[index]
    r = _json(home, "tickets", "update", str(t["id"]), "--resolve", "--at", "2025-06-01T13:00")  # type: ignore[index]
    assert r["status"] == "resolved"  # type: ignore[index]
    assert len(_json(home, "tickets", "breaches")) == 1  # type: ignore[arg-type]

    run = _json(home, "loyalty", "run", "--to", "2025-06-30")
    assert run["points_awarded"] > 0  # type: ignore[index]
    assert _json(home, "loyalty", "run", "--to", "2025-06-30")["points_awarded"] == 0  # type: ignore[index]
    a = _json(home, "loyalty", "award", "C001", "review", "--ref", "order:O1", "--on", "2025-06-02")
    assert a["points"] == 50  # type: ignore[index]
    show = _json(home, "loyalty", "show", "C001")
    assert show["balance"] == a["balance"]  # type: ignore[index]
    assert kehu(home, "loyalty", "tiers").returncode == 0
    bad = kehu(home, "loyalty", "redeem", "C001", "999999", "--ref", "x")
    assert bad.returncode == 2 and "cannot redeem" in bad.stderr

    no_run = kehu(home, "campaigns", "create", "x", "--segment", "lifecycle:at_risk", "--template", "hi {name}")
    assert no_run.returncode == 2 and "kehu run" in no_run.stderr
    assert kehu(home, "run").returncode == 0
    made = kehu(
        home,
        "campaigns",
        "create",
        "spring",
        "--rule",
        "{field: orders, ge: 1}",
        "--channel",
        "file",
        "--template",
        "{name} 您好，优惠码 {coupon}",
        "--coupon",
        "C10",
        "--seed",
        "5",
        "--holdout",
        "0.25",
    )
    assert made.returncode == 0, made.stderr
    launched = _json(home, "campaigns", "launch", "spring", "--at", "2025-05-01T10:00")
    assert launched["treatment"] + launched["holdout"] == 40  # type: ignore[index]
    assert launched["delivery"]["sent"] == launched["queued"] == launched["treatment"]  # type: ignore[index]
    lines = (home / "campaigns" / "spring.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == launched["queued"] and "C10" in lines[0]  # type: ignore[index]
    res = _json(home, "campaigns", "results", "spring")
    assert res["messages"]["to_holdout"] == 0 and set(res["verdict"]) == {"zh", "en"}  # type: ignore[index]
    text = kehu(home, "campaigns", "results", "spring", "--lang", "en")
    assert text.returncode == 0 and "holdout" in text.stdout
    assert [c["name"] for c in _json(home, "campaigns", "list")] == ["spring"]  # type: ignore[union-attr,index]
