"""Behaviour stays: what the CLI and the web pages' JSON twins show of a seeded demo company is what it was.

The golden files in ``tests/golden`` were recorded from the code before the redesign of issue 16
(``KEHU_GOLDEN_RECORD=1 pytest tests/test_golden.py`` writes them anew; do that only for a deliberate change of
behaviour, and say so in the commit).
"""

from __future__ import annotations

import json
import os

import pytest

from golden_kit import GOLDEN_DIR, build, collect

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    home = tmp_path_factory.mktemp("golden") / "home"
    info = build(home)
    return collect(home, info)


def test_golden_outputs_unchanged(outputs: dict[str, object]) -> None:
    if os.environ.get("KEHU_GOLDEN_RECORD") == "1":
        GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
        for name, value in outputs.items():
            (GOLDEN_DIR / f"{name}.json").write_text(
                json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8"
            )
    recorded = sorted(p.stem for p in GOLDEN_DIR.glob("*.json"))
    assert recorded == sorted(outputs), "the golden outputs and the recorded files differ in name"
    changed = [
        name
        for name in recorded
        if json.loads(json.dumps(outputs[name], sort_keys=True))
        != json.loads((GOLDEN_DIR / f"{name}.json").read_text(encoding="utf-8"))
    ]
    assert not changed, f"changed: {', '.join(changed)}"
