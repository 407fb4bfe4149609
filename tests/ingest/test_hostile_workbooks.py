"""Hostile workbooks are refused with a message naming the file, quickly and in little memory, and a reader
that dies on one ends only its own process: zip bombs, sparse sheets, lying dimensions, too many parts.

The files are made at run time (tests/workbook_kit.py); the CLI and web versions of these refusals are in
tests/test_cli_hostile_files.py and tests/web/test_web_hostile_uploads.py.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from kehu import i18n
from kehu.errors import ImportFileError
from kehu.ingest import sheet_process, workbooks
from kehu.ingest.readers import open_source
from kehu.ingest.workbook_limits import MAX_ENTRIES, WorkbookLimits
from kehu.service.workspace import Workspace
from kehu.store.schema import customer_records, import_runs
from workbook_kit import customers_sheet, inline, sparse_sheet, workbook, zip_bomb


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return zip_bomb(tmp_path_factory.mktemp("bomb") / "bomb.xlsx")


def _refusal(path: Path, **kwargs: object) -> tuple[ImportFileError, float]:
    started = time.perf_counter()
    with pytest.raises(ImportFileError) as caught, open_source(path, **kwargs):  # type: ignore[arg-type]
        pass
    return caught.value, time.perf_counter() - started


def test_an_ordinary_workbook_is_read_through_the_child_process(tmp_path: Path) -> None:
    path = customers_sheet(tmp_path / "ok.xlsx", n=5)
    with open_source(path, chunk_rows=2) as src:
        assert src.headers == ["客户编号", "姓名"]
        batches = list(src.batches())
        folder = src._folder  # type: ignore[attr-defined]
        assert folder is not None and folder.is_dir()
    assert [n for b in batches for n in b.row_numbers.tolist()] == [2, 3, 4, 5, 6]
    assert all(len(b) <= 2 for b in batches) and len(batches) == 3
    assert [v for b in batches for v in b.columns["姓名"].to_pylist()][:2] == ["客户2", "客户3"]
    assert not folder.exists()  # the sheet's temporary Arrow file is removed on close


def test_a_zip_bomb_is_refused_from_its_directory_in_a_moment(bomb: Path) -> None:
    assert bomb.stat().st_size < 2 << 20 and zipfile.ZipFile(bomb).infolist()[-1].file_size >= 1 << 30
    error, seconds = _refusal(bomb)
    assert seconds < 1.0
    assert error.key == "files.workbook_too_large" and error.path == str(bomb)
    assert str(error).startswith(f"{bomb}: file too large / not a valid workbook")
    assert "1,025 MB" in str(error) and "512 MB" in str(error)
    zh = i18n.error_text(error, "zh-CN")
    assert zh.startswith(f"{bomb}：文件过大 / 不是有效的工作簿") and "KEHU_IMPORT_XLSX_MAX_MB" in zh


def test_a_part_with_a_zip_bombs_ratio_is_refused_under_the_size_cap(tmp_path: Path) -> None:
    path = tmp_path / "ratio.xlsx"
    customers_sheet(path)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("xl/media/blank.bin", b"\0" * (16 << 20))  # 16 MB of zeros pack to ~16 KB: a ratio of 1000
    error, _ = _refusal(path)
    assert error.key == "files.workbook_ratio" and "xl/media/blank.bin" in str(error) and "zip bomb" in str(error)


def test_too_many_parts_are_refused(tmp_path: Path) -> None:
    path = customers_sheet(tmp_path / "parts.xlsx")
    with zipfile.ZipFile(path, "a") as z:
        for i in range(MAX_ENTRIES):
            z.writestr(f"xl/junk/{i}.xml", b"")
    error, _ = _refusal(path)
    assert error.key == "files.workbook_entries" and str(error).startswith(str(path))


def test_a_sparse_sheet_is_refused_from_its_cell_references(tmp_path: Path) -> None:
    path = sparse_sheet(tmp_path / "sparse.xlsx")
    error, seconds = _refusal(path)
    assert seconds < 2.0
    assert error.key == "files.sheet_too_many_cells"
    assert f"{path}: file too large: sheet 客户 spans A1:XFD1048576, 17,179,869,184 cells" in str(error)
    assert "工作表 客户 的范围是 A1:XFD1048576" in i18n.error_text(error, "zh-CN")


def test_rows_and_cells_without_references_count_too(tmp_path: Path) -> None:
    cells = "".join(f'<c t="inlineStr"><is><t>v{i}</t></is></c>' for i in range(40))
    path = workbook(tmp_path / "wide.xlsx", f'<row r="1">{inline("A1", "客户编号")}</row>' + f"<row>{cells}</row>" * 30)
    error, _ = _refusal(path, limits=WorkbookLimits(max_cells=1000))
    assert error.key == "files.sheet_too_many_cells" and "A1:AN31" in str(error) and "1,240 cells" in str(error)
    with open_source(path, limits=WorkbookLimits(max_cells=2000)) as src:  # within the limit it is read
        assert len(src.headers) == 40


def test_a_dimension_that_claims_the_whole_sheet_is_refused_before_reading(tmp_path: Path) -> None:
    rows = f'<row r="1">{inline("A1", "客户编号")}</row><row r="2">{inline("A2", "C1")}</row>'
    path = workbook(tmp_path / "claims.xlsx", rows, dimension="A1:XFD1048576")
    error, _ = _refusal(path)
    assert error.key == "files.sheet_too_many_cells" and "A1:XFD1048576" in str(error)


def test_a_reader_that_aborts_ends_its_own_process_and_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the scan, the sparse sheet makes python-calamine abort (signal 6) — in the child only."""
    monkeypatch.setattr(workbooks, "sheet_extent", lambda *a, **k: 0)
    path = sparse_sheet(tmp_path / "sparse.xlsx")
    error, seconds = _refusal(path)
    assert seconds < 5.0
    assert error.key == "files.reader_killed" and error.params["signal"] == "SIGABRT"
    assert str(error).startswith(f"{path}: the workbook cannot be read: the workbook reader was killed by signal")
    assert "被信号 SIGABRT 终止" in i18n.error_text(error, "zh-CN")


