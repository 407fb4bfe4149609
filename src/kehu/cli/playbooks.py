"""``kehu playbooks …`` and ``kehu tasks …``: rules that act on customers, their outbox, the tasks they create."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from kehu.cli._common import Actor, AsJson, Home, actor_name, open_workspace, parse_date, print_json
from kehu.jsonable import dumps

playbooks_app = typer.Typer(
    help="Playbooks: rules that create tasks, send messages, tag, issue coupons, assign owners.", no_args_is_help=True
)
tasks_app = typer.Typer(help="Tasks for sales reps and managers (from playbooks).", no_args_is_help=True)
Files = Annotated[
    list[Path] | None, typer.Argument(help="Playbook files or folders (default: the workspace's playbooks).")
]
Today = Annotated[
    str | None, typer.Option("--today", help="Evaluate triggers for this day (YYYY-MM-DD); default: today.")
]


def print_capacity(d: dict[str, Any]) -> None:
    """Print the capacity stage of a playbook run: what expired, and every firing of the run by what became of it."""
    cap = d.get("capacity")
    if not cap:
        return
    days = cap["days"]
    span = f"{days[0]} … {days[-1]}" if days else "-"
    if "accounting" in cap:
        a = cap["accounting"]
        typer.echo(
            f"  actions                 {a['firings']} firings = {a['task']} tasks + {a['merged']} merged into "
            f"another action of their customer + {a['backlog']} backlog + {a['automated']} automated + "
            f"{a['expired']} expired + {a['held_out']} held out"
        )
    else:
        planned = ", ".join(f"{k} {v}" for k, v in cap["planned"].items()) or "none"
        typer.echo(f"  actions                 would be: {planned}")
    if cap.get("from_backlog"):
        verb = "would become" if "accounting" not in cap else "became"
        typer.echo(f"  from the backlog        {cap['from_backlog']} waiting actions {verb} tasks in freed slots")
    typer.echo(f"  task due dates          {span} ({len(days)} working days)")
    expired = cap.get("expired")
    if expired and (expired["tasks"] or expired["backlog"]):
        typer.echo(f"  expired                 {expired['tasks']} stale tasks, {expired['backlog']} backlog entries")


def _print_rules(d: dict[str, Any], *, dry: bool) -> None:
    if not d.get("acted", True):
        typer.echo(d["past_day"]["message"])
        return
    typer.echo(
        f"day {d['day']} (profile as of {d['as_of'] or 'none published'})"
        + ("  — dry run, nothing changed" if dry else "")
    )
    for r in d["rules"]:
        count = r["would_fire"] if dry else r["fired"]
        skipped = ", ".join(f"{k} {v}" for k, v in r["skipped"].items())
        typer.echo(
            f"  {r['rule']:<48} {'would fire' if dry else 'fired'} {count:>6}, held out {r['held_out']:>5}   "
            f"(trigger {r['matched']}, if {r['passed_if']}{'; skipped ' + skipped if skipped else ''})"
        )
        for sample in r["samples"] if dry else []:
            acts = "; ".join(dumps(a) for a in sample["actions"])
            typer.echo(
                f"      #{sample['customer_id']} {sample['name'] or ''} (owner {sample['owner'] or '-'}): {acts}"
            )
    print_capacity(d)
    delivery = d.get("delivery")
    if delivery:
        typer.echo(
            f"delivery: applied {delivery['applied']}, sent {delivery['sent']}, retry {delivery['retry']}, "
            f"dead {delivery['dead']}, unknown {delivery['unknown']}, waiting {delivery['waiting']}"
            + (f", channel not configured {delivery['unconfigured']}" if delivery["unconfigured"] else "")
        )


@playbooks_app.command("validate")
def playbooks_validate(
    files: Annotated[list[Path], typer.Argument(help="Playbook files or folders.")], home: Home = None
) -> None:
    """Check playbook files against the schema and Kehu's rules; problems name file, line and field."""
    with open_workspace(home) as ws:
        rows = ws.system().playbooks.validate(list(files))
    for r in rows:
        typer.echo(
            f"ok  {r['file']}: playbook {r['playbook']}, {r['rules']} rules{'' if r['enabled'] else ' (disabled)'}"
        )


@playbooks_app.command("dry-run")
def playbooks_dry_run(files: Files = None, today: Today = None, as_json: AsJson = False, home: Home = None) -> None:
    """Per rule: how many customers would trigger now, with samples. Changes nothing."""
    with open_workspace(home) as ws:
        d = ws.system().playbooks.dry_run(
            list(files) if files else None, day=parse_date(today, "--today") if today else None
        )
    if as_json:
        print_json(d)
        return
    _print_rules(d, dry=True)


