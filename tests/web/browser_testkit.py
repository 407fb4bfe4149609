"""Shared pieces of the browser tests: Debian's chromium, the skip marks, the app served on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
#: marks of every browser test module: the `browser` marker, skipped with a reason where chromium is missing
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
    ),
]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless chromium driven by Playwright (closed afterwards)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    pw = sync_api.sync_playwright().start()
    b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
    try:
        yield b
    finally:
        b.close()
        pw.stop()


@contextmanager
def served(app: Any) -> Iterator[str]:
    """The app served by uvicorn in a thread on a free loopback port; yields its base URL, stops it afterwards."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def new_page(browser: Any, base: str, locale: str = "zh-CN") -> Any:
    """A page in a fresh context with the locale and its Accept-Language header."""
    context = browser.new_context(base_url=base, locale=locale, extra_http_headers={"Accept-Language": locale},
                                  viewport={"width": 1400, "height": 1000})  # fmt: skip
    return context.new_page()
