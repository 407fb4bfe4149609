"""Daily task capacities and the backlog, for the front ends (see docs/playbooks.md, "Within capacity").

- Capacities: each user's daily playbook task capacity — their own override, else their team's, else their
  role's default (``KEHU_TASK_CAPACITY_REP`` 15, ``…_MANAGER`` 8, ``…_ADMIN`` 3) — and the load of the next
  working days. Admins set overrides for anyone; managers for their own team and its members.
- The backlog: playbook actions that did not fit their owner's capacity, ranked by value at stake, with every
  rule's reason. A rep sees their own entries, a manager their team's, an admin all (and unassigned ones); a
  manager or admin promotes an entry into a task — for the owner it was meant for or another user, due on the
  first working day the assignee has a free slot (or a day they choose, within capacity).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from kehu.errors import AccessDeniedError, NotFoundError, ValidationError
from kehu.playbooks import PlaybookError
from kehu.playbooks.workload import working_days
from kehu.service.access import owner_scope, require_role
from kehu.service.playbooks import workspace_playbooks
from kehu.service.principal import Service, Workspace
from kehu.store.actions import audit, insert_task, playbook_firings
from kehu.store.capacity import (
    action_reasons,
    backlog,
    capacities,
    capacity_overrides,
    close_backlog,
    open_due_counts,
    set_capacity,
)
from kehu.store.schema import customers, users

__all__ = ["CapacityService", "check_capacity", "first_free_day", "rule_titles"]

_HORIZON = 60  # working days a promoted task may be placed in
_LIMIT = 200


def rule_titles(ws: Workspace) -> dict[str, dict[str, str | None]]:
    """Rule ref (``playbook/rule``) -> its title per language, from the workspace's playbooks (none when broken)."""
    try:
        playbooks = workspace_playbooks(ws.settings)
    except PlaybookError:
        return {}
    return {
        f"{pb.name}/{r.id}": {
            "zh": r.title.pick("zh-CN") if r.title else None,
            "en": r.title.pick("en") if r.title else None,
        }
        for pb in playbooks
        for r in pb.rules
    }


