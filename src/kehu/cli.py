"""The ``kehu`` command line: one command, one Workspace call.

Errors are translated once, in :func:`main`: a :class:`~kehu.errors.KehuError` prints its message and exits 2.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from kehu.config import load_settings
from kehu.errors import KehuError, NotFoundError

app = typer.Typer(
    name="kehu",
    help="Kehu (客户): customer value management.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
customers_app = typer.Typer(help="Look at customers and identity-resolution merges.", no_args_is_help=True)
users_app = typer.Typer(help="Manage users (sales reps, managers, admins).", no_args_is_help=True)
app.add_typer(customers_app, name="customers")
segments_app = typer.Typer(
    help="Segments: RFM schemes, lifecycle, value tiers, cross and custom segments.", no_args_is_help=True
)
report_app = typer.Typer(help="Reports written to files.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(segments_app, name="segments")
app.add_typer(report_app, name="report")
models_app = typer.Typer(help="Churn early warning, next-purchase and cross-sell models.", no_args_is_help=True)
app.add_typer(models_app, name="models")

Home = Annotated[Path | None, typer.Option("--home", help="Workspace folder (default: $KEHU_HOME or ./.kehu).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]


def _workspace(home: Path | None) -> Any:
    from kehu.service.workspace import Workspace

    return Workspace(load_settings(home=home))


def _default(o: Any) -> Any:
    if isinstance(o, dt.datetime | dt.date):
        return o.isoformat()
    if isinstance(o, Decimal):
        return str(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def _print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False, default=_default, indent=2))


@app.command()
def init(home: Home = None) -> None:
    """Create the workspace and create or upgrade the app store (Alembic migrations)."""
    with _workspace(home) as ws:
        rev = ws.init()
        typer.echo(f"store ready at {ws.settings.resolved_database_url} (revision {rev})")


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
    if s.extras:
        extra.append(f"extra columns kept: {', '.join(s.extras)}")
    if extra:
        typer.echo("  " + "; ".join(extra))
    if s.quarantine_file:
        typer.echo(f"  rejected rows and reasons: {s.quarantine_file}")
    typer.echo(f"  {s.seconds:.1f} s")


@app.command("import")
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

    with _workspace(home) as ws:
        summary = ws.import_file(kind, path, mapping=mapping, source=source, sheet=sheet, progress=progress)
    if as_json:
        d = summary.as_dict()
        _print_json(
            summary.counts()
            | {"quarantine_file": d["quarantine_file"]}
            | {
                "kind": d["kind"],
                "path": d["path"],
                "source": d["source"],
                "merges": d["merges"],
                "seconds": d["seconds"],
            }
        )
    else:
        print_summary(summary)


@customers_app.command("show")
def customers_show(
    ident: Annotated[str, typer.Argument(metavar="ID", help="Id from an imported file, SOURCE:ID, or Kehu id.")],
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Show one customer with counts and totals of everything stored about them."""
    with _workspace(home) as ws:
        d = ws.customer(ident)
    if as_json:
        _print_json(d)
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


@customers_app.command("merges")
def customers_merges(
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """List identity-resolution merges: which customers became one, and by which rule."""
    with _workspace(home) as ws:
        rows = ws.merges(limit=limit)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        typer.echo("no merges")
    for r in rows:
        merged = f"#{r['merged_customer_id']}" if r["merged_customer_id"] else "new record"
        typer.echo(f"{r['at']:%Y-%m-%d %H:%M}  {merged} → #{r['kept_customer_id']}  by {r['rule']}  {r['detail']}")


@customers_app.command("link")
def customers_link(
    a: Annotated[str | None, typer.Argument(help="SOURCE:ID")] = None,
    b: Annotated[str | None, typer.Argument(help="SOURCE:ID")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="CSV of pairs: two columns SOURCE:ID, SOURCE:ID.")] = None,
    home: Home = None,
) -> None:
    """Link source records as the same customer (an explicit identity mapping): one pair, or a file of pairs."""
    if (file is None) == (a is None or b is None):
        raise typer.BadParameter("give two records SOURCE:ID SOURCE:ID, or --file FILE")
    with _workspace(home) as ws:
        if file is not None:
            n = ws.link_file(file)
            typer.echo(f"linked {n} pairs of records from {file}")
            return
        assert a is not None and b is not None
        cid = ws.link(a, b)
    typer.echo(f"{a} and {b} are now customer #{cid}")


@users_app.command("add")
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
    with _workspace(home) as ws:
        uid = access.create_user(ws, name, role=role, team=team, password=password)
    note = "" if password else " — no password yet: set one with `kehu users password`"
    typer.echo(f"user {name} (#{uid}, {role}){note}")


