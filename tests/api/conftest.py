"""Fixtures of the API tests: the web tests' testkit (tests/web/web_testkit.py), loaded by path."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_path = Path(__file__).resolve().parents[1] / "web" / "web_testkit.py"
if "web_testkit" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("web_testkit", _path)
    assert _spec is not None and _spec.loader is not None
    sys.modules["web_testkit"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["web_testkit"])

from web_testkit import web, web_template  # noqa: E402, F401
