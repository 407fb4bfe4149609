"""Hostile inputs shared by the limit tests (issue 23)."""

from __future__ import annotations


def alias_bomb(levels: int = 5, width: int = 12) -> str:
    """A segment rule with nested YAML anchors and aliases: ``width ** levels`` leaves (248,832 for the defaults)
    in a few hundred characters, the shape of the issue's 366-character rule."""
    lines = [f"l0: &l0 [{', '.join(['x'] * width)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return "all:\n" + "".join(f"  - {{field: orders, gt: 0, {line}}}\n" for line in lines)