@users_app.command("password")
def users_password(
    name: str,
    password: Annotated[str | None, typer.Option(help="New password (asked for, hidden, when omitted).")] = None,
    home: Home = None,
) -> None:
    """Set a user's password (signs out all their sessions)."""
    from kehu.service import access

    if password is None:
        password = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
    with _workspace(home) as ws:
        match = [u for u in ws.users() if u["name"] == name]
        if not match:
            raise NotFoundError(f"no user named {name!r}")
        access.reset_password(ws, None, int(match[0]["id"]), password)
    typer.echo(f"password of {name} set")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    schedule: Annotated[
        bool, typer.Option(help="Run the daily job (KEHU_SCHEDULE_DAILY_AT) and deliver the outbox while serving.")
    ] = True,
    home: Home = None,
) -> None:
    """Serve the web app (dashboard, customers, customer 360, imports, users) and the REST API under /api/."""
    from kehu.web.server import serve as serve_app

    settings = load_settings(home=home)
    typer.echo(f"Kehu at http://{host}:{port}/  (Ctrl-C stops)")
    serve_app(settings, host, port, workers=workers, schedule=schedule)


@users_app.command("list")
def users_list(as_json: AsJson = False, home: Home = None) -> None:
    """List users."""
    with _workspace(home) as ws:
        rows = ws.users()
    if as_json:
        _print_json(rows)
        return
    for r in rows:
        typer.echo(f"#{r['id']:<4} {r['name']:<12} {r['role']:<8} {r['team'] or ''}")


@app.command()
def run(
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Compute as of this date (YYYY-MM-DD); default: the latest order date."),
    ] = None,
    engine: Annotated[str | None, typer.Option(help="Analytics engine: duckdb (default) or spark.")] = None,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Run the analytics pipeline on the store and publish per-customer features, cohorts and history."""
    day = _parse_date(as_of) if as_of else None
    with _workspace(home) as ws:
        result = ws.run(as_of=day, engine=engine)
    if as_json:
        _print_json(result)
        return
    typer.echo(
        f"as of {result['as_of']} on {result['engine']}: {result['customers']} customers in {result['seconds']:.1f} s"
    )
    for step, seconds in result["step_seconds"].items():
        typer.echo(f"  {step:<24} {seconds:7.2f} s")
    _print_playbooks_step(result)


def _print_run(result: dict[str, Any]) -> None:
    typer.echo(
        f"as of {result['as_of']} on {result['engine']}: {result['customers']} customers in {result['seconds']:.1f} s"
    )
    for step, seconds in result["step_seconds"].items():
        typer.echo(f"  {step:<24} {seconds:7.2f} s")
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
    _print_playbooks_step(result)


def _parse_date(text: str, option: str = "--as-of") -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)", param_hint=option) from None


AsOf = Annotated[str | None, typer.Option("--as-of", help="The run of this day (YYYY-MM-DD); default: the newest.")]


@segments_app.command("list")
def segments_list(as_of: AsOf = None, as_json: AsJson = False, home: Home = None) -> None:
    """Every segment of every scheme: labels (zh/en), size, change since the previous run."""
    with _workspace(home) as ws:
        rows = ws.segments(as_of=_parse_date(as_of) if as_of else None)
    if as_json:
        _print_json(rows)
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


@segments_app.command("show")
def segments_show(
    ref: Annotated[str, typer.Argument(metavar="SCHEME:SEGMENT")],
    as_of: AsOf = None,
    limit: Annotated[int, typer.Option(help="Members to list.")] = 20,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """One segment: its rule, size and change, and members with the values that placed them there."""
    with _workspace(home) as ws:
        d = ws.segment(ref, as_of=_parse_date(as_of) if as_of else None, limit=limit)
    _print_json(d) if as_json else typer.echo(json.dumps(d, ensure_ascii=False, default=_default, indent=2))


@segments_app.command("transitions")
def segments_transitions(
    from_: Annotated[str, typer.Option("--from", help="Earlier run (YYYY-MM-DD).")],
    to: Annotated[str, typer.Option("--to", help="Later run (YYYY-MM-DD).")],
    scheme: Annotated[str | None, typer.Option(help="Only this scheme.")] = None,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Who moved between segments from one run to another (counts; in and out per segment)."""
    with _workspace(home) as ws:
        rows = ws.segment_transitions(_parse_date(from_, "--from"), _parse_date(to, "--to"), scheme=scheme)
    if as_json:
        _print_json(rows)
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


@segments_app.command("export")
def segments_export(
    ref: Annotated[str, typer.Argument(metavar="SCHEME:SEGMENT")],
    out: Annotated[Path, typer.Option("--out", help="File to write.")],
    fmt: Annotated[str, typer.Option("--format", help="xlsx or csv.")] = "xlsx",
    as_of: AsOf = None,
    home: Home = None,
) -> None:
    """Export a segment's members with Chinese headers, owner and contact columns (opens in Excel/WPS)."""
    with _workspace(home) as ws:
        d = ws.export_segment(ref, fmt=fmt, out=out, as_of=_parse_date(as_of) if as_of else None)
    typer.echo(f"{d.get('rows', '?')} customers of {ref} written to {out}")


