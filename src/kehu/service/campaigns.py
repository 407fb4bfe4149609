"""Campaigns end to end: create (checked definition), launch (assign arms, record them, then send to the
treatment arm only), results (uplift against the holdout).

Launching is three steps: first the target is resolved and every member's arm, stratum and baseline is written
in one transaction; then, in a second transaction, one message per treatment customer is queued in the
playbooks' outbox (its key names the campaign and the customer, so it exists once); then the outbox is delivered
(retries, dead letters and "unknown" after a crash are the outbox's). The assignment exists before the first
message does and cannot be influenced by sending. Holdout customers never get an outbox row. Re-running
``launch`` never re-assigns and queues only treatment customers who have no message yet.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
import yaml

from kehu import user_yaml
from kehu.campaigns.results import campaign_results
from kehu.campaigns.spec import CampaignSpec, render
from kehu.config import Settings
from kehu.errors import NotFoundError, ValidationError
from kehu.i18n import text
from kehu.models.holdout import HOLDOUT, TREATMENT, assign_arms
from kehu.playbooks import webhook_targets
from kehu.service.access import Principal, owner_scope, require_role
from kehu.service.principal import Service, Workspace
from kehu.store.actions import outbox
from kehu.store.campaigns import campaign_members, campaign_messages, campaigns
from kehu.store.db import ensure_current
from kehu.store.published import customer_score_history
from kehu.store.schema import customers, orders
from kehu.store.segments import memberships, run_ids

__all__ = [
    "FIELDS",
    "CampaignService",
    "check_channel_target",
    "create_campaign",
    "create_from_form",
    "get_campaign",
    "launch_campaign",
    "list_campaigns",
    "measure_campaign",
    "message_key",
]


def _row(conn: sa.Connection, name: str) -> dict[str, Any]:
    row = conn.execute(sa.select(campaigns).where(campaigns.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"no campaign named {name!r} (see `kehu campaigns list`)")
    return dict(row._mapping)


def check_channel_target(settings: Settings, channel: str) -> None:
    """Refuse a ``webhook:NAME`` channel whose URL points where webhooks may not go
    (:mod:`kehu.playbooks.webhook_targets`)."""
    kind, _, name = channel.partition(":")
    if kind == "webhook" and name:
        refused = webhook_targets.problems_of([name], settings)
        if refused:
            raise ValidationError(f"channel: {refused[name]}")


def create_campaign(store: sa.Engine, spec: CampaignSpec, *, now: dt.datetime) -> dict[str, Any]:
    """Check and store a campaign as a draft; the target is checked against the store now (it must resolve)."""
    spec.check()
    with store.begin() as conn:
        if conn.execute(sa.select(campaigns.c.id).where(campaigns.c.name == spec.name)).first():
            raise ValidationError(f"a campaign named {spec.name!r} exists already")
        _target(conn, spec.target)  # raises when the segment or rule cannot be resolved
        cid = conn.execute(
            sa.insert(campaigns).values(
                name=spec.name, target=dict(spec.target), stratify_by=spec.stratify_by, offer=dict(spec.offer),
                channel=spec.channel, subject=spec.subject, template=spec.template,
                holdout_share=spec.holdout_share, seed=spec.seed, attribution_days=spec.attribution_days,
                lapse_days=spec.lapse_days, status="draft", created_at=now,
            ).returning(campaigns.c.id)
        ).scalar_one()  # fmt: skip
        return _row(conn, spec.name) | {"id": int(cid)}


def _target(conn: sa.Connection, target: Mapping[str, Any]) -> tuple[list[int], dt.date]:
    """The target's customer ids and the day of the run / profile they were read from."""
    if "segment" in target:
        scheme, _, segment = str(target["segment"]).partition(":")
        runs = run_ids(conn)
        if scheme not in runs:
            raise NotFoundError(f"segment scheme {scheme!r} has no run yet: run `kehu run` first")
        ids = [int(r["customer_id"]) for r in memberships(conn, int(runs[scheme]["id"]), segment)]
        return ids, runs[scheme]["as_of"]
    from kehu.segments.fields import PROFILE_FIELDS
    from kehu.segments.profile import store_members
    from kehu.segments.rules import parse_rule

    rule = parse_rule(target["rule"], catalog=PROFILE_FIELDS, where="campaign target")
    as_of = conn.execute(sa.select(sa.func.max(customer_score_history.c.as_of))).scalar()
    if as_of is None:
        raise NotFoundError("no published customer profile yet: run `kehu run` before targeting by a rule")
    return store_members(conn, rule, as_of), as_of


def _strata(conn: sa.Connection, scheme: str | None, ids: list[int]) -> dict[int, str]:
    runs = run_ids(conn) if scheme else {}
    if not scheme or scheme not in runs:
        return dict.fromkeys(ids, "all")
    placed = {int(r["customer_id"]): r["segment"] for r in memberships(conn, int(runs[scheme]["id"]))}
    return {c: placed.get(c, "-") for c in ids}


