"""The one loader for YAML (and JSON) that people submit: segment rules, playbooks, campaign targets, mapping
files and the workspace's config files.

YAML anchors and aliases let a few hundred characters stand for millions of values (the "billion laughs"): PyYAML
composes an alias as a reference to the anchored node, so the expansion only happens later, when the rule checker
or the evaluator walks the tree. This loader counts while it composes, before anything is expanded:

- ``chars``: the length of the text, checked before parsing;
- ``aliases``: how many times an alias (``*name``) is used;
- ``depth``: how deeply collections nest, counting the nesting an alias brings with it;
- ``nodes``: the number of values as if every alias were written out.

An alias to the collection that contains it (``&a [*a]``, a cycle) is refused. Exceeding any limit raises
:class:`YamlLimitError` with a message in the catalog (``limits.yaml.…``); a syntax error stays ``yaml.YAMLError``
for the caller to report in its own words. It sits just above the catalog (:mod:`kehu.i18n`), so every layer that
reads user YAML (ingest, segments, playbooks, service, the fronts) can use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from kehu import i18n
from kehu.errors import ValidationError

__all__ = ["FILE_LIMITS", "RULE_LIMITS", "YamlLimitError", "YamlLimits", "compose", "load"]


@dataclass(frozen=True)
class YamlLimits:
    """How large one submitted YAML document may be (see the module docstring)."""

    chars: int
    aliases: int
    depth: int
    nodes: int


#: a segment rule or a campaign target: the web's rule box, ``--rule`` on the command line, ``segments.yaml``
RULE_LIMITS = YamlLimits(chars=20_000, aliases=50, depth=40, nodes=5_000)
#: a playbook file, a mapping file, ``segments.yaml`` and ``loop.yaml``
FILE_LIMITS = YamlLimits(chars=1_000_000, aliases=500, depth=60, nodes=100_000)


class YamlLimitError(ValidationError):
    """A submitted YAML document exceeds one of the :class:`YamlLimits` (or has a cyclic alias).

    ``key`` and ``params`` name its message in the catalog (``limits.yaml.<limit>``) so front ends can show it in
    the reader's language; ``str(error)`` is the English text.
    """

    def __init__(self, which: str, where: str, **params: Any) -> None:
        self.which = which
        self.key = f"limits.yaml.{which}"
        self.params = {"where": where, **params}
        super().__init__(i18n.text(self.key, "en").format(**self.params))


class _CountingLoader(yaml.SafeLoader):
    """PyYAML's safe loader with a composer that counts nodes, depth and alias uses as it builds the tree."""

    def __init__(self, text: str, limits: YamlLimits, where: str) -> None:
        super().__init__(text)
        self._limits = limits
        self._where = where
        self._aliases = 0
        self._nodes = 0
        self._depth = 0
        self._deepest = 0
        #: per anchor name: (expanded nodes, height) of the anchored node; absent while it is being composed
        self._sizes: dict[str, tuple[int, int]] = {}

    def _refuse(self, which: str, event: yaml.Event, **params: Any) -> YamlLimitError:
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        return YamlLimitError(which, self._where, line=line, **params)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        limits = self._limits
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > limits.aliases:
                raise self._refuse("aliases", event, limit=limits.aliases)
            anchor = str(event.anchor)
            if anchor in self.anchors and anchor not in self._sizes:
                raise self._refuse("cycle", event, anchor=anchor)
            nodes, height = self._sizes.get(anchor, (0, 0))
            self._nodes += nodes
            if self._nodes > limits.nodes:
                raise self._refuse("nodes", event, limit=limits.nodes)
            if self._depth + 1 + height > limits.depth:
                raise self._refuse("depth", event, limit=limits.depth)
            self._deepest = max(self._deepest, self._depth + 1 + height)
            return super().compose_node(parent, index)  # the anchored node itself, no copy
        self._nodes += 1
        if self._nodes > limits.nodes:
            raise self._refuse("nodes", event, limit=limits.nodes)
        self._depth += 1
        if self._depth > limits.depth:
            raise self._refuse("depth", event, limit=limits.depth)
        start, outer_deepest = self._nodes - 1, self._deepest
        self._deepest = self._depth
        node = super().compose_node(parent, index)
        own_anchor = getattr(event, "anchor", None)
        if own_anchor is not None:
            self._sizes[str(own_anchor)] = (self._nodes - start, self._deepest - self._depth)
        self._deepest = max(outer_deepest, self._deepest)
        self._depth -= 1
        return node


def _loader(text: str, limits: YamlLimits, where: str) -> _CountingLoader:
    if len(text) > limits.chars:
        raise YamlLimitError("chars", where, found=len(text), limit=limits.chars)
    return _CountingLoader(text, limits, where)


def load(text: str, *, limits: YamlLimits = RULE_LIMITS, where: str = "rule") -> Any:
    """Parse one YAML/JSON document within ``limits`` (``where`` begins any error message, e.g. a file name).

    Raises
    ------
    YamlLimitError
        The text exceeds a limit, or an alias refers to the value containing it.
    yaml.YAMLError
        The text is not valid YAML.
    """
    loader = _loader(text, limits, where)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def compose(text: str, *, limits: YamlLimits = FILE_LIMITS, where: str = "playbook") -> yaml.Node | None:
    """The node tree of one YAML document (with its line marks) within ``limits``; raises like :func:`load`."""
    loader = _loader(text, limits, where)
    try:
        node: yaml.Node | None = loader.get_single_node()
        return node
    finally:
        loader.dispose()
