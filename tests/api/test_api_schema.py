"""Property-based API tests generated from the OpenAPI schema (schemathesis), as the admin and as a rep (token
auth): no generated request causes a server error, and every answer conforms to the schema (its status is
documented, its content type and body match) — issue 23, acceptance 4.

Bounded: a few examples per operation and principal, and a time budget for the whole run; the figures
(operations, requests, failures, seconds) are printed (``pytest -s``) and quoted in docs/web.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from web_testkit import WebEnv

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")

#: examples per operation and principal (of requests that fit the schema, and of ones that do not), and the time
#: budget of the whole run (seconds)
EXAMPLES = {"positive": 10, "negative": 4}
BUDGET = 75.0
#: operations that start background work (a refresh of every figure): called, but only with their own examples
SLOW_OPERATIONS = {"POST /api/refresh"}


def _checks() -> list[Callable[..., Any]]:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    return [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.mark.slow
def test_no_generated_request_fails_or_breaks_the_schema(web: WebEnv) -> None:
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", web.app)
    checks = _checks()
    principals = {"admin": web.token("admin"), "rep": web.token("rep_a")}
    failures: list[str] = []
    figures = {"operations": 0, "requests": 0, "failures": 0}
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        figures["operations"] += 1
        label = f"{operation.method.upper()} {operation.path}"
        for who, headers in principals.items():
            if time.monotonic() - started > BUDGET:
                break
            for mode, examples in EXAMPLES.items():
                _fuzz(operation, mode, who, headers, 2 if label in SLOW_OPERATIONS else examples, checks, figures,
                      failures)  # fmt: skip
    seconds = time.monotonic() - started
    print(f"\nschemathesis: {figures['operations']} operations, {figures['requests']} requests, "
          f"{figures['failures']} failures, {seconds:.1f} s")  # fmt: skip
    _wait_for_refresh(web)
    assert figures["operations"] >= 30
    assert seconds < BUDGET + 30, "the run must stay bounded"
    distinct = sorted({f.split(": {", 1)[0] if ": {" in f else f for f in failures})
    assert failures == [], f"{len(failures)} failures; distinct: " + "\n".join(distinct[:60])


def _fuzz(operation: Any, mode: str, who: str, headers: dict[str, str], examples: int,
          checks: list[Callable[..., Any]], figures: dict[str, int], failures: list[str]) -> None:  # fmt: skip
    """Run ``examples`` generated requests (``mode``: positive or negative) of one operation as one principal,
    recording what failed."""
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import GenerationMode
    from schemathesis.core.failures import Failure, FailureGroup

    @given(case=operation.as_strategy(generation_mode=GenerationMode(mode)))
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
    def run(case: Any) -> None:
        figures["requests"] += 1
        response = case.call(headers=headers)
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except (Failure, FailureGroup) as exc:
            figures["failures"] += 1
            found = exc.exceptions if isinstance(exc, FailureGroup) else [exc]
            for failure in found:
                title = getattr(failure, "title", type(failure).__name__)
                failures.append(f"{who} ({mode}): {case.method} {case.path} -> {response.status_code}: "
                                f"{title}: {response.text[:160]}")  # fmt: skip

    run()


def _wait_for_refresh(web: WebEnv, timeout: float = 120) -> None:
    """A refresh started by a generated request ends before the store closes."""
    import sqlalchemy as sa

    from kehu.store.refresh import refresh_runs

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with web.ws.engine.connect() as conn:
            if not conn.execute(sa.select(sa.func.count()).where(refresh_runs.c.status == "running")).scalar_one():
                return
        time.sleep(0.2)
