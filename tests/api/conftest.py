"""Fixtures of the API tests: the web tests' testkits (tests/web/web_testkit.py, task_testkit.py), loaded by path."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

for _kit in ("web_testkit", "task_testkit"):  # task_testkit imports web_testkit: load that first
    if _kit not in sys.modules:
        _spec = importlib.util.spec_from_file_location(_kit, Path(__file__).resolve().parents[1] / "web" / f"{_kit}.py")
        assert _spec is not None and _spec.loader is not None
        sys.modules[_kit] = importlib.util.module_from_spec(_spec)
        _spec.loader.exec_module(sys.modules[_kit])

from web_testkit import web, web_template  # noqa: E402, F401
