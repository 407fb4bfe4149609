"""Deciding: which rules fire for which customers today, and what each firing will do.

:func:`plan` reads the store and decides, writing nothing — ``kehu playbooks dry-run`` prints its result and a
real run commits exactly that plan (:func:`kehu.playbooks.outbox.commit_plan`), so a dry run and the run that
follows act on the same customers. Rules are considered in priority order (highest first, then playbook and
rule name). For each rule: the trigger's occurrences, kept when the ``if`` condition holds on the newest
published profile, minus occurrences that already fired, customers the re-entry policy or the cooldown
exclude, and what exceeds the rule's ``max_per_day`` or the per-customer daily cap. Of the decisions left, those
of customers in the rule's holdout (:func:`kehu.models.holdout.held_out`, drawn before anything else is decided
for the rule) are kept, marked ``held_out`` and emptied of their actions: the firing is recorded, nothing is done.

Scope (issue 23): a playbook with a ``team`` acts only on customers owned by that team's people and gives
customers and tasks only to them; a run started by a manager (``scope``: the owner ids they may see) acts only on
their team's customers. A customer outside is skipped (``out_of_scope``); an owner or task action whose person is
outside is left out (``owner_out_of_scope``, ``assignee_out_of_scope``). A task for the customer's owner goes to
the owner as of the end of the plan (an owner action of a later rule of the same run moves it along); for a
customer with no owner then, the ``fallback`` takes only admins (the only people who may see an unowned
customer), else the task waits unassigned in the backlog for a manager.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from kehu.config import Settings
from kehu.errors import ValidationError
from kehu.models.holdout import held_out
from kehu.playbooks.model import (
    CouponAction,
    MessageAction,
    OwnerAction,
    People,
    Playbook,
    PlaybookRule,
    TagAction,
    TaskAction,
)
from kehu.playbooks.triggers import Clock, Occurrence, evaluate_trigger
from kehu.segments.profile import store_members
from kehu.store.actions import playbook_firings
from kehu.store.published import FEATURE_COLUMNS, customer_score_history, customer_scores
from kehu.store.schema import customers, users

__all__ = ["Decision", "Plan", "PlannedAction", "RulePlan", "plan", "quiet_until"]

_CHUNK = 900


@dataclass
class PlannedAction:
    """One action of a decision; ``payload`` is completed (texts rendered, codes drawn) when committed."""

    kind: str  # task | message | tag | coupon | owner
    action: Any  # the model action
    payload: dict[str, Any]
    locale: str = "zh-CN"


@dataclass
class Decision:
    """A rule firing for one customer and one occurrence of its trigger."""

    playbook: Playbook
    rule: PlaybookRule
    occurrence: Occurrence
    customer: dict[str, Any]
    actions: list[PlannedAction]
    values: dict[str, Any]  # what texts may use
    notes: list[str] = field(default_factory=list)  # actions left out, e.g. message_no_address
    held_out: bool = False  # in the rule's holdout: recorded as fired, with no actions
    # what became of it, set by kehu.playbooks.workload before the plan is committed
    fate: str | None = None
    stake: dict[str, Any] | None = None
    merged_into: int | None = None  # the firing of an earlier run whose open action this one joined
    backlog: dict[str, Any] | None = None  # the backlog entry written with the firing

    @property
    def customer_id(self) -> int:
        return self.occurrence.customer_id


@dataclass
class RulePlan:
    """What one rule does today: counts and decisions."""

    playbook: Playbook
    rule: PlaybookRule
    matched: int = 0  # occurrences the trigger matched
    passed_if: int = 0  # of which the `if` condition holds
    skipped: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    decisions: list[Decision] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return f"{self.playbook.name}/{self.rule.id}"

    @property
    def held_out(self) -> int:
        """Decisions of customers in the rule's holdout."""
        return sum(d.held_out for d in self.decisions)


@dataclass
class Plan:
    """Everything a run would do."""

    clock: Clock
    as_of: dt.date | None
    rules: list[RulePlan]

    @property
    def decisions(self) -> list[Decision]:
        return [d for r in self.rules for d in r.decisions]


def quiet_until(now: dt.datetime, clock: Clock, quiet: str | None) -> dt.datetime:
    """``now``, or the end of the quiet hours when ``now`` falls inside them (local time)."""
    if not quiet:
        return now
    start_text, _, end_text = quiet.partition("-")
    start, end = dt.time.fromisoformat(start_text), dt.time.fromisoformat(end_text)
    local = now.astimezone(clock.tz)
    t = local.time()
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if not inside:
        return now
    end_day = local.date() if t < end else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(end_day, end, clock.tz).astimezone(dt.UTC)


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


