"""``kehu import``: one file into the store, with the summary every import prints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from kehu.cli._common import AsJson, Home, open_workspace, print_json, tell_waiting


def print_summary(s: Any) -> None:
    """Print one import summary in human form."""
    inv = s.inserted + s.updated + s.unchanged + s.quarantined
    typer.echo(f"{s.kind} ← {s.path} [source {s.source}]")
    typer.echo(
        f"  read {s.read} = inserted {s.inserted} + updated {s.updated} + unchanged {s.unchanged} "
        f"+ quarantined {s.quarantined}{'' if inv == s.read else '  (MISMATCH)'}"
    )
    extra = []
    if s.customers_created:
        extra.append(f"customers created {s.customers_created}")
    if s.merges:
        extra.append(f"merged into existing customers {s.merges}")
    if s.versions:
        extra.append(f"earlier values kept {s.versions}")
    if s.extras:
        extra.append(f"extra columns kept: {', '.join(s.extras)}")
    if extra:
        typer.echo("  " + "; ".join(extra))
    if s.quarantine_file:
        typer.echo(f"  rejected rows and reasons: {s.quarantine_file}")
    typer.echo(f"  {s.seconds:.1f} s")


def import_(
    kind: Annotated[str, typer.Argument(help="customers | orders | contracts | interactions | tickets | feedback")],
    path: Annotated[Path, typer.Argument(help="CSV/TXT (UTF-8 or GBK), XLSX or Parquet file.")],
    mapping: Annotated[Path | None, typer.Option(help="YAML mapping file (layout, headers, formats).")] = None,
    source: Annotated[str | None, typer.Option(help="Source system name; ids are unique per source.")] = None,
    sheet: Annotated[str | None, typer.Option(help="XLSX sheet (default: first).")] = None,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Import a file: validate every row, quarantine bad rows with reasons, upsert the rest in one transaction."""

    def progress(rows: int) -> None:
        typer.echo(f"  … {rows:,} rows read", err=True)

    with open_workspace(home) as ws:
        summary = ws.import_file(
            kind, path, mapping=mapping, source=source, sheet=sheet, progress=progress, on_wait=tell_waiting
        )
    if as_json:
        d = summary.as_dict()
        print_json(
            summary.counts()
            | {"quarantine_file": d["quarantine_file"]}
            | {
                "kind": d["kind"],
                "path": d["path"],
                "source": d["source"],
                "merges": d["merges"],
                "versions": d["versions"],
                "seconds": d["seconds"],
            }
        )
    else:
        print_summary(summary)
