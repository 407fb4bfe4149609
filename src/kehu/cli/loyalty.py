"""``kehu loyalty …``: points, tiers and the ledger."""

from __future__ import annotations

from typing import Annotated

import typer

from kehu.cli._common import AsJson, Home, open_workspace, parse_date, print_json

app = typer.Typer(help="Loyalty points, tiers and the ledger.", no_args_is_help=True)


@app.command("run")
def loyalty_run(
    from_: Annotated[
        str | None, typer.Option("--from", help="First purchase day to award (default: first order).")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="Last day (default: newest order); tiers as of it.")] = None,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Award points for purchases, expire old points, place customers in tiers; re-running awards nothing twice."""
    with open_workspace(home) as ws:
        d = ws.system().loyalty.run_period(
            start=parse_date(from_, "--from") if from_ else None, end=parse_date(to, "--to") if to else None
        )
    if as_json:
        print_json(d)
        return
    typer.echo(
        f"{d['from']} … {d['to']}: awarded {d['points_awarded']:,} points, expired {d['points_expired']:,}; "
        f"tier changes {d['tier_changes']}"
    )
    typer.echo("  " + ", ".join(f"{k} {v}" for k, v in d["tiers"].items()))


@app.command("award")
def loyalty_award(
    customer: Annotated[str, typer.Argument(help="Customer: id, SOURCE:ID or Kehu id.")],
    action: Annotated[str, typer.Argument(help="An action with points in the rules, e.g. review or referral.")],
    ref: Annotated[str, typer.Option("--ref", help="What it was for (e.g. order:123); awarded once per reference.")],
    on: Annotated[str | None, typer.Option("--on", help="Day it counts for (default: today).")] = None,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Award the points of an action (review, referral, …) once per reference."""
    with open_workspace(home) as ws:
        d = ws.system().loyalty.action(customer, action, ref, day=parse_date(on, "--on") if on else None)
    if as_json:
        print_json(d)
        return
    typer.echo("already awarded" if d["already_awarded"] else f"+{d['points']} points; balance {d['balance']}")


@app.command("redeem")
def loyalty_redeem(
    customer: Annotated[str, typer.Argument(help="Customer: id, SOURCE:ID or Kehu id.")],
    points: Annotated[int, typer.Argument(help="Points to spend.")],
    ref: Annotated[str, typer.Option("--ref", help="What they were spent on; redeemed once per reference.")],
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Spend points (oldest first; never more than the balance)."""
    with open_workspace(home) as ws:
        d = ws.system().loyalty.redeem(customer, points, ref)
    print_json(d) if as_json else typer.echo(f"redeemed {d['redeemed']}; balance {d['balance']}")


@app.command("show")
def loyalty_show(
    customer: Annotated[str, typer.Argument(help="Customer: id, SOURCE:ID or Kehu id.")],
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """A customer's balance, tier, ledger and tier changes."""
    with open_workspace(home) as ws:
        d = ws.system().loyalty.statement(customer)
    if as_json:
        print_json(d)
        return
    tier = d["tier"]
    typer.echo(f"#{d['customer_id']}: balance {d['balance']:,} points, tier {tier['tier'] if tier else '-'}")
    for r in d["ledger"]:
        typer.echo(f"  {r['on_day']}  {r['kind']:<7} {r['points']:>+8,}  {r['reason']:<10} {r['reference'] or ''}")


@app.command("tiers")
def loyalty_tiers(as_json: AsJson = False, home: Home = None) -> None:
    """Customers per tier (普通/银卡/金卡/钻石 by default) and the latest tier changes."""
    with open_workspace(home) as ws:
        d = ws.system().loyalty.tiers()
    if as_json:
        print_json(d)
        return
    for t in d["tiers"]:
        typer.echo(f"  {t['label_zh']:<4} {t['label_en']:<10} {t['customers']:>8}")
    for c in d["recent_changes"][:10]:
        typer.echo(f"  {c['on_day']}  #{c['customer_id']}: {c['from_tier']} → {c['to_tier']}")
