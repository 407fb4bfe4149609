"""Refresh now in a real browser (Debian's chromium driven by Playwright): an admin presses 立即更新 on the
dashboard of a small demo, follows the steps as the page's script updates them, sees the finished state, and
the dashboard's as-of day moves to the day of the newest order.

Screenshots of the progress page, the dashboard and the settings page at 390 and 1440 px in zh-CN and en are
written to ``<pytest tmp>/refresh-screenshots`` and their paths printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_testkit import BROWSER_MARKS, chromium, new_page, served
from refresh_testkit import add_later_order
from web_testkit import PASSWORD, WebEnv

from kehu.web.i18n import translator_for

pytestmark = BROWSER_MARKS
WIDTHS = (390, 1440)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("refresh-screenshots")


def _login(page: Any, name: str) -> None:
    page.goto("/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(re.compile(r"/dashboard$"))


def _shoot(page: Any, shots: Path, name: str) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        path = shots / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        # nothing is wider than the screen: the page does not scroll sideways on a phone
        assert page.evaluate("document.documentElement.scrollWidth") <= width + 1, (name, width)
        print(path)
    page.set_viewport_size({"width": 1440, "height": 900})


def test_admin_refreshes_now_and_the_as_of_day_moves(web: WebEnv, browser: Any, shots: Path, tmp_path: Path) -> None:
    day = add_later_order(web.ws, tmp_path)
    zh = translator_for("zh-CN", web.settings.timezone)
    with served(web.app) as base:
        page = new_page(browser, base)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(f"{e} at {e.stack}"))
        _login(page, "admin")
        before = page.inner_text("#as-of")
        assert zh.as_of(day) not in before
        _shoot(page, shots, "dashboard-before-zh")
        page.click("#refresh-now")
        page.wait_for_url(re.compile(r"/refresh\?run=\d+"))
        assert page.inner_text("#refresh-notice") == zh("refresh.started")
        page.evaluate("window.kehuSamePage = true")  # gone if the page reloads
        # the script follows the run: steps turn done on this same page, then it reloads on the finished state
        page.wait_for_function(
            "() => window.kehuSamePage && document.querySelectorAll('#refresh-steps li.step-done').length >= 2",
            timeout=180_000,
        )
        assert "已完成" in page.inner_text("#refresh-steps li.step-done")
        _shoot(page, shots, "refresh-running-zh")
        page.wait_for_selector("#refresh-run[data-status=done]", timeout=240_000)
        state = page.inner_text("#refresh-state")
        assert state.startswith("更新完成：数据截至 " + zh.date(day)), state
        assert page.locator("#refresh-steps li.step-done").count() == 6
        _shoot(page, shots, "refresh-done-zh")
        page.goto("/dashboard")
        assert page.inner_text("#as-of") == zh.as_of(day) != before
        assert zh.as_of(day) in page.inner_text("#refresh-last")
        _shoot(page, shots, "dashboard-after-zh")
        page.goto("/settings")
        _shoot(page, shots, "settings-zh")
        assert not errors, errors

        en = new_page(browser, base, "en")
        _login(en, "admin")
        en.goto("/refresh")
        assert "Refresh done: figures as of" in en.inner_text("#refresh-state")
        _shoot(en, shots, "refresh-done-en")
        en.goto("/dashboard")
        _shoot(en, shots, "dashboard-en")
        en.goto("/settings")
        _shoot(en, shots, "settings-en")

        rep = new_page(browser, base)
        _login(rep, web.accounts["rep_a"].name)
        assert rep.locator("#refresh-now").count() == 0
        assert rep.inner_text("#as-of") == zh.as_of(day)