def _baseline(conn: sa.Connection, ids: list[int], start: dt.datetime, days: int, lapse_days: int) -> dict[int, Any]:
    from kehu.vocabulary import PURCHASE_STATUSES

    last = (
        sa.select(orders.c.customer_id, sa.func.max(orders.c.ordered_at))
        .where(sa.func.lower(sa.func.trim(orders.c.status)).in_(PURCHASE_STATUSES), orders.c.ordered_at < start)
        .group_by(orders.c.customer_id)
    )
    wanted = set(ids)
    latest = {int(c): t for c, t in conn.execute(last) if int(c) in wanted}
    active_from, lapsed_before = start - dt.timedelta(days=days), start - dt.timedelta(days=lapse_days)
    return {c: (c in latest and latest[c] >= active_from, c in latest and latest[c] < lapsed_before) for c in ids}


def _assign(conn: sa.Connection, campaign: dict[str, Any], now: dt.datetime, owners: Sequence[int] | None) -> None:
    ids, as_of = _target(conn, campaign["target"])
    if owners is not None:  # a manager's launch: only their team's customers (issue 23)
        mine = sa.select(customers.c.id).where(customers.c.owner_id.in_(list(owners)))
        wanted = {int(c) for c in conn.execute(mine).scalars()}
        ids = [c for c in ids if c in wanted]
    if not ids:
        raise ValidationError(f"campaign {campaign['name']!r}: the target has no customers; nothing was assigned")
    strata = _strata(conn, campaign["stratify_by"], ids)
    arms = assign_arms(strata, share=float(campaign["holdout_share"]), seed=int(campaign["seed"]))
    base = _baseline(conn, ids, now, int(campaign["attribution_days"]), int(campaign["lapse_days"]))
    rows = [{"campaign_id": campaign["id"], "customer_id": c, "arm": arms[c], "stratum": strata[c],
             "active_before": base[c][0], "lapsed": base[c][1], "assigned_at": now} for c in ids]  # fmt: skip
    for i in range(0, len(rows), 5000):
        conn.execute(sa.insert(campaign_members), rows[i : i + 5000])
    conn.execute(
        sa.update(campaigns)
        .where(campaigns.c.id == campaign["id"])
        .values(status="assigned", assigned_at=now, launched_at=now, as_of=as_of)
    )


def message_key(campaign_id: int, customer_id: int) -> str:
    """The outbox idempotency key of a campaign's message to one customer."""
    return f"campaign:{campaign_id}:customer:{customer_id}"


def _enqueue(conn: sa.Connection, campaign: dict[str, Any], now: dt.datetime) -> int:
    """Write one outbox message per treatment customer not yet messaged (with its campaign_messages row)."""
    m, msgs = campaign_members, campaign_messages
    done = sa.select(msgs.c.customer_id).where(msgs.c.campaign_id == campaign["id"])
    todo = conn.execute(
        sa.select(customers.c.id, customers.c.name, customers.c.company, customers.c.email, customers.c.phone)
        .join(m, m.c.customer_id == customers.c.id)
        .where(m.c.campaign_id == campaign["id"], m.c.arm == TREATMENT, customers.c.id.not_in(done))
        .order_by(customers.c.id)
    ).all()
    offer = campaign["offer"] or {}
    channel = str(campaign["channel"])
    kind, _, webhook = channel.partition(":")
    boxes, records = [], []
    for cid, cname, company, email, phone in todo:
        values = {"name": cname, "company": company, "customer_id": cid, "campaign": campaign["name"],
                  "coupon": offer.get("coupon")}  # fmt: skip
        key = message_key(int(campaign["id"]), int(cid))
        payload = {
            "to": email
            if kind == "email"
            else phone
            if kind == "sms"
            else None
            if kind == "webhook"
            else email or phone,
            "subject": render(campaign["subject"] or campaign["name"], values),
            "body": render(campaign["template"], values),
            "webhook": webhook or None,
            "format": "json",
            "data": {"campaign": campaign["name"], "campaign_id": int(campaign["id"]), "customer_id": int(cid)},
        }
        boxes.append({"idempotency_key": key, "firing_id": None, "customer_id": int(cid), "kind": "message",
                      "channel": channel, "payload": payload, "status": "pending", "attempts": 0, "created_at": now,
                      "next_attempt_at": now})  # fmt: skip
        records.append({"campaign_id": campaign["id"], "customer_id": int(cid), "channel": channel, "status": "queued",
                        "at": now, "provider_id": key})  # fmt: skip
    for i in range(0, len(boxes), 2000):
        conn.execute(sa.insert(outbox), boxes[i : i + 2000])
        conn.execute(sa.insert(msgs), records[i : i + 2000])
    return len(boxes)


