"""Task and message texts: ``{name}`` placeholders filled with customer, trigger and profile values.

Only plain names are allowed (no attribute access or formatting code: the text is never handed to
``str.format`` or a template engine). ``{{`` and ``}}`` write literal braces; text that looks like a Jinja
expression or statement (``{{ x.y }}``, ``{{ name }}``, ``{% … %}``) is refused when the playbook is checked, so
a payload such as ``{{ ''.__class__.__mro__ }}`` never even reaches a message. A missing value renders as ``—``;
numbers with a fraction are shown with at most two decimals; dates as ISO text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

from kehu.segments.fields import PROFILE_FIELDS

__all__ = ["COUPON_VALUES", "CUSTOMER_VALUES", "placeholders", "refuse_engine_syntax", "render"]

#: values of the customer every text may use
CUSTOMER_VALUES = (
    "customer_id",
    "name",
    "company",
    "phone",
    "email",
    "city",
    "region",
    "industry",
    "owner",
    "assignee",
    "playbook",
    "rule",
    "today",
)
#: values a coupon action adds for the actions after it
COUPON_VALUES = ("coupon_code", "coupon_value", "coupon_expires")

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: ``{{ expression }}`` and ``{% statement %}`` of template engines (refused: only plain placeholders are filled)
_ENGINE_SYNTAX = re.compile(r"\{%.*?%\}|\{\{([^{}]*?[A-Za-z_.(\[|][^{}]*?)\}\}", re.S)


def refuse_engine_syntax(text: str) -> None:
    """Raise ValueError when ``text`` holds what a template engine would evaluate (``{{ x.y }}``, ``{% … %}``)."""
    m = _ENGINE_SYNTAX.search(text)
    if m:
        shown = m.group(0) if len(m.group(0)) <= 60 else m.group(0)[:57] + "..."
        raise ValueError(
            f"{shown} looks like a template expression: only plain placeholders such as {{name}} are filled and "
            "nothing is evaluated; write {{ and }} only for literal braces"
        )


def placeholders(text: str) -> list[str]:
    """The names a text refers to (raises ValueError for a malformed placeholder such as ``{a.b}``)."""
    refuse_engine_syntax(text)
    out: list[str] = []
    for m in _PLACEHOLDER.finditer(text):
        if m.group(1) is None:
            continue
        name = m.group(1).strip()
        if not _NAME.match(name):
            raise ValueError(f"{{{m.group(1)}}} is not a placeholder: write {{field}} with a field name")
        out.append(name)
    if re.search(r"(?<!\{)\{(?!\{)[^}]*$", text):
        raise ValueError("an opening { has no closing }")
    return out


def allowed_names(trigger_values: Iterable[str]) -> set[str]:
    """Every name a text of a rule with these trigger values may use."""
    return {*CUSTOMER_VALUES, *COUPON_VALUES, *trigger_values, *PROFILE_FIELDS}


def _show(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def render(text: str, values: Mapping[str, Any]) -> str:
    """``text`` with every ``{name}`` replaced by ``values[name]`` (``—`` when missing)."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "{{":
            return "{"
        if m.group(0) == "}}":
            return "}"
        return _show(values.get(m.group(1).strip()))

    return _PLACEHOLDER.sub(sub, text)
