"""Fixtures of the web tests (defined in web_testkit, shared with tests/api)."""

from __future__ import annotations

from web_testkit import web, web_template  # noqa: F401
