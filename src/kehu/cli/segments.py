"""``kehu segments …``: segments of every scheme, one segment, moves between runs, exports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kehu.cli._common import AsJson, Home, open_workspace, parse_date, print_json

app = typer.Typer(
    help="Segments: RFM schemes, lifecycle, value tiers, cross and custom segments.", no_args_is_help=True
)

AsOf = Annotated[str | None, typer.Option("--as-of", help="The run of this day (YYYY-MM-DD); default: the newest.")]


@app.command("list")
def segments_list(as_of: AsOf = None, as_json: AsJson = False, home: Home = None) -> None:
    """Every segment of every scheme: labels (zh/en), size, change since the previous run."""
    with open_workspace(home) as ws:
        rows = ws.system().segments.all(as_of=parse_date(as_of) if as_of else None)
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no segments yet: run `kehu run`")
    scheme = None
    for r in rows:
        if r["scheme"] != scheme:
            scheme = r["scheme"]
            typer.echo(f"{scheme} (as of {r['as_of']}, version {r['version']})")
        change = "" if r["change"] is None else f"{r['change']:+d}"
        typer.echo(f"  {r['ref']:<34} {r['label_zh']:<12} {r['label_en']:<22} {r['size']:>8} {change:>8}")


@app.command("show")
def segments_show(
    ref: Annotated[str, typer.Argument(metavar="SCHEME:SEGMENT")],
    as_of: AsOf = None,
    limit: Annotated[int, typer.Option(help="Members to list.")] = 20,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """One segment: its rule, size and change, and members with the values that placed them there."""
    with open_workspace(home) as ws:
        d = ws.system().segments.show(ref, as_of=parse_date(as_of) if as_of else None, limit=limit)
    print_json(d)  # a segment has no table form: the same JSON with or without --json


@app.command("transitions")
def segments_transitions(
    from_: Annotated[str, typer.Option("--from", help="Earlier run (YYYY-MM-DD).")],
    to: Annotated[str, typer.Option("--to", help="Later run (YYYY-MM-DD).")],
    scheme: Annotated[str | None, typer.Option(help="Only this scheme.")] = None,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Who moved between segments from one run to another (counts; in and out per segment)."""
    with open_workspace(home) as ws:
        rows = ws.system().segments.transitions(parse_date(from_, "--from"), parse_date(to, "--to"), scheme=scheme)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        typer.echo(
            f"{r['scheme']}: {r['from']} → {r['to']}  customers {r['customers_from']} → {r['customers_to']} "
            f"(new {r['new']}, gone {r['gone']})"
        )
        for seg in r["segments"]:
            typer.echo(
                f"  {seg['segment']:<28} {seg['size_from']:>7} → {seg['size_to']:<7} in {seg['in']:<6} "
                f"out {seg['out']:<6} new {seg['new']:<6} gone {seg['gone']}"
            )
        typer.echo("  moves:")
        for move in r["moves"]:
            typer.echo(
                f"    {move['from_segment'] or '(new)':<28} → {move['to_segment'] or '(gone)':<28} "
                f"{move['customers']:>7}"
            )


@app.command("export")
def segments_export(
    ref: Annotated[str, typer.Argument(metavar="SCHEME:SEGMENT")],
    out: Annotated[Path, typer.Option("--out", help="File to write.")],
    fmt: Annotated[str, typer.Option("--format", help="xlsx or csv.")] = "xlsx",
    as_of: AsOf = None,
    home: Home = None,
) -> None:
    """Export a segment's members with Chinese headers, owner and contact columns (opens in Excel/WPS)."""
    with open_workspace(home) as ws:
        d = ws.system().segments.export_file(ref, fmt=fmt, out=out, as_of=parse_date(as_of) if as_of else None)
    typer.echo(f"{d.get('rows', '?')} customers of {ref} written to {out}")
