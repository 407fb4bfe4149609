"""``kehu demo``: the seeded demo company, loaded, trained, run and served."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from kehu.cli._common import Home, open_workspace, parse_date
from kehu.cli.imports import print_summary
from kehu.cli.run import print_run
from kehu.errors import KehuError


def local_today(timezone: str) -> dt.date:
    """Today in ``timezone`` (``KEHU_TIMEZONE``)."""
    return dt.datetime.now(ZoneInfo(timezone)).date()


def demo(
    customers: Annotated[int, typer.Option(help="How many customers the demo company has.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same company).")] = 0,
    today: Annotated[
        str | None, typer.Option("--today", help="The demo's today: its data end the day before (default: today).")
    ] = None,
    history_weeks: Annotated[
        int, typer.Option(help="Weeks of the owners' follow-up work simulated before today (0: none).")
    ] = 6,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Stop after loading (for scripts).")] = False,
    home: Home = None,
) -> None:
    """Generate the seeded demo company with data up to yesterday, import its files through the normal import path,
    simulate the recent weeks of follow-up work, run the pipeline."""
    with open_workspace(home) as ws:
        ws.init()
        day = parse_date(today, "--today") if today else local_today(ws.settings.timezone)
        result = ws.load_demo(customers=customers, seed=seed, on_file=print_summary, today=day,
                              history_weeks=history_weeks)  # fmt: skip
        try:
            ws.system().models.train()
        except KehuError as exc:  # e.g. a tiny demo company with too little history
            typer.echo(f"churn models not trained: {exc}")
        ran = ws.run(as_of=result["as_of"])
    if result["history"]:
        h = result["history"]
        done = ", ".join(f"{k} {v}" for k, v in h["outcomes"].items())
        typer.echo(
            f"follow-up work {h['days'][0]} … {h['days'][-1]}: {h['tasks']} tasks, {h['done']} done ({done}), "
            f"{h['notes']} notes, {h['open']} still open"
        )
    typer.echo("kehu run:")
    print_run(ran)
    typer.echo(
        f"demo company loaded: {result['customers']} customers, {result['users']} users, "
        f"as of {result['as_of']} (workspace {result['home']})"
    )
    if no_serve:
        return
    from kehu.service.demo import demo_logins
    from kehu.web.server import serve as serve_app

    with open_workspace(home) as ws:
        logins = demo_logins(ws)
        settings = ws.settings
    typer.echo("\nDemo logins (same password for every user of the demo company):")
    for login in logins:
        typer.echo(
            f"  {login['role']:<8} {login['name']:<10} password {login['password']}"
            + (f"  (team {login['team']})" if login["team"] else "")
        )
    typer.echo("\nKehu at http://127.0.0.1:8000/  (Ctrl-C stops)")
    serve_app(settings, "127.0.0.1", 8000)
