"""``kehu run``: the pipeline, value models, churn scores, segments and playbooks of one day, and its summary."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from kehu.cli._common import AsJson, Home, open_workspace, parse_date, print_json, tell_waiting
from kehu.cli.playbooks import print_capacity, print_past_day_plan


def run(
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Compute as of this date (YYYY-MM-DD); default: the latest order date."),
    ] = None,
    engine: Annotated[str | None, typer.Option(help="Analytics engine: duckdb (default) or spark.")] = None,
    act_on_past_day: Annotated[
        bool,
        typer.Option(
            "--act-on-past-day",
            help="With an --as-of before the newest data day: let the playbooks act for that day too (tasks, "
            "messages, coupons, tags, owners), after printing what they will do. Without it such a run only computes "
            "and publishes.",
        ),
    ] = False,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Run the analytics pipeline on the store and publish per-customer features, cohorts and history; then the
    playbooks act, unless --as-of names a day before the newest data day (see --act-on-past-day)."""
    day = parse_date(as_of) if as_of else None
    with open_workspace(home) as ws:
        result = ws.run(
            as_of=day,
            engine=engine,
            act_on_past_day=act_on_past_day,
            announce=lambda p: print_past_day_plan(p, err=as_json),
            on_wait=tell_waiting,
        )
    if as_json:
        print_json(result)
        return
    _print_steps(result)
    print_playbooks_step(result)


def _print_steps(result: dict[str, Any]) -> None:
    typer.echo(
        f"as of {result['as_of']} on {result['engine']}: {result['customers']} customers in {result['seconds']:.1f} s"
    )
    for step, seconds in result["step_seconds"].items():
        typer.echo(f"  {step:<24} {seconds:7.2f} s")


def print_run(result: dict[str, Any]) -> None:
    """Print a run with the summaries of its value models, churn scores and segments (``kehu demo``)."""
    _print_steps(result)
    vm = result.get("value_models") or {}
    if "skipped" in vm:
        typer.echo(f"  value models skipped: {vm['skipped']}")
    elif vm:
        typer.echo(
            f"  value models            {vm['seconds']:7.2f} s  ({vm['purchase_model']}, "
            f"{vm['customers']} customers, {vm['repeat_customers']} repeat buyers)"
        )
    churn = result.get("churn") or {}
    if "skipped" in churn:
        typer.echo(f"  churn models skipped: {churn['skipped']}")
    elif churn:
        tiers = ", ".join(f"{k} {v}" for k, v in churn["tiers"].items())
        typer.echo(f"  churn                   {churn['seconds']:7.2f} s  ({churn['scored']} scored: {tiers})")
    seg = result.get("segments") or {}
    if seg:
        typer.echo(f"  segments                {seg['seconds']:7.2f} s  ({', '.join(seg['schemes'])})")
    print_playbooks_step(result)


def print_playbooks_step(result: dict[str, Any]) -> None:
    """Print what the run's playbooks fired, per rule (or why they did not run)."""
    pb = result.get("playbooks")
    if not pb:
        return
    if "error" in pb:
        typer.echo(f"  playbooks: not run: {pb['error']}", err=True)
        return
    if not pb.get("acted", True):
        typer.echo(f"  {pb['past_day']['message']}")
        return
    if not pb["playbooks"]:
        typer.echo("  playbooks               none enabled (`kehu playbooks install-defaults`)")
        return
    fired = sum(r["fired"] or 0 for r in pb["rules"])
    typer.echo(f"  playbooks               {fired} firings ({', '.join(pb['playbooks'])})")
    for r in pb["rules"]:
        if r["fired"]:
            typer.echo(f"    {r['rule']:<48} {r['fired']:>6}")
    print_capacity(pb)