class _Context:
    """Store reads shared by the rules of one plan."""

    def __init__(
        self, conn: sa.Connection, settings: Settings, clock: Clock, scope: Collection[int] | None = None
    ) -> None:
        self.conn = conn
        self.scope = None if scope is None else frozenset(int(u) for u in scope)
        self.settings = settings
        self.clock = clock
        self.users = {int(r["id"]): dict(r) for r in conn.execute(sa.select(users)).mappings()}
        self.by_name = {u["name"]: u for u in self.users.values()}
        self.as_of: dt.date | None = conn.execute(
            sa.select(sa.func.max(customer_score_history.c.as_of)).where(customer_score_history.c.as_of <= clock.day)
        ).scalar()
        self.members: dict[int, set[int]] = {}
        self.customers: dict[int, dict[str, Any]] = {}
        self.profiles: dict[int, dict[str, Any]] = {}
        self.planned_owner: dict[int, int | None] = {}
        self.customer_day: dict[int, int] = defaultdict(int)
        if settings.playbook_customer_daily_cap:
            f = playbook_firings
            stmt = sa.select(f.c.customer_id, sa.func.count()).where(f.c.day == clock.day).group_by(f.c.customer_id)
            self.customer_day.update({int(c): int(n) for c, n in conn.execute(stmt)})

    def passing(self, rule: PlaybookRule) -> set[int] | None:
        """Customers for whom the rule's `if` holds (None: no condition)."""
        if rule.condition is None:
            return None
        if self.as_of is None:
            return set()
        return set(store_members(self.conn, rule.condition, self.as_of))

    def load_customers(self, ids: Iterable[int]) -> None:
        missing = sorted(set(ids) - set(self.customers))
        cols = [customers.c[n] for n in ("id", "name", "company", "phone", "email", "city", "region", "industry")]
        for part in _chunks(missing):
            for row in self.conn.execute(
                sa.select(*cols, customers.c.owner_id, customers.c.tags).where(customers.c.id.in_(part))
            ).mappings():
                self.customers[int(row["id"])] = dict(row)
            profile_cols = [customer_scores.c.customer_id, *(customer_scores.c[n] for n in FEATURE_COLUMNS)]
            for row in self.conn.execute(
                sa.select(*profile_cols, customer_scores.c.scores).where(customer_scores.c.customer_id.in_(part))
            ).mappings():
                data = dict(row)
                scores = data.pop("scores") or {}
                data.update({k: v for k, v in scores.items() if isinstance(v, int | float | str)})
                self.profiles[int(data.pop("customer_id"))] = data

    def owner_of(self, cid: int) -> int | None:
        if cid in self.planned_owner:
            return self.planned_owner[cid]
        owner = self.customers.get(cid, {}).get("owner_id")
        return int(owner) if owner is not None else None

    def allowed(self, pb: Playbook) -> frozenset[int] | None:
        """The users whose customers (and who alone as people) the playbook may act on in this plan (None: all)."""
        team = None
        if pb.team is not None:
            team = frozenset(uid for uid, u in self.users.items() if u["team"] == pb.team)
        if self.scope is None:
            return team
        return self.scope if team is None else self.scope & team

    def pool(self, people: People, where: str, allowed: frozenset[int] | None = None) -> list[dict[str, Any]]:
        """The users ``people`` names (only those in ``allowed`` when given: maybe none)."""
        found = self._pool(people, where)
        return found if allowed is None else [u for u in found if int(u["id"]) in allowed]

    def _pool(self, people: People, where: str) -> list[dict[str, Any]]:
        if people.kind == "user":
            user = self.by_name.get(people.user or "")
            if user is None or not user["active"]:
                state = "no user" if user is None else "the inactive user"
                raise ValidationError(f"{where}: {state} {people.user!r}: add them with `kehu users add`")
            return [user]
        pool = [
            u
            for u in sorted(self.users.values(), key=lambda u: u["id"])
            if u["active"]
            and (people.team is None or u["team"] == people.team)
            and (people.role is None or u["role"] == people.role)
        ]
        if not pool:
            what = " and ".join(
                x
                for x in (f"team {people.team!r}" if people.team else "", f"role {people.role}" if people.role else "")
                if x
            )
            raise ValidationError(f"{where}: no active user with {what} for the round-robin")
        return pool

    def locale_of(self, user_id: int | None) -> str:
        user = self.users.get(user_id) if user_id is not None else None
        locale = (user or {}).get("locale") or self.settings.locale
        return locale if locale in ("zh-CN", "en") else self.settings.locale


