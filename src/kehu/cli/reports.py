"""``kehu report …``: reports written to files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kehu.cli._common import AsJson, Home, open_workspace, parse_date, print_json

app = typer.Typer(help="Reports written to files.", no_args_is_help=True)


@app.command("models")
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
    with open_workspace(home) as ws:
        d = ws.system().models.write_report(
            out,
            calibration_end=parse_date(calibration_end, "--calibration-end") if calibration_end else None,
            observation_end=parse_date(observation_end, "--observation-end") if observation_end else None,
        )
    if as_json:
        print_json(d)
        return
    for key, value in d.items():
        typer.echo(f"{key}: {value}")
