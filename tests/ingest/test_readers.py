"""Readers: encodings, delimiters, quoted newlines and row numbers, XLSX, Parquet, CDNOW, file-level errors."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kehu.errors import ImportFileError
from kehu.ingest.fields import kind_spec
from kehu.ingest.mapping import Mapping, load_mapping, plan_columns
from kehu.ingest.readers import open_source

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "cdnow"
CDNOW = Path(importlib.util.find_spec("lifetimes").submodule_search_locations[0]) / "datasets"  # type: ignore[union-attr,index]


def read_all(path: Path, **kw: object) -> tuple[list[str], np.ndarray, dict[str, list[object]], object]:
    with open_source(path, **kw) as src:  # type: ignore[arg-type]
        batches = list(src.batches())
        headers, enc = src.headers, src.encoding
    rows = np.concatenate([b.row_numbers for b in batches]) if batches else np.array([], np.int64)
    cols = {h: [v for b in batches for v in b.columns[h].to_pylist()] for h in headers}
    return headers, rows, cols, enc


def test_gb18030_with_chinese_headers_and_rare_characters(tmp_path: Path) -> None:
    p = tmp_path / "客户.csv"
    p.write_text("客户编号,姓名,手机\n1,张䶮,13800138000\n2,王𠀾,+86 139 0013 9000\n", encoding="gb18030")
    headers, rows, cols, enc = read_all(p)
    assert enc == "gb18030"
    assert headers == ["客户编号", "姓名", "手机"]
    assert cols["姓名"] == ["张䶮", "王𠀾"]
    assert rows.tolist() == [2, 3]


def test_plain_gbk_subset_reads_as_gb18030(tmp_path: Path) -> None:
    p = tmp_path / "gbk.csv"
    p.write_bytes("订单编号,金额\nA1,￥12\n".encode("gbk"))
    _, _, cols, enc = read_all(p)
    assert enc == "gb18030" and cols["订单编号"] == ["A1"]


def test_utf8_bom_and_utf8(tmp_path: Path) -> None:
    p = tmp_path / "bom.csv"
    p.write_text("客户编号,姓名\n1,李雷\n", encoding="utf-8-sig")
    headers, _, cols, enc = read_all(p)
    assert enc == "utf-8-sig" and headers == ["客户编号", "姓名"] and cols["姓名"] == ["李雷"]
    q = tmp_path / "u8.csv"
    q.write_text("客户编号,姓名\n1," + "李" * 200_000 + "\n", encoding="utf-8")  # multi-byte chars across chunks
    assert read_all(q)[3] == "utf-8"


@pytest.mark.parametrize("delim", [",", ";", "\t", "|"])
def test_delimiter_sniffing(tmp_path: Path, delim: str) -> None:
    p = tmp_path / "d.txt"
    p.write_text(delim.join(["a", "b", "c"]) + "\n" + delim.join(["1", "2,5" if delim != "," else "2", "x"]) + "\n")
    headers, _, cols, _ = read_all(p)
    assert headers == ["a", "b", "c"] and cols["c"] == ["x"]


def test_quoted_newlines_keep_row_numbers_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    p = tmp_path / "q.csv"
    p.write_bytes(b'id,note,amount\r\n1,"a, b\r\nc",5\r\n\r\n2,"x\ny\nz",6\r\n3,plain,\r\n')
    _, rows, cols, _ = read_all(p)
    assert cols["id"] == ["1", "2", "3"]
    assert cols["note"] == ["a, b\r\nc", "x\ny\nz", "plain"]
    assert cols["amount"] == ["5", "6", None]
    assert rows.tolist() == [2, 5, 8]  # line 4 is blank; record 2 spans lines 5-7


def test_row_numbers_across_batches(tmp_path: Path) -> None:
    p = tmp_path / "many.csv"
    values = ["x\n" if i % 3 == 0 else "y" for i in range(1000)]
    p.write_text("id,v\n" + "".join(f'{i},"{v}"\n' for i, v in enumerate(values)))
    _, rows, cols, _ = read_all(p, chunk_rows=64)
    expected, line = [], 2
    for i in range(1000):
        expected.append(line)
        line += 2 if i % 3 == 0 else 1
    assert rows.tolist() == expected and len(cols["id"]) == 1000


def test_duplicate_and_empty_headers_are_named(tmp_path: Path) -> None:
    p = tmp_path / "h.csv"
    p.write_text("备注,,备注\n1,2,3\n")
    assert read_all(p)[0] == ["备注", "column_2", "备注.2"]


def test_ragged_row_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    p.write_text('a,b,c\n1,2,3\n"multi\nline",2,3\n4,5\n')
    with pytest.raises(ImportFileError, match=r"row 5 has 2 fields but the file has 3 columns"):
        read_all(p)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "file not found"),
        (b"", "the file is empty"),
        (b"\n\n  \n", "the file is empty"),
        (b"PK\x03\x04garbage", "Excel workbook"),
    ],
)
def test_file_level_errors(tmp_path: Path, content: bytes | None, problem: str) -> None:
    p = tmp_path / "f.csv"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(ImportFileError, match=problem) as info:
        read_all(p)
    assert info.value.path == str(p)


def test_not_decodable_gb18030(tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    p.write_bytes(b"a,b\n1,\x81\x20\n")  # invalid in UTF-8 and in GB18030
    with pytest.raises(ImportFileError, match="line 2 is not valid gb18030 text"):
        read_all(p)


def test_xlsx_cells_render_as_users_see_them(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "订单"
    ws.append(["订单编号", "下单时间", "金额", "数量", "手机"])
    ws.append([10001, dt.datetime(2024, 1, 5, 13, 45), 1234.5, 3, 13800138000])
    ws.append([None, None, None, None, None])
    ws.append(["A-2", dt.datetime(2024, 1, 6), 0.1 + 0.2, 2.0, "+86 138 0013 8000"])
    wb.create_sheet("其他")
    p = tmp_path / "o.xlsx"
    wb.save(p)
    headers, rows, cols, _ = read_all(p)
    assert headers == ["订单编号", "下单时间", "金额", "数量", "手机"]
    assert rows.tolist() == [2, 4]
    assert cols["订单编号"] == ["10001", "A-2"]
    assert cols["下单时间"] == ["2024-01-05 13:45:00", "2024-01-06"]
    assert cols["金额"] == ["1234.5", "0.3"]
    assert cols["数量"] == ["3", "2"]
    assert cols["手机"] == ["13800138000", "+86 138 0013 8000"]
    with pytest.raises(ImportFileError, match=r"sheet 'nope' not found; sheets: 订单, 其他"):
        open_source(p, sheet="nope")


def test_xlsx_empty_sheet_and_invalid_workbook(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    p = tmp_path / "e.xlsx"
    wb.save(p)
    with pytest.raises(ImportFileError, match="has no data"):
        open_source(p)
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"not a workbook")
    with pytest.raises(ImportFileError, match="not a valid Excel workbook"):
        open_source(bad)


def test_parquet_keeps_native_types(tmp_path: Path) -> None:
    table = pa.table(
        {
            "order_id": pa.array(["a", "b", "c"]).dictionary_encode(),
            "ordered_at": pa.array([dt.datetime(2024, 1, 5)] * 3, pa.timestamp("ms")),
            "amount": pa.array([1.5, 2.0, None]),
        }
    )
    p = tmp_path / "o.parquet"
    pq.write_table(table, p)
    with open_source(p, chunk_rows=2) as src:
        batches = list(src.batches())
    assert src.format == "parquet" and src.headers == ["order_id", "ordered_at", "amount"]
    assert [b.row_numbers.tolist() for b in batches] == [[2, 3], [4]]
    assert batches[0].columns["order_id"].type == pa.string()
    assert pa.types.is_timestamp(batches[0].columns["ordered_at"].type)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 nope")
    with pytest.raises(ImportFileError, match="not a valid Parquet file"):
        open_source(bad)


def test_cdnow_master_with_mapping() -> None:
    mapping = load_mapping(EXAMPLES / "master.yaml")
    path = CDNOW / "CDNOW_master.txt"
    headers, rows, cols, _ = read_all(path, mapping=mapping)
    assert headers == ["customer_id", "date", "number_of_cds", "dollar_value"]
    assert len(rows) == 69_659 and rows[0] == 2 and rows[-1] == 69_660
    assert len(set(cols["customer_id"])) == 23_570
    assert cols["date"][0] == "19970101" and cols["dollar_value"][0] == "11.77"
    plan = plan_columns(kind_spec("orders"), headers, mapping, path)
    assert plan.fields == {
        "customer_id": "customer_id",
        "ordered_at": "date",
        "amount": "dollar_value",
        "quantity": "number_of_cds",
    }
    assert plan.derived == {"order_id": "cdnow-{customer_id}-{row}"} and plan.defaults["currency"] == "USD"


def test_cdnow_sample_headerless_with_mapping() -> None:
    mapping = load_mapping(EXAMPLES / "sample.yaml")
    path = CDNOW / "CDNOW_sample.txt"
    headers, rows, cols, _ = read_all(path, mapping=mapping)
    assert headers == ["customer_id", "sample_id", "ordered_at", "quantity", "amount"]
    assert len(rows) == 6_919 and rows[0] == 1
    assert len(set(cols["sample_id"])) == 2_357
    plan = plan_columns(kind_spec("orders"), headers, mapping, path)
    assert plan.extras == ["sample_id"] and "order_id" in plan.derived


def test_headerless_csv_and_fixed_width(tmp_path: Path) -> None:
    p = tmp_path / "h.csv"
    p.write_text("导出于 2024-01-01\nC1;2024-01-05;12.5;x\nC2;2024-01-06;3;y\n")
    m = Mapping(header=False, skip_rows=1, column_names=("customer_id", "ordered_at", "amount", "_"))
    headers, rows, cols, _ = read_all(p, mapping=m)
    assert headers == ["customer_id", "ordered_at", "amount", "_4"]
    assert rows.tolist() == [2, 3] and cols["amount"] == ["12.5", "3"]
    f = tmp_path / "f.txt"
    f.write_text("C1    2024010512.50\n\nC22   20240106 3.00\n")
    m = Mapping(
        format="fixed_width", header=False, widths=(6, 8, 5), column_names=("customer_id", "ordered_at", "amount")
    )
    headers, rows, cols, _ = read_all(f, mapping=m)
    assert rows.tolist() == [1, 3] and cols["customer_id"] == ["C1", "C22"] and cols["amount"] == ["12.50", "3.00"]
    f.write_text("C1    2024010512.50 extra\n")
    with pytest.raises(ImportFileError, match="row 1 is longer than the widths"):
        read_all(f, mapping=m)


def test_whitespace_ragged_row(tmp_path: Path) -> None:
    p = tmp_path / "w.txt"
    p.write_text("a b c\n1 2 3\n4 5\n")
    with pytest.raises(ImportFileError, match="row 3 has 2 values"):
        read_all(p, mapping=Mapping(format="whitespace"))