def _existing(conn: sa.Connection, pb: Playbook, rule: PlaybookRule) -> list[tuple[int, str, dt.date]]:
    f = playbook_firings
    stmt = sa.select(f.c.customer_id, f.c.occurrence, f.c.day).where(f.c.playbook == pb.name, f.c.rule == rule.id)
    return [(int(c), str(o), d) for c, o, d in conn.execute(stmt)]


def plan(
    conn: sa.Connection,
    playbooks: Sequence[Playbook],
    clock: Clock,
    settings: Settings,
    *,
    sla_hours: Mapping[str, float],
    scope: Collection[int] | None = None,
) -> Plan:
    """Decide what the enabled ``playbooks`` do on ``clock.day`` (reads only).

    ``sla_hours`` are the resolution targets per ticket priority (the ``tickets`` section of the loop
    configuration) that ``ticket_past_sla`` measures open tickets against. ``scope``: the owner ids whose
    customers the plan may act on, and the only people it may give customers and tasks to (``None``: all; see
    the module docstring).

    Raises
    ------
    ValidationError
        A rule names a user that does not exist, or a round-robin finds nobody (file and line named).
    """
    ctx = _Context(conn, settings, clock, scope)
    rules = sorted(
        ((pb, r) for pb in playbooks if pb.enabled for r in pb.rules),
        key=lambda pr: (-pr[1].priority, pr[0].name, pr[1].id),
    )
    out = Plan(clock, ctx.as_of, [])
    cap = settings.playbook_customer_daily_cap
    for pb, rule in rules:
        rp = RulePlan(pb, rule)
        out.rules.append(rp)
        allowed = ctx.allowed(pb)
        occurrences = evaluate_trigger(conn, rule.when, clock, sla_hours=dict(sla_hours))
        rp.matched = len(occurrences)
        passing = ctx.passing(rule)
        if passing is not None:
            occurrences = [o for o in occurrences if o.customer_id in passing]
        rp.passed_if = len(occurrences)
        holdout = held_out((o.customer_id for o in occurrences), share=rule.holdout, key=rp.ref)
        existing = _existing(conn, pb, rule)
        fired = {(c, o) for c, o, _ in existing}
        last_day: dict[int, dt.date] = {}
        for c, _, d in existing:
            last_day[c] = max(d, last_day.get(c, d))
        today = sum(1 for _, _, d in existing if d == clock.day)
        served = len(existing)
        ctx.load_customers(o.customer_id for o in occurrences if (o.customer_id, o.key) not in fired)
        for occ in occurrences:
            cid = occ.customer_id
            if (cid, occ.key) in fired:
                rp.skipped["already_fired"] += 1
                continue
            if cid not in ctx.customers:
                rp.skipped["no_customer"] += 1
                continue
            if allowed is not None and ctx.owner_of(cid) not in allowed:
                rp.skipped["out_of_scope"] += 1
                continue
            if rule.reentry == "once" and cid in last_day:
                rp.skipped["once"] += 1
                continue
            if rule.cooldown_days and cid in last_day and (clock.day - last_day[cid]).days < rule.cooldown_days:
                rp.skipped["cooldown"] += 1
                continue
            if rule.max_per_day is not None and today >= rule.max_per_day:
                rp.skipped["max_per_day"] += 1
                continue
            if cap and ctx.customer_day[cid] >= cap:
                rp.skipped["customer_daily_cap"] += 1
                continue
            owner_before = ctx.planned_owner.get(cid, -1)
            decision = _decide(ctx, pb, rule, occ, served, allowed)
            if not decision.actions:
                for note in decision.notes:
                    rp.skipped[note] += 1
                continue
            for note in decision.notes:
                rp.skipped[note] += 1
            if cid in holdout:
                _hold_out(ctx, decision, owner_before)
            rp.decisions.append(decision)
            fired.add((cid, occ.key))
            last_day[cid] = clock.day
            today += 1
            served += 1
            ctx.customer_day[cid] += 1
    _assign_to_final_owners(ctx, out)
    return out


def _assign_to_final_owners(ctx: _Context, p: Plan) -> None:
    """Give each task for the customer's owner to the owner as of the end of the plan; for a customer left
    without one, to an admin of the ``fallback`` (round-robin), else to nobody (the backlog, for a manager)."""
    admins_served = 0
    for d in p.decisions:
        for a in d.actions:
            if a.kind != "task" or a.action.assignee.kind != "owner":
                continue
            owner = ctx.owner_of(d.customer_id)
            if owner is None and a.action.fallback is not None:
                pool = [u for u in ctx.pool(a.action.fallback, a.action.where) if u["role"] == "admin"]
                if pool:
                    owner = int(pool[admins_served % len(pool)]["id"])
                    admins_served += 1
            a.payload["assignee_id"] = owner
            a.locale = ctx.locale_of(owner)


