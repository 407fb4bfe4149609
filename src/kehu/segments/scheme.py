"""A segmentation scheme: named segments with rules, first match wins, compiled to one Ibis ``CASE``.

Every built-in scheme (the two RFM schemes, lifecycle, value tiers, cross segments) and every user-defined
segment is a :class:`Scheme`. The rule that placed a customer is the first that matched; the values that
decided it are those of the fields used by that rule and by the rules before it (which did not match).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kehu.errors import ValidationError
from kehu.segments.fields import FieldCatalog
from kehu.segments.rules import Rule, compile_ibis, evaluate, parse_rule, rule_fields, rule_to_data

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = ["Scheme", "SegmentRule", "parse_segments"]


@dataclass(frozen=True)
class SegmentRule:
    """One segment of a scheme: its key and the rule that places a customer in it."""

    key: str
    rule: Rule


@dataclass(frozen=True)
class Scheme:
    """An ordered list of segments; a customer belongs to the first whose rule matches.

    Attributes
    ----------
    name
        The scheme's name (``rfm_cn``, ``lifecycle``, ``custom.vip_east`` ...).
    kind
        ``rfm_cn``, ``rfm_en``, ``lifecycle``, ``value``, ``cross`` or ``custom``.
    segments
        The segments, in precedence order.
    inputs
        Fields stored with every membership besides those of the deciding rules (e.g. the RFM scores).
    config
        The scheme's whole configuration (thresholds, scoring), part of its versioned definition.
    exclusive
        True when every customer of the population is in exactly one segment (all built-in schemes); a
        custom segment has members and non-members.
    """

    name: str
    kind: str
    segments: tuple[SegmentRule, ...]
    inputs: tuple[str, ...] = ()
    config: Mapping[str, Any] = field(default_factory=dict)
    exclusive: bool = True

    @property
    def keys(self) -> list[str]:
        """Segment keys in precedence order."""
        return [s.key for s in self.segments]

    def definition(self) -> dict[str, Any]:
        """The versioned definition: config and each segment's canonical rule (parameters resolved)."""
        return {
            "kind": self.kind,
            "config": dict(self.config),
            "segments": [{"key": s.key, "rule": rule_to_data(s.rule)} for s in self.segments],
        }

    def deciding_fields(self, key: str) -> list[str]:
        """The fields whose values decided a placement in segment ``key`` (its rule and all rules before)."""
        out: list[str] = [f for f in self.inputs]
        for segment in self.segments:
            out.extend(f for f in rule_fields(segment.rule) if f not in out)
            if segment.key == key:
                return out
        raise KeyError(key)

    def all_fields(self) -> list[str]:
        """Every field the scheme reads or stores."""
        return self.deciding_fields(self.segments[-1].key)

    def segment_expr(self, table: ir.Table, *, as_of: dt.date | None = None) -> ir.StringValue:
        """The segment key of each row of ``table`` (NULL when no rule matches)."""
        import ibis

        branches = [(compile_ibis(s.rule, table, as_of=as_of), ibis.literal(s.key)) for s in self.segments]
        return ibis.cases(*branches, else_=ibis.null("string"))

    def classify(self, values: Mapping[str, Any], *, as_of: dt.date | None = None) -> str | None:
        """The segment of one record, evaluated in Python (the reference for the compiled form)."""
        for segment in self.segments:
            if evaluate(segment.rule, values, as_of=as_of):
                return segment.key
        return None

    def check_covers(self, fields: Mapping[str, Sequence[Any]]) -> None:
        """Raise unless every combination of the given field values lands in a segment.

        Raises
        ------
        ValidationError
            Listing (up to five of) the uncovered combinations.
        """
        names = list(fields)
        missing = []
        for combo in itertools.product(*(fields[n] for n in names)):
            values = dict(zip(names, combo, strict=True))
            if self.classify(values) is None:
                missing.append(values)
        if missing:
            shown = "; ".join(", ".join(f"{k}={v}" for k, v in m.items()) for m in missing[:5])
            raise ValidationError(
                f"scheme {self.name}: {len(missing)} combination(s) match no segment (e.g. {shown}); "
                "add a rule for them or end with a catch-all {always: true}"
            )


def parse_segments(
    items: Any,
    *,
    catalog: FieldCatalog,
    params: Mapping[str, Any],
    where: str,
    known_keys: Iterable[str] | None = None,
) -> tuple[SegmentRule, ...]:
    """Validate a list of ``{key, rule}`` mappings (as in the defaults YAML) into segments.

    Parameters
    ----------
    items
        The list from the configuration.
    catalog
        Fields the rules may use.
    params
        Threshold parameters (``$name`` in rules).
    where
        The configuration path, for error messages (e.g. ``"lifecycle.stages"``).
    known_keys
        When given, every key must be one of these (the keys the label catalog knows).

    Raises
    ------
    ValidationError
        For a missing or duplicate key, an unknown key, or an invalid rule.
    """
    if not isinstance(items, list) or not items:
        raise ValidationError(f"{where}: expected a non-empty list of {{key, rule}} entries")
    allowed = set(known_keys) if known_keys is not None else None
    seen: set[str] = set()
    out = []
    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        if not isinstance(item, Mapping) or set(item) != {"key", "rule"}:
            raise ValidationError(f"{at}: expected a mapping with exactly 'key' and 'rule'")
        key = item["key"]
        if not isinstance(key, str) or not key:
            raise ValidationError(f"{at}.key: expected a segment key (text), got {key!r}")
        if key in seen:
            raise ValidationError(f"{at}.key: segment {key!r} appears twice")
        if allowed is not None and key not in allowed:
            raise ValidationError(f"{at}.key: unknown segment {key!r}; known: {', '.join(sorted(allowed))}")
        seen.add(key)
        out.append(SegmentRule(key, parse_rule(item["rule"], catalog=catalog, params=params, where=f"{at}.rule")))
    return tuple(out)
