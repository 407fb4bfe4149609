"""The public API in ``kehu/__init__.py``: sorted, complete, each name what its home module defines, cheap to import."""

from __future__ import annotations

import importlib
import subprocess
import sys

import kehu


def test_all_is_sorted_and_unique() -> None:
    assert kehu.__all__ == sorted(set(kehu.__all__))


def test_every_public_name_resolves_to_its_definition() -> None:
    for name in kehu.__all__:
        value = getattr(kehu, name)
        home = importlib.import_module(kehu._HOME[name])
        assert value is getattr(home, name), name


def test_every_error_of_the_tree_is_public() -> None:
    import kehu.errors

    assert set(kehu.errors.__all__) <= set(kehu.__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        kehu.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("kehu.no_such_name did not raise")


def test_import_kehu_loads_no_heavy_library() -> None:
    code = (
        "import sys, kehu; print(','.join(m for m in ('sqlalchemy', 'numpy', 'ibis', 'fastapi') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
