"""In a real browser at phone (390 px, touch) and desktop (1440 px) width, in zh-CN and en: the bell in the header
counts a rep's unread notifications, leads to the notification centre, and marking one read lowers it — without
the page growing wider than the screen. Screenshots go to ``<pytest tmp>/notify-shots`` (paths printed)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_testkit import ARGS, BROWSER_MARKS, CHROMIUM, served
from web_testkit import PASSWORD, WebEnv

from kehu.service.access import Principal

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    pw = sync_api.sync_playwright().start()
    browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
    yield browser
    browser.close()
    pw.stop()


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("notify-shots")


def _as(web: WebEnv, who: str) -> Principal:
    a = web.accounts[who]
    return Principal(a.id, a.name, a.name, a.role, a.team, None)


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize("width", [390, 1440])
def test_the_bell_leads_to_notifications(web: WebEnv, playwright: Any, shots: Path, width: int, locale: str) -> None:
    rep = web.ws.as_user(_as(web, "rep_a"))
    rep.notifications.mark_all_read()  # what the demo run brought
    manager = web.ws.as_user(_as(web, "manager")).customers
    for title in ("回访：续约报价", "寄送样品"):
        manager.create_task(web.owned["rep_a"], title=title, assignee_id=web.accounts["rep_a"].id)
    phone = width < 500
    with served(web.app) as base:
        context = playwright.new_context(base_url=base, locale=locale, viewport={"width": width, "height": 900},
                                         is_mobile=phone, has_touch=phone,
                                         extra_http_headers={"Accept-Language": locale})  # fmt: skip
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto("/login")
        page.fill("input[name=name]", web.accounts["rep_a"].name)
        page.fill("input[name=password]", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_url(re.compile(r"/dashboard$"))
        bell = page.locator("#bell")
        assert bell.is_visible() and page.locator("#bell-count").inner_text() == "2"
        label = bell.get_attribute("aria-label") or ""
        assert label == ("通知：2 条未读" if locale == "zh-CN" else "Notifications: 2 unread")
        box = bell.bounding_box()
        assert box is not None and box["x"] + box["width"] <= width and box["width"] <= 48
        page.screenshot(path=str(shots / f"header-{locale}-{width}.png"))
        bell.tap() if phone else bell.click()
        page.wait_for_url(re.compile(r"/notifications$"))
        items = page.locator("ul.notifications li.unread")
        assert items.count() == 2
        first = items.first.locator("a.text").inner_text()
        assert first.startswith("新任务：寄送样品" if locale == "zh-CN" else "New task: 寄送样品")
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing wider than the screen
        path = shots / f"notifications-{locale}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"\nscreenshot: {path}")
        items.first.locator("form.mark-read button").click()
        page.wait_for_url(re.compile(r"/notifications$"))
        assert page.locator("#bell-count").inner_text() == "1"
        assert page.locator("ul.notifications li.unread").count() == 1
        page.goto("/account")
        assert page.locator("#digest-form").is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(shots / f"account-{locale}-{width}.png"), full_page=True)
        context.close()
    assert not errors, errors
