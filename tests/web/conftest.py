"""Fixtures of the web tests (defined in web_testkit, shared with tests/api; the hostile corpus in corpus_testkit)."""

from __future__ import annotations

from corpus_testkit import corpus  # noqa: F401
from web_testkit import web, web_template  # noqa: F401
