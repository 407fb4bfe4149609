"""Hostile workbooks made at run time (never committed): a zip bomb, a sparse sheet, a lying dimension.

Each is a minimal but valid XLSX package (content types, relationships, one worksheet) written with zipfile;
the bomb's sheet XML is streamed into the archive, so making it costs a few megabytes of memory (and a few
seconds).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_TYPES = (
    '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
)
SHEET_HEAD = f'<?xml version="1.0"?><worksheet xmlns="{_NS}">'
SHEET_TAIL = "</sheetData></worksheet>"


def inline(ref: str, value: str) -> str:
    """One inline-string cell."""
    return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'


def _package(z: zipfile.ZipFile, sheet_name: str) -> None:
    z.writestr("[Content_Types].xml", _TYPES)
    z.writestr(
        "_rels/.rels",
        f'<?xml version="1.0"?><Relationships xmlns="{_PKG}"><Relationship Id="rId1" '
        f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    )
    z.writestr(
        "xl/workbook.xml",
        f'<?xml version="1.0"?><workbook xmlns="{_NS}" xmlns:r="{_REL}"><sheets>'
        f'<sheet name="{sheet_name}" sheetId="1" r:id="rId1"/></sheets></workbook>',
    )
    z.writestr(
        "xl/_rels/workbook.xml.rels",
        f'<?xml version="1.0"?><Relationships xmlns="{_PKG}"><Relationship Id="rId1" '
        f'Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
    )


def workbook(path: Path, rows_xml: str, *, dimension: str | None = None, sheet_name: str = "客户") -> Path:
    """A one-sheet workbook whose sheetData is ``rows_xml`` (and a ``<dimension>`` claim, if given)."""
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        _package(z, sheet_name)
        z.writestr("xl/worksheets/sheet1.xml", f"{SHEET_HEAD}{dim}<sheetData>{rows_xml}{SHEET_TAIL}")
    return path


def customers_sheet(path: Path, n: int = 3) -> Path:
    """A small, ordinary customers workbook (客户编号, 姓名)."""
    rows = [f'<row r="1">{inline("A1", "客户编号")}{inline("B1", "姓名")}</row>']
    rows += [f'<row r="{i}">{inline(f"A{i}", f"W{i}")}{inline(f"B{i}", f"客户{i}")}</row>' for i in range(2, n + 2)]
    return workbook(path, "".join(rows))


def sparse_sheet(path: Path) -> Path:
    """A header in A1 and one number in XFD1048576: the reader would allocate 17 billion cells."""
    rows = f'<row r="1">{inline("A1", "客户编号")}</row><row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'
    return workbook(path, rows)


def zip_bomb(path: Path, *, unpacked_mb: int = 1024) -> Path:
    """A workbook of about 1 MB whose sheet XML unpacks to ``unpacked_mb`` MB (1 GB): one cell of repeated letters."""
    block = b"A" * (1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        _package(z, "Sheet1")
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
            f.write(f'{SHEET_HEAD}<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>'.encode())
            for _ in range(unpacked_mb):
                f.write(block)
            f.write(f"</t></is></c></row>{SHEET_TAIL}".encode())
    return path
