"""Invalid playbooks are rejected with the file, the line and the field; the schema is published."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playbooks_testkit import write

from kehu.errors import ValidationError
from kehu.playbooks import DEFAULTS_DIR, PlaybookError, load_playbook, load_playbooks, schema

GOOD = """\
playbook: good
rules:
  - id: r1
    when: {entered: {segment: "rfm_cn:important_value"}}
    then:
      - task:
          title: "call {name}"
          due_in_days: 2
"""

#: (what is wrong, the text, the line, the field, words the message must contain)
CASES = [
    ("YAML syntax", "playbook: x\nrules:\n  - id: [r1\n", 4, "", "not valid YAML"),
    ("unknown top-level key", GOOD + "enabeld: true\n", 9, "enabeld", "did you mean 'enabled'"),
    ("missing then", GOOD.split("    then:")[0], 3, "rules[0]", '"then" is a required property'),
    ("unknown trigger", GOOD.replace("entered:", "entred:"), 4, "rules[0].when.entred", "did you mean 'entered'"),
    ("wrong type", GOOD.replace("due_in_days: 2", "due_in_days: two"), 8, "rules[0].then[0].task.due_in_days",
     'is not of type "integer"'),
    ("unknown segment", GOOD.replace("important_value", "vip"), 4, "rules[0].when.entered.segment",
     "rfm_cn has no segment 'vip'"),
    ("unknown scheme", GOOD.replace("rfm_cn:", "rfmcn:"), 4, "rules[0].when.entered.segment", "unknown scheme 'rfmcn'"),
    ("bad if field", GOOD.replace("    then:", "    if: {field: revenue, gt: 5}\n    then:"), 5, "rules[0].if",
     "unknown field 'revenue'"),
    ("bad if value", GOOD.replace("    then:", "    if: {field: orders, gt: many}\n    then:"), 5, "rules[0].if",
     "expected a number"),
    ("unknown placeholder", GOOD.replace("{name}", "{nmae}"), 7, "rules[0].then[0].task.title",
     "unknown placeholder {nmae}"),
    ("placeholder with code", GOOD.replace("{name}", "{name.__class__}"), 7, "rules[0].then[0].task.title",
     "is not a placeholder"),
    ("duplicate rule id", GOOD + GOOD.split("rules:\n")[1], 9, "rules[1].id", "already used by rules[0]"),
    ("bad priority enum", GOOD.replace("due_in_days: 2", "priority: asap"), 8, "rules[0].then[0].task.priority",
     '"asap" is not one of'),
    ("negative cooldown", GOOD.replace("    then:", "    cooldown_days: -3\n    then:"), 5, "rules[0].cooldown_days",
     "less than the minimum"),
    ("bad quiet hours", GOOD.replace("rules:", 'quiet_hours: "25:00-08:00"\nrules:'), 2, "quiet_hours",
     "not a time of day"),
    ("both thresholds", GOOD.replace('entered: {segment: "rfm_cn:important_value"}', "score_crossed: "
     "{score: churn_risk, above: 0.5, below: 0.2}"), 4, "rules[0].when.score_crossed", "exactly one of"),
    ("webhook without name", GOOD.replace('task:\n          title: "call {name}"\n          due_in_days: 2',
     "message: {channel: webhook, body: hi}"), 6, "rules[0].then[0].message", "names the webhook"),
    ("NPS out of range", GOOD.replace('entered: {segment: "rfm_cn:important_value"}',
     "feedback: {kind: csat, max_score: 9}"), 4, "rules[0].when.feedback.max_score", "csat scores run from 1 to 5"),
    ("two triggers", GOOD.replace('{entered: {segment: "rfm_cn:important_value"}}',
     '{entered: {segment: "rfm_cn:important_value"}, feedback: {kind: nps, max_score: 6}}'), 4, "rules[0].when",
     "give exactly one trigger; found: entered, feedback"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "text", "line", "field", "words"), CASES, ids=[c[0] for c in CASES])
def test_invalid_playbooks_name_file_line_and_field(
    tmp_path: Path, what: str, text: str, line: int, field: str, words: str
) -> None:
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(PlaybookError) as info:
        load_playbook(path)
    assert isinstance(info.value, ValidationError)
    problems = [p for p in info.value.problems if p.field == field and words in p.message]
    assert problems, f"{what}: {info.value}"
    assert problems[0].file == str(path) and problems[0].line == line, str(info.value)
    where = f"{path}:{line}: {field}: " if field else f"{path}:{line}: "
    assert where in str(info.value)


def test_all_problems_of_a_file_are_reported_together(tmp_path: Path) -> None:
    text = GOOD.replace("{name}", "{nmae}").replace("important_value", "vip")
    with pytest.raises(PlaybookError) as info:
        load_playbook(write(tmp_path, "bad.yaml", text))
    assert len(info.value.problems) == 2 and str(info.value).startswith("2 problems in playbooks:")


def test_names_are_unique_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", GOOD)
    write(tmp_path, "b.yaml", GOOD)
    with pytest.raises(PlaybookError, match=r"b\.yaml:1: playbook: name 'good' is also used by .*a\.yaml"):
        load_playbooks([tmp_path])


def test_a_valid_playbook_loads_with_defaults(tmp_path: Path) -> None:
    pb = load_playbook(write(tmp_path, "good.yaml", GOOD))
    rule = pb.rules[0]
    assert (pb.name, pb.enabled, pb.quiet_hours) == ("good", True, "default")
    assert (rule.when.get("within_days"), rule.when.get("initial"), rule.reentry, rule.cooldown_days) == (
        7,
        True,
        "every_time",
        0,
    )
    assert rule.then[0].priority == "normal" and rule.then[0].assignee.kind == "owner"


def test_the_default_playbooks_are_valid_and_bilingual() -> None:
    playbooks = load_playbooks([DEFAULTS_DIR])
    assert {pb.name for pb in playbooks} == {"rfm_cn_strategies", "lifecycle_strategies", "service_strategies"}
    for pb in playbooks:
        for rule in pb.rules:
            for action in rule.then:
                texts = [getattr(action, name, None) for name in ("title", "body", "subject")]
                for text in filter(None, texts):
                    assert {locale for locale, _ in text.by_locale} == {"zh-CN", "en"}, (pb.name, rule.id)


def test_the_schema_is_published_and_valid() -> None:
    import jsonschema_rs

    s = schema()
    jsonschema_rs.meta.validate(s)
    assert s["$schema"].endswith("2020-12/schema") and set(s["$defs"]["trigger"]["properties"]) == {
        "entered", "left", "score_crossed", "days_since_last_order", "days_since_first_order",
        "contract_ends_within", "feedback", "ticket_past_sla", "ticket_breached", "tier_changed",
    }  # fmt: skip
    assert json.loads(json.dumps(s)) == s
