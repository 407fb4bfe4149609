"""Sloppy and hostile import files (issue 23): a binary file named ``.csv``, a file mixing UTF-8 and GBK, several
columns meaning one field, amounts with a fraction of a cent and a source name with a line break are each
refused or reported with a message naming the file, row and column, in zh-CN and en, and nothing stored is lost."""

from __future__ import annotations

import csv
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from kehu import i18n
from kehu.errors import ImportFileError, ValidationError
from kehu.ingest.readers import detect_encoding, open_source
from kehu.service import imports as import_service
from kehu.service.workspace import Workspace
from kehu.store.schema import import_runs, orders

ORDER_HEADERS = ["订单编号", "客户编号", "下单时间", "订单金额"]


def _write(path: Path, headers: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(headers)
        w.writerows(rows)
    return path


def _orders(ws: Workspace) -> int:
    with ws.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(orders)).scalar_one())


def binary_file(path: Path) -> Path:
    rng = random.Random(7)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(rng.randrange(256) for _ in range(20_000)))
    return path


# -- a binary file named .csv (acceptance 7) ------------------------------------------------------------------
def _printable(message: str) -> bool:
    return message.isprintable() and "\ufffd" not in message


def test_a_binary_file_named_csv_is_refused_without_its_bytes(tmp_path: Path) -> None:
    path = binary_file(tmp_path / "客户.csv")
    with pytest.raises(ImportFileError) as caught:
        open_source(path)
    message = str(caught.value)
    assert message == (
        f"{path}: this is not a text file (it holds binary data such as NUL or control bytes), although its name "
        "ends in .csv: export the data as CSV (UTF-8) or XLSX and import that"
    )
    assert _printable(message)
    zh = i18n.error_text(caught.value, "zh-CN")
    assert zh.startswith(f"{path}: 这不是文本文件") and _printable(zh)
    # a text file with a stray control byte or two is still text
    ok = tmp_path / "ok.csv"
    ok.write_bytes("订单编号,订单金额\nO1,1\x0b\n".encode() + b"O2,2\n" * 200)
    assert open_source(ok).headers == ["订单编号", "订单金额"]


def test_the_cli_refuses_a_binary_csv_naming_the_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    path = binary_file(tmp_path / "orders.csv")
    run = [sys.executable, "-m", "kehu.cli"]
    assert subprocess.run([*run, "init", "--home", str(home)], capture_output=True, timeout=120).returncode == 0
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("KEHU_")}, "KEHU_LOCALE": "en"}
    done = subprocess.run(
        [*run, "import", "orders", str(path), "--home", str(home)], capture_output=True, timeout=120, env=env
    )
    err = done.stderr.decode("utf-8")
    assert done.returncode == 2
    assert err.strip() == f"error: {path}: " + i18n.text("limits.import.not_text", "en").format(suffix=".csv")
    assert "Traceback" not in err and _printable(err.strip())
    zh = subprocess.run(
        [*run, "import", "orders", str(path), "--home", str(home)],
        capture_output=True, timeout=120, env={**env, "KEHU_LOCALE": "zh-CN"},
    )  # fmt: skip
    assert zh.returncode == 2 and "这不是文本文件" in zh.stderr.decode("utf-8")


