"""``kehu users …``: the users of the web app and their passwords."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from kehu.cli._common import AsJson, Home, open_workspace, print_json
from kehu.errors import NotFoundError

if TYPE_CHECKING:
    from kehu.service.workspace import Workspace

app = typer.Typer(help="Manage users (sales reps, managers, admins).", no_args_is_help=True)


@app.command("add")
def users_add(
    name: str,
    role: Annotated[str, typer.Option(help="admin | manager | rep")] = "rep",
    team: Annotated[str | None, typer.Option()] = None,
    password: Annotated[
        str | None, typer.Option(help="Sign-in password (asked for, hidden, on a terminal when omitted).")
    ] = None,
    home: Home = None,
) -> None:
    """Add a user (or change the role/team of an existing one) and set the password for the web app."""
    from kehu.service import access

    if password is None and sys.stdin.isatty():
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    with open_workspace(home) as ws:
        uid = access.create_user(ws, name, role=role, team=team, password=password)
    note = "" if password else " — no password yet: set one with `kehu users password`"
    typer.echo(f"user {name} (#{uid}, {role}){note}")


@app.command("password")
def users_password(
    name: str,
    password: Annotated[str | None, typer.Option(help="New password (asked for, hidden, when omitted).")] = None,
    home: Home = None,
) -> None:
    """Set a user's password (signs out all their sessions)."""
    from kehu.service import access

    if password is None:
        password = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
    with open_workspace(home) as ws:
        access.reset_password(ws, None, _user_id(ws, name), password)
    typer.echo(f"password of {name} set")


def _user_id(ws: Workspace, name: str) -> int:
    match = [u for u in ws.system().users.all() if u["name"] == name]
    if not match:
        raise NotFoundError(f"no user named {name!r}")
    return int(match[0]["id"])


@app.command("deactivate")
def users_deactivate(name: str, home: Home = None) -> None:
    """Deactivate a user: they cannot sign in, their sessions end and their API tokens are revoked at once."""
    from kehu.service import access

    with open_workspace(home) as ws:
        access.set_active(ws, None, _user_id(ws, name), False)
    typer.echo(f"user {name} deactivated; sessions ended and API tokens revoked")


@app.command("activate")
def users_activate(name: str, home: Home = None) -> None:
    """Reactivate a user (they sign in again with their password and create new API tokens)."""
    from kehu.service import access

    with open_workspace(home) as ws:
        access.set_active(ws, None, _user_id(ws, name), True)
    typer.echo(f"user {name} active")


@app.command("tokens")
def users_tokens(name: str, as_json: AsJson = False, home: Home = None) -> None:
    """List a user's API tokens (id, name, first characters, dates; never the token)."""
    with open_workspace(home) as ws:
        rows = ws.system().users.tokens_of(_user_id(ws, name))
    if as_json:
        print_json(rows)
        return
    for r in rows:
        state = "revoked" if r["revoked"] else "live"
        typer.echo(f"#{r['id']:<4} {r['name']:<20} {r['prefix']}…  {state}")


@app.command("revoke-token")
def users_revoke_token(token_id: int, home: Home = None) -> None:
    """Revoke an API token of any user by its id (see `kehu users tokens`)."""
    from kehu.service import access

    with open_workspace(home) as ws:
        access.revoke_api_token(ws, None, token_id, any_user=True)
    typer.echo(f"API token #{token_id} revoked")


@app.command("list")
def users_list(as_json: AsJson = False, home: Home = None) -> None:
    """List users."""
    with open_workspace(home) as ws:
        rows = ws.system().users.all()
    if as_json:
        print_json(rows)
        return
    for r in rows:
        typer.echo(
            f"#{r['id']:<4} {r['name']:<12} {r['role']:<8} {r['team'] or '':<12}{'' if r['active'] else ' inactive'}"
        )


@app.command("capacity")
def users_capacity(
    team: Annotated[str | None, typer.Option("--team", help="Set the capacity of this team.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Set the capacity of this user (name).")] = None,
    per_day: Annotated[int | None, typer.Option("--per-day", help="Playbook tasks a working day (0–200).")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the override (back to team or role).")] = False,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Daily playbook task capacities: list them (with the open tasks of the next working days), or set one for a
    team or a user (a user's own beats their team's, which beats the role default)."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    with open_workspace(home) as ws:
        if team is not None or user is not None:
            if (per_day is None) == (not clear):
                raise typer.BadParameter("give --per-day N or --clear", param_hint="--per-day")
            ws.system().capacity.set(per_day=None if clear else per_day, team=team, user=user)
        today = dt.datetime.now(ZoneInfo(ws.settings.timezone)).date()
        d = ws.system().capacity.overview(today=today)
    if as_json:
        print_json(d)
        return
    typer.echo("role defaults: " + ", ".join(f"{r} {n}/day" for r, n in d["roles"].items()))
    for t in d["teams"]:
        if t["per_day"] is not None:
            typer.echo(f"team {t['team']}: {t['per_day']}/day")
    days = " ".join(day.strftime("%m-%d") for day in d["days"])
    typer.echo(f"{'user':<12} {'role':<8} {'capacity':>8}  from    open tasks due {days}")
    for r in d["users"]:
        load = " ".join(f"{x['open']:>5}" for x in r["load"])
        typer.echo(f"{r['name']:<12} {r['role']:<8} {r['capacity']:>8}  {r['source']:<7} {'':>14}{load}")
