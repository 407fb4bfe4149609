"""``kehu models …``: train, backtest and report the churn, propensity and cross-sell models."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from kehu.cli._common import AsJson, Home, open_workspace, parse_date, print_json

app = typer.Typer(help="Churn early warning, next-purchase and cross-sell models.", no_args_is_help=True)


@app.command("train")
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
    with open_workspace(home) as ws:
        result = ws.system().models.train(
            engine=engine,
            as_of=parse_date(as_of) if as_of else None,
            horizon_days=horizon, short_days=short, grace_days=grace, lapsed_days=lapsed, snapshots=snapshots,
            calibration_snapshots=calibration_snapshots, seasonal_calibration=seasonal_calibration,
            test_snapshots=test_snapshots, step_days=step,
            tier_high=high, tier_medium=medium, calibration=calibration, max_rows=max_rows, seed=seed,
        )  # fmt: skip
    if as_json:
        print_json(result)
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
    for metric, label in (("auc", "AUC"), ("pr_auc", "PR-AUC"), ("capture_10", "cap@10%")):
        lead = (bt.get("lead") or {}).get(metric)
        if lead:
            typer.echo(
                f"  model lead over the best baseline by {label} ({lead['best_baseline']}): {lead['lead']:+.3f} "
                f"({lead['model']:.3f} vs {lead['baseline']:.3f})"
            )
    for fit in bt.get("baseline_fits") or []:
        for name, state in fit.items():
            if isinstance(state, dict) and not state.get("converged", True):
                typer.echo(f"  baseline {name} on {fit['test_day']}: fit did not converge: {state['reason']}")
    for kind, title in (("renewal", "contract non-renewal"), ("winback", "win-back")):
        part = bt.get(kind)
        if not part:
            continue
        typer.echo(f"  {title} ({part['population']}):")
        if "skipped" in part:
            typer.echo(f"    not trained: {part['skipped']}")
            continue
        for r in part["metrics"]:
            brier = "" if r["brier"] is None else f"{r['brier']:.3f}"
            auc = "" if r["auc"] is None else f"{r['auc']:.3f}"
            typer.echo(
                f"    {r['name']:<30} AUC {auc:>6} Brier {brier:>6} rows {r['rows']:>7} positives {r['positives']:>6}"
            )
    cs = bt.get("cross_sell") or {}
    if "hit_rate_at_3" in cs:
        typer.echo(
            f"  cross-sell hit rate@3 {cs['hit_rate_at_3']:.3f} (popularity {cs['popularity_hit_rate_at_3']:.3f})"
        )


@app.command("report")
def models_report(as_json: AsJson = False, home: Home = None) -> None:
    """The latest churn model: version, options, backtest of the model and each baseline, churn concentration."""
    with open_workspace(home) as ws:
        report = ws.system().models.report()
    if as_json:
        print_json(report)
        return
    typer.echo(f"model {report['model_file']} trained {report['trained_at']}, data to {report['data_end']}")
    _print_backtest(report["backtest"])
    for name, rows in report["backtest"]["concentration"].items():
        if isinstance(rows, list):
            typer.echo(f"churn rate by {name}:")
            for r in rows:
                typer.echo(f"  {r['key']:<24} {r['customers']:>8} {r['churn_rate']:7.1%}")
