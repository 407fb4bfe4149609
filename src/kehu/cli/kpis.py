"""``kehu kpis`` and ``kehu feedback``: the KPI report and the NPS/CSAT trend."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from kehu.cli._common import AsJson, Home, open_workspace, parse_date, print_json


def _kpi_value(key: str, value: Any) -> str:
    from kehu.metrics.labels import kpi_text

    if value is None:
        return kpi_text("no_data", "en")
    if key.endswith("_rate") or key.endswith("_share"):
        return f"{100 * value:.1f}%"
    if key.endswith("_cents"):
        return f"{value / 100:,.2f}"
    return f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"


def kpis(
    period: Annotated[str, typer.Option(help="week | month | quarter | year (the last complete one).")] = "month",
    as_of: Annotated[str | None, typer.Option("--as-of", help="Day to look back from (default: newest order).")] = None,
    lapse_days: Annotated[int, typer.Option(help="Days without a purchase after which a customer is lapsed.")] = 180,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """KPIs of the last complete period vs the one before, CLV, cohort retention, segment flow, owner leaderboard."""
    from kehu.metrics.labels import kpi_label, kpi_text

    with open_workspace(home) as ws:
        d = ws.system().kpis.report(period=period, as_of=parse_date(as_of) if as_of else None, lapse_days=lapse_days)
    if as_json:
        print_json(d)
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
    typer.echo(f"tasks as of {d['tasks_as_of']} (see docs/kpis.md for what each task figure counts)")
    _print_outcomes(d["task_outcomes"])
    typer.echo("leaderboard (retention, repurchase, CSAT, NPS of each owner's customers; their tasks):")
    for row in d["leaderboard"]:
        typer.echo(
            f"  {row['rank']:>3}. {row['owner']:<10} {row['customers']:>6} customers  retention "
            f"{_kpi_value('retention_rate', row['retention_rate'])} (of {row['retention_base']})  repurchase "
            f"{_kpi_value('repurchase_rate', row['repurchase_rate'])}  CSAT {_kpi_value('csat', row['csat'])}  "
            f"NPS {_kpi_value('nps', row['nps'])}  {_task_line(row)}"
        )
    if d["teams"]:
        typer.echo("teams (their members' customers and tasks):")
    for row in d["teams"]:
        typer.echo(
            f"  {row['team']:<12} {row['owners']:>3} owners {row['customers']:>6} customers  retention "
            f"{_kpi_value('retention_rate', row['retention_rate'])} (of {row['retention_base']})  {_task_line(row)}"
        )


def _task_line(row: dict[str, Any]) -> str:
    return (
        f"tasks done {_kpi_value('task_completion_rate', row['task_completion_rate'])} (of {row['tasks_due']})  "
        f"first touch {_kpi_value('h', row['task_first_touch_hours_median'])} h  won back "
        f"{_kpi_value('task_won_back_share', row['task_won_back_share'])} (of {row['win_back_tasks_done']})"
    )


def _print_outcomes(outcomes: dict[str, Any] | None) -> None:
    if outcomes is None:
        return
    days = outcomes["window_days"]
    typer.echo(f"done tasks due in the period by outcome (customers who ordered within {days} days after):")
    for row in outcomes["outcomes"]:
        interval = "" if row["low"] is None else f" (95% {100 * row['low']:.0f}%-{100 * row['high']:.0f}%)"
        typer.echo(
            f"  {row['outcome']:<15} {row['tasks']:>6} tasks ({row['win_back']} win-back)  ordered "
            f"{_kpi_value('ordered_share', row['ordered_share'])}{interval} of {row['judged']} "
            f"whose {days} days are over"
        )
    typer.echo(f"  won back confirmed by the orders: {outcomes['verdict']}")


def feedback(
    period: Annotated[str, typer.Option(help="week | month | quarter | year.")] = "month",
    periods: Annotated[int, typer.Option(help="How many complete periods, newest last.")] = 6,
    segment: Annotated[str | None, typer.Option(help="Only the members of SCHEME:SEGMENT (newest run).")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Day to look back from (default: newest order).")] = None,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """NPS and CSAT per period with the change from the period before, for everyone or one segment."""
    with open_workspace(home) as ws:
        d = ws.system().kpis.feedback(
            period=period, periods=periods, segment=segment, as_of=parse_date(as_of) if as_of else None
        )
    if as_json:
        print_json(d)
        return
    typer.echo(f"NPS and CSAT{' of ' + segment if segment else ''} (as of {d['as_of']})")
    for row in d["trend"]:
        n = row["nps"]
        typer.echo(
            f"  {row['period']['label']:<9} NPS {_kpi_value('nps', n['nps']):>9} ({n['responses']} answers: "
            f"{n['promoters']} promoters, {n['detractors']} detractors)  CSAT {_kpi_value('csat', row['csat']):>9} "
            f"({row['csat_responses']} answers)"
        )