def with_reasons(ws: Workspace, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Add to each row with a ``firing_id`` the reasons of its action (every rule, with its title) and the action's
    value at stake (``stake``: that of its most valuable firing, whose value the action is worth)."""
    heads = action_reasons(conn, [int(r["firing_id"]) for r in rows if r.get("firing_id") is not None])
    titles = rule_titles(ws) if heads else {}
    for r in rows:
        reasons = heads.get(int(r["firing_id"])) if r.get("firing_id") is not None else None
        r["reasons"] = [
            {"rule": f"{x['playbook']}/{x['rule']}", "title": titles.get(f"{x['playbook']}/{x['rule']}"),
             "day": x["day"], "trigger": (x["reason"] or {}).get("trigger")}
            for x in reasons or []
        ]  # fmt: skip
        stakes = [x["stake"] for x in reasons or [] if x["stake"]]
        r["stake"] = max(stakes, key=lambda x: x["value"]) if stakes else None  # the firing the action is worth


def _load(conn: sa.Connection, user_id: int, days: list[dt.date]) -> dict[dt.date, int]:
    used = open_due_counts(conn, [user_id], days)
    return {d: used.get((user_id, d), 0) for d in days}


def first_free_day(ws: Workspace, conn: sa.Connection, user_id: int, start: dt.date) -> dt.date:
    """The first working day from ``start`` on when ``user_id`` has fewer open tasks due than their capacity."""
    cap = capacities(conn, ws.settings.role_capacities).get(user_id, (0, "none"))[0]
    days = working_days(start, _HORIZON, ws.settings.weekdays)
    load = _load(conn, user_id, days)
    for d in days:
        if load[d] < cap:
            return d
    raise ValidationError(f"user {user_id} has no free task slot in the next {_HORIZON} working days (capacity {cap})")


def check_capacity(ws: Workspace, conn: sa.Connection, user_id: int, day: dt.date, *, adding: int = 1) -> None:
    """Raise :class:`ValidationError` when ``adding`` more open tasks due on ``day`` exceed the user's capacity."""
    cap = capacities(conn, ws.settings.role_capacities).get(user_id, (0, "none"))[0]
    used = open_due_counts(conn, [user_id], [day], carry_overdue=False).get((user_id, day), 0)
    if used + adding > cap:
        raise ValidationError(
            f"due_date: user {user_id} already has {used} open tasks due on {day.isoformat()} (capacity {cap} a day);"
            " choose another day"
        )


class CapacityService(Service):
    """Capacities (admins; managers for their team) and the backlog (everyone within their scope)."""

    def _may_set(self, team: str | None, user_id: int | None) -> None:
        require_role(self.principal, "admin", "manager")
        if self.principal.role == "admin":
            return
        if team is not None and team != self.principal.team:
            raise AccessDeniedError("a manager sets the capacity of their own team only")
        if user_id is not None and user_id not in (owner_scope(self.ws, self.principal) or []):
            raise AccessDeniedError("a manager sets the capacity of the users of their team only")

    def overview(self, *, today: dt.date) -> dict[str, Any]:
        """Role defaults, the overrides, and per user (within the principal's scope): capacity, where it comes from
        and the open tasks due on each of the next working days."""
        scope = owner_scope(self.ws, self.principal) if self.principal.role != "rep" else [self.principal.id]
        days = working_days(today, self.ws.settings.capacity_days, self.ws.settings.weekdays)
        with self.ws.engine.connect() as conn:
            caps = capacities(conn, self.ws.settings.role_capacities)
            rows = [dict(r) for r in conn.execute(
                sa.select(users.c.id, users.c.name, users.c.display_name, users.c.role, users.c.team, users.c.active)
                .order_by(users.c.id)).mappings() if scope is None or r["id"] in scope]  # fmt: skip
            used = open_due_counts(conn, [r["id"] for r in rows], days)
            teams = sorted({r["team"] for r in rows if r["team"]})
            overrides = capacity_overrides(conn)
        for r in rows:
            r["capacity"], r["source"] = caps.get(r["id"], (0, "none"))
            r["load"] = [{"day": d, "open": used.get((r["id"], d), 0)} for d in days]
        return {
            "roles": self.ws.settings.role_capacities,
            "teams": [{"team": t, "per_day": overrides.get(f"team:{t}")} for t in teams],
            "users": rows,
            "days": days,
            "can_edit": self.principal.role in ("admin", "manager"),
        }

    def set(
        self, *, per_day: int | None, team: str | None = None, user: str | None = None, actor: str | None = None
    ) -> dict[str, Any]:
        """Set (``per_day``) or remove (``None``) the capacity of a team or a user (named); audited."""
        if (team is None) == (user is None):
            raise ValidationError("name either a team or a user")
        if per_day is not None and not 0 <= per_day <= 200:
            raise ValidationError(f"per_day: {per_day} is not between 0 and 200 tasks a day")
        with self.ws.engine.begin() as conn:
            user_id = None
            if user is not None:
                user_id = conn.execute(sa.select(users.c.id).where(users.c.name == user)).scalar()
                if user_id is None:
                    raise NotFoundError(f"no user named {user!r}: see `kehu users list`")
            elif not conn.execute(sa.select(users.c.id).where(users.c.team == team)).first():
                raise NotFoundError(f"no user in team {team!r}: see `kehu users list`")
            self._may_set(team, user_id)
            key = f"team:{team}" if team is not None else f"user:{user_id}"
            now = dt.datetime.now(dt.UTC)
            set_capacity(conn, key, per_day, actor=actor or self.principal.name, now=now)
            audit(conn, at=now, actor=actor or self.principal.name, action="capacity.set", target=key[:100],
                  detail={"per_day": per_day})  # fmt: skip
        return {"key": key, "per_day": per_day}

    def backlog(self, *, assignee_id: int | None = None, limit: int = _LIMIT) -> dict[str, Any]:
        """Waiting backlog entries the principal may see, most at stake first, with their reasons; ``count`` is the
        number of all of them."""
        if not 1 <= limit <= 1000:
            raise ValidationError("limit: between 1 and 1000")
        b, c, u = backlog, customers, users
        scope = [self.principal.id] if self.principal.role == "rep" else owner_scope(self.ws, self.principal)
        where = [b.c.status == "waiting"]
        if scope is not None:
            where.append(b.c.assignee_id.in_(scope))
        if assignee_id is not None:
            if scope is not None and assignee_id not in scope:
                raise AccessDeniedError("that user's backlog is outside your scope")
            where.append(b.c.assignee_id == assignee_id)
        stmt = (
            sa.select(b.c.id, b.c.firing_id, b.c.customer_id, c.c.name.label("customer"), b.c.assignee_id,
                      u.c.name.label("assignee"), u.c.display_name.label("assignee_display"), b.c.playbook, b.c.rule,
                      b.c.value_at_stake, b.c.task, b.c.day)
            .select_from(b.join(c, c.c.id == b.c.customer_id).outerjoin(u, u.c.id == b.c.assignee_id))
            .where(*where).order_by(b.c.value_at_stake.desc(), b.c.rank, b.c.id).limit(limit)
        )  # fmt: skip
        with self.ws.engine.connect() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(b).where(*where)).scalar_one()
            rows = [dict(r) for r in conn.execute(stmt).mappings()]
            with_reasons(self.ws, conn, rows)
        return {"count": int(count), "entries": rows, "can_promote": self.principal.role in ("admin", "manager")}

    def promote(
        self, entry_id: int, *, assignee_id: int | None = None, due_date: dt.date | None = None, today: dt.date
    ) -> dict[str, Any]:
        """Turn a waiting backlog entry into a task (managers and admins), for ``assignee_id`` (default: the owner
        it was meant for), due on ``due_date`` or the assignee's first free working day from ``today``; audited."""
        require_role(self.principal, "admin", "manager")
        scope = owner_scope(self.ws, self.principal)
        now = dt.datetime.now(dt.UTC)
        with self.ws.engine.begin() as conn:
            row = conn.execute(sa.select(backlog).where(backlog.c.id == entry_id)).first()
            if row is None or (scope is not None and row.assignee_id not in scope and row.assignee_id is not None):
                raise NotFoundError(f"no backlog entry {entry_id} among yours")
            if row.status != "waiting":
                raise ValidationError(f"backlog entry {entry_id} is {row.status}: only a waiting entry is promoted")
            who = assignee_id if assignee_id is not None else row.assignee_id
            if who is None:
                raise ValidationError("assignee: this entry has no owner; choose who takes the task")
            if scope is not None and who not in scope:
                raise AccessDeniedError("a manager gives tasks to the users of their team only")
            if conn.execute(sa.select(users.c.active).where(users.c.id == who)).scalar() is not True:
                raise ValidationError(f"assignee: no active user {who}")
            if due_date is None:
                due_date = first_free_day(self.ws, conn, who, today)
            else:
                check_capacity(self.ws, conn, who, due_date)
            task = row.task
            task_id = insert_task(conn, customer_id=row.customer_id, assignee_id=who, title=task["title"],
                                  body=task.get("body"), priority=task["priority"], due_date=due_date, now=now,
                                  playbook=row.playbook, rule=row.rule, firing_id=row.firing_id)  # fmt: skip
            close_backlog(conn, entry_id, status="promoted", actor=self.principal.name, now=now, task_id=task_id)
            conn.execute(sa.update(playbook_firings).where(playbook_firings.c.id == row.firing_id).values(fate="task"))
            audit(conn, at=now, actor=self.principal.name, action="backlog.promote", customer_id=row.customer_id,
                  target=f"task:{task_id}", detail={"backlog": entry_id, "assignee_id": who,
                                                    "due_date": due_date.isoformat()})  # fmt: skip
        return {"id": entry_id, "task_id": task_id, "assignee_id": who, "due_date": due_date}
