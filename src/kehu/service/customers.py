"""What people do on a customer's page: add a note, create a task, change the owner, add or remove a tag.

Every action checks the row-level rules first (:func:`~kehu.service.access.check_customer`), validates its input
with messages that name the field, writes in one transaction and appends an audit entry with the acting user —
the same audit log the playbooks write, so a customer's history shows people and automation side by side.

Who may do what:

- everyone who may see the customer: notes, tags, tasks;
- a rep assigns tasks only to themselves; a manager to anyone in their team; an admin to anyone;
- owner changes: managers (to someone in their team) and admins; reps are refused.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from kehu.errors import AccessDeniedError, NotFoundError, ValidationError
from kehu.ingest.identity import link_records
from kehu.service.access import Principal, check_customer, owner_scope, require_role
from kehu.service.customer_links import link_file, record_ref
from kehu.service.customer_query import CustomerQuery
from kehu.service.figure_cache import DASHBOARD_TTL, cache, cache_lock, run_stamp, store_key
from kehu.service.principal import Service, Workspace
from kehu.store import customer_list as store
from kehu.store import dashboard as dashboard_store
from kehu.store.actions import audit, change_tags, insert_task, set_owner
from kehu.store.customers import customer_activity, customer_detail, find_customers, list_merges
from kehu.store.db import ensure_current
from kehu.store.notes import add_note as store_add_note
from kehu.store.notes import customer_actions_summary
from kehu.store.published import published_features
from kehu.store.schema import customers, users
from kehu.store.segments import customer_history as segment_history
from kehu.vocabulary import PRIORITIES

__all__ = ["CustomerService"]

NOTE_MAX = 5000
TITLE_MAX = 300
TAG_MAX = 40
_TAG_RE = re.compile(r"^[^,;<>\"'`\x00-\x1f]+$")


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def _text(value: str | None, field: str, limit: int, *, required: bool = True) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise ValidationError(f"{field}: must not be empty")
        return None
    if len(text) > limit:
        raise ValidationError(f"{field}: at most {limit} characters ({len(text)} given)")
    return text


def _assignable_users(ws: Workspace, principal: Principal) -> list[dict[str, Any]]:
    """The users the principal may assign tasks or customers to (id, name, display name), by name."""
    stmt = sa.select(users.c.id, users.c.name, users.c.display_name).order_by(users.c.name)
    if principal.role == "rep":
        stmt = stmt.where(users.c.id == principal.id)
    elif principal.role == "manager":
        scope = owner_scope(ws, principal) or [principal.id]
        stmt = stmt.where(users.c.id.in_(scope))
    with ws.engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def _check_assignee(ws: Workspace, principal: Principal, user_id: int, field: str) -> None:
    allowed = {u["id"] for u in _assignable_users(ws, principal)}
    if user_id not in allowed:
        with ws.engine.connect() as conn:
            exists = conn.execute(sa.select(users.c.id).where(users.c.id == user_id)).first() is not None
        if not exists:
            raise ValidationError(f"{field}: no user with id {user_id}")
        raise AccessDeniedError(f"{field}: you may not assign work to user {user_id}")


def _tag(value: str) -> str:
    tag = _text(value, "tag", TAG_MAX) or ""
    if not _TAG_RE.match(tag):
        raise ValidationError("tag: must not contain commas, semicolons, quotes, angle brackets or control characters")
    return tag


def _change_tags(
    ws: Workspace, principal: Principal, customer_id: int, *, add: list[str], remove: list[str], now: dt.datetime | None
) -> list[str]:
    check_customer(ws, principal, customer_id)
    at = _now(now)
    with ws.engine.begin() as conn:
        before, after = change_tags(conn, customer_id, add=add, remove=remove, now=at)
        if after != before:
            audit(
                conn,
                at=at,
                actor=principal.name,
                action="tag.change",
                customer_id=customer_id,
                target=f"customer:{customer_id}",
                detail={"add": add, "remove": remove, "tags": after},
            )
    return after


def _filter(
    ws: Workspace, principal: Principal, query: CustomerQuery, runs: dict[str, Any] | None = None
) -> store.CustomerFilter:
    picks: list[store.SegmentPick] = []
    runs = runs or _segment_runs(ws)
    wanted = []
    if query.segment:
        scheme, _, segment = query.segment.partition(":")
        wanted.append(("segment", scheme, segment))
    if query.stage:
        wanted.append(("stage", "lifecycle", query.stage))
    for field, scheme, segment in wanted:
        run = runs["schemes"].get(scheme)
        if run is None:  # no run yet, or an unknown scheme: nothing can be a member
            known = ", ".join(sorted(runs["schemes"])) or "none (run `kehu run` first)"
            raise ValidationError(f"{field}: no segment run of scheme {scheme!r}; schemes with runs: {known}")
        if segment not in run["keys"]:
            raise ValidationError(f"{field}: {segment[:60]!r} is not a segment of {scheme} ({', '.join(run['keys'])})")
        picks.append(store.SegmentPick(run["id"], segment, run["sizes"].get(segment, 0)))
    kind = query.risk_kind or "purchase"
    return store.CustomerFilter(
        owner_ids=owner_scope(ws, principal),
        q=query.q,
        owner_id=query.owner_id,
        region=query.region or None,
        tag=query.tag or None,
        segments=tuple(picks),
        risk_tier=query.risk or None,
        risk_tier_size=runs["tiers"][kind].get(query.risk or "", 0) if query.risk and kind != "winback" else None,
        risk_kind=kind,
    )


def _segment_runs(ws: Workspace) -> dict[str, Any]:
    """Each scheme's newest run (id, as_of, segment keys and labels, member counts) and the risk tiers' sizes,
    recomputed only when a segment run or a pipeline run was added or replaced."""
    from kehu.service.segmentation import segment_labels
    from kehu.store.segments import run_ids

    with ws.engine.connect() as conn:
        stamp = run_stamp(conn)
        key = ("segment-runs:" + store_key(ws), None)
        with cache_lock:
            hit = cache.get(key)
        if hit is not None and hit[1]["stamp"] == stamp:
            return hit[1]
        schemes = {}
        for scheme, run in sorted(run_ids(conn).items()):
            keys = [str(seg["key"]) for seg in run["definition"].get("segments", [])]
            sizes = store.segment_sizes(conn, int(run["id"]))
            keys += sorted(k for k in sizes if k not in keys)
            schemes[scheme] = {
                "id": int(run["id"]), "as_of": run["as_of"], "keys": keys, "sizes": sizes,
                "labels": {k: segment_labels(scheme, k, run["definition"]) for k in keys},
            }  # fmt: skip
        found = {
            "stamp": stamp,
            "schemes": schemes,
            "tiers": {kind: store.risk_tier_sizes(conn, kind) for kind in ("purchase", "renewal")},
        }
    with cache_lock:
        cache[key] = (time.monotonic(), found)
    return found


def _schemes(runs: dict[str, Any]) -> dict[str, Any]:
    """Every scheme's newest run: its day, the scheme's labels and its segments' labels (in the run's order)."""
    from kehu.segments.labels import scheme_label

    return {
        scheme: {"as_of": run["as_of"], "labels": {"zh": scheme_label(scheme, "zh"), "en": scheme_label(scheme, "en")},
                 "segments": {k: run["labels"][k] for k in run["keys"]}}
        for scheme, run in runs["schemes"].items()
    }  # fmt: skip


def _choices(ws: Workspace) -> tuple[list[str], list[str], list[dict[str, Any]], dict[str, int]]:
    """Regions, tags and owners for the filters, and the regions' sizes (for the list's plan), cached for a minute
    (they read indexes and a sample of rows)."""
    key = ("choices:" + store_key(ws), None)
    with cache_lock:
        hit = cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < DASHBOARD_TTL:
        return hit[1]["regions"], hit[1]["tags"], hit[1]["owners"], hit[1]["region_sizes"]
    with ws.engine.connect() as conn:
        sizes = store.region_sizes(conn)
        found: dict[str, Any] = {
            "regions": list(sizes),
            "region_sizes": sizes,
            "tags": store.tags_in_use(conn),
            "owners": store.owners(conn),
        }
    with cache_lock:
        cache[key] = (time.monotonic(), found)
    return found["regions"], found["tags"], found["owners"], found["region_sizes"]


def _segment_timeline(history: list[dict[str, Any]]) -> dict[str, Any]:
    """The customer's placements: the newest per scheme (``current``) and, per run day, every scheme's
    segment with a ``changed`` flag where it differs from the run before (``timeline``, newest first)."""
    from kehu.service.segmentation import segment_labels

    days: dict[dt.date, dict[str, dict[str, Any]]] = {}
    for row in history:
        labels = segment_labels(row["scheme"], row["segment"])
        days.setdefault(row["as_of"], {})[row["scheme"]] = {"segment": row["segment"], "labels": labels,
                                                            "values": row["values"] or {}}  # fmt: skip
    ordered = sorted(days, reverse=True)
    timeline = []
    for i, day in enumerate(ordered):
        before = days[ordered[i + 1]] if i + 1 < len(ordered) else {}
        placed = {
            scheme: {**item, "changed": bool(before) and before.get(scheme, {}).get("segment") != item["segment"]}
            for scheme, item in sorted(days[day].items())
        }
        timeline.append({"as_of": day, "schemes": placed})
    return {"current": timeline[0]["schemes"] if timeline else {}, "timeline": timeline}


class CustomerService(Service):
    """The customers the actor may see: list pages, export, the 360 view and the actions on a customer."""

    def find(self, ident: str) -> dict[str, Any]:
        """One customer by source id, ``SOURCE:ID`` or Kehu id, with counts, totals and published features.

        Raises
        ------
        NotFoundError
            No such customer.
        ValidationError
            ``ident`` names customers in several sources.
        AccessDeniedError
            The customer is outside the actor's scope.
        """
        ensure_current(self.ws.engine)
        with self.ws.engine.connect() as conn:
            ids = find_customers(conn, ident)
            if not ids:
                raise NotFoundError(
                    f"no customer {ident!r} (give an id from an imported file, SOURCE:ID, or Kehu's own id)"
                )
            if len(ids) > 1:
                raise ValidationError(
                    f"{ident!r} names {len(ids)} customers in different sources: write it as SOURCE:ID"
                )
            if self.principal.role != "admin":
                check_customer(self.ws, self.principal, ids[0])
            detail = customer_detail(conn, ids[0])
            assert detail is not None
            detail["features"] = published_features(conn, ids[0])
            return detail

    def merges(self, *, limit: int | None = 50) -> list[dict[str, Any]]:
        """Identity-resolution merges, newest first (admins)."""
        require_role(self.principal, "admin")
        ensure_current(self.ws.engine)
        with self.ws.engine.connect() as conn:
            return list_merges(conn, limit=limit)

    def link(self, a: str, b: str) -> int:
        """Link two source records (``SOURCE:ID`` each) into one customer; returns its Kehu id (admins)."""
        require_role(self.principal, "admin")
        ensure_current(self.ws.engine)
        with self.ws.engine.begin() as conn:
            return link_records(conn, record_ref(a), record_ref(b), now=dt.datetime.now(dt.UTC))

    def link_file(self, path: str | Path) -> int:
        """Link the record pairs of a CSV file (two columns of ``SOURCE:ID``), all or nothing (admins; see
        :func:`kehu.service.customer_links.link_file`)."""
        require_role(self.principal, "admin")
        ensure_current(self.ws.engine)
        return link_file(self.ws.engine, path)

    def page(self, query: CustomerQuery) -> dict[str, Any]:
        """One page of the customers list: the rows, the day their published figures are as of (``as_of``), a
        bounded count, the keyset keys where the pages after and before start (``next_key``, ``prev_key``), and
        what the filters choose from — the owners the actor may narrow to (none for reps), regions, tags, sort
        keys, risk kinds and every scheme's newest run with its segments (the page and the API shape it with
        :func:`kehu.views.customer_list.customers_page`)."""
        runs = _segment_runs(self.ws)
        region_choices, tag_choices, all_owners, region_sizes = _choices(self.ws)
        flt = _filter(self.ws, self.principal, query, runs)
        if flt.region:
            flt = replace(flt, region_size=region_sizes.get(flt.region))  # unknown: no hint
        with self.ws.engine.connect() as conn:
            page = store.list_customers(
                conn, flt, sort=query.sort, descending=query.descending, after=query.after, before=query.before,
                limit=query.limit,
            )  # fmt: skip
            count, more = store.count_customers(conn, flt)
            risk_days = dashboard_store.risk_days(conn)
            as_of = dashboard_store.published_as_of(conn)
        scope = flt.owner_ids
        owners = [o for o in all_owners if scope is None or o["id"] in scope]
        return {
            "customers": page.rows,
            "as_of": as_of,
            "risk_days": risk_days,
            "currency": self.ws.settings.currency,
            "count": count,
            "count_is_lower_bound": more,
            "next_key": page.next_key,
            "prev_key": page.prev_key,
            "owners": owners if self.principal.role != "rep" else [],
            "regions": region_choices,
            "tags": tag_choices,
            "sorts": list(store.SORT_KEYS),
            "risk_kinds": list(store.RISK_KINDS),
            "schemes": _schemes(runs),
        }

    def export(self, query: CustomerQuery) -> Iterator[dict[str, Any]]:
        """Every customer matching ``query`` within the principal's scope, page by page (for CSV export)."""
        flt = _filter(self.ws, self.principal, query)
        key: tuple[Any, int] | None = None
        while True:
            with self.ws.engine.connect() as conn:
                page = store.list_customers(conn, flt, sort="id", after=key, limit=1000)
            yield from page.rows
            if page.next_key is None:
                return
            key = page.next_key

    def view(self, customer_id: int) -> dict[str, Any]:
        """Everything about one customer the principal may see: profile, records, owner, tags, activity, merges and
        published features.

        Raises
        ------
        NotFoundError, AccessDeniedError
            See :func:`~kehu.service.access.check_customer`.
        """
        check_customer(self.ws, self.principal, customer_id)
        # straight to the data functions: Workspace.customer resolves source ids and re-checks the migration
        # revision on every call, which a page served many times a second cannot afford
        with self.ws.engine.connect() as conn:
            detail = customer_detail(conn, customer_id)
            if detail is None:
                raise NotFoundError(f"no customer with id {customer_id}")
            detail["features"] = published_features(conn, customer_id)
            for kind in ("orders", "interactions", "tickets", "feedback"):
                detail.setdefault(kind, {})["recent"] = customer_activity(conn, customer_id, kind)
            history = segment_history(conn, customer_id)
            detail["actions"] = customer_actions_summary(conn, customer_id)
        profile = detail["profile"]
        profile["tags"] = [t for t in (profile.get("tags") or []) if isinstance(t, str)]
        detail["scores"] = (detail["features"] or {}).get("scores") or {}
        detail["segments"] = _segment_timeline(history)
        detail["may"] = {"change_owner": self.principal.role in ("manager", "admin")}
        detail["assignable"] = _assignable_users(self.ws, self.principal)
        return detail

    def assignable_users(self) -> list[dict[str, Any]]:
        """The users the actor may assign tasks or customers to (id, name, display name), by name."""
        return _assignable_users(self.ws, self.principal)

    def add_note(self, customer_id: int, body: str, *, now: dt.datetime | None = None) -> int:
        """Add a note to the customer; returns the note id."""
        check_customer(self.ws, self.principal, customer_id)
        text = _text(body, "note", NOTE_MAX)
        at = _now(now)
        with self.ws.engine.begin() as conn:
            note_id = store_add_note(conn, customer_id=customer_id, author_id=self.principal.id, body=text or "", at=at)
            audit(
                conn,
                at=at,
                actor=self.principal.name,
                action="note.add",
                customer_id=customer_id,
                target=f"note:{note_id}",
                detail={"chars": len(text or "")},
            )
        return note_id

    def create_task(
        self,
        customer_id: int,
        *,
        title: str,
        body: str | None = None,
        due_date: dt.date | str | None = None,
        priority: str = "normal",
        assignee_id: int | None = None,
        now: dt.datetime | None = None,
    ) -> int:
        """Create a task for the customer (default assignee: the customer's owner when allowed, else the actor)."""
        check_customer(self.ws, self.principal, customer_id)
        title_text = _text(title, "title", TITLE_MAX)
        body_text = _text(body, "body", NOTE_MAX, required=False)
        if priority not in PRIORITIES:
            raise ValidationError(f"priority: {priority!r} is not one of {', '.join(PRIORITIES)}")
        if isinstance(due_date, str):
            try:
                due = dt.date.fromisoformat(due_date.strip()) if due_date.strip() else None
            except ValueError:
                raise ValidationError(f"due_date: {due_date!r} is not a date (YYYY-MM-DD)") from None
        else:
            due = due_date
        at = _now(now)
        if assignee_id is None:
            with self.ws.engine.connect() as conn:
                owner = conn.execute(sa.select(customers.c.owner_id).where(customers.c.id == customer_id)).scalar()
            allowed = {u["id"] for u in self.assignable_users()}
            assignee_id = owner if owner in allowed else self.principal.id
        else:
            _check_assignee(self.ws, self.principal, assignee_id, "assignee")
        with self.ws.engine.begin() as conn:
            task_id = insert_task(
                conn,
                customer_id=customer_id,
                assignee_id=assignee_id,
                title=title_text or "",
                body=body_text,
                priority=priority,
                due_date=due,
                now=at,
                created_by=self.principal.id,
            )
            audit(
                conn,
                at=at,
                actor=self.principal.name,
                action="task.create",
                customer_id=customer_id,
                target=f"task:{task_id}",
                detail={"assignee_id": assignee_id, "due_date": due.isoformat() if due else None, "title": title_text},
            )
        return int(task_id)

    def change_owner(self, customer_id: int, owner_id: int, *, now: dt.datetime | None = None) -> dict[str, Any]:
        """Give the customer to another owner (managers within their team, admins)."""
        if self.principal.role not in ("manager", "admin"):
            raise AccessDeniedError("only managers and admins change a customer's owner")
        check_customer(self.ws, self.principal, customer_id)
        _check_assignee(self.ws, self.principal, owner_id, "owner")
        at = _now(now)
        with self.ws.engine.begin() as conn:
            current = set_owner(conn, customer_id, owner_id, now=at)
            if current == owner_id:
                return {"from": current, "to": owner_id, "changed": False}
            audit(
                conn,
                at=at,
                actor=self.principal.name,
                action="owner.change",
                customer_id=customer_id,
                target=f"customer:{customer_id}",
                detail={"from": current, "to": owner_id},
            )
        return {"from": current, "to": owner_id, "changed": True}

    def add_tag(self, customer_id: int, tag: str, *, now: dt.datetime | None = None) -> list[str]:
        """Add one tag (no-op when present); returns the customer's tags."""
        return _change_tags(self.ws, self.principal, customer_id, add=[_tag(tag)], remove=[], now=now)

    def remove_tag(self, customer_id: int, tag: str, *, now: dt.datetime | None = None) -> list[str]:
        """Remove one tag (no-op when absent); returns the customer's tags."""
        return _change_tags(self.ws, self.principal, customer_id, add=[], remove=[(tag or "").strip()], now=now)

    # -- the customer list, its cursors and the 360 view ------------------------------------------------------------