def launch_campaign(
    settings: Settings,
    store: sa.Engine,
    name: str,
    *,
    channels: Mapping[str, Any] | None = None,
    now: dt.datetime,
    owners: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Assign and record the arms (once; of the target's customers owned by ``owners`` only, when given: a
    manager's team); queue one message per treatment customer in the playbooks' outbox
    (exactly once: the outbox key is the campaign and customer); then deliver the outbox.

    ``channels`` maps channel kinds to channels (default: the settings' email, webhook and SMS channels and the
    ``file`` channel). Returns the arm sizes, the messages queued by this call and the outbox's delivery report.
    """
    from kehu.playbooks.outbox import deliver
    from kehu.service.campaign_channels import campaign_channels

    with store.begin() as conn:
        campaign = _row(conn, name)
        assigned_now = campaign["status"] == "draft"
        if assigned_now:
            _assign(conn, campaign, now, owners)
            campaign = _row(conn, name)
    with store.begin() as conn:  # a separate transaction: the arms are stored before any message exists
        queued = _enqueue(conn, campaign, now)
        conn.execute(sa.update(campaigns).where(campaigns.c.id == campaign["id"]).values(status="launched"))
        m = campaign_members
        arms: dict[str, int] = dict(
            conn.execute(
                sa.select(m.c.arm, sa.func.count()).where(m.c.campaign_id == campaign["id"]).group_by(m.c.arm)
            ).all()
        )
    report = deliver(store, settings, channels if channels is not None else campaign_channels(settings), now=now)
    return {"campaign": name, "assigned": assigned_now, "treatment": int(arms.get(TREATMENT, 0)),
            "holdout": int(arms.get(HOLDOUT, 0)), "queued": queued, "delivery": report.as_dict(),
            "launched_at": campaign["launched_at"]}  # fmt: skip


def get_campaign(store: sa.Engine, name: str) -> dict[str, Any]:
    """One campaign's stored definition and state."""
    with store.connect() as conn:
        return _row(conn, name)


def list_campaigns(store: sa.Engine, *, owners: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """All campaigns, newest first, with their arm sizes: of the members owned by ``owners`` only when given
    (``arms_scope`` says which: ``team`` or ``all``)."""
    m = campaign_members
    counted = sa.select(m.c.campaign_id, m.c.arm, sa.func.count().label("n"))
    if owners is not None:
        counted = counted.join(customers, customers.c.id == m.c.customer_id).where(customers.c.owner_id.in_(owners))
    sizes = counted.group_by(m.c.campaign_id, m.c.arm).subquery()
    with store.connect() as conn:
        out = [dict(r._mapping) for r in conn.execute(sa.select(campaigns).order_by(campaigns.c.id.desc()))]
        counts: dict[int, dict[str, int]] = {}
        for cid, arm, n in conn.execute(sa.select(sizes)):
            counts.setdefault(int(cid), {})[arm] = int(n)
    for row in out:
        row["arms"] = counts.get(int(row["id"]), {})
        row["arms_scope"] = "all" if owners is None else "team"
    return out


def measure_campaign(
    store: sa.Engine, name: str, *, now: dt.datetime, owners: Sequence[int] | None = None
) -> dict[str, Any]:
    """Results of a launched campaign (see :func:`kehu.campaigns.results.campaign_results`), of the members owned by
    ``owners`` only when given."""
    with store.connect() as conn:
        campaign = _row(conn, name)
        if campaign["launched_at"] is None:
            raise ValidationError(f"campaign {name!r} has not been launched: run `kehu campaigns launch {name}`")
        result = campaign_results(conn, campaign, now=now, owners=owners)
    return {"campaign": name, "holdout_share": campaign["holdout_share"], "seed": campaign["seed"],
            "attribution_days": campaign["attribution_days"], "target": campaign["target"], **result}  # fmt: skip


# -- The campaigns pages of the web app and their JSON twins: the list, the create form (checked like ``k ----------


#: the fields of the create form
FIELDS = ("name", "target_kind", "segment", "rule", "channel", "subject", "template", "coupon", "holdout",
          "seed", "window", "lapse_days", "stratify_by")  # fmt: skip
_MANAGERS = ("admin", "manager")


def _segments_of(ws: Workspace) -> list[dict[str, Any]]:
    """Every segment of every scheme (see :func:`kehu.service.segmentation.list_segments`)."""
    from kehu.service.segmentation import list_segments

    ensure_current(ws.engine)
    return list_segments(ws.settings)


def _segments(ws: Workspace) -> list[dict[str, Any]]:
    """``SCHEME:SEGMENT`` choices of the newest runs with labels and sizes (empty before the first run)."""
    from kehu.segments.labels import scheme_label

    return [
        {"ref": s["ref"], "scheme": s["scheme"], "size": s["size"],
         "labels": {"zh": f"{scheme_label(s['scheme'], 'zh')} · {s['label_zh']}",
                    "en": f"{scheme_label(s['scheme'], 'en')} · {s['label_en']}"}}
        for s in _segments_of(ws)
    ]  # fmt: skip


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
            rule = user_yaml.load(text, where="rule")
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
    known = _segments_of(ws)
    ref = spec.target.get("segment")
    if ref is not None and ref not in {s["ref"] for s in known}:
        raise ValidationError(f"segment: {str(ref)[:100]!r} is not a segment of the newest runs")
    if spec.stratify_by and spec.stratify_by not in {s["scheme"] for s in known}:
        raise ValidationError(f"stratify_by: scheme {spec.stratify_by!r} has no run (leave it empty for none)")
    from kehu.service.campaigns import create_campaign

    check_channel_target(ws.settings, spec.channel)
    return create_campaign(ws.engine, spec, now=dt.datetime.now(dt.UTC))


class CampaignService(Service):
    """Campaigns (managers and admins)."""

    def create(self, spec: CampaignSpec, *, now: dt.datetime | None = None) -> dict[str, Any]:
        """Store a checked campaign definition as a draft (managers and admins; see :func:`create_campaign`)."""
        require_role(self.principal, *_MANAGERS)
        ensure_current(self.ws.engine)
        check_channel_target(self.ws.settings, spec.channel)
        return create_campaign(self.ws.engine, spec, now=now or dt.datetime.now(dt.UTC))

    def all(self) -> list[dict[str, Any]]:
        """All campaigns, newest first, with arm sizes (managers and admins; a manager's count only the members
        their team owns, ``arms_scope`` ``team``)."""
        require_role(self.principal, *_MANAGERS)
        ensure_current(self.ws.engine)
        return list_campaigns(self.ws.engine, owners=owner_scope(self.ws, self.principal))

    def results(self, name: str, *, now: dt.datetime | None = None) -> dict[str, Any]:
        """Per-arm outcomes, uplift with 95% intervals and verdicts (managers and admins); a manager's cover only
        the members their team owns, and the first note says so (``members``: measured of total)."""
        require_role(self.principal, *_MANAGERS)
        ensure_current(self.ws.engine)
        return self._measure(name, now)

    def _measure(self, name: str, now: dt.datetime | None) -> dict[str, Any]:
        owners = owner_scope(self.ws, self.principal)
        result = measure_campaign(self.ws.engine, name, now=now or dt.datetime.now(dt.UTC), owners=owners)
        if owners is not None:
            shown, total = result["members"]["measured"], result["members"]["total"]
            for loc, locale in (("zh", "zh-CN"), ("en", "en")):
                result["notes"][loc].insert(0, text("scope.campaign_members", locale).format(shown=shown, total=total))
        return result

    def targets(self) -> list[dict[str, Any]]:
        """The segments a campaign may target: ``SCHEME:SEGMENT`` refs of the newest runs with labels and sizes
        (empty before the first run; managers and admins)."""
        require_role(self.principal, *_MANAGERS)
        ensure_current(self.ws.engine)
        return _segments(self.ws)

    def view(self, name: str, *, now: dt.datetime | None = None) -> dict[str, Any]:
        """A campaign's definition and, once launched, its results (see
        :func:`kehu.campaigns.results.campaign_results`; each stratum with its ``labels``)."""
        require_role(self.principal, *_MANAGERS)
        from kehu.service.campaigns import get_campaign

        campaign = get_campaign(self.ws.engine, name)
        results = None
        if campaign["launched_at"] is not None:
            ensure_current(self.ws.engine)
            results = self._measure(name, now)
            from kehu.segments.labels import segment_label

            scheme = campaign["stratify_by"]
            for stratum in results["strata"]:
                key = stratum["stratum"]
                plain = scheme is None or key in ("all", "-")
                stratum["labels"] = {lang: key if plain else segment_label(scheme, key, lang) for lang in ("zh", "en")}
        return {"campaign": campaign, "results": results}

    def create_from_form(self, form: Mapping[str, str]) -> dict[str, Any]:
        """See :func:`create_from_form`."""
        return create_from_form(self.ws, self.principal, form)

    def launch(self, name: str, *, channels: Any = None, now: dt.datetime | None = None) -> dict[str, Any]:
        """Launch a draft campaign: assign and record the arms first, queue only the treatment arm's messages in
        the outbox, deliver them (managers and admins; a manager's reaches only their team's customers; see
        :func:`launch_campaign`)."""
        require_role(self.principal, *_MANAGERS)
        ensure_current(self.ws.engine)
        return launch_campaign(
            self.ws.settings, self.ws.engine, name, channels=channels, now=now or dt.datetime.now(dt.UTC),
            owners=owner_scope(self.ws, self.principal),
        )  # fmt: skip
