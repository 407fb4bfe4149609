"""Message templates fill plain placeholders only (issue 23): attribute access, calls, filters, format specs and
template-engine syntax are refused when a playbook or a campaign is checked, with a message that says what to write
instead; and rendering never evaluates anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from kehu.campaigns.spec import CampaignSpec
from kehu.campaigns.spec import render as campaign_render
from kehu.errors import ValidationError
from kehu.playbooks import PlaybookError, load_playbook
from kehu.playbooks.templates import placeholders
from kehu.playbooks.templates import render as playbook_render

PAYLOADS = [
    "{{ ''.__class__.__mro__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ config.items() }}",
    "{{ self._TemplateReference__context }}",
    "{{ name|attr('__class__') }}",
    "{{ lipsum.__globals__['os'] }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{% import os %}",
    "{{ name }}",  # Jinja's spelling of a placeholder: refused with the hint to write {name}
    "{0.__class__}",
    "{name.__class__}",
    "{name.__init__.__globals__}",
    "{name!r}",
    "{name:>10}",
    "{customer_id[0]}",
    "{__import__('os')}",
]

PLAYBOOK = """\
playbook: inject
rules:
  - id: r1
    when: {{entered: {{segment: "rfm_cn:important_value"}}}}
    then:
      - message: {{channel: email, to: customer, subject: "hi", body: {body}}}
"""


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_playbook_message_with_an_expression_is_refused_at_check_time(tmp_path: Path, payload: str) -> None:
    body = '"Dear {name}, ' + payload.replace("\\", "\\\\").replace('"', '\\"') + '"'
    path = tmp_path / "inject.yaml"
    path.write_text(PLAYBOOK.format(body=body), encoding="utf-8")
    with pytest.raises(PlaybookError) as err:
        load_playbook(path)
    (problem,) = err.value.problems
    assert problem.field.startswith("rules[0].then[0].message.body")
    assert "placeholder" in problem.message  # says what is allowed instead


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_campaign_template_or_subject_with_an_expression_is_refused(payload: str) -> None:
    for field in ("template", "subject"):
        values = {"template": "Dear {name}", field: f"Dear {{name}} {payload}"}
        spec = CampaignSpec(name="spring", target={"segment": "winback:targets"}, channel="email", **values)
        with pytest.raises(ValidationError, match=f"campaign {field}: .*placeholder"):
            spec.check()


def test_plain_placeholders_and_literal_braces_still_work() -> None:
    assert placeholders("Dear {name}, {{1}} {{ }} {{-}} {coupon_code}") == ["name", "coupon_code"]
    assert playbook_render("Dear {name} {{1}}", {"name": "王"}) == "Dear 王 {1}"
    CampaignSpec(name="ok", target={"segment": "winback:targets"}, channel="email",
                 template="{name}，优惠码 {coupon} {{1}}").check()  # fmt: skip


@pytest.mark.parametrize("payload", PAYLOADS)
def test_rendering_never_evaluates(payload: str) -> None:
    """Even a text that bypassed the check is only substituted: no object's internals reach the output."""
    for render in (playbook_render, campaign_render):
        out = render(payload, {"name": "x", "customer_id": 7})
        assert "<class" not in out and "<module" not in out and "function" not in out and "uid=" not in out
