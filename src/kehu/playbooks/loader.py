"""Loading playbooks from YAML: the published JSON Schema, then the checks a schema cannot express.

Every problem is reported with the file, the line and the field it concerns, e.g.::

    playbooks/renewal.yaml:12: rules[0].then[0].task.due_in_days: "two" is not of type "integer"

All problems of a file are collected and raised together as one :class:`PlaybookError`. The schema ships as
``kehu/playbooks/playbook.schema.json`` (``kehu playbooks schema`` prints it) so editors can check files too.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from kehu import user_yaml
from kehu.errors import ValidationError
from kehu.playbooks.model import (
    DEFAULT_HOLDOUT,
    TRIGGER_VALUES,
    Action,
    CouponAction,
    MessageAction,
    OwnerAction,
    People,
    Playbook,
    PlaybookRule,
    TagAction,
    TaskAction,
    Text,
    Trigger,
)
from kehu.playbooks.templates import allowed_names, placeholders
from kehu.segments.config import BUILTIN_SCHEMES
from kehu.segments.fields import PROFILE_FIELDS
from kehu.segments.labels import segment_keys
from kehu.segments.rules import parse_rule

__all__ = ["SCHEMA_PATH", "PlaybookError", "Problem", "load_playbook", "load_playbooks", "parse_playbook", "schema"]

SCHEMA_PATH = Path(__file__).with_name("playbook.schema.json")
_FEEDBACK_RANGE = {"nps": (0, 10), "csat": (1, 5)}


@dataclass(frozen=True)
class Problem:
    """One problem: file, line (1-based; 0 when unknown), field path and what is wrong."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class PlaybookError(ValidationError):
    """One or more problems in playbook files; ``problems`` lists them (file, line, field, message)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        head = f"{len(problems)} problems in playbooks:\n" if len(problems) > 1 else ""
        super().__init__(head + "\n".join(str(p) for p in problems))


@cache
def schema() -> dict[str, Any]:
    """The playbook JSON Schema (draft 2020-12)."""
    data: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return data


@cache
def _validator() -> Any:
    import jsonschema_rs

    return jsonschema_rs.validator_for(schema())


# -- YAML with line numbers -------------------------------------------------------------------------------------
Path_ = tuple[str | int, ...]


def _marks(node: yaml.Node, path: Path_, out: dict[Path_, int]) -> None:
    """Path -> line of every node (a mapping value is placed on its key's line)."""
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else str(key.start_mark)
            out.setdefault((*path, name), key.start_mark.line + 1)
            _marks(value, (*path, name), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _marks(item, (*path, i), out)


def _field(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _Collector:
    def __init__(self, file: str, lines: Mapping[Path_, int]) -> None:
        self.file = file
        self.lines = lines
        self.problems: list[Problem] = []

    def line(self, path: Path_) -> int:
        for cut in range(len(path), -1, -1):
            if path[:cut] in self.lines:
                return self.lines[path[:cut]]
        return 0

    def add(self, path: Path_, message: str) -> None:
        self.problems.append(Problem(self.file, self.line(path), _field(path), message))


# -- loading ----------------------------------------------------------------------------------------------------
def load_playbook(path: str | Path) -> Playbook:
    """Load and validate one playbook file (raises :class:`PlaybookError`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlaybookError([Problem(str(path), 0, "", "no such file")]) from None
    except UnicodeDecodeError as exc:
        raise PlaybookError([Problem(str(path), 0, "", f"not UTF-8 text ({exc.reason})")]) from None
    return parse_playbook(text, str(path))


def load_playbooks(paths: Iterable[str | Path]) -> list[Playbook]:
    """Load several files (or every ``*.yaml``/``*.yml`` of folders); names must be unique across them.

    Raises :class:`PlaybookError` with the problems of every file.
    """
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        files += sorted([*p.glob("*.yaml"), *p.glob("*.yml")]) if p.is_dir() else [p]
    problems: list[Problem] = []
    out: list[Playbook] = []
    seen: dict[str, str] = {}
    for f in files:
        try:
            pb = load_playbook(f)
        except PlaybookError as exc:
            problems += exc.problems
            continue
        if pb.name in seen:
            line = pb.source.get("_line", 0)
            problems.append(Problem(str(f), line, "playbook", f"name {pb.name!r} is also used by {seen[pb.name]}"))
            continue
        seen[pb.name] = str(f)
        out.append(pb)
    if problems:
        raise PlaybookError(problems)
    return out


def parse_playbook(text: str, file: str = "<playbook>") -> Playbook:
    """Validate a playbook given as YAML text and build it (raises :class:`PlaybookError`)."""
    try:
        node = user_yaml.compose(text, limits=user_yaml.FILE_LIMITS, where=file)
        data = user_yaml.load(text, limits=user_yaml.FILE_LIMITS, where=file)
    except user_yaml.YamlLimitError as exc:
        refusal = PlaybookError([Problem(file, int(exc.params.get("line", 0)), "", str(exc).removeprefix(f"{file}: "))])
        refusal.key, refusal.params = exc.key, exc.params
        raise refusal from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        problem = getattr(exc, "problem", None) or str(exc)
        raise PlaybookError([Problem(file, line, "", f"not valid YAML: {problem}")]) from None
    lines: dict[Path_, int] = {}
    if node is not None:
        _marks(node, (), lines)
    c = _Collector(file, lines)
    if not isinstance(data, dict):
        c.add((), "a playbook is a mapping with `playbook:` (its name) and `rules:`")
        raise PlaybookError(c.problems)
    for err in _validator().iter_errors(data):
        path: Path_ = tuple(err.instance_path)
        message = err.message
        if type(err.kind).__name__ == "AdditionalProperties":
            names = re.findall(r"'([^']+)'", message)
            for name in names:
                c.add((*path, name), f"unknown key {name!r}{_hint(path, name)}")
            if names:
                continue
        kind = type(err.kind).__name__
        if kind in ("MaxProperties", "MinProperties") and path and (path[-1] == "when" or path[-2:-1] == ("then",)):
            node = _at(data, path)
            found = ", ".join(map(str, node)) if isinstance(node, dict) and node else "none"
            what = "trigger" if path[-1] == "when" else "action per list item (start each with '- ')"
            message = f"give exactly one {what}; found: {found}"
        elif path[-1:] == ("holdout",) and len(path) == 3:
            message = (f"{_at(data, path)!r} is not a holdout share: give a number from 0 (hold nobody out) to "
                       "below 1, e.g. 0.1 for 10% (1 would hold every customer out)")  # fmt: skip
        elif kind == "OneOf" and len(path) and path[-1] in ("title", "body", "subject"):
            message = "expected a text, or a mapping of texts by language (zh-CN, en)"
        c.add(path, message)
    if c.problems:
        raise PlaybookError(_unique(c.problems))
    pb = _Builder(c).playbook(data)
    if c.problems:
        raise PlaybookError(_unique(c.problems))
    assert pb is not None
    return pb


def _at(data: Any, path: Path_) -> Any:
    for part in path:
        data = data[part]
    return data


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


def _hint(path: Path_, name: str) -> str:
    import difflib

    defs = schema()["$defs"]
    named = [p for p in path if isinstance(p, str)]
    node: Mapping[str, Any] = schema()
    if named:
        last = {"rules": "rule", "then": "action", "when": "trigger"}.get(named[-1], named[-1])
        node = defs.get(last) or defs["trigger"]["properties"].get(last) or {}
    close = difflib.get_close_matches(name, list(node.get("properties", {})), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Builder:
    def __init__(self, c: _Collector) -> None:
        self.c = c

    def where(self, path: Path_) -> str:
        return f"{self.c.file}:{self.c.line(path)} ({_field(path)})"

    def text(self, value: Any) -> Text | None:
        if value is None:
            return None
        if isinstance(value, str):
            return Text((("zh-CN", value), ("en", value)))
        return Text(tuple((k, v) for k, v in value.items()))

    def people(self, data: Any) -> People:
        if data == "owner":
            return People("owner")
        if "user" in data:
            return People("user", user=data["user"])
        rr = data["round_robin"]
        return People("round_robin", team=rr.get("team"), role=rr.get("role"))

    def playbook(self, data: dict[str, Any]) -> Playbook | None:
        rules: list[PlaybookRule] = []
        ids: dict[str, int] = {}
        quiet = data.get("quiet_hours", "default")
        if isinstance(quiet, str) and quiet != "default":
            self.check_quiet(quiet, ("quiet_hours",))
        for i, r in enumerate(data["rules"]):
            if r["id"] in ids:
                self.c.add(("rules", i, "id"), f"rule id {r['id']!r} is already used by rules[{ids[r['id']]}]")
            ids.setdefault(r["id"], i)
            rule = self.rule(r, ("rules", i))
            if rule is not None:
                rules.append(rule)
        digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
        return Playbook(
            name=data["playbook"],
            title=self.text(data.get("title")),
            description=self.text(data.get("description")),
            enabled=bool(data.get("enabled", True)),
            quiet_hours=quiet,
            rules=tuple(rules),
            team=data.get("team"),
            path=self.c.file,
            digest=digest,
            source={**data, "_line": self.c.line(("playbook",))},
        )

    def check_quiet(self, text: str, path: Path_) -> None:
        start, _, end = text.partition("-")
        for part in (start, end):
            hh, mm = int(part[:2]), int(part[3:])
            if hh > 23 or mm > 59:
                self.c.add(path, f"{part!r} is not a time of day (00:00 to 23:59)")
                return
        if start == end:
            self.c.add(path, "quiet hours start and end at the same time")

    def rule(self, r: dict[str, Any], path: Path_) -> PlaybookRule | None:
        before = len(self.c.problems)
        kind, options = next(iter(r["when"].items()))
        trigger = self.trigger(kind, dict(options), (*path, "when", kind))
        condition = None
        if "if" in r:
            try:
                condition = parse_rule(r["if"], catalog=PROFILE_FIELDS, where="if")
            except ValidationError as exc:
                self.c.add((*path, "if"), str(exc))
        names = allowed_names(TRIGGER_VALUES[kind])
        actions = [self.action(a, (*path, "then", j), names) for j, a in enumerate(r["then"])]
        if len(self.c.problems) > before:
            return None
        return PlaybookRule(
            id=r["id"],
            title=self.text(r.get("title")),
            when=trigger,
            condition=condition,
            condition_data=r.get("if"),
            then=tuple(a for a in actions if a is not None),
            priority=int(r.get("priority", 0)),
            reentry=r.get("reentry", "every_time"),
            cooldown_days=int(r.get("cooldown_days", 0)),
            max_per_day=r.get("max_per_day"),
            holdout=float(r.get("holdout", DEFAULT_HOLDOUT)),
            where=self.where(path),
        )

    def trigger(self, kind: str, o: dict[str, Any], path: Path_) -> Trigger:
        if kind in ("entered", "left"):
            scheme, _, segment = o["segment"].partition(":")
            if scheme not in BUILTIN_SCHEMES and not scheme.startswith("custom."):
                self.c.add(
                    (*path, "segment"),
                    f"unknown scheme {scheme!r}: use one of {', '.join(BUILTIN_SCHEMES)} or custom.NAME",
                )
            elif scheme in BUILTIN_SCHEMES and segment not in segment_keys(scheme):
                self.c.add(
                    (*path, "segment"),
                    f"{scheme} has no segment {segment!r}: use one of {', '.join(segment_keys(scheme))}",
                )
            o.setdefault("within_days", 7)
            o.setdefault("initial", True)
        elif kind == "score_crossed":
            if ("above" in o) == ("below" in o):
                self.c.add(path, "give exactly one of `above` or `below` (the threshold)")
            o.setdefault("within_days", 7)
            o.setdefault("initial", True)
        elif kind in ("days_since_last_order", "days_since_first_order"):
            o.setdefault("catch_up_days", 7)
        elif kind == "feedback":
            low, high = _FEEDBACK_RANGE[o["kind"]]
            if "max_score" not in o and "min_score" not in o:
                self.c.add(path, "give max_score and/or min_score (e.g. max_score: 6 for NPS detractors)")
            for key in ("max_score", "min_score"):
                if key in o and not low <= o[key] <= high:
                    self.c.add((*path, key), f"{o['kind']} scores run from {low} to {high}, got {o[key]}")
            o.setdefault("within_days", 14)
        elif kind == "ticket_past_sla":
            o.setdefault("complaints_only", False)
        elif kind in ("ticket_breached", "tier_changed"):
            o.setdefault("within_days", 7)
        return Trigger(kind, tuple(sorted(o.items())))

    def texts(self, value: Any, path: Path_, names: set[str]) -> Text | None:
        t = self.text(value)
        if t is None:
            return None
        for locale, item in t.by_locale:
            sub = (*path, locale) if isinstance(value, dict) else path
            try:
                used = placeholders(item)
            except ValueError as exc:
                self.c.add(sub, str(exc))
                continue
            for name in used:
                if name not in names:
                    import difflib

                    close = difflib.get_close_matches(name, sorted(names), n=1)
                    hint = f" (did you mean {{{close[0]}}}?)" if close else ""
                    self.c.add(sub, f"unknown placeholder {{{name}}}: not a value of this rule's customer{hint}")
        return t

    def action(self, a: dict[str, Any], path: Path_, names: set[str]) -> Action | None:
        kind, o = next(iter(a.items()))
        p = (*path, kind)
        where = self.where(p)
        if kind == "task":
            if "fallback" in o and o.get("assignee", "owner") != "owner":
                self.c.add((*p, "fallback"), "`fallback` is only for `assignee: owner` (customers without an owner)")
            title = self.texts(o["title"], (*p, "title"), names)
            body = self.texts(o.get("body"), (*p, "body"), names)
            assert title is not None
            return TaskAction(
                title=title,
                body=body,
                assignee=self.people(o.get("assignee", "owner")),
                due_in_days=int(o.get("due_in_days", 3)),
                priority=o.get("priority", "normal"),
                fallback=self.people(o["fallback"]) if "fallback" in o else None,
                where=where,
            )
        if kind == "message":
            channel = o["channel"]
            if channel == "webhook":
                if "webhook" not in o:
                    self.c.add(p, "a webhook message names the webhook (`webhook: NAME`, set in KEHU_WEBHOOKS)")
                if "to" in o:
                    self.c.add((*p, "to"), "a webhook message goes to the webhook's group: remove `to`")
            else:
                for key in ("webhook", "format"):
                    if key in o:
                        self.c.add((*p, key), f"`{key}` is only for webhook messages, not {channel}")
            if channel == "email" and "subject" not in o:
                self.c.add(p, "an email needs a `subject`")
            subject = self.texts(o.get("subject"), (*p, "subject"), names)
            body = self.texts(o["body"], (*p, "body"), names)
            assert body is not None
            return MessageAction(
                channel=channel,
                to=o.get("to", "customer"),
                webhook=o.get("webhook"),
                format=o.get("format", "json"),
                subject=subject,
                body=body,
                where=where,
            )
        if kind == "tag":
            add, remove = tuple(o.get("add", ())), tuple(o.get("remove", ()))
            both = set(add) & set(remove)
            if both:
                self.c.add(p, f"tag(s) {', '.join(sorted(both))} both added and removed")
            return TagAction(add=add, remove=remove, where=where)
        if kind == "coupon":
            if ("amount" in o) == ("percent" in o):
                self.c.add(p, "give exactly one of `amount` or `percent`")
            if "currency" in o and "amount" not in o:
                self.c.add((*p, "currency"), "`currency` goes with `amount`")
            return CouponAction(
                amount=o.get("amount"),
                percent=o.get("percent"),
                currency=o.get("currency"),
                min_order=o.get("min_order"),
                expires_in_days=int(o["expires_in_days"]),
                prefix=o.get("prefix", "KH"),
                where=where,
            )
        return OwnerAction(
            assign=self.people(o["assign"]), only_if_unowned=bool(o.get("only_if_unowned", False)), where=where
        )
