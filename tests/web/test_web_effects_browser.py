"""In a real browser (zh-CN): a manager goes from the playbooks page to "what works" and reads per rule the verdict,
the acted-on and held-out customers and the uplift with its interval, at phone width (390 px) and desktop width
(1440 px), without the page growing wider than the screen. Screenshots go to ``<pytest tmp>/effects-shots``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser_testkit import ARGS, BROWSER_MARKS, CHROMIUM, served
from test_web_effects import _seed
from web_testkit import PASSWORD, WebEnv

pytestmark = BROWSER_MARKS


@pytest.mark.parametrize("width", [390, 1440])
def test_the_what_works_page_renders(web: WebEnv, width: int, tmp_path_factory: pytest.TempPathFactory) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    _seed(web)
    phone = width < 500
    errors: list[str] = []
    with sync_api.sync_playwright() as pw, served(web.app) as base:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        context = browser.new_context(base_url=base, locale="zh-CN", viewport={"width": width, "height": 900},
                                      is_mobile=phone, has_touch=phone,
                                      extra_http_headers={"Accept-Language": "zh-CN"})  # fmt: skip
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto("/login")
        page.fill("input[name=name]", web.accounts["manager"].name)
        page.fill("input[name=password]", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_url(re.compile(r"/dashboard$"))
        page.goto("/playbooks")
        page.click("#effects-link")
        page.wait_for_url(re.compile(r"/effects$"))
        assert page.locator("#effects-title").inner_text().startswith("策略效果")
        cards = page.locator("section.effect")
        assert cards.count() >= 3
        first = cards.first
        assert first.get_attribute("data-verdict") == "negative" and first.locator(".flagged").is_visible()
        assert "负面效果" in first.locator(".verdict").inner_text()
        assert first.locator("tr[data-metric=revenue_per_customer] td").count() == 3  # measure, acted on, held out
        assert "置信区间" in first.locator("tr[data-diff=revenue_per_customer]").inner_text()  # and the difference
        assert page.locator("#definitions dt").count() == 6
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing wider than the screen
        shots = Path(tmp_path_factory.getbasetemp()) / "effects-shots"
        shots.mkdir(exist_ok=True)
        shot = shots / f"effects-zh-{width}.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"\nscreenshot: {shot}")
        context.close()
        browser.close()
    assert errors == []
