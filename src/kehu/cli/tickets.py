"""``kehu tickets …``: support tickets, assignment and SLA breaches."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from kehu.cli._common import AsJson, Home, open_workspace, parse_time, print_json

app = typer.Typer(help="Support tickets: create, update, assignment, SLA breaches.", no_args_is_help=True)
Now = Annotated[str | None, typer.Option("--at", help="The time to act as of (default: now; YYYY-MM-DD[THH:MM]).")]


def _print_ticket(d: dict[str, Any]) -> None:
    due = d["due"]
    typer.echo(
        f"ticket #{d['id']} ({d['ticket_id']}) {d['status']} {d['priority']} → {d['assignee'] or '(unassigned)'}; "
        f"first response due {due['first_response']:%Y-%m-%d %H:%M}, resolution due {due['resolution']:%Y-%m-%d %H:%M}"
    )


@app.command("create")
def tickets_create(
    customer: Annotated[str, typer.Argument(help="Customer: id from an imported file, SOURCE:ID or Kehu id.")],
    topic: Annotated[str | None, typer.Option(help="Topic (round-robin pools are per topic).")] = None,
    priority: Annotated[str, typer.Option(help="low | normal | high | urgent")] = "normal",
    complaint: Annotated[bool, typer.Option("--complaint", help="It is a complaint (a survey follows).")] = False,
    note: Annotated[str | None, typer.Option(help="What it is about.")] = None,
    assignee: Annotated[str | None, typer.Option(help="Assign to this user instead of the rules.")] = None,
    at: Now = None,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Open a ticket for a customer and assign it (customer's owner, else round robin by topic or team)."""
    with open_workspace(home) as ws:
        d = ws.system().tickets.create(
            customer,
            topic=topic,
            priority=priority,
            complaint=complaint,
            note=note,
            assignee=assignee,
            now=parse_time(at, "--at"),
        )
    print_json(d) if as_json else _print_ticket(d)


@app.command("update")
def tickets_update(
    ticket: Annotated[int, typer.Argument(help="Kehu ticket id.")],
    respond: Annotated[bool, typer.Option("--respond", help="Record the first response now.")] = False,
    resolve: Annotated[bool, typer.Option("--resolve", help="Resolve the ticket now.")] = False,
    status: Annotated[str | None, typer.Option(help="open | in_progress | resolved | closed")] = None,
    priority: Annotated[str | None, typer.Option(help="low | normal | high | urgent")] = None,
    assignee: Annotated[str | None, typer.Option(help="Re-assign to this user.")] = None,
    satisfaction: Annotated[int | None, typer.Option(help="Customer's satisfaction 1-5.")] = None,
    at: Now = None,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Respond to, resolve, re-prioritise or re-assign a ticket; resolving a complaint schedules a survey."""
    with open_workspace(home) as ws:
        d = ws.system().tickets.update(
            ticket,
            respond=respond,
            resolve=resolve,
            status=status,
            priority=priority,
            assignee=assignee,
            satisfaction=satisfaction,
            now=parse_time(at, "--at"),
        )
    print_json(d) if as_json else _print_ticket(d)


@app.command("check")
def tickets_check(at: Now = None, as_json: AsJson = False, home: Home = None) -> None:
    """Assign waiting tickets, record new SLA breaches (each once), schedule satisfaction follow-ups."""
    with open_workspace(home) as ws:
        d = ws.system().tickets.check(now=parse_time(at, "--at"))
    if as_json:
        print_json(d)
        return
    typer.echo(
        f"assigned {d['assigned']} (no rule matched {d['unassigned']}); new SLA breaches {d['new_breaches']}; "
        f"satisfaction follow-ups scheduled {d['followups_scheduled']}"
    )


@app.command("breaches")
def tickets_breaches(
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50, as_json: AsJson = False, home: Home = None
) -> None:
    """SLA breaches recorded by `kehu tickets check`, newest first."""
    with open_workspace(home) as ws:
        rows = ws.system().tickets.breaches(limit=limit)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        typer.echo(
            f"#{r['ticket_id']:<7} {r['kind']:<15} {r['priority']:<7} due {r['due_at']:%Y-%m-%d %H:%M}  "
            f"{r['status']:<12} {r['assignee'] or '(unassigned)'}"
        )
