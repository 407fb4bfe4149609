"""Readers for the files of a generated demo company (shared by the demo tests)."""

from __future__ import annotations

import csv
import io

import pyarrow.parquet as pq
from openpyxl import load_workbook

from kehu.demo import DemoCompany, DemoFile


def read_rows(demo_file: DemoFile) -> tuple[list[str], list[list[str | None]]]:
    """Header and rows of a demo file as text (None for empty cells), whatever its format."""
    path = demo_file.path
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
        return table.column_names, [list(r) for r in zip(*columns, strict=True)]
    if path.suffix == ".xlsx":
        wb = load_workbook(path, read_only=True)
        try:
            values = [list(r) for r in wb[demo_file.sheet or wb.sheetnames[0]].iter_rows(values_only=True)]
        finally:
            wb.close()
        width = len(values[0])
        rows = [[None if v is None else v for v in r] + [None] * (width - len(r)) for r in values[1:]]
        return [str(h) for h in values[0]], rows
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig") if raw.startswith(b"\xef\xbb\xbf") else _decode(raw)
    records = list(csv.reader(io.StringIO(text, newline="")))
    return records[0], [[v if v != "" else None for v in r] for r in records[1:]]


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030")


def file_of(demo: DemoCompany, kind: str, source: str = "crm") -> DemoFile:
    return next(f for f in demo.files if f.kind == kind and f.source == source)


def column(demo_file: DemoFile, header: str) -> list[str | None]:
    names, rows = read_rows(demo_file)
    j = names.index(header)
    return [r[j] for r in rows]


def read_truth(demo: DemoCompany) -> dict[str, list[object]]:
    return pq.read_table(demo.truth_path).to_pydict()
