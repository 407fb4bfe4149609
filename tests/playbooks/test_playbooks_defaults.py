"""The default playbooks are safe to switch on: every RFM class and lifecycle stage has a sensible rule, every rule
is capped per day, and the first run of a scheme is nobody's entry."""

from __future__ import annotations

from kehu.playbooks import DEFAULTS_DIR, load_playbooks
from kehu.playbooks.model import CouponAction, MessageAction, OwnerAction, PlaybookRule, TagAction, TaskAction
from kehu.segments.labels import segment_keys


def _rules() -> list[tuple[str, PlaybookRule]]:
    return [(pb.name, r) for pb in load_playbooks([DEFAULTS_DIR]) for r in pb.rules]


def _entry_rules(scheme: str) -> dict[str, list[PlaybookRule]]:
    out: dict[str, list[PlaybookRule]] = {}
    for _, rule in _rules():
        ref = str(rule.when.get("segment")) if rule.when.kind == "entered" else ""
        if ref.startswith(f"{scheme}:"):
            out.setdefault(ref.partition(":")[2], []).append(rule)
    return out


def _kinds(rule: PlaybookRule) -> set[type]:
    return {type(a) for a in rule.then}


def test_every_rfm_class_has_a_rule_and_the_valuable_ones_get_a_person() -> None:
    classes = segment_keys("rfm_cn")
    assert len(classes) == 8
    rules = _entry_rules("rfm_cn")
    assert sorted(rules) == sorted(classes)
    for key, found in rules.items():
        for rule in found:
            kinds = _kinds(rule)
            if key.startswith("important_"):  # 重要…客户: the owner calls
                tasks = [a for a in rule.then if isinstance(a, TaskAction)]
                assert tasks and all(t.assignee.kind == "owner" for t in tasks), key
                assert all(t.fallback is not None or OwnerAction in kinds for t in tasks), key  # unowned: a rep
            else:  # 一般…客户: automated, nobody's time
                assert TaskAction not in kinds and kinds & {MessageAction, TagAction}, key


def test_every_lifecycle_stage_has_a_rule() -> None:
    stages = segment_keys("lifecycle")
    assert sorted(stages) == sorted(["prospect", "new", "growing", "mature", "at_risk", "dormant", "lost"])
    rules = _entry_rules("lifecycle")
    assert sorted(rules) == sorted(stages)
    for key, found in rules.items():
        for rule in found:
            assert _kinds(rule) & {TaskAction, MessageAction, TagAction, CouponAction}, key
    assert TaskAction in _kinds(rules["at_risk"][0]) and TaskAction in _kinds(rules["prospect"][0])


def test_every_default_rule_is_capped_and_a_first_run_is_no_entry() -> None:
    rules = _rules()
    assert len(rules) >= 8 + 7
    for playbook, rule in rules:
        assert rule.max_per_day is not None and 1 <= rule.max_per_day <= 500, (playbook, rule.id)
        if rule.when.kind in ("entered", "score_crossed"):  # `left` has no `initial`
            assert rule.when.get("initial") is False, (playbook, rule.id)
        tasks = [a for a in rule.then if isinstance(a, TaskAction)]
        if tasks:  # work for people is capped tighter than automated messages and tags
            assert rule.max_per_day <= 40, (playbook, rule.id)
