"""``kehu import`` of a zip bomb or a crafted sparse sheet: refused with a message naming the file, exit code 2,
in under 5 s and under 500 MB of memory (the command and every process it starts), never a crash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbook_kit import sparse_sheet, zip_bomb

#: runs the command as its child and prints its exit code, seconds and the peak RSS (KB) of it and its children
_MEASURE = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({"code": done.returncode, "seconds": time.perf_counter() - started, "stderr": done.stderr,
                  "peak_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("cli-hostile") / "home"
    env = {**os.environ, "KEHU_HOME": str(home)}
    subprocess.run([sys.executable, "-m", "kehu.cli", "init"], env=env, check=True, capture_output=True)
    return home


def _kehu_import(home: Path, path: Path, locale: str, *, evade_scan: bool = False) -> dict[str, object]:
    env = {**os.environ, "KEHU_HOME": str(home), "KEHU_LOCALE": locale}
    command = [sys.executable, "-m", "kehu.cli", "import", "customers", str(path)]
    if evade_scan:  # the used-range check switched off: the native reader itself meets the sparse sheet
        code = (
            "import sys, kehu.ingest.workbooks as w; w.sheet_extent = lambda *a, **k: 0; "
            "from kehu.cli import main; sys.argv = ['kehu', *sys.argv[1:]]; main()"
        )
        command = [sys.executable, "-c", code, "import", "customers", str(path)]
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *command], env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.slow
def test_the_cli_refuses_a_zip_bomb_in_time_and_memory(home: Path, tmp_path: Path) -> None:
    bomb = zip_bomb(tmp_path / "炸弹.xlsx")
    zh = _kehu_import(home, bomb, "zh-CN")
    assert zh["code"] == 2 and zh["seconds"] < 5 and zh["peak_kb"] < 500 * 1024, zh  # type: ignore[operator]
    assert f"error: {bomb}：文件过大 / 不是有效的工作簿" in str(zh["stderr"])
    assert "Traceback" not in str(zh["stderr"])
    en = _kehu_import(home, bomb, "en")
    assert en["code"] == 2 and f"error: {bomb}: file too large / not a valid workbook" in str(en["stderr"])


@pytest.mark.slow
def test_the_cli_refuses_a_sparse_sheet_and_survives_the_reader_aborting(home: Path, tmp_path: Path) -> None:
    sparse = sparse_sheet(tmp_path / "sparse.xlsx")
    scanned = _kehu_import(home, sparse, "en")
    assert scanned["code"] == 2 and scanned["seconds"] < 5 and scanned["peak_kb"] < 500 * 1024, scanned  # type: ignore[operator]
    assert f"{sparse}: file too large: sheet 客户 spans A1:XFD1048576" in str(scanned["stderr"])
    aborted = _kehu_import(home, sparse, "en", evade_scan=True)
    assert aborted["code"] == 2 and aborted["seconds"] < 5 and aborted["peak_kb"] < 500 * 1024, aborted  # type: ignore[operator]
    stderr = str(aborted["stderr"])
    assert f"error: {sparse}: the workbook cannot be read: the workbook reader was killed by signal SIGABRT" in stderr
    assert "Traceback" not in stderr and "memory allocation" not in stderr  # the child's own noise is not shown
