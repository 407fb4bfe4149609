"""``kehu campaigns …``: campaigns measured against a randomized holdout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from kehu.cli._common import AsJson, Home, open_workspace, parse_time, print_json

app = typer.Typer(help="Campaigns measured against a randomized holdout.", no_args_is_help=True)


def _text_or_file(value: str) -> str:
    return Path(value[1:]).read_text(encoding="utf-8") if value.startswith("@") else value


@app.command("create")
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

    from kehu import user_yaml
    from kehu.campaigns.spec import CampaignSpec
    from kehu.errors import ValidationError

    if (segment is None) == (rule is None):
        raise typer.BadParameter("give --segment SCHEME:SEGMENT or --rule RULE")
    target: dict[str, Any] = {"segment": segment} if segment else {}
    if rule is not None:
        try:
            where = rule[1:] if rule.startswith("@") else "--rule"
            target["rule"] = user_yaml.load(_text_or_file(rule), where=where)
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
    with open_workspace(home) as ws:
        d = ws.system().campaigns.create(spec)
    if as_json:
        print_json(d)
        return
    typer.echo(f"campaign {name} created (draft; holdout {holdout:.0%}, seed {spec.seed}, window {window} days)")


@app.command("launch")
def campaigns_launch(
    name: str,
    at: Annotated[
        str | None, typer.Option(help="Launch time to record (default: now), e.g. when it went out from another tool.")
    ] = None,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Assign the arms (recorded first), queue the treatment arm's messages in the outbox and deliver them."""
    with open_workspace(home) as ws:
        d = ws.system().campaigns.launch(name, now=parse_time(at, "--at"))
    if as_json:
        print_json(d)
        return
    r = d["delivery"]
    typer.echo(
        f"{name}: treatment {d['treatment']}, holdout {d['holdout']} (never messaged); queued {d['queued']}; "
        f"outbox: sent {r['sent']}, to retry {r['retry']}, dead {r['dead']}"
    )
    for channel, n in r["unconfigured"].items():
        typer.echo(f"  {n} messages wait for channel {channel} to be configured (see docs/configuration.md)")


@app.command("results")
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
    with open_workspace(home) as ws:
        d = ws.system().campaigns.results(name, now=parse_time(at, "--at"))
    if as_json:
        print_json(d)
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


@app.command("list")
def campaigns_list(as_json: AsJson = False, home: Home = None) -> None:
    """Campaigns, newest first: status, target, arm sizes."""
    with open_workspace(home) as ws:
        rows = ws.system().campaigns.all()
    if as_json:
        print_json(rows)
        return
    for r in rows:
        arms = r["arms"]
        typer.echo(
            f"{r['name']:<24} {r['status']:<9} {r['target']}  treatment {arms.get('treatment', 0)}, "
            f"holdout {arms.get('holdout', 0)}"
        )