@report_app.command("models")
def report_models(
    out: Annotated[Path, typer.Option("--out", help="Folder for the PNG plots and the HTML page.")] = Path(
        "model-report"
    ),
    calibration_end: Annotated[str | None, typer.Option(help="Last day of the calibration window.")] = None,
    observation_end: Annotated[str | None, typer.Option(help="Last day of the holdout window.")] = None,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Value-model diagnostics: calibration vs holdout, cumulative repeat purchases, P(alive) heatmap."""
    with _workspace(home) as ws:
        d = ws.report_models(
            out,
            calibration_end=_parse_date(calibration_end, "--calibration-end") if calibration_end else None,
            observation_end=_parse_date(observation_end, "--observation-end") if observation_end else None,
        )
    if as_json:
        _print_json(d)
        return
    for key, value in d.items():
        typer.echo(f"{key}: {value}")


# -- KPIs and feedback (issue #8) ------------------------------------------------------------------------------
def _kpi_value(key: str, value: Any) -> str:
    from kehu.metrics.labels import kpi_text

    if value is None:
        return kpi_text("no_data", "en")
    if key.endswith("_rate") or key.endswith("_share"):
        return f"{100 * value:.1f}%"
    if key.endswith("_cents"):
        return f"{value / 100:,.2f}"
    return f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"


@app.command()
def kpis(
    period: Annotated[str, typer.Option(help="week | month | quarter | year (the last complete one).")] = "month",
    as_of: Annotated[str | None, typer.Option("--as-of", help="Day to look back from (default: newest order).")] = None,
    lapse_days: Annotated[int, typer.Option(help="Days without a purchase after which a customer is lapsed.")] = 180,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """KPIs of the last complete period vs the one before, CLV, cohort retention, segment flow, owner leaderboard."""
    from kehu.metrics.labels import kpi_label, kpi_text

    with _workspace(home) as ws:
        d = ws.kpis(period=period, as_of=_parse_date(as_of) if as_of else None, lapse_days=lapse_days)
    if as_json:
        _print_json(d)
        return
    typer.echo(
        f"{d['period']['label']} ({d['period']['start']} … {d['period']['end']}) vs {d['previous_period']['label']}"
    )
    for key, value in d["kpis"].items():
        if key in d["not_available"]:
            shown = f"{kpi_text('not_available', 'en')}: {d['not_available'][key]}"
            typer.echo(f"  {kpi_label(key)} / {kpi_label(key, 'en')}: {shown}")
            continue
        typer.echo(
            f"  {kpi_label(key)} / {kpi_label(key, 'en')}: {_kpi_value(key, value)}"
            f"  (before {_kpi_value(key, d['previous'][key])})"
        )
    clv = d["clv"]
    typer.echo(
        f"  CLV 12m: total {_kpi_value('x', clv['total'])}, mean {_kpi_value('x', clv['mean'])} "
        f"over {clv['customers']} scored customers"
    )
    flow = d["segment_flow"]
    if flow:
        typer.echo(f"segment flow {flow['scheme']} {flow['from']} → {flow['to']}:")
        for move in flow["moves"][:10]:
            src, dst = move["from_segment"] or "(new)", move["to_segment"] or "(gone)"
            typer.echo(f"    {src:<12} → {dst:<12} {move['customers']:>7}")
    typer.echo("leaderboard (retention, repurchase, CSAT, NPS of each owner's customers):")
    for row in d["leaderboard"]:
        typer.echo(
            f"  {row['rank']:>3}. {row['owner']:<10} {row['customers']:>6} customers  retention "
            f"{_kpi_value('retention_rate', row['retention_rate'])} (of {row['retention_base']})  repurchase "
            f"{_kpi_value('repurchase_rate', row['repurchase_rate'])}  CSAT {_kpi_value('csat', row['csat'])}  "
            f"NPS {_kpi_value('nps', row['nps'])}"
        )


@app.command()
def feedback(
    period: Annotated[str, typer.Option(help="week | month | quarter | year.")] = "month",
    periods: Annotated[int, typer.Option(help="How many complete periods, newest last.")] = 6,
    segment: Annotated[str | None, typer.Option(help="Only the members of SCHEME:SEGMENT (newest run).")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Day to look back from (default: newest order).")] = None,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """NPS and CSAT per period with the change from the period before, for everyone or one segment."""
    with _workspace(home) as ws:
        d = ws.feedback(period=period, periods=periods, segment=segment, as_of=_parse_date(as_of) if as_of else None)
    if as_json:
        _print_json(d)
        return
    typer.echo(f"NPS and CSAT{' of ' + segment if segment else ''} (as of {d['as_of']})")
    for row in d["trend"]:
        n = row["nps"]
        typer.echo(
            f"  {row['period']['label']:<9} NPS {_kpi_value('nps', n['nps']):>9} ({n['responses']} answers: "
            f"{n['promoters']} promoters, {n['detractors']} detractors)  CSAT {_kpi_value('csat', row['csat']):>9} "
            f"({row['csat_responses']} answers)"
        )


# -- campaigns (issue #8) -----------------------------------------------------------------------------------------
campaigns_app = typer.Typer(help="Campaigns measured against a randomized holdout.", no_args_is_help=True)
app.add_typer(campaigns_app, name="campaigns")


def _parse_time(text: str | None, option: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date or time (YYYY-MM-DD[THH:MM])", param_hint=option) from None
    if value.tzinfo is None:
        from zoneinfo import ZoneInfo

        value = value.replace(tzinfo=ZoneInfo(load_settings().timezone))
    return value


def _text_or_file(value: str) -> str:
    return Path(value[1:]).read_text(encoding="utf-8") if value.startswith("@") else value


@campaigns_app.command("create")
def campaigns_create(
    name: str,
    template: Annotated[str, typer.Option(help="Message text with {name} {company} {coupon} …, or @FILE.")],
    segment: Annotated[str | None, typer.Option(help="Target: the members of SCHEME:SEGMENT.")] = None,
    rule: Annotated[str | None, typer.Option(help="Target: a rule (YAML/JSON text, or @FILE) on the profile.")] = None,
    channel: Annotated[
        str, typer.Option(help="email, sms, webhook:NAME, or file (JSON lines for another sender).")
    ] = "email",
    subject: Annotated[str | None, typer.Option(help="Subject (e-mail); placeholders allowed.")] = None,
    coupon: Annotated[str | None, typer.Option(help="Coupon code offered ({coupon} in the template).")] = None,
    holdout: Annotated[float, typer.Option(help="Share of the target held out at random.")] = 0.1,
    seed: Annotated[int | None, typer.Option(help="Random seed of the assignment (default: a random one).")] = None,
    window: Annotated[int, typer.Option(help="Attribution window in days after launch.")] = 30,
    lapse_days: Annotated[int, typer.Option(help="Days without purchase after which a target counts as lapsed.")] = 180,
    stratify_by: Annotated[str, typer.Option(help="Scheme whose segments are the strata.")] = "lifecycle",
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Define a campaign (target, offer, channel, message, holdout share, seed, window); nothing is sent."""
    import secrets

    import yaml

    from kehu.campaigns.spec import CampaignSpec
    from kehu.errors import ValidationError

    if (segment is None) == (rule is None):
        raise typer.BadParameter("give --segment SCHEME:SEGMENT or --rule RULE")
    target: dict[str, Any] = {"segment": segment} if segment else {}
    if rule is not None:
        try:
            target["rule"] = yaml.safe_load(_text_or_file(rule))
        except yaml.YAMLError as exc:
            raise ValidationError(f"--rule: not valid YAML/JSON: {exc}") from None
    spec = CampaignSpec(
        name=name,
        target=target,
        channel=channel,
        template=_text_or_file(template),
        subject=subject,
        offer={"coupon": coupon} if coupon else {},
        holdout_share=holdout,
        seed=secrets.randbelow(2**31) if seed is None else seed,
        attribution_days=window,
        lapse_days=lapse_days,
        stratify_by=stratify_by,
    )
    with _workspace(home) as ws:
        d = ws.create_campaign(spec)
    if as_json:
        _print_json(d)
        return
    typer.echo(f"campaign {name} created (draft; holdout {holdout:.0%}, seed {spec.seed}, window {window} days)")


@campaigns_app.command("launch")
def campaigns_launch(
    name: str,
    at: Annotated[
        str | None, typer.Option(help="Launch time to record (default: now), e.g. when it went out from another tool.")
    ] = None,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Assign the arms (recorded first), queue the treatment arm's messages in the outbox and deliver them."""
    with _workspace(home) as ws:
        d = ws.launch_campaign(name, now=_parse_time(at, "--at"))
    if as_json:
        _print_json(d)
        return
    r = d["delivery"]
    typer.echo(
        f"{name}: treatment {d['treatment']}, holdout {d['holdout']} (never messaged); queued {d['queued']}; "
        f"outbox: sent {r['sent']}, to retry {r['retry']}, dead {r['dead']}"
    )
    for channel, n in r["unconfigured"].items():
        typer.echo(f"  {n} messages wait for channel {channel} to be configured (see docs/configuration.md)")


@campaigns_app.command("results")
def campaigns_results(
    name: str,
    lang: Annotated[str, typer.Option(help="Language of the verdicts: zh or en.")] = "zh",
    at: Annotated[str | None, typer.Option(help="Measure as of this time (default: now).")] = None,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Outcomes per arm, uplift (treatment − holdout) with 95% intervals, verdicts and the per-stratum breakdown."""
    if lang not in ("zh", "en"):
        raise typer.BadParameter("use zh or en", param_hint="--lang")
    with _workspace(home) as ws:
        d = ws.campaign_results(name, now=_parse_time(at, "--at"))
    if as_json:
        _print_json(d)
        return
    w = d["window"]
    typer.echo(f"{name}: window {w['start'][:10]} … {w['end'][:10]}{'' if w['complete'] else ' (open)'}")
    for arm, a in d["arms"].items():
        typer.echo(
            f"  {arm:<9} {a['customers']:>7} customers, {a['converted']:>6} bought, "
            f"revenue {a['revenue_cents'] / 100:,.2f}"
        )
    typer.echo(
        f"  messages sent {d['messages']['sent']}, failed {d['messages']['failed']}, "
        f"pending {d['messages']['pending']}, to holdout {d['messages']['to_holdout']}"
    )
    for text in d["verdict"][lang].values():
        typer.echo(f"  • {text}")
    for note in d["notes"][lang]:
        typer.echo(f"  ! {note}")
    typer.echo("  per stratum (conversion uplift, 95% CI):")
    for s in d["strata"]:
        u = s["uplift"]["conversion"]
        ci = (
            "n/a"
            if u["low"] is None
            else f"{100 * u['difference']:+.1f} [{100 * u['low']:+.1f}, {100 * u['high']:+.1f}]"
        )
        typer.echo(f"    {s['stratum']:<16} {s['customers']:>7} customers, holdout {s['holdout']:>5}: {ci} points")


@campaigns_app.command("list")
def campaigns_list(as_json: AsJson = False, home: Home = None) -> None:
    """Campaigns, newest first: status, target, arm sizes."""
    with _workspace(home) as ws:
        rows = ws.campaigns()
    if as_json:
        _print_json(rows)
        return
    for r in rows:
        arms = r["arms"]
        typer.echo(
            f"{r['name']:<24} {r['status']:<9} {r['target']}  treatment {arms.get('treatment', 0)}, "
            f"holdout {arms.get('holdout', 0)}"
        )


# -- tickets and loyalty (issue #8) -------------------------------------------------------------------------------
tickets_app = typer.Typer(help="Support tickets: create, update, assignment, SLA breaches.", no_args_is_help=True)
loyalty_app = typer.Typer(help="Loyalty points, tiers and the ledger.", no_args_is_help=True)
app.add_typer(tickets_app, name="tickets")
app.add_typer(loyalty_app, name="loyalty")
Now = Annotated[str | None, typer.Option("--at", help="The time to act as of (default: now; YYYY-MM-DD[THH:MM]).")]


def _print_ticket(d: dict[str, Any]) -> None:
    due = d["due"]
    typer.echo(
        f"ticket #{d['id']} ({d['ticket_id']}) {d['status']} {d['priority']} → {d['assignee'] or '(unassigned)'}; "
        f"first response due {due['first_response']:%Y-%m-%d %H:%M}, resolution due {due['resolution']:%Y-%m-%d %H:%M}"
    )


@tickets_app.command("create")
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
    with _workspace(home) as ws:
        d = ws.create_ticket(
            customer,
            topic=topic,
            priority=priority,
            complaint=complaint,
            note=note,
            assignee=assignee,
            now=_parse_time(at, "--at"),
        )
    _print_json(d) if as_json else _print_ticket(d)


@tickets_app.command("update")
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
    with _workspace(home) as ws:
        d = ws.update_ticket(
            ticket,
            respond=respond,
            resolve=resolve,
            status=status,
            priority=priority,
            assignee=assignee,
            satisfaction=satisfaction,
            now=_parse_time(at, "--at"),
        )
    _print_json(d) if as_json else _print_ticket(d)


@tickets_app.command("check")
def tickets_check(at: Now = None, as_json: AsJson = False, home: Home = None) -> None:
    """Assign waiting tickets, record new SLA breaches (each once), schedule satisfaction follow-ups."""
    with _workspace(home) as ws:
        d = ws.check_tickets(now=_parse_time(at, "--at"))
    if as_json:
        _print_json(d)
        return
    typer.echo(
        f"assigned {d['assigned']} (no rule matched {d['unassigned']}); new SLA breaches {d['new_breaches']}; "
        f"satisfaction follow-ups scheduled {d['followups_scheduled']}"
    )


@tickets_app.command("breaches")
def tickets_breaches(
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50, as_json: AsJson = False, home: Home = None
) -> None:
    """SLA breaches recorded by `kehu tickets check`, newest first."""
    with _workspace(home) as ws:
        rows = ws.ticket_breaches(limit=limit)
    if as_json:
        _print_json(rows)
        return
    for r in rows:
        typer.echo(
            f"#{r['ticket_id']:<7} {r['kind']:<15} {r['priority']:<7} due {r['due_at']:%Y-%m-%d %H:%M}  "
            f"{r['status']:<12} {r['assignee'] or '(unassigned)'}"
        )


@loyalty_app.command("run")
def loyalty_run(
    from_: Annotated[
        str | None, typer.Option("--from", help="First purchase day to award (default: first order).")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="Last day (default: newest order); tiers as of it.")] = None,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Award points for purchases, expire old points, place customers in tiers; re-running awards nothing twice."""
    with _workspace(home) as ws:
        d = ws.loyalty_run(
            start=_parse_date(from_, "--from") if from_ else None, end=_parse_date(to, "--to") if to else None
        )
    if as_json:
        _print_json(d)
        return
    typer.echo(
        f"{d['from']} … {d['to']}: awarded {d['points_awarded']:,} points, expired {d['points_expired']:,}; "
        f"tier changes {d['tier_changes']}"
    )
    typer.echo("  " + ", ".join(f"{k} {v}" for k, v in d["tiers"].items()))


@loyalty_app.command("award")
def loyalty_award(
    customer: Annotated[str, typer.Argument(help="Customer: id, SOURCE:ID or Kehu id.")],
    action: Annotated[str, typer.Argument(help="An action with points in the rules, e.g. review or referral.")],
    ref: Annotated[str, typer.Option("--ref", help="What it was for (e.g. order:123); awarded once per reference.")],
    on: Annotated[str | None, typer.Option("--on", help="Day it counts for (default: today).")] = None,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Award the points of an action (review, referral, …) once per reference."""
    with _workspace(home) as ws:
        d = ws.loyalty_action(customer, action, ref, day=_parse_date(on, "--on") if on else None)
    if as_json:
        _print_json(d)
        return
    typer.echo("already awarded" if d["already_awarded"] else f"+{d['points']} points; balance {d['balance']}")


@loyalty_app.command("redeem")
def loyalty_redeem(
    customer: Annotated[str, typer.Argument(help="Customer: id, SOURCE:ID or Kehu id.")],
    points: Annotated[int, typer.Argument(help="Points to spend.")],
    ref: Annotated[str, typer.Option("--ref", help="What they were spent on; redeemed once per reference.")],
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Spend points (oldest first; never more than the balance)."""
    with _workspace(home) as ws:
        d = ws.loyalty_redeem(customer, points, ref)
    _print_json(d) if as_json else typer.echo(f"redeemed {d['redeemed']}; balance {d['balance']}")


@loyalty_app.command("show")
def loyalty_show(
    customer: Annotated[str, typer.Argument(help="Customer: id, SOURCE:ID or Kehu id.")],
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """A customer's balance, tier, ledger and tier changes."""
    with _workspace(home) as ws:
        d = ws.loyalty_statement(customer)
    if as_json:
        _print_json(d)
        return
    tier = d["tier"]
    typer.echo(f"#{d['customer_id']}: balance {d['balance']:,} points, tier {tier['tier'] if tier else '-'}")
    for r in d["ledger"]:
        typer.echo(f"  {r['on_day']}  {r['kind']:<7} {r['points']:>+8,}  {r['reason']:<10} {r['reference'] or ''}")


@loyalty_app.command("tiers")
def loyalty_tiers(as_json: AsJson = False, home: Home = None) -> None:
    """Customers per tier (普通/银卡/金卡/钻石 by default) and the latest tier changes."""
    with _workspace(home) as ws:
        d = ws.loyalty_tiers()
    if as_json:
        _print_json(d)
        return
    for t in d["tiers"]:
        typer.echo(f"  {t['label_zh']:<4} {t['label_en']:<10} {t['customers']:>8}")
    for c in d["recent_changes"][:10]:
        typer.echo(f"  {c['on_day']}  #{c['customer_id']}: {c['from_tier']} → {c['to_tier']}")


@models_app.command("train")
def models_train(
    horizon: Annotated[int, typer.Option(help="Churn = no order within this many days after a snapshot.")] = 90,
    short: Annotated[int, typer.Option(help="Next-purchase propensity horizon in days.")] = 30,
    grace: Annotated[
        int, typer.Option(help="Contract customers: churn = not renewed this many days after the end.")
    ] = 30,
    lapsed: Annotated[int, typer.Option(help="Customers without an order for longer are not scored (win-back).")] = 180,
    snapshots: Annotated[int, typer.Option(help="Snapshot days the trees learn from.")] = 12,
    calibration_snapshots: Annotated[
        int, typer.Option(help="Snapshot days held out for calibration (same season a year before, else newest).")
    ] = 3,
    seasonal_calibration: Annotated[
        bool, typer.Option(help="Calibrate on the same season a year before when the history allows.")
    ] = True,
    test_snapshots: Annotated[int, typer.Option(help="Newest labelled days pooled as the backtest period.")] = 3,
    step: Annotated[int, typer.Option(help="Days between snapshots.")] = 30,
    high: Annotated[float, typer.Option(help="Risk at or above this is tier high (高).")] = 0.5,
    medium: Annotated[float, typer.Option(help="Risk at or above this is tier medium (中).")] = 0.25,
    calibration: Annotated[str, typer.Option(help="Probability calibration: isotonic or platt.")] = "isotonic",
    max_rows: Annotated[int, typer.Option(help="Sample the training rows down to this many.")] = 500_000,
    seed: Annotated[int, typer.Option(help="Seed of LightGBM and the sampling.")] = 0,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Train as if the data ended on this day (YYYY-MM-DD).")
    ] = None,
    engine: Annotated[str | None, typer.Option(help="Analytics engine: duckdb (default) or spark.")] = None,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Train, backtest and version the churn, propensity and cross-sell models; score the newest run."""
    with _workspace(home) as ws:
        result = ws.train_models(
            engine=engine,
            as_of=_parse_date(as_of) if as_of else None,
            horizon_days=horizon, short_days=short, grace_days=grace, lapsed_days=lapsed, snapshots=snapshots,
            calibration_snapshots=calibration_snapshots, seasonal_calibration=seasonal_calibration,
            test_snapshots=test_snapshots, step_days=step,
            tier_high=high, tier_medium=medium, calibration=calibration, max_rows=max_rows, seed=seed,
        )  # fmt: skip
    if as_json:
        _print_json(result)
        return
    typer.echo(f"model {result['model_file']} (labelled to {result['as_of']}) in {result['seconds']:.1f} s")
    _print_backtest(result["backtest"])


def _print_backtest(bt: dict[str, Any]) -> None:
    typer.echo(f"backtest ({bt['split']} split), test days {', '.join(bt['test_days'])}:")
    typer.echo(f"  {'score':<24} {'AUC':>6} {'PR-AUC':>7} {'Brier':>6} {'cap@10%':>8} {'lift@10%':>8} {'cap@20%':>8}")
    for r in bt["churn"]:
        brier = "" if r["brier"] is None else f"{r['brier']:.3f}"
        typer.echo(
            f"  {r['name']:<24} {r['auc']:6.3f} {r['pr_auc']:7.3f} {brier:>6} {r['capture_10']:8.3f} "
            f"{r['lift_10']:8.2f} {r['capture_20']:8.3f}"
        )
    cs = bt.get("cross_sell") or {}
    if "hit_rate_at_3" in cs:
        typer.echo(
            f"  cross-sell hit rate@3 {cs['hit_rate_at_3']:.3f} (popularity {cs['popularity_hit_rate_at_3']:.3f})"
        )


@models_app.command("report")
def models_report(as_json: AsJson = False, home: Home = None) -> None:
    """The latest churn model: version, options, backtest of the model and each baseline, churn concentration."""
    with _workspace(home) as ws:
        report = ws.models_report()
    if as_json:
        _print_json(report)
        return
    typer.echo(f"model {report['model_file']} trained {report['trained_at']}, data to {report['data_end']}")
    _print_backtest(report["backtest"])
    for name, rows in report["backtest"]["concentration"].items():
        if isinstance(rows, list):
            typer.echo(f"churn rate by {name}:")
            for r in rows:
                typer.echo(f"  {r['key']:<24} {r['customers']:>8} {r['churn_rate']:7.1%}")


@app.command()
def demo(
    customers: Annotated[int, typer.Option(help="How many customers the demo company has.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same company).")] = 0,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Stop after loading (for scripts).")] = False,
    home: Home = None,
) -> None:
    """Generate the seeded demo company, import its files through the normal import path, run the pipeline."""
    with _workspace(home) as ws:
        ws.init()
        result = ws.load_demo(customers=customers, seed=seed, on_file=print_summary)
        try:
            ws.train_models()
        except KehuError as exc:  # e.g. a tiny demo company with too little history
            typer.echo(f"churn models not trained: {exc}")
        ran = ws.run()
    typer.echo("kehu run:")
    _print_run(ran)
    typer.echo(
        f"demo company loaded: {result['customers']} customers, {result['users']} users, "
        f"as of {result['as_of']} (workspace {result['home']})"
    )
    if no_serve:
        return
    from kehu.service.demo import demo_logins
    from kehu.web.server import serve as serve_app

    with _workspace(home) as ws:
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


# -- playbooks and tasks (docs/playbooks.md) ----------------------------------------------------------------------
playbooks_app = typer.Typer(
    help="Playbooks: rules that create tasks, send messages, tag, issue coupons, assign owners.", no_args_is_help=True
)
tasks_app = typer.Typer(help="Tasks for sales reps and managers (from playbooks).", no_args_is_help=True)
app.add_typer(playbooks_app, name="playbooks")
app.add_typer(tasks_app, name="tasks")
Files = Annotated[
    list[Path] | None, typer.Argument(help="Playbook files or folders (default: the workspace's playbooks).")
]
Today = Annotated[
    str | None, typer.Option("--today", help="Evaluate triggers for this day (YYYY-MM-DD); default: today.")
]
Actor = Annotated[str | None, typer.Option("--as", help="Who does this, for the audit log (default: $USER).")]


def _actor(name: str | None) -> str:
    import getpass

    if name:
        return name
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _print_playbooks_step(result: dict[str, Any]) -> None:
    pb = result.get("playbooks")
    if not pb:
        return
    if "error" in pb:
        typer.echo(f"  playbooks: not run: {pb['error']}", err=True)
        return
    if not pb["playbooks"]:
        typer.echo("  playbooks               none enabled (`kehu playbooks install-defaults`)")
        return
    fired = sum(r["fired"] or 0 for r in pb["rules"])
    typer.echo(f"  playbooks               {fired} firings ({', '.join(pb['playbooks'])})")
    for r in pb["rules"]:
        if r["fired"]:
            typer.echo(f"    {r['rule']:<48} {r['fired']:>6}")


def _print_rules(d: dict[str, Any], *, dry: bool) -> None:
    typer.echo(
        f"day {d['day']} (profile as of {d['as_of'] or 'none published'})"
        + ("  — dry run, nothing changed" if dry else "")
    )
    for r in d["rules"]:
        count = r["would_fire"] if dry else r["fired"]
        skipped = ", ".join(f"{k} {v}" for k, v in r["skipped"].items())
        typer.echo(
            f"  {r['rule']:<48} {'would fire' if dry else 'fired'} {count:>6}   "
            f"(trigger {r['matched']}, if {r['passed_if']}{'; skipped ' + skipped if skipped else ''})"
        )
        for sample in r["samples"] if dry else []:
            acts = "; ".join(json.dumps(a, ensure_ascii=False, default=_default) for a in sample["actions"])
            typer.echo(
                f"      #{sample['customer_id']} {sample['name'] or ''} (owner {sample['owner'] or '-'}): {acts}"
            )
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
    with _workspace(home) as ws:
        rows = ws.playbooks_validate(list(files))
    for r in rows:
        typer.echo(
            f"ok  {r['file']}: playbook {r['playbook']}, {r['rules']} rules{'' if r['enabled'] else ' (disabled)'}"
        )


@playbooks_app.command("dry-run")
def playbooks_dry_run(files: Files = None, today: Today = None, as_json: AsJson = False, home: Home = None) -> None:
    """Per rule: how many customers would trigger now, with samples. Changes nothing."""
    with _workspace(home) as ws:
        d = ws.playbooks_dry_run(list(files) if files else None, day=_parse_date(today, "--today") if today else None)
    if as_json:
        _print_json(d)
        return
    _print_rules(d, dry=True)


@playbooks_app.command("run")
def playbooks_run(files: Files = None, today: Today = None, as_json: AsJson = False, home: Home = None) -> None:
    """Run the playbooks: record what fires (once per trigger occurrence), create tasks, send messages."""
    with _workspace(home) as ws:
        d = ws.playbooks_run(list(files) if files else None, day=_parse_date(today, "--today") if today else None)
    if as_json:
        _print_json(d)
        return
    _print_rules(d, dry=False)


@playbooks_app.command("deliver")
def playbooks_deliver(as_json: AsJson = False, home: Home = None) -> None:
    """Deliver what is due in the outbox: messages after quiet hours, retries after failures."""
    with _workspace(home) as ws:
        d = ws.playbooks_deliver()
    _print_json(d) if as_json else _print_rules({"day": "-", "as_of": "-", "rules": [], "delivery": d}, dry=False)


@playbooks_app.command("list")
def playbooks_list(as_json: AsJson = False, home: Home = None) -> None:
    """The workspace's playbooks (KEHU_PLAYBOOKS_DIR) and their rules."""
    with _workspace(home) as ws:
        rows = ws.playbooks_list()
    if as_json:
        _print_json(rows)
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
    with _workspace(home) as ws:
        written = ws.playbooks_install_defaults(overwrite=overwrite)
        folder = ws.settings.resolved_playbooks_dir
    typer.echo(f"{len(written)} playbook files written to {folder}" + ("" if written else " (all present already)"))


@playbooks_app.command("schema")
def playbooks_schema() -> None:
    """Print the playbook JSON Schema (for editors and CI checks)."""
    from kehu.playbooks import schema

    _print_json(schema())


@playbooks_app.command("outbox")
def playbooks_outbox(
    status: Annotated[str | None, typer.Option(help="pending | retry | sending | done | dead | unknown")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """The outbox: every action and message with its delivery state, attempts and last error."""
    with _workspace(home) as ws:
        rows = ws.outbox(status=status, limit=limit)
    if as_json:
        _print_json(rows)
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
    with _workspace(home) as ws:
        d = ws.outbox_retry(outbox_id, actor=_actor(actor))
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
    with _workspace(home) as ws:
        rows = ws.tasks(owner=owner, status=status or ["open", "in_progress"], overdue=overdue, limit=limit)
    if as_json:
        _print_json(rows)
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
    with _workspace(home) as ws:
        d = ws.task_done(task_id, outcome=outcome, notes=note, actor=_actor(actor))
    typer.echo(f"task #{d['id']} done: {d['outcome']}")


def main() -> None:
    """Entry point: run the app and translate Kehu errors into a message and exit code 2."""
    try:
        app()
    except KehuError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
