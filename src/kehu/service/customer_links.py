"""Linking source records into one customer by hand: ``SOURCE:ID`` references and a CSV file of pairs, linked all
or nothing (the rule :meth:`kehu.service.customers.CustomerService.link` and ``link_file`` apply)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import sqlalchemy as sa

from kehu.errors import ImportFileError, NotFoundError, ValidationError
from kehu.ingest.identity import link_records

__all__ = ["link_file", "record_ref"]


def record_ref(text: str) -> tuple[str, str]:
    """``SOURCE:ID`` -> (source, id)."""
    source, sep, sid = text.strip().partition(":")
    if not sep or not source or not sid:
        raise ValidationError(f"{text!r}: write a record as SOURCE:ID (e.g. crm:C001)")
    return source, sid


def link_file(store: sa.Engine, path: str | Path) -> int:
    """Link the record pairs listed in a CSV file (two columns of ``SOURCE:ID``), all or nothing.

    Returns the number of pairs linked. A malformed line or an unknown record raises an error naming the file and
    the row, and links nothing.
    """
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(path, "no such file")
    pairs: list[tuple[int, tuple[str, str], tuple[str, str]]] = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for row_no, row in enumerate(csv.reader(fh), start=1):
            cells = [c.strip() for c in row if c.strip()]
            if not cells or (row_no == 1 and not all(":" in c for c in cells)):
                continue  # blank line or header
            if len(cells) != 2:
                raise ImportFileError(path, f"row {row_no}: expected two records SOURCE:ID, got {len(cells)} cells")
            try:
                pairs.append((row_no, record_ref(cells[0]), record_ref(cells[1])))
            except ValidationError as exc:
                raise ImportFileError(path, f"row {row_no}: {exc}") from None
    now = dt.datetime.now(dt.UTC)
    with store.begin() as conn:
        for row_no, a, b in pairs:
            try:
                link_records(conn, a, b, now=now)
            except (NotFoundError, ValidationError) as exc:
                raise ImportFileError(path, f"row {row_no}: {exc}; nothing was linked") from None
    return len(pairs)
