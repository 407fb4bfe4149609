"""Writing a segment's member list to XLSX or CSV, safe to open in Excel and WPS."""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kehu.cells import spreadsheet_value

__all__ = ["EXPORT_COLUMNS", "write_table"]

#: the export's columns (headers from the label catalog's ``export_headers``)
EXPORT_COLUMNS = ("customer_id", "name", "company", "phone", "email", "region", "city", "owner", "owner_team",
                  "scheme", "segment", "as_of", "orders", "total_revenue", "last_order_date",
                  "days_since_last_order", "reason")  # fmt: skip


def write_table(path: Path, fmt: str, headers: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str) -> None:
    """Write ``headers`` and ``rows`` as ``fmt`` (``"xlsx"`` or ``"csv"``) to ``path``.

    CSV is UTF-8 with a byte-order mark (Excel and WPS then read Chinese text correctly); XLSX has the
    header row frozen, dates as dates, and text that looks like a formula stored as text.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        with path.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(headers)
            for row in rows:
                writer.writerow([v.isoformat() if isinstance(v, dt.date) else spreadsheet_value(v) for v in row])
        return
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=re.sub(r"[\[\]:*?/\\]", "_", title)[:31])
    sheet.freeze_panes = "A2"
    sheet.append(list(headers))
    for row in rows:
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=spreadsheet_value(value))
            if isinstance(value, dt.date):
                cell.number_format = "yyyy-mm-dd"
            cells.append(cell)
        sheet.append(cells)
    book.save(path)
