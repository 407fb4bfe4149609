"""Test data helpers importable from any test module (``from kehu_testdata import cdnow_path``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def cdnow_path(name: str) -> Path:
    """A CDNOW file (``CDNOW_master.txt`` or ``CDNOW_sample.txt``) shipped inside the ``lifetimes`` wheel."""
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("lifetimes (test extra) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / name
