"""The segments pages of the web app and their JSON twins: schemes and sizes with trends, members, flows
between runs, exports and the custom segment editor.

Every view takes the signed-in :class:`~kehu.service.access.Principal`; sizes, members, flows and exports
count only the customers the principal may see (a rep: their own; a manager: their team's).
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

from kehu import user_yaml
from kehu.errors import NotFoundError, ValidationError
from kehu.publish.segments import compute_custom_segment
from kehu.service.access import Principal, owner_scope, require_role
from kehu.service.principal import Service, Workspace
from kehu.service.segmentation import define_segment, export_segment, segment_labels, split_ref
from kehu.store import segments as store
from kehu.store.db import ensure_current

__all__ = [
    "SegmentService",
    "preview_rule",
    "segment_flows",
]

#: runs shown in a scheme's trend
TREND_RUNS = 12
_MEMBER_PAGE = 50


def _scheme_order(names: list[str]) -> list[str]:
    from kehu.segments.config import BUILTIN_SCHEMES

    return [s for s in BUILTIN_SCHEMES if s in names] + sorted(s for s in names if s not in BUILTIN_SCHEMES)


def _scheme_label(scheme: str) -> dict[str, str]:
    from kehu.segments.labels import scheme_label

    return {"zh": scheme_label(scheme, "zh"), "en": scheme_label(scheme, "en")}


def _run_of(conn: Any, scheme: str, as_of: dt.date | None) -> dict[str, Any]:
    runs = store.run_ids(conn, as_of)
    if scheme not in runs:
        when = as_of.isoformat() if as_of else "any day"
        raise NotFoundError(f"no run of scheme {scheme!r} for {when}")
    return runs[scheme]


def segment_flows(
    ws: Workspace,
    principal: Principal,
    scheme: str,
    *,
    from_as_of: dt.date | None = None,
    to_as_of: dt.date | None = None,
) -> dict[str, Any]:
    """Moves between two runs of ``scheme`` (default: its two newest), customers in scope only; per segment
    ``size_to = size_from - out + in`` with new and gone customers."""
    from kehu.segments.history import transitions

    scope = owner_scope(ws, principal)
    with ws.engine.connect() as conn:
        runs = store.recent_runs(conn, scheme, limit=400)
        if not runs:
            raise NotFoundError(f"scheme {scheme!r} has no runs")
        days = [r["as_of"] for r in runs]
        to_day = to_as_of or days[0]
        from_day = from_as_of or next((d for d in days if d < to_day), None)
        if from_day is None:
            return {"scheme": scheme, "labels": _scheme_label(scheme), "runs": days, "from": None, "to": to_day,
                    "moves": [], "segments": []}  # fmt: skip
        if from_day >= to_day:
            raise ValidationError("from: pick a run day before the 'to' day")
        before, after = _run_of(conn, scheme, from_day), _run_of(conn, scheme, to_day)
        old = store.placements(conn, before["id"], scope)
        new = store.placements(conn, after["id"], scope)
    keys = [s["key"] for s in after["definition"]["segments"]]
    keys += [s["key"] for s in before["definition"]["segments"] if s["key"] not in keys]
    moved = transitions(old, new, keys)
    for move in moved["moves"]:
        for end, run in (("from", before), ("to", after)):
            key = move[f"{end}_segment"]
            move[f"{end}_labels"] = segment_labels(scheme, key, run["definition"]) if key else None
    for item in moved["segments"]:
        item["labels"] = segment_labels(scheme, item["segment"], after["definition"])
    return {"scheme": scheme, "labels": _scheme_label(scheme), "runs": days, "from": from_day, "to": to_day,
            **moved}  # fmt: skip


def _exports(ws: Workspace) -> Path:
    folder = ws.settings.home / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _rule_tree(text: str) -> Any:
    if not text.strip():
        raise ValidationError("rule: write a rule (see the example)")
    try:
        return user_yaml.load(text, where="rule")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise ValidationError(f"rule: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None


def preview_rule(ws: Workspace, principal: Principal, text: str, *, sample: int = 10) -> dict[str, Any]:
    """How many customers in scope a rule matches on the newest published day, and the first few of them; and for
    each model score the rule reads, how many customers in scope have it and how many do not (``missing_scores``:
    a condition on a missing score does not hold, and no other figure stands in for it).

    Raises
    ------
    ValidationError
        The rule is not valid (the message names the field and the problem).
    """
    from kehu.segments.fields import PROFILE_FIELDS
    from kehu.segments.profile import score_coverage, store_members
    from kehu.segments.rules import parse_rule, rule_fields
    from kehu.store.published import customer_score_history as h
    from kehu.store.schema import customers as c

    rule = parse_rule(_rule_tree(text), catalog=PROFILE_FIELDS, where="rule")
    scope = owner_scope(ws, principal)
    import sqlalchemy as sa

    with ws.engine.connect() as conn:
        day = conn.execute(sa.select(sa.func.max(h.c.as_of))).scalar()
        if day is None:
            raise NotFoundError("nothing was published yet: run `kehu run` first")
        ids = store_members(conn, rule, day)
        if scope is not None and ids:
            owned = {int(i) for i in conn.execute(sa.select(c.c.id).where(c.c.owner_id.in_(scope))).scalars()}
            ids = [i for i in ids if i in owned]
        names = dict(conn.execute(sa.select(c.c.id, c.c.name).where(c.c.id.in_(ids[:sample] or [-1]))).all())
        missing = score_coverage(conn, day, rule_fields(rule), owner_ids=scope)
    return {"as_of": day, "count": len(ids), "sample": [{"id": i, "name": names.get(i)} for i in ids[:sample]],
            "missing_scores": missing}  # fmt: skip


class SegmentService(Service):
    """Segments, their members, flows, exports and custom rules, within the actor's scope."""

    def all(self, *, as_of: dt.date | None = None) -> list[dict[str, Any]]:
        """Every segment of every scheme with labels, size and change since the previous run (admins)."""
        from kehu.service.segmentation import list_segments

        require_role(self.principal, "admin")
        ensure_current(self.ws.engine)
        return list_segments(self.ws.settings, as_of=as_of)

    def show(self, ref: str, *, as_of: dt.date | None = None, limit: int = 20) -> dict[str, Any]:
        """One segment (``SCHEME:SEGMENT``) with its rule, size and first members with reasons (admins)."""
        from kehu.service.segmentation import show_segment

        require_role(self.principal, "admin")
        ensure_current(self.ws.engine)
        return show_segment(self.ws.settings, ref, as_of=as_of, limit=limit)

    def transitions(self, from_as_of: dt.date, to_as_of: dt.date, *, scheme: str | None = None) -> list[dict[str, Any]]:
        """Moves between two runs per scheme: from -> to counts, in and out per segment (admins)."""
        from kehu.service.segmentation import segment_transitions

        require_role(self.principal, "admin")
        ensure_current(self.ws.engine)
        return segment_transitions(self.ws.settings, from_as_of, to_as_of, scheme=scheme)

    def export_file(self, ref: str, *, fmt: str, out: str | Path, as_of: dt.date | None = None) -> dict[str, Any]:
        """Write all of a segment's members (Chinese headers, owner and contact columns) to XLSX or CSV at ``out``
        (admins; the pages' :meth:`export` writes the members in scope to a temporary file)."""
        require_role(self.principal, "admin")
        ensure_current(self.ws.engine)
        return export_segment(self.ws.settings, ref, fmt=fmt, out=out, as_of=as_of)

    def overview(self) -> dict[str, Any]:
        """Every scheme's newest run: segment sizes (in scope), change since the previous run, share, and the
        sizes over the last :data:`TREND_RUNS` runs."""
        scope = owner_scope(self.ws, self.principal)
        with self.ws.engine.connect() as conn:
            newest = store.run_ids(conn)
            schemes = []
            for name in _scheme_order(list(newest)):
                run = newest[name]
                runs = store.recent_runs(conn, name, limit=TREND_RUNS)
                sizes = store.scoped_sizes(conn, [r["id"] for r in runs], scope)
                previous = runs[1] if len(runs) > 1 else None
                keys = [s["key"] for s in run["definition"]["segments"]]
                total = sum(sizes.get((run["id"], k), 0) for k in keys)
                segments = []
                for key in keys:
                    size = sizes.get((run["id"], key), 0)
                    before = sizes.get((previous["id"], key), 0) if previous else None
                    segments.append({
                        "segment": key, "ref": f"{name}:{key}", "labels": segment_labels(name, key, run["definition"]),
                        "size": size, "share": size / total if total else None, "previous_size": before,
                        "change": None if before is None else size - before,
                        "trend": [sizes.get((r["id"], key), 0) for r in reversed(runs)],
                    })  # fmt: skip
                schemes.append({
                    "scheme": name, "labels": _scheme_label(name), "custom": name.startswith("custom."),
                    "as_of": run["as_of"], "previous_as_of": previous["as_of"] if previous else None,
                    "runs": [r["as_of"] for r in reversed(runs)], "members": total, "segments": segments,
                })  # fmt: skip
        return {
            "scope": "all" if scope is None else ("team" if self.principal.role == "manager" else "own"),
            "schemes": schemes,
            "can_define": self.principal.role in ("admin", "manager"),
        }

    def page(self, ref: str, *, as_of: dt.date | None = None, after: int | None = None) -> dict[str, Any]:
        """One segment: labels, rule, precedence, size in scope and a page of members by customer id from ``after``
        (``more``: whether members follow; the page shapes it with :func:`kehu.views.segments.segment_page`)."""
        scheme, segment = split_ref(ref)
        scope = owner_scope(self.ws, self.principal)
        with self.ws.engine.connect() as conn:
            run = _run_of(conn, scheme, as_of)
            items = {s["key"]: s for s in run["definition"]["segments"]}
            if segment is None and len(items) == 1:
                segment = next(iter(items))
            if segment is None or segment not in items:
                raise NotFoundError(f"scheme {scheme!r} has no segment {segment!r}; its segments: {', '.join(items)}")
            rows = store.member_page(conn, run["id"], segment, run["as_of"], owner_ids=scope, after=after,
                                     limit=_MEMBER_PAGE)  # fmt: skip
            size = store.scoped_sizes(conn, [run["id"]], scope).get((run["id"], segment), 0)
            runs = store.recent_runs(conn, scheme, limit=TREND_RUNS)
        more = len(rows) > _MEMBER_PAGE
        rows = rows[:_MEMBER_PAGE]
        return {
            "scheme": scheme, "segment": segment, "ref": f"{scheme}:{segment}",
            "labels": segment_labels(scheme, segment, run["definition"]), "scheme_labels": _scheme_label(scheme),
            "as_of": run["as_of"], "runs": [r["as_of"] for r in runs], "version": run["version"],
            "rule": items[segment]["rule"], "precedence": list(items), "size": size, "members": rows,
            "more": more, "after": after,
        }  # fmt: skip

    def flows(
        self, scheme: str, *, from_as_of: dt.date | None = None, to_as_of: dt.date | None = None
    ) -> dict[str, Any]:
        """See :func:`segment_flows`."""
        return segment_flows(self.ws, self.principal, scheme, from_as_of=from_as_of, to_as_of=to_as_of)

    def export(self, ref: str, *, fmt: str, locale: str) -> Path:
        """An XLSX/CSV file of a segment's members in scope (written to a temporary folder in ``KEHU_HOME``)."""
        if fmt not in ("xlsx", "csv"):
            raise ValidationError(f"format {fmt!r}: use xlsx or csv")
        scope = owner_scope(self.ws, self.principal)
        folder = Path(tempfile.mkdtemp(prefix="export-", dir=_exports(self.ws)))
        scheme, segment = split_ref(ref)
        name = re.sub(r"[^\w.-]", "_", f"{scheme}-{segment or ''}")[:80]
        out = folder / f"{name}.{fmt}"
        export_segment(self.ws.settings, ref, fmt=fmt, out=out, locale=locale, owner_ids=scope)
        return out

    def preview_rule(self, text: str, *, sample: int = 10) -> dict[str, Any]:
        """See :func:`preview_rule`."""
        return preview_rule(self.ws, self.principal, text, sample=sample)

    def save(self, *, name: str, rule: str, label_zh: str, label_en: str) -> dict[str, Any]:
        """Save a user-defined segment (admins and managers) and place customers in it for the newest day now."""
        require_role(self.principal, "admin", "manager")
        for field, label in (("label_zh", label_zh), ("label_en", label_en)):
            if len(label) > 100:
                raise ValidationError(f"{field}: at most 100 characters")
        saved = define_segment(
            self.ws.settings, name, _rule_tree(rule), label_zh=label_zh or None, label_en=label_en or None
        )
        try:
            computed = compute_custom_segment(self.ws.settings, name)
        except NotFoundError:
            computed = None  # nothing published yet: the next `kehu run` places customers
        return {**saved, "computed": computed}