# -- encodings ---------------------------------------------------------------------------------------------------
def test_a_file_mixing_utf8_and_gbk_names_the_first_gbk_line(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    utf8 = "订单编号,客户编号,下单时间,订单金额\nO1,C001,2024-01-05,100\nO2,王涛,2024-01-06,100\n".encode()
    path.write_bytes(utf8 + "O3,李四,2024-01-07,100\n".encode("gbk"))
    with pytest.raises(ImportFileError) as caught:
        open_source(path)
    assert str(caught.value) == (
        f"{path}: the file mixes encodings: it is UTF-8 up to line 3, but line 4 is not valid UTF-8 (perhaps GBK); "
        "save the whole file in one encoding (CSV UTF-8) and import again"
    )
    assert "第 4 行不是有效的 UTF-8" in i18n.error_text(caught.value, "zh-CN")
    # a plain GBK file (Chinese from its first line) is still read as GBK
    gbk = _write(tmp_path / "gbk.csv", ORDER_HEADERS, [["O1", "C001", "2024-01-05", "100"]], encoding="gbk")
    assert detect_encoding(gbk) == "gb18030" and open_source(gbk).headers == ORDER_HEADERS


def test_a_line_invalid_in_the_detected_encoding_is_named(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    good = "订单编号,客户编号,下单时间,订单金额\nO1,C001,2024-01-05,100\n".encode("gbk")
    path.write_bytes(good + b"O2,C001,2024-01-06,\x82\x20\n")
    src = open_source(path)
    with pytest.raises(ImportFileError) as caught:
        list(src.batches())
    assert str(caught.value) == (
        f"{path}: line 3 is not valid gb18030 text; save the file as UTF-8 (CSV UTF-8) or GBK, or give its "
        "encoding in a mapping file (encoding:)"
    )


# -- columns, amounts, source names ------------------------------------------------------------------------------
def test_three_columns_meaning_amount_are_refused(workspace: Workspace, tmp_path: Path) -> None:
    path = _write(
        tmp_path / "orders.csv",
        ["订单编号", "客户编号", "下单时间", "金额", "amount", "订单金额"],
        [["O1", "C001", "2024-01-05", "100", "200", "300"]],
    )
    with pytest.raises(ImportFileError) as caught:
        workspace.import_file("orders", path)
    assert str(caught.value) == (
        f"{path}: columns '金额', 'amount', '订单金额' all mean the field amount: keep one of them, or name the one to "
        "use in a mapping file (columns:) and map the others to another field or to _ (ignored)"
    )
    assert _orders(workspace) == 0
    repeated = _write(tmp_path / "repeated.csv", [*ORDER_HEADERS, "订单金额"], [["O1", "C001", "2024-01-05", "1", "2"]])
    with pytest.raises(ImportFileError, match=r"columns '订单金额', '订单金额\.2' all mean the field amount"):
        workspace.import_file("orders", repeated)
    mapping = tmp_path / "orders.mapping.yaml"
    mapping.write_text("kind: orders\ncolumns:\n  金额: amount\n  amount: _\n  订单金额: _\n", encoding="utf-8")
    chosen = workspace.import_file("orders", path, mapping=mapping)
    assert chosen.inserted == 1
    with workspace.engine.connect() as conn:
        assert conn.execute(select(orders.c.amount_cents)).scalar_one() == 10_000


def test_a_fraction_of_a_cent_is_quarantined_naming_row_and_column(workspace: Workspace, tmp_path: Path) -> None:
    path = _write(
        tmp_path / "orders.csv",
        ORDER_HEADERS,
        [
            ["O1", "C001", "2024-01-05", "0.001"],
            ["O2", "C001", "2024-01-06", "12.50"],
            ["O3", "C1", "2024-01-07", "1.500"],
        ],
    )
    s = workspace.import_file("orders", path)
    assert (s.read, s.inserted, s.quarantined) == (3, 2, 1)
    assert s.quarantine_file is not None
    with open(s.quarantine_file, encoding="utf-8-sig", newline="") as fh:
        (problem,) = list(csv.DictReader(fh))
    assert (problem["row"], problem["column"], problem["value"]) == ("2", "订单金额", "0.001")
    assert (
        problem["reason"] == "'0.001' has a fraction of a cent (more than two decimals): round it to cents in the file"
    )
    with workspace.engine.connect() as conn:
        assert sorted(conn.execute(select(orders.c.amount_cents)).scalars()) == [150, 1250]


@pytest.mark.parametrize("source", ["crm\n", "crm\r", "c\x00rm", "crm\t", " crm", "x" * 65])
def test_a_source_name_with_a_line_break_or_control_character_is_refused(
    workspace: Workspace, tmp_path: Path, source: str
) -> None:
    path = _write(tmp_path / "orders.csv", ORDER_HEADERS, [["O1", "C001", "2024-01-05", "1"]])
    with pytest.raises(ValidationError, match=r"^source: .* is not a source name; use 1-64 letters") as caught:
        workspace.import_file("orders", path, source=source)
    assert "\n" not in str(caught.value) and "\r" not in str(caught.value)
    for name in (source, ""):
        with pytest.raises(ValidationError, match="is not a source name"):
            import_service.check_kind_and_source("orders", name)
    with workspace.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(import_runs)).scalar_one() == 0
    assert workspace.import_file("orders", path, source="crm.v2-x_1").inserted == 1


def test_a_small_text_file_with_a_stray_control_byte_and_plain_gbk_lines_are_still_read(tmp_path: Path) -> None:
    tiny = tmp_path / "tiny.csv"
    tiny.write_bytes(b"order_id,amount\nO1,1\x0c\n")
    assert open_source(tiny).headers == ["order_id", "amount"]
    # an ASCII header, then GBK rows: a GBK character that happens to be valid UTF-8 (郑, 谢) is no proof of a mix
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("order_id,name\nO1,郑\nO2,谢\nO3,中文\n".encode("gbk"))
    assert "郑".encode("gbk").decode("utf-8") and "谢".encode("gbk").decode("utf-8")
    assert detect_encoding(gbk) == "gb18030"
    assert [b.columns["name"].to_pylist() for b in open_source(gbk).batches()] == [["郑", "谢", "中文"]]
