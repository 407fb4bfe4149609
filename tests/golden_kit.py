"""Build the golden demo workspace and collect what the fronts show of it, with run-dependent values scrubbed.

The outputs are the JSON of CLI commands (``kehu … --json``) and the ``.json`` twins of web pages, taken through
the public entry points only (the ``kehu`` Typer app and ``create_app``), so that the comparison survives any
rearrangement of the code behind them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

GOLDEN_DIR = Path(__file__).parent / "golden"
PASSWORD = "golden-password"
CUSTOMERS = (1, 57, 233)

#: keys whose values depend on the moment or the machine of a run, not on the data
VOLATILE_KEYS = {
    "seconds", "step_seconds", "started_at", "finished_at", "created_at", "updated_at", "trained_at", "model_file",
    "csrf_token", "generated_at", "fired_at", "home", "path", "quarantine_file", "version", "computed_at",
    "last_login_at", "elapsed", "published_at", "expires_at", "queued_at", "run_started_at", "stamp",
}  # fmt: skip
_TMP = re.compile(r"/tmp/[^\s\"']*")
_COUPON = re.compile(r"\bKH-[A-Z0-9]{10}\b")  # coupon codes are random by design
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _volatile(key: str, value: Any) -> bool:
    """A run-dependent value: a volatile key, or ``today`` as a day (the wall-clock day in KEHU_TIMEZONE; a count
    of the task group named ``today`` stays compared)."""
    return key in VOLATILE_KEYS or (key == "today" and isinstance(value, str) and _DAY.fullmatch(value) is not None)


def scrub(value: Any, home: str) -> Any:
    """``value`` with volatile keys blanked, temp paths and wall-clock instants replaced, floats rounded."""
    if isinstance(value, dict):
        return {k: ("<volatile>" if _volatile(k, v) else scrub(v, home)) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, home) for v in value]
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, str):
        value = value.replace(home, "<home>")
        return _COUPON.sub("<coupon>", _TMP.sub("<tmp>", value))
    return value


def _cli(args: list[str]) -> Any:
    from typer.testing import CliRunner

    from kehu.cli import app

    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _cli_json(args: list[str], home: Path) -> Any:
    out = _cli([*args, "--json", "--home", str(home)])
    return json.loads(out[out.index("[") if out.lstrip().startswith("[") else out.index("{") :])


def build(home: Path) -> dict[str, Any]:
    """Make the golden workspace in ``home`` (a 600-customer demo company, seed 11, its today pinned to 2026-11-01 so
    that its data end on 2026-10-31, with its simulated weeks of follow-up work, trained and run)."""
    _cli(["demo", "--customers", "600", "--seed", "11", "--today", "2026-11-01", "--no-serve", "--home", str(home)])
    _cli(["users", "add", "admin", "--role", "admin", "--password", PASSWORD, "--home", str(home)])
    users = _cli_json(["users", "list"], home)
    rep = next(u for u in users if u["role"] == "rep")
    _cli(["users", "password", rep["name"], "--password", PASSWORD, "--home", str(home)])
    return {"rep": rep["name"]}


def collect(home: Path, info: dict[str, Any]) -> dict[str, Any]:
    """Every golden output by name, scrubbed."""
    out: dict[str, Any] = {
        "cli_kpis": _cli_json(["kpis"], home),
        "cli_segments_list": _cli_json(["segments", "list"], home),
        "cli_tasks_list": _cli_json(["tasks", "list"], home),
        "cli_models_report": _cli_json(["models", "report"], home),
    }
    for cid in CUSTOMERS:
        out[f"cli_customers_show_{cid}"] = _cli_json(["customers", "show", str(cid)], home)
    admin_pages = ["/dashboard.json", "/customers.json", *(f"/customers/{c}.json" for c in CUSTOMERS)]
    out.update(_web(home, "admin", admin_pages))
    out.update(_web(home, info["rep"], ["/dashboard.json", "/customers.json", "/tasks.json"], prefix="rep"))
    return {name: scrub(value, str(home)) for name, value in out.items()}


def _web(home: Path, who: str, paths: list[str], *, prefix: str = "admin") -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from kehu.config import load_settings
    from kehu.web.app import create_app

    out = {}
    with TestClient(create_app(load_settings(home=home))) as client:
        client.get("/login")
        r = client.post(
            "/login",
            data={"name": who, "password": PASSWORD, "csrf_token": client.cookies["kehu_login_csrf"]},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        for path in paths:
            r = client.get(path)
            assert r.status_code == 200, (path, r.text[:500])
            name = prefix + "_" + path.strip("/").removesuffix(".json").replace("/", "_")
            out[f"web_{name}"] = r.json()
    return out
