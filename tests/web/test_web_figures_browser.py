"""In a real browser: a figure's one-line definition is hidden until asked for, and shows on a tap at phone width
(390 px, touch) and on hover at desktop width (1440 px), without the page growing wider than the screen."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from browser_testkit import ARGS, BROWSER_MARKS, CHROMIUM, served
from sqlalchemy import select
from web_testkit import PASSWORD, WebEnv

from kehu.store.published import customer_scores

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    pw = sync_api.sync_playwright().start()
    browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
    yield browser
    browser.close()
    pw.stop()


@pytest.mark.parametrize("width", [390, 1440])
def test_a_figure_definition_shows_on_tap_or_hover(web: WebEnv, playwright: Any, width: int) -> None:
    with web.ws.engine.connect() as conn:
        cid = next(c for c, s in conn.execute(select(customer_scores.c.customer_id, customer_scores.c.scores))
                   if s and s.get("p_alive") is not None)  # fmt: skip
    phone = width < 500
    with served(web.app) as base:
        context = playwright.new_context(base_url=base, locale="zh-CN", viewport={"width": width, "height": 900},
                                         is_mobile=phone, has_touch=phone,
                                         extra_http_headers={"Accept-Language": "zh-CN"})  # fmt: skip
        page = context.new_page()
        page.goto("/login")
        page.fill("input[name=name]", "admin")
        page.fill("input[name=password]", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_url(re.compile(r"/dashboard$"))
        page.goto(f"/customers/{cid}")
        term = page.locator("#figures button.figure-term").first
        definition = page.locator("#figures .figure-def").first
        assert term.inner_text().startswith("活跃概率")
        assert not definition.is_visible()
        if phone:
            term.tap()
        else:
            term.hover()
        assert definition.is_visible()
        assert "概率" in definition.inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing wider than the screen
        context.close()