def _hold_out(ctx: _Context, decision: Decision, owner_before: int | None) -> None:
    """Keep a held-out decision without its actions (and without the owner change it planned)."""
    if owner_before == -1:
        ctx.planned_owner.pop(decision.customer_id, None)
    else:
        ctx.planned_owner[decision.customer_id] = owner_before
    decision.actions = []
    decision.held_out = True


def _decide(
    ctx: _Context, pb: Playbook, rule: PlaybookRule, occ: Occurrence, served: int, allowed: frozenset[int] | None
) -> Decision:
    cid = occ.customer_id
    customer = ctx.customers[cid]
    values: dict[str, Any] = {**ctx.profiles.get(cid, {}), **occ.values}
    values.update({k: customer.get(k) for k in ("name", "company", "phone", "email", "city", "region", "industry")})
    values.update(customer_id=cid, playbook=pb.name, rule=rule.id, today=ctx.clock.day)
    planned: list[PlannedAction] = []
    notes: list[str] = []
    quiet = ctx.settings.quiet_hours if pb.quiet_hours == "default" else pb.quiet_hours
    for action in rule.then:
        if isinstance(action, OwnerAction):
            current = ctx.owner_of(cid)
            if action.only_if_unowned and current is not None:
                continue
            pool = ctx.pool(action.assign, action.where, allowed)
            if not pool:
                notes.append("owner_out_of_scope")
                continue
            new = pool[served % len(pool)]
            if new["id"] == current:
                continue
            ctx.planned_owner[cid] = int(new["id"])
            planned.append(PlannedAction("owner", action, {"owner_id": int(new["id"]), "previous_owner_id": current}))
        elif isinstance(action, TaskAction):
            if action.assignee.kind == "owner":
                assignee = ctx.owner_of(cid)  # settled at the end of the plan (_assign_to_final_owners)
            else:
                pool = ctx.pool(action.assignee, action.where, allowed)
                if not pool:
                    notes.append("assignee_out_of_scope")
                    continue
                assignee = int(pool[served % len(pool)]["id"])
            payload = {
                "assignee_id": assignee,
                "due_date": ctx.clock.day + dt.timedelta(days=action.due_in_days),
                "priority": action.priority,
            }
            planned.append(PlannedAction("task", action, payload, ctx.locale_of(assignee)))
        elif isinstance(action, MessageAction):
            payload, locale = _message(ctx, action, cid, customer, pb, rule, quiet)
            if action.channel != "webhook" and not payload["to"]:
                notes.append(f"{action.channel}_no_address")  # counted per rule; the other actions still run
                continue
            planned.append(PlannedAction("message", action, payload, locale))
        elif isinstance(action, TagAction):
            planned.append(PlannedAction("tag", action, {"add": list(action.add), "remove": list(action.remove)}))
        elif isinstance(action, CouponAction):
            planned.append(PlannedAction("coupon", action, _coupon(action, ctx)))
    return Decision(pb, rule, occ, customer, planned, values, notes)


def _message(
    ctx: _Context,
    action: MessageAction,
    cid: int,
    customer: dict[str, Any],
    pb: Playbook,
    rule: PlaybookRule,
    quiet: str | None,
) -> tuple[dict[str, Any], str]:
    owner_id = ctx.owner_of(cid)
    locale: str = ctx.settings.locale
    to: str | None = None
    if action.channel == "webhook":
        locale = ctx.locale_of(owner_id)
    elif action.to == "owner":
        owner = ctx.users.get(owner_id) if owner_id is not None else None
        to = (owner or {}).get("email") if action.channel == "email" else None
        locale = ctx.locale_of(owner_id)
    else:
        to = customer.get("email") if action.channel == "email" else customer.get("phone")
    payload = {
        "channel": action.channel,
        "to": to,
        "webhook": action.webhook,
        "format": action.format,
        "not_before": quiet_until(ctx.clock.now, ctx.clock, quiet),
        "data": {"customer_id": cid, "customer": customer.get("name"), "playbook": pb.name, "rule": rule.id},
    }
    return payload, locale


def _coupon(action: CouponAction, ctx: _Context) -> dict[str, Any]:
    return {
        "kind": "amount" if action.amount is not None else "percent",
        "amount_cents": round(action.amount * 100) if action.amount is not None else None,
        "percent": action.percent,
        "currency": (action.currency or ctx.settings.currency) if action.amount is not None else None,
        "min_order_cents": round(action.min_order * 100) if action.min_order is not None else None,
        "expires_on": ctx.clock.day + dt.timedelta(days=action.expires_in_days),
        "prefix": action.prefix,
    }
