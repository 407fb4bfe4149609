"""``kehu notify …``: reminders — the notifications the clock brings and the users' daily digests."""

from __future__ import annotations

from typing import Annotated

import typer

from kehu.cli._common import AsJson, Home, open_workspace, parse_time, print_json

app = typer.Typer(help="Reminders: tasks due, overdue, tickets past SLA; the daily digest.", no_args_is_help=True)


@app.command("digest")
def notify_digest(
    at: Annotated[
        str | None, typer.Option("--at", help="Act as of this time (default: now; YYYY-MM-DD[THH:MM]).")
    ] = None,
    deliver: Annotated[bool, typer.Option("--deliver/--no-deliver", help="Deliver the outbox afterwards.")] = True,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Notify tasks due today, overdue tasks and tickets past SLA; queue each user's digest once its time has come
    today (once per user and day), then deliver the outbox. `kehu serve` does this on its schedule."""
    with open_workspace(home) as ws:
        now = parse_time(at, "--at")
        system = ws.system()
        d = system.notifications.remind(now=now)
        if deliver:
            d["delivery"] = system.playbooks.deliver(now=now)
    if as_json:
        print_json(d)
        return
    made, digests = d["notifications"], d["digests"]
    typer.echo(
        f"notifications: {made['tasks_due']} due today, {made['tasks_overdue']} overdue, {made['ticket_sla']} past SLA"
    )
    typer.echo(
        f"digests of {digests['day']}: {digests['queued']} queued, {digests['nothing_to_say']} with nothing to say, "
        f"{digests['not_yet']} not yet due, {digests['no_channel']} without a channel, "
        f"{digests['done_before']} decided before"
    )
    if deliver:
        typer.echo(f"delivery: {d['delivery']['sent']} sent, {d['delivery']['waiting']} waiting")