def test_a_reader_killed_from_outside_or_exiting_is_said_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = customers_sheet(tmp_path / "ok.xlsx")
    real_run = subprocess.run

    def killed(*args: object, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        return subprocess.CompletedProcess(args, -signal.SIGKILL, b"", b"")

    monkeypatch.setattr(sheet_process.subprocess, "run", killed)
    error, _ = _refusal(path)
    assert error.key == "files.reader_killed" and error.params["signal"] == "SIGKILL"
    monkeypatch.setattr(sheet_process.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 3, b"", b""))
    error, _ = _refusal(path)
    assert error.key == "files.reader_exited" and "exit code 3" in str(error)
    monkeypatch.setattr(sheet_process.subprocess, "run", real_run)
    with open_source(path) as src:
        assert src.headers == ["客户编号", "姓名"]


def test_a_reader_out_of_time_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = customers_sheet(tmp_path / "ok.xlsx")
    slow = [sys.executable, "-c", "import time; time.sleep(30)"]
    real_run = subprocess.run
    monkeypatch.setattr(sheet_process.subprocess, "run", lambda _cmd, **k: real_run(slow, **k))
    error, seconds = _refusal(path, limits=WorkbookLimits(seconds=1))
    assert seconds < 5.0 and error.key == "files.reader_timeout" and str(error).startswith(str(path))


def test_a_refused_workbook_changes_nothing_in_the_store(workspace: Workspace, bomb: Path, tmp_path: Path) -> None:
    workspace.import_file("customers", customers_sheet(tmp_path / "first.xlsx"))
    with workspace.engine.connect() as conn:
        before = (
            conn.execute(select(func.count()).select_from(customer_records)).scalar_one(),
            conn.execute(select(func.count()).select_from(import_runs)).scalar_one(),
        )
    for hostile in (bomb, sparse_sheet(tmp_path / "sparse.xlsx")):
        with pytest.raises(ImportFileError, match=str(hostile)):
            workspace.import_file("customers", hostile)
    with workspace.engine.connect() as conn:
        after = (
            conn.execute(select(func.count()).select_from(customer_records)).scalar_one(),
            conn.execute(select(func.count()).select_from(import_runs)).scalar_one(),
        )
    assert after == before == (3, 1)
    assert not list(workspace.settings.quarantine_dir.glob("*sparse*"))
