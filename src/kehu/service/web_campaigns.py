"""The campaigns pages of the web app and their JSON twins: the list, the create form (checked like
``kehu campaigns create``), launching, and the results with uplift, 95% intervals, verdicts and strata.

Campaigns compare arms drawn from the whole company, so these views are for managers and admins (a rep gets
:class:`~kehu.errors.AccessDeniedError`). Forms arrive as text; every field is parsed here and a bad one raises
:class:`~kehu.errors.ValidationError` naming the field.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from typing import Any

import yaml

from kehu.campaigns.spec import CHANNEL_KINDS, PLACEHOLDERS, CampaignSpec
from kehu.errors import ValidationError
from kehu.service.access import Principal, require_role
from kehu.service.workspace import Workspace

__all__ = ["FIELDS", "campaign_page", "campaigns_page", "create_from_form", "launch"]

#: the fields of the create form
FIELDS = ("name", "target_kind", "segment", "rule", "channel", "subject", "template", "coupon", "holdout",
          "seed", "window", "lapse_days", "stratify_by")  # fmt: skip
_MANAGERS = ("admin", "manager")


def _segments(ws: Workspace) -> list[dict[str, Any]]:
    """``SCHEME:SEGMENT`` choices of the newest runs with labels and sizes (empty before the first run)."""
    from kehu.segments.labels import scheme_label

    return [
        {"ref": s["ref"], "scheme": s["scheme"], "size": s["size"],
         "labels": {"zh": f"{scheme_label(s['scheme'], 'zh')} · {s['label_zh']}",
                    "en": f"{scheme_label(s['scheme'], 'en')} · {s['label_en']}"}}
        for s in ws.segments()
    ]  # fmt: skip


def campaigns_page(ws: Workspace, principal: Principal) -> dict[str, Any]:
    """Every campaign (newest first) with arm sizes, and what the create form offers."""
    require_role(principal, *_MANAGERS)
    rows = ws.campaigns()
    for r in rows:
        r.pop("template", None)  # the message text is on the campaign's page
    segments = _segments(ws)
    return {
        "campaigns": rows,
        "segments": segments,
        "channels": list(CHANNEL_KINDS),
        "placeholders": list(PLACEHOLDERS),
        "schemes": sorted({s["scheme"] for s in segments}),
    }


def _number(form: Mapping[str, str], field: str, kind: type, default: Any) -> Any:
    text = (form.get(field) or "").strip()
    if not text:
        return default
    try:
        return kind(text)
    except ValueError:
        what = "a number like 0.1" if kind is float else "a whole number"
        raise ValidationError(f"{field}: expected {what}, got {text[:40]!r}") from None


def spec_from_form(form: Mapping[str, str]) -> CampaignSpec:
    """A checked :class:`CampaignSpec` from the form's text fields (ValidationError names the bad field)."""
    kind = (form.get("target_kind") or "segment").strip()
    if kind == "segment":
        segment = (form.get("segment") or "").strip()
        if not segment:
            raise ValidationError("segment: choose the segment to target")
        target: dict[str, Any] = {"segment": segment}
    elif kind == "rule":
        text = form.get("rule") or ""
        if not text.strip():
            raise ValidationError("rule: write the rule that picks the target customers")
        try:
            rule = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
            raise ValidationError(f"rule: not valid YAML{where}") from None
        if not isinstance(rule, dict):
            raise ValidationError("rule: expected a rule such as {field: days_since_last_order, gt: 90}")
        target = {"rule": rule}
    else:
        raise ValidationError(f"target_kind: {kind[:40]!r} is not segment or rule")
    holdout_pct = _number(form, "holdout", float, 10.0)
    coupon = (form.get("coupon") or "").strip()
    if len(coupon) > 100:
        raise ValidationError("coupon: at most 100 characters")
    spec = CampaignSpec(
        name=(form.get("name") or "").strip(),
        target=target,
        channel=(form.get("channel") or "email").strip(),
        template=form.get("template") or "",
        subject=(form.get("subject") or "").strip() or None,
        offer={"coupon": coupon} if coupon else {},
        holdout_share=holdout_pct / 100,
        seed=_number(form, "seed", int, None) if (form.get("seed") or "").strip() else secrets.randbelow(2**31),
        attribution_days=_number(form, "window", int, 30),
        lapse_days=_number(form, "lapse_days", int, 180),
        stratify_by=(form.get("stratify_by") or "").strip() or None,
    )
    spec.check()
    return spec


def create_from_form(ws: Workspace, principal: Principal, form: Mapping[str, str]) -> dict[str, Any]:
    """Check the form and store the campaign as a draft (its target must resolve now)."""
    require_role(principal, *_MANAGERS)
    spec = spec_from_form(form)
    known = ws.segments()
    ref = spec.target.get("segment")
    if ref is not None and ref not in {s["ref"] for s in known}:
        raise ValidationError(f"segment: {str(ref)[:100]!r} is not a segment of the newest runs")
    if spec.stratify_by and spec.stratify_by not in {s["scheme"] for s in known}:
        raise ValidationError(f"stratify_by: scheme {spec.stratify_by!r} has no run (leave it empty for none)")
    from kehu.service.campaigns import create_campaign

    return create_campaign(ws.engine, spec, now=dt.datetime.now(dt.UTC))


def launch(ws: Workspace, principal: Principal, name: str) -> dict[str, Any]:
    """Launch a draft campaign (arms recorded first; only the treatment arm is messaged)."""
    require_role(principal, *_MANAGERS)
    return ws.launch_campaign(name)


def campaign_page(ws: Workspace, principal: Principal, name: str, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """A campaign's definition and, once launched, its results (see :func:`kehu.campaigns.results.campaign_results`)."""
    require_role(principal, *_MANAGERS)
    from kehu.service.campaigns import get_campaign

    campaign = get_campaign(ws.engine, name)
    results = None
    if campaign["launched_at"] is not None:
        results = ws.campaign_results(name, now=now)
        from kehu.segments.labels import segment_label

        window = results["window"]
        window["start_day"] = dt.datetime.fromisoformat(window["start"]).date()
        window["end_day"] = dt.datetime.fromisoformat(window["end"]).date()
        scheme = campaign["stratify_by"]
        for stratum in results["strata"]:
            key = stratum["stratum"]
            plain = scheme is None or key in ("all", "-")
            stratum["labels"] = {lang: key if plain else segment_label(scheme, key, lang) for lang in ("zh", "en")}
    return {"campaign": campaign, "results": results}
