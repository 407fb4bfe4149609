"""``kehu customers …``: one customer, identity-resolution merges, explicit links."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kehu.cli._common import AsJson, Home, open_workspace, print_json

app = typer.Typer(help="Look at customers and identity-resolution merges.", no_args_is_help=True)


@app.command("show")
def customers_show(
    ident: Annotated[str, typer.Argument(metavar="ID", help="Id from an imported file, SOURCE:ID, or Kehu id.")],
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Show one customer with counts and totals of everything stored about them."""
    with open_workspace(home) as ws:
        d = ws.system().customers.find(ident)
    if as_json:
        print_json(d)
        return
    p = d["profile"]
    typer.echo(f"#{d['id']} {p.get('name') or '(no name)'}  {p.get('company') or ''}")
    for label, key in (
        ("phone", "phone"),
        ("email", "email"),
        ("owner", "owner"),
        ("city", "city"),
        ("region", "region"),
        ("channel", "acquisition_channel"),
        ("tags", "tags"),
    ):
        if p.get(key):
            typer.echo(f"  {label:8} {p[key]}")
    typer.echo("  records  " + ", ".join(f"{r['source']}:{r['source_customer_id']}" for r in d["records"]))
    o = d["orders"]
    typer.echo(f"  orders   {o['count']} (revenue {o['revenue']}, last {o['last_order_at']})")
    typer.echo("  " + ", ".join(f"{k} {d[k]['count']}" for k in ("contracts", "interactions", "tickets", "feedback")))
    if d["merges"]:
        typer.echo(f"  merges   {len(d['merges'])}")


@app.command("merges")
def customers_merges(
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """List identity-resolution merges: which customers became one, and by which rule."""
    with open_workspace(home) as ws:
        rows = ws.system().customers.merges(limit=limit)
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no merges")
    for r in rows:
        merged = f"#{r['merged_customer_id']}" if r["merged_customer_id"] else "new record"
        typer.echo(f"{r['at']:%Y-%m-%d %H:%M}  {merged} → #{r['kept_customer_id']}  by {r['rule']}  {r['detail']}")


@app.command("link")
def customers_link(
    a: Annotated[str | None, typer.Argument(help="SOURCE:ID")] = None,
    b: Annotated[str | None, typer.Argument(help="SOURCE:ID")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="CSV of pairs: two columns SOURCE:ID, SOURCE:ID.")] = None,
    home: Home = None,
) -> None:
    """Link source records as the same customer (an explicit identity mapping): one pair, or a file of pairs."""
    if (file is None) == (a is None or b is None):
        raise typer.BadParameter("give two records SOURCE:ID SOURCE:ID, or --file FILE")
    with open_workspace(home) as ws:
        if file is not None:
            n = ws.system().customers.link_file(file)
            typer.echo(f"linked {n} pairs of records from {file}")
            return
        assert a is not None and b is not None
        cid = ws.system().customers.link(a, b)
    typer.echo(f"{a} and {b} are now customer #{cid}")
