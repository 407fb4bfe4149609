"""The one loader of user YAML (issue 23): alias bombs, cycles, deep nesting and oversized texts are refused while
composing, before anything is expanded; ordinary rules, anchors and merge keys still load."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path

import pytest

from kehu import i18n, user_yaml
from kehu.ingest.mapping import load_mapping
from kehu.playbooks.loader import PlaybookError, parse_playbook
from kehu.segments.rules import load_rule
from kehu.user_yaml import YamlLimitError, YamlLimits
from limits_kit import alias_bomb


def _expanded(tree: object) -> int:
    if isinstance(tree, dict):
        return sum(_expanded(v) for v in tree.values())
    if isinstance(tree, list):
        return sum(_expanded(v) for v in tree)
    return 1


def test_the_bomb_really_expands_without_the_limits() -> None:
    # the reason for the limits: the same text with limits out of the way stands for a quarter of a million leaves
    text = alias_bomb(levels=4)
    roomy = YamlLimits(chars=10**6, aliases=10**6, depth=100, nodes=10**8)
    assert _expanded(user_yaml.load(text, limits=roomy)) > 12**4


def test_an_alias_bomb_is_refused_fast_and_small() -> None:
    text = alias_bomb()
    assert len(text) < 600
    i18n.catalog("en")  # the message catalog is read once per process; not what is measured here
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(YamlLimitError) as caught:
        user_yaml.load(text, where="rule")
    elapsed = time.perf_counter() - started
    _now, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 0.5
    assert peak < 2 * 1024 * 1024
    assert caught.value.which in ("nodes", "aliases")
    assert str(caught.value).startswith("rule: ")


def test_the_rule_parser_and_the_playbook_checker_refuse_the_bomb() -> None:
    started = time.perf_counter()
    with pytest.raises(YamlLimitError):
        load_rule(alias_bomb())
    playbook = "playbook: bomb\nrules:\n  - name: r\n    when:\n" + textwrap.indent(alias_bomb(levels=6), " " * 6)
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(playbook, "playbooks/bomb.yaml")
    assert time.perf_counter() - started < 1.0
    problem = caught.value.problems[0]
    assert problem.file == "playbooks/bomb.yaml" and problem.line > 0
    assert "aliases" in problem.message or "values" in problem.message
    assert caught.value.key is not None and caught.value.key.startswith("limits.yaml.")


def test_a_mapping_file_bomb_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "orders.mapping.yaml"
    width = ", ".join(["*a"] * 30)
    path.write_text(
        "kind: orders\na: &a [" + ", ".join(["x"] * 30) + "]\n"
        + "".join(f"b{i}: &b{i} [{width}]\n" for i in range(20)),
        encoding="utf-8",
    )  # fmt: skip
    with pytest.raises(YamlLimitError) as caught:
        load_mapping(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_a_cycle_deep_nesting_and_long_text_are_refused() -> None:
    with pytest.raises(YamlLimitError, match=r"\*a refers to the value that contains it") as cycle:
        user_yaml.load("&a [x, *a]")
    assert cycle.value.which == "cycle"
    with pytest.raises(YamlLimitError, match="nested more than 40 levels") as deep:
        user_yaml.load("[" * 10_000 + "]" * 10_000, limits=YamlLimits(chars=10**6, aliases=0, depth=40, nodes=10**6))
    assert deep.value.which == "depth"
    with pytest.raises(YamlLimitError, match="nested more than 40 levels"):  # depth an alias brings with it
        user_yaml.load("a: &a " + "[" * 30 + "1" + "]" * 30 + "\nb: " + "[" * 15 + "*a" + "]" * 15)
    with pytest.raises(YamlLimitError, match="20001 characters, more than the 20000 allowed") as long:
        user_yaml.load("#" * 20_001)
    assert long.value.which == "chars"
    with pytest.raises(YamlLimitError, match="more than 2 uses of YAML aliases"):
        user_yaml.load("a: &a 1\nb: [*a, *a, *a]", limits=YamlLimits(chars=100, aliases=2, depth=5, nodes=100))


def test_ordinary_yaml_anchors_and_merge_keys_still_load() -> None:
    assert user_yaml.load("{field: days_since_last_order, gt: 90}") == {"field": "days_since_last_order", "gt": 90}
    text = "base: &base {channel: sms, due: 3}\nfirst: {<<: *base, due: 5}\nsecond: *base\n"
    assert user_yaml.load(text, limits=user_yaml.FILE_LIMITS) == {
        "base": {"channel": "sms", "due": 3},
        "first": {"channel": "sms", "due": 5},
        "second": {"channel": "sms", "due": 3},
    }
    node = user_yaml.compose("a: [1, 2]\n")
    assert node is not None and node.value[0][1].start_mark.line == 0


def test_the_refusal_is_in_both_languages() -> None:
    with pytest.raises(YamlLimitError) as caught:
        user_yaml.load(alias_bomb(), where="rule")
    zh, en = i18n.error_text(caught.value, "zh-CN"), i18n.error_text(caught.value, "en")
    assert en == str(caught.value)
    assert zh.startswith("rule：") and "YAML" in zh and zh != en
    plain = ValueError("no key")
    assert i18n.error_text(plain, "zh-CN") == "no key"


def test_the_cli_refuses_a_bomb_naming_the_file(tmp_path: Path) -> None:
    home, bomb = tmp_path / "home", tmp_path / "bomb.yaml"
    bomb.write_text(
        "playbook: bomb\nrules:\n  - name: r\n    when:\n" + textwrap.indent(alias_bomb(levels=6), " " * 6),
        encoding="utf-8",
    )
    run = [sys.executable, "-m", "kehu.cli"]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("KEHU_")}, "KEHU_LOCALE": "en"}
    assert subprocess.run([*run, "init", "--home", str(home)], capture_output=True, env=env, timeout=99).returncode == 0
    started = time.perf_counter()
    done = subprocess.run(
        [*run, "playbooks", "validate", str(bomb), "--home", str(home)], capture_output=True, env=env, timeout=120
    )
    assert time.perf_counter() - started < 30  # the process start; the refusal itself takes milliseconds
    err = done.stderr.decode("utf-8")
    assert done.returncode == 2 and "Traceback" not in err
    assert err.startswith(f"error: {bomb}:") and "more than 100000 values once its YAML aliases are expanded" in err
    rule = tmp_path / "rule.yaml"
    rule.write_text(alias_bomb(), encoding="utf-8")
    zh = subprocess.run(
        [*run, "campaigns", "create", "c", "--template", "hi", "--rule", f"@{rule}", "--home", str(home)],
        capture_output=True, env={**env, "KEHU_LOCALE": "zh-CN"}, timeout=120,
    )  # fmt: skip
    assert zh.returncode == 2
    assert zh.stderr.decode("utf-8").startswith(f"error: {rule}：展开 YAML 别名后取值超过 5000 个")


#: the only other YAML parsers: files shipped inside the package, never written by a user
PACKAGE_FILES_ONLY = {"i18n.py": "the locale catalogs", "segments/config.py": "the built-in scheme definitions"}


def test_no_module_parses_yaml_but_through_the_one_loader() -> None:
    src = Path(__file__).resolve().parents[1] / "src" / "kehu"
    parsers = re.compile(r"\byaml\.(safe_load|load|full_load|unsafe_load|compose|safe_load_all|load_all)\(")
    found = {
        str(p.relative_to(src)): len(parsers.findall(p.read_text(encoding="utf-8")))
        for p in src.rglob("*.py")
        if p.name != "user_yaml.py" and parsers.search(p.read_text(encoding="utf-8"))
    }
    assert found == {"i18n.py": 1, "segments/config.py": 1}, "parse user YAML with kehu.user_yaml.load"
    assert set(found) == set(PACKAGE_FILES_ONLY)
