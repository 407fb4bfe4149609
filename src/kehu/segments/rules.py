"""The safe segment rule language: a YAML/JSON tree, validated on load, compiled to Ibis and to SQLAlchemy.

Grammar (one mapping per node)::

    rule      := {all: [rule, ...]} | {any: [rule, ...]} | {not: rule} | {always: true} | condition
    condition := {field: NAME, OP: VALUE}            exactly one operator per condition

    OP        value                                  field kinds
    eq ne     a value of the field's kind            any
    lt le gt ge                                      int, float, date
    in not_in a non-empty list of values             any
    between   [low, high] (inclusive, low <= high)   int, float, date
    is_null   true (is NULL) or false (is not NULL)  any
    within_days      N: the date is in (as_of - N days, as_of]        date
    older_than_days  N: the date is on or before as_of - N days       date

``=``, ``==``, ``!=``, ``<``, ``<=``, ``>`` and ``>=`` may be written for the comparison operators. A value
written as ``$name`` is a parameter, replaced on load from the ``params`` mapping (the lifecycle thresholds
use this). Dates are ISO text (``2025-01-31``). Example::

    all:
      - {field: region, in: [华东, 华南]}
      - {field: last_order_date, within_days: 30}
      - not: {field: total_revenue_cents, lt: 100000}

Loading checks every field against a :class:`~kehu.segments.fields.FieldCatalog` and every value against
the field's kind, and raises :class:`~kehu.errors.ValidationError` naming the place in the rule, the field
and the problem. Nothing is ever written into SQL text: the compilers build Ibis expressions and SQLAlchemy
clauses whose values are bound parameters. As in SQL, a comparison with a missing (NULL) value is not true,
and neither is its negation.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import yaml

from kehu import user_yaml
from kehu.errors import ValidationError
from kehu.segments.fields import PROFILE_FIELDS, FieldCatalog, FieldKind

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from sqlalchemy import ColumnElement

__all__ = [
    "OPERATORS",
    "All",
    "Always",
    "AnyOf",
    "Condition",
    "Not",
    "Rule",
    "compile_ibis",
    "compile_sqlalchemy",
    "evaluate",
    "load_rule",
    "parse_rule",
    "rule_fields",
    "rule_to_data",
]

#: canonical operator names; aliases map onto them
OPERATORS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "between", "is_null", "within_days",
             "older_than_days")  # fmt: skip
_ALIASES = {"=": "eq", "==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
_ORDERED = ("lt", "le", "gt", "ge", "between")
_DAYS = ("within_days", "older_than_days")
_MAX_TEXT = 200
_MAX_LIST = 1_000
_MAX_DEPTH = 20
_NODE_KEYS = ("all", "any", "not", "always", "field")


@dataclass(frozen=True)
class Condition:
    """``field OP value`` (value already checked against the field's kind)."""

    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class All:
    """True when every item is true."""

    items: tuple[Rule, ...]


@dataclass(frozen=True)
class AnyOf:
    """True when at least one item is true."""

    items: tuple[Rule, ...]


@dataclass(frozen=True)
class Not:
    """True when the item is false (not when it is NULL)."""

    item: Rule


@dataclass(frozen=True)
class Always:
    """Always true (the catch-all of a first-match-wins scheme)."""


Rule: TypeAlias = Condition | All | AnyOf | Not | Always


def load_rule(text: str, *, catalog: FieldCatalog = PROFILE_FIELDS, params: Mapping[str, Any] | None = None) -> Rule:
    """Parse a rule written as YAML or JSON text (see :func:`parse_rule`).

    Raises
    ------
    ValidationError
        When the text is not YAML/JSON, or the rule is invalid.
    """
    try:
        data = user_yaml.load(text, where="rule")
    except yaml.YAMLError as exc:
        raise ValidationError(f"rule: not valid YAML or JSON ({exc})") from exc
    return parse_rule(data, catalog=catalog, params=params)


def parse_rule(
    data: Any, *, catalog: FieldCatalog = PROFILE_FIELDS, params: Mapping[str, Any] | None = None, where: str = "rule"
) -> Rule:
    """Validate a rule tree (dicts and lists, as loaded from YAML/JSON) and build its :data:`Rule`.

    Parameters
    ----------
    data
        The rule tree.
    catalog
        The fields the rule may use, with their kinds.
    params
        Values for ``$name`` parameters.
    where
        Where the rule comes from, prefixed to error messages (e.g. ``"segment vip_east"``).

    Raises
    ------
    ValidationError
        Naming the place in the tree (``rule.all[1]``), the field and the problem.
    """
    return _Parser(catalog, params or {}).node(data, where, 0)


class _Parser:
    def __init__(self, catalog: FieldCatalog, params: Mapping[str, Any]) -> None:
        self.catalog = catalog
        self.params = params

    def node(self, data: Any, where: str, depth: int) -> Rule:
        if depth > _MAX_DEPTH:
            raise ValidationError(f"{where}: rules nest at most {_MAX_DEPTH} levels deep")
        if not isinstance(data, Mapping):
            raise ValidationError(f"{where}: expected a mapping with one of {', '.join(_NODE_KEYS)}, got {_show(data)}")
        keys = [k for k in data if k in ("all", "any", "not", "always")]
        if "field" in data:
            if keys:
                raise ValidationError(f"{where}: a condition (field) cannot also have {keys[0]!r}")
            return self.condition(data, where)
        if len(keys) != 1 or len(data) != 1:
            extra = [str(k) for k in data if k not in keys]
            problem = f"unknown key(s) {', '.join(map(repr, extra))}" if extra else "more than one key"
            if not data:
                problem = "empty mapping"
            raise ValidationError(f"{where}: {problem}; a node is one of {', '.join(_NODE_KEYS)}")
        key = keys[0]
        value = data[key]
        if key == "always":
            if value is not True:
                raise ValidationError(f"{where}.always: must be true")
            return Always()
        if key == "not":
            return Not(self.node(value, f"{where}.not", depth + 1))
        if not isinstance(value, list) or not value:
            raise ValidationError(f"{where}.{key}: expected a non-empty list of rules, got {_show(value)}")
        items = tuple(self.node(item, f"{where}.{key}[{i}]", depth + 1) for i, item in enumerate(value))
        return All(items) if key == "all" else AnyOf(items)

    def condition(self, data: Mapping[str, Any], where: str) -> Condition:
        field = data["field"]
        if not isinstance(field, str):
            raise ValidationError(f"{where}.field: expected a field name, got {_show(field)}")
        if field not in self.catalog:
            close = difflib.get_close_matches(field, list(self.catalog), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValidationError(f"{where}: unknown field {_show(field)}: not a {self.catalog.name} field{hint}")
        ops = [k for k in data if k != "field"]
        if len(ops) != 1:
            problem = "no operator" if not ops else f"several operators ({', '.join(map(repr, ops))})"
            raise ValidationError(f"{where}: field {field!r} has {problem}; give exactly one of {', '.join(OPERATORS)}")
        raw_op = ops[0]
        op = _ALIASES.get(raw_op, raw_op) if isinstance(raw_op, str) else raw_op
        if op not in OPERATORS:
            raise ValidationError(
                f"{where}: field {field!r}: unknown operator {_show(raw_op)}; use one of {', '.join(OPERATORS)}"
            )
        kind = self.catalog.kind(field)
        at = f"{where} (field {field!r}, {op})"
        value = self.param(data[raw_op], at)
        if op in _ORDERED and kind == "string":
            raise ValidationError(f"{at}: {op} needs a number or date field; {field!r} is text")
        if op in _DAYS:
            if kind != "date":
                raise ValidationError(f"{at}: {op} needs a date field; {field!r} is {kind}")
            days = _check_value(value, "int", at)
            if days < 0:
                raise ValidationError(f"{at}: the number of days must not be negative, got {days}")
            return Condition(field, op, days)
        if op == "is_null":
            if not isinstance(value, bool):
                raise ValidationError(f"{at}: expected true or false, got {_show(value)}")
            return Condition(field, op, value)
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not value:
                raise ValidationError(f"{at}: expected a non-empty list of values, got {_show(value)}")
            if len(value) > _MAX_LIST:
                raise ValidationError(f"{at}: at most {_MAX_LIST} values, got {len(value)}")
            items = tuple(_check_value(self.param(v, at), kind, f"{at}[{i}]") for i, v in enumerate(value))
            return Condition(field, op, items)
        if op == "between":
            if not isinstance(value, list) or len(value) != 2:
                raise ValidationError(f"{at}: expected [low, high], got {_show(value)}")
            low, high = (_check_value(self.param(v, at), kind, at) for v in value)
            if low > high:
                raise ValidationError(f"{at}: low {low!r} is above high {high!r}")
            return Condition(field, op, (low, high))
        return Condition(field, op, _check_value(value, kind, at))

    def param(self, value: Any, at: str) -> Any:
        if isinstance(value, str) and value.startswith("$"):
            name = value[1:]
            if name not in self.params:
                raise ValidationError(f"{at}: unknown parameter {value!r}")
            return self.params[name]
        return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_value(value: Any, kind: FieldKind, at: str) -> Any:
    """``value`` converted to the field's kind, or a ValidationError saying what was expected."""
    if value is None:
        raise ValidationError(f"{at}: a value is missing (use is_null to test for missing values)")
    if kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError(f"{at}: expected a number, got {type(value).__name__} {_show(value)}")
        if isinstance(value, float) and value != value:
            raise ValidationError(f"{at}: NaN is not a value")
        if kind == "int" and isinstance(value, float) and not value.is_integer():
            return value  # comparing an integer field with 2.5 is meaningful
        return int(value) if kind == "int" else float(value)
    if kind == "date":
        if isinstance(value, dt.datetime):
            raise ValidationError(f"{at}: expected a date (YYYY-MM-DD), got a date and time {_show(value)}")
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        raise ValidationError(f"{at}: expected a date (YYYY-MM-DD), got {_show(value)}")
    if not isinstance(value, str):
        raise ValidationError(f"{at}: expected text, got {type(value).__name__} {_show(value)}")
    if len(value) > _MAX_TEXT:
        raise ValidationError(f"{at}: text longer than {_MAX_TEXT} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValidationError(f"{at}: text contains control characters")
    return value


def rule_fields(rule: Rule) -> list[str]:
    """The fields a rule refers to, in order of first use."""
    out: list[str] = []

    def walk(node: Rule) -> None:
        if isinstance(node, Condition):
            if node.field not in out:
                out.append(node.field)
        elif isinstance(node, All | AnyOf):
            for item in node.items:
                walk(item)
        elif isinstance(node, Not):
            walk(node.item)

    walk(rule)
    return out


def rule_to_data(rule: Rule) -> Any:
    """The canonical tree of a rule (parameters resolved, dates as ISO text), JSON-ready."""
    if isinstance(rule, Always):
        return {"always": True}
    if isinstance(rule, Not):
        return {"not": rule_to_data(rule.item)}
    if isinstance(rule, All | AnyOf):
        return {"all" if isinstance(rule, All) else "any": [rule_to_data(i) for i in rule.items]}
    value = rule.value
    if isinstance(value, tuple):
        value = list(value)
    return json.loads(json.dumps({"field": rule.field, rule.op: value}, default=str))


def _days_before(as_of: dt.date | None, days: int, op: str) -> dt.date:
    if as_of is None:
        raise ValidationError(f"{op} needs the as_of day of the data")
    return as_of - dt.timedelta(days=days)


def compile_ibis(rule: Rule, table: ir.Table, *, as_of: dt.date | None = None) -> ir.BooleanValue:
    """The rule as an Ibis boolean expression over ``table`` (one column per field used).

    Parameters
    ----------
    rule
        A rule from :func:`parse_rule`.
    table
        An Ibis table with the rule's fields as columns.
    as_of
        The day ``within_days`` / ``older_than_days`` count back from.
    """
    import ibis

    def lit(value: Any) -> Any:
        if isinstance(value, dt.date):
            return ibis.date(value.year, value.month, value.day)
        return value

    def build(node: Rule) -> ir.BooleanValue:
        if isinstance(node, Always):
            return ibis.literal(True)
        if isinstance(node, Not):
            return ~build(node.item)
        if isinstance(node, All | AnyOf):
            parts = [build(i) for i in node.items]
            out = parts[0]
            for part in parts[1:]:
                out = (out & part) if isinstance(node, All) else (out | part)
            return out
        col = table[node.field]
        op, v = node.op, node.value
        if op == "is_null":
            return col.isnull() if v else col.notnull()
        if op == "in":
            return col.isin([lit(x) for x in v])
        if op == "not_in":
            return col.notin([lit(x) for x in v])
        if op == "between":
            return col.between(lit(v[0]), lit(v[1]))
        if op == "within_days":
            return (col > lit(_days_before(as_of, v, op))) & (col <= lit(as_of))
        if op == "older_than_days":
            return col <= lit(_days_before(as_of, v, op))
        return _compare(col, op, lit(v))

    return build(rule)


def compile_sqlalchemy(
    rule: Rule, columns: Mapping[str, ColumnElement[Any]], *, as_of: dt.date | None = None
) -> ColumnElement[bool]:
    """The rule as a SQLAlchemy boolean clause; every value is a bound parameter.

    Parameters
    ----------
    rule
        A rule from :func:`parse_rule`.
    columns
        Field name -> SQLAlchemy column expression.
    as_of
        The day ``within_days`` / ``older_than_days`` count back from.
    """
    import sqlalchemy as sa

    def build(node: Rule) -> ColumnElement[bool]:
        if isinstance(node, Always):
            return sa.true()
        if isinstance(node, Not):
            return sa.not_(build(node.item))
        if isinstance(node, All):
            return sa.and_(*(build(i) for i in node.items))
        if isinstance(node, AnyOf):
            return sa.or_(*(build(i) for i in node.items))
        col = columns[node.field]
        op, v = node.op, node.value
        if op == "is_null":
            return col.is_(None) if v else col.is_not(None)
        if op == "in":
            return col.in_(list(v))
        if op == "not_in":
            return sa.not_(col.in_(list(v)))
        if op == "between":
            return col.between(v[0], v[1])
        if op == "within_days":
            return sa.and_(col > _days_before(as_of, v, op), col <= as_of)
        if op == "older_than_days":
            return col <= _days_before(as_of, v, op)
        return _compare(col, op, v)

    return build(rule)


def _compare(col: Any, op: str, value: Any) -> Any:
    if op == "eq":
        return col == value
    if op == "ne":
        return col != value
    if op == "lt":
        return col < value
    if op == "le":
        return col <= value
    if op == "gt":
        return col > value
    return col >= value


def evaluate(rule: Rule, values: Mapping[str, Any], *, as_of: dt.date | None = None) -> bool | None:
    """Evaluate a rule on one record in Python with SQL's three-valued logic (``None``: unknown).

    Used to check that a scheme's rules cover every combination of scores, and as the reference the
    compiled forms are tested against.
    """
    if isinstance(rule, Always):
        return True
    if isinstance(rule, Not):
        inner = evaluate(rule.item, values, as_of=as_of)
        return None if inner is None else not inner
    if isinstance(rule, All | AnyOf):
        results = [evaluate(i, values, as_of=as_of) for i in rule.items]
        if isinstance(rule, All):
            return False if False in results else (None if None in results else True)
        return True if True in results else (None if None in results else False)
    x = values.get(rule.field)
    op, v = rule.op, rule.value
    if op == "is_null":
        return (x is None) == v
    if x is None:
        return None
    if op == "in":
        return x in v
    if op == "not_in":
        return x not in v
    if op == "between":
        return bool(v[0] <= x <= v[1])
    if op == "within_days":
        return bool(_days_before(as_of, v, op) < x <= as_of)
    if op == "older_than_days":
        return bool(x <= _days_before(as_of, v, op))
    return bool(_compare(x, op, v))
