"""In Chromium: an import started while a run has the store shows as queued, with whom it waits for, and the
page follows it by itself to its summary when its turn comes (static/app.js)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_testkit import BROWSER_MARKS, chromium, new_page, served
from web_testkit import PASSWORD, WebEnv

from kehu.store.turns import store_turn

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def test_a_queued_import_waits_then_shows_its_summary(web: WebEnv, browser: Any, tmp_path: Path) -> None:
    upload = tmp_path / "排队.csv"
    upload.write_text("客户编号,客户名称\nQ1,排队客户\nQ2,另一位\n", encoding="utf-8")
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store_turn(web.ws.engine, "run"):
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert held.wait(30)
    errors: list[str] = []
    try:
        with served(web.app) as base:
            page = new_page(browser, base, "zh-CN")
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto("/login")
            page.fill("input[name=name]", web.accounts["manager"].name)
            page.fill("input[name=password]", PASSWORD)
            page.click("#login-form button[type=submit]")
            page.wait_for_url(re.compile(r"/dashboard$"))
            page.goto("/imports")
            page.set_input_files("input[name=file]", str(upload))
            page.select_option("select[name=kind]", "customers")
            page.fill("input[name=source]", "queue")
            page.click("#import-form button[type=submit]")
            page.locator("#mapping-table").wait_for()
            page.click("#import-start")
            page.locator("#import-queued").wait_for(timeout=30_000)
            assert "正在等待一次分析运行完成" in page.locator("#import-queued").inner_text()
            assert "正在等待另一个导入或运行完成" in page.locator("#import-progress h2").inner_text()
            release.set()  # the run ends: the page follows the job to its summary without a click
            page.locator("#import-summary").wait_for(timeout=30_000)
            assert page.locator("#summary-inserted").inner_text() == "2"
            page.context.close()
    finally:
        release.set()
        holder.join(30)
    assert not errors, errors
