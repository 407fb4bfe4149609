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
    home: Home = None,
) -> None:
    """Serve the web app (dashboard, customers, customer 360, imports, users) and the REST API under /api/."""
    from kehu.web.server import serve as serve_app

    settings = load_settings(home=home)
    typer.echo(f"Kehu at http://{host}:{port}/  (Ctrl-C stops)")
    serve_app(settings, host, port, workers=workers)


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


def main() -> None:
    """Entry point: run the app and translate Kehu errors into a message and exit code 2."""
    try:
        app()
    except KehuError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