@playbooks_app.command("run")
def playbooks_run(
    files: Files = None,
    today: Today = None,
    act_on_past_day: Annotated[
        bool,
        typer.Option(
            "--act-on-past-day",
            help="With a --today before the newest data day: act for that day, after printing what will be done. "
            "Without it such a day changes nothing.",
        ),
    ] = False,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Run the playbooks: record what fires (once per trigger occurrence), create tasks, send messages."""
    with open_workspace(home) as ws:
        d = ws.system().playbooks.run(
            list(files) if files else None,
            day=parse_date(today, "--today") if today else None,
            act_on_past_day=act_on_past_day,
            announce=lambda p: print_past_day_plan(p, err=as_json),
        )
    if as_json:
        print_json(d)
        return
    _print_rules(d, dry=False)


@playbooks_app.command("effects")
def playbooks_effects(
    since: Annotated[
        str | None, typer.Option("--since", help="First firing day (YYYY-MM-DD); default: the first.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Last firing day (YYYY-MM-DD); default: the newest.")
    ] = None,
    horizon: Annotated[
        int | None,
        typer.Option("--horizon", help="Days after the firing to measure; default KEHU_PLAYBOOK_EFFECT_DAYS."),
    ] = None,
    lang: Annotated[str, typer.Option(help="Language of the verdicts: zh or en.")] = "zh",
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """What works: per rule, customers acted on vs held out, uplift with 95% intervals and a verdict."""
    if lang not in ("zh", "en"):
        raise typer.BadParameter("use zh or en", param_hint="--lang")
    with open_workspace(home) as ws:
        d = ws.system().playbooks.effects(
            since=parse_date(since, "--since") if since else None,
            until=parse_date(until, "--until") if until else None,
            horizon=horizon,
        )
    if as_json:
        print_json(d)
        return
    w = d["window"]
    typer.echo(
        f"data as of {d['as_of'] or '-'}; outcomes over the {d['horizon_days']} days after each firing; "
        f"measurable firings up to {w['measurable_until'] or '-'}"
    )
    if not d["rules"]:
        typer.echo("no playbook rule fired in this window")
    for r in d["rules"]:
        arms, rev = r["arms"], r["uplift"]["revenue_per_customer"]
        ci = "no interval" if rev["low"] is None else f"[{rev['low'] / 100:+,.2f}, {rev['high'] / 100:+,.2f}]"
        diff = "-" if rev["difference"] is None else f"{rev['difference'] / 100:+,.2f}"
        typer.echo(
            f"  {r['ref']:<48} {r['verdict']:<8}{' FLAGGED' if r['flagged'] else ''}\n"
            f"      acted on {arms['treated']['customers']:>6}, held out {arms['held_out']['customers']:>5}, "
            f"pending {r['pending']:>5}; revenue per customer {diff} {ci}"
        )
        typer.echo(f"      {r['says']['zh-CN' if lang == 'zh' else 'en']}")


@playbooks_app.command("deliver")
def playbooks_deliver(as_json: AsJson = False, home: Home = None) -> None:
    """Deliver what is due in the outbox: messages after quiet hours, retries after failures."""
    with open_workspace(home) as ws:
        d = ws.system().playbooks.deliver()
    if as_json:
        print_json(d)
        return
    _print_rules({"day": "-", "as_of": "-", "rules": [], "delivery": d}, dry=False)


@playbooks_app.command("list")
def playbooks_list(as_json: AsJson = False, home: Home = None) -> None:
    """The workspace's playbooks (KEHU_PLAYBOOKS_DIR) and their rules."""
    with open_workspace(home) as ws:
        rows = ws.system().playbooks.all()
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no playbooks: `kehu playbooks install-defaults` copies the default ones")
    for pb in rows:
        typer.echo(f"{pb['playbook']} ({'enabled' if pb['enabled'] else 'disabled'}) {pb['file']}")
        for r in pb["rules"]:
            typer.echo(f"  {r['id']:<32} {r['trigger']:<24} priority {r['priority']:>4}  {', '.join(r['actions'])}")


@playbooks_app.command("install-defaults")
def playbooks_install_defaults(
    overwrite: Annotated[bool, typer.Option(help="Replace files of the same name.")] = False, home: Home = None
) -> None:
    """Copy the default playbooks (RFM 8-class, lifecycle, renewals, NPS) into the workspace, enabled."""
    with open_workspace(home) as ws:
        written = ws.system().playbooks.install_defaults(overwrite=overwrite)
        folder = ws.settings.resolved_playbooks_dir
    typer.echo(f"{len(written)} playbook files written to {folder}" + ("" if written else " (all present already)"))


@playbooks_app.command("schema")
def playbooks_schema() -> None:
    """Print the playbook JSON Schema (for editors and CI checks)."""
    from kehu.playbooks import schema

    print_json(schema())


@playbooks_app.command("outbox")
def playbooks_outbox(
    status: Annotated[str | None, typer.Option(help="pending | retry | sending | done | dead | unknown")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """The outbox: every action and message with its delivery state, attempts and last error."""
    with open_workspace(home) as ws:
        rows = ws.system().playbooks.outbox(status=status, limit=limit)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        typer.echo(
            f"#{r['id']:<6} {r['kind']:<8} {r['channel'] or '':<16} {r['status']:<8} attempts {r['attempts']:<3} "
            f"customer #{r['customer_id']}  {r['last_error'] or ''}"
        )


@playbooks_app.command("retry")
def playbooks_retry(
    outbox_id: Annotated[int, typer.Argument(metavar="ID", help="Outbox row id (see `kehu playbooks outbox`).")],
    actor: Actor = None,
    home: Home = None,
) -> None:
    """Send a dead or unknown message again (after checking it did not arrive)."""
    with open_workspace(home) as ws:
        d = ws.system().playbooks.retry_outbox(outbox_id, actor=actor_name(actor))
    typer.echo(f"outbox #{d['id']}: {d['was']} → queued again; `kehu playbooks deliver` sends it")


@tasks_app.command("list")
def tasks_list(
    owner: Annotated[str | None, typer.Option("--owner", help="Only tasks assigned to this user.")] = None,
    status: Annotated[
        list[str] | None, typer.Option("--status", help="open | in_progress | done | cancelled (repeatable).")
    ] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only open tasks past their due date.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 200,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Tasks, due first: title, customer, assignee, due date (overdue marked), state and outcome."""
    with open_workspace(home) as ws:
        rows = ws.system().tasks.rows(
            owner=owner, status=status or ["open", "in_progress"], overdue=overdue, limit=limit
        )
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no tasks")
    for r in rows:
        late = " OVERDUE" if r["overdue"] else ""
        typer.echo(
            f"#{r['id']:<6} due {r['due_date']}{late} [{r['priority']}] {r['status']:<11} "
            f"{r['assignee'] or '(unassigned)':<10} {r['title']}" + (f"  → {r['outcome']}" if r["outcome"] else "")
        )


@tasks_app.command("done")
def tasks_done(
    task_id: Annotated[int, typer.Argument(metavar="ID")],
    outcome: Annotated[str, typer.Option(help="reached | no_answer | won_back | lost | not_interested")],
    note: Annotated[str | None, typer.Option(help="Follow-up notes.")] = None,
    actor: Actor = None,
    home: Home = None,
) -> None:
    """Close a task with its outcome (and notes); the audit log records who and when."""
    with open_workspace(home) as ws:
        d = ws.system().tasks.finish(task_id, outcome=outcome, notes=note, actor=actor_name(actor))
    typer.echo(f"task #{d['id']} done: {d['outcome']}")


@tasks_app.command("backlog")
def tasks_backlog(
    owner: Annotated[str | None, typer.Option("--owner", help="Only entries meant for this user.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, most at stake first.")] = 50,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """The backlog: playbook actions that did not fit their owner's capacity, most value at stake first."""
    with open_workspace(home) as ws:
        uid = _user_id(ws, owner) if owner else None
        d = ws.system().capacity.backlog(assignee_id=uid, limit=limit)
    if as_json:
        print_json(d)
        return
    typer.echo(f"{d['count']} waiting")
    for r in d["entries"]:
        rules = ", ".join(x["rule"] for x in r["reasons"])
        typer.echo(
            f"#{r['id']:<6} {r['value_at_stake']:>10,.2f} at stake  {r['assignee'] or '(unassigned)':<10} "
            f"{r['task']['title']}  ({rules})"
        )


@tasks_app.command("promote")
def tasks_promote(
    entry_id: Annotated[int, typer.Argument(metavar="ID", help="Backlog entry id (see `kehu tasks backlog`).")],
    owner: Annotated[str | None, typer.Option("--owner", help="Give the task to this user instead.")] = None,
    due: Annotated[str | None, typer.Option("--due", help="Due date (YYYY-MM-DD); default: first free day.")] = None,
    home: Home = None,
) -> None:
    """Turn a backlog entry into a task, due on the assignee's first working day with a free slot."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    with open_workspace(home) as ws:
        uid = _user_id(ws, owner) if owner else None
        today = dt.datetime.now(ZoneInfo(ws.settings.timezone)).date()
        d = ws.system().capacity.promote(
            entry_id, assignee_id=uid, due_date=parse_date(due, "--due") if due else None, today=today
        )
    typer.echo(f"backlog #{d['id']} → task #{d['task_id']} for user #{d['assignee_id']}, due {d['due_date']}")


def _user_id(ws: Any, name: str) -> int:
    from kehu.errors import NotFoundError

    match = [u for u in ws.system().users.all() if u["name"] == name]
    if not match:
        raise NotFoundError(f"no user named {name!r}: see `kehu users list`")
    return int(match[0]["id"])


def print_past_day_plan(plan: dict[str, Any], *, err: bool = False) -> None:
    """Before a run acts on a past day: that it does, and what, per rule (the dry run's counts)."""
    past = plan["past_day"]
    typer.echo(past["message"], err=err)
    typer.echo(past["plan"], err=err)
    for r in plan["rules"]:
        typer.echo(f"  {r['rule']:<48} {r['would_fire']:>6}", err=err)
