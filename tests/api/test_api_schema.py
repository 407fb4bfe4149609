"""Property-based API tests generated from the OpenAPI schema (schemathesis): no input makes the server fail."""

from __future__ import annotations

import pytest
from web_testkit import WebEnv

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")


@pytest.mark.slow
def test_no_generated_request_causes_a_server_error(web: WebEnv) -> None:
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_asgi("/api/openapi.json", web.app)
    headers = web.token("admin")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=60, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def run(case: object) -> None:
            response = case.call(headers=headers)  # type: ignore[attr-defined]
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}")  # type: ignore[attr-defined]
            assert response.status_code < 500

        run()
    assert operations >= 8
    assert failures == []
