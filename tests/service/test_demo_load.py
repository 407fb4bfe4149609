"""The demo company goes through the real import path on both stores, and loading it again changes nothing."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from kehu.service.workspace import Workspace
from kehu.store.schema import customer_merges, orders


def test_demo_loads_through_the_importer(workspace: Workspace) -> None:
    first = workspace.load_demo(customers=300, seed=7)
    by_file = {Path(s["path"]).name: s for s in first["imports"]}
    from kehu.demo import generate_demo

    expected = generate_demo(workspace.settings.home / "check", customers=300, seed=7).expected_bad_rows
    for name, summary in by_file.items():
        assert (
            summary["read"] == summary["inserted"] + summary["updated"] + summary["unchanged"] + summary["quarantined"]
        )
        assert summary["quarantined"] == expected[name], name  # exactly the rows the generator spoiled
    assert first["customers"] >= 300 and first["users"] > 0
    with workspace.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(customer_merges)).scalar_one() > 0
        n_orders = conn.execute(select(func.count()).select_from(orders)).scalar_one()
    again = workspace.load_demo(customers=300, seed=7)
    for s in again["imports"]:
        assert s["inserted"] == s["updated"] == s["customers_created"] == s["merges"] == 0, s
    assert again["customers"] == first["customers"]
    with workspace.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(orders)).scalar_one() == n_orders
