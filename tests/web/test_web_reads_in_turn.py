"""Reads are worked on a few at a time, in arrival order (``KEHU_WEB_CONCURRENT_READS``); connections are renewed
now and then so that browsers spread over the worker processes. Posts, static files and
a streamed response's body do not wait for or hold a turn."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2 as httpx
from web_testkit import WebEnv

from kehu.web.app import ReadsInTurn, SpreadConnections


class _Recorder:
    """An ASGI app that notes how many requests it works on at once and in which order they started."""

    def __init__(self, *, stream: bool = False) -> None:
        self.now = self.most = 0
        self.started: list[str] = []
        self.stream = stream
        self.slow = 0.0  # seconds the work of /slow takes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.now += 1
        self.most = max(self.most, self.now)
        self.started.append(scope["path"])
        await asyncio.sleep(self.slow if scope["path"] == "/slow" else 0.02)
        self.now -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        if self.stream and scope["path"].endswith(".csv"):  # the body keeps coming after the response started
            await send({"type": "http.response.body", "body": b"a", "more_body": True})
            await asyncio.sleep(0.2)
        await send({"type": "http.response.body", "body": b"ok"})


def _fire(app: Any, requests: list[tuple[str, str]]) -> list[int]:
    async def go() -> list[int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kehu") as c:
            tasks = []
            for method, path in requests:
                tasks.append(asyncio.create_task(c.request(method, path)))
                await asyncio.sleep(0.001)  # arrive in this order
            return [r.status_code for r in await asyncio.gather(*tasks)]

    return asyncio.run(go())


def test_reads_are_worked_on_at_most_n_at_once_in_arrival_order() -> None:
    inner = _Recorder()
    paths = [f"/customers/{i}" for i in range(8)]
    assert _fire(ReadsInTurn(inner, at_once=2), [("GET", p) for p in paths]) == [200] * 8
    assert inner.most == 2
    assert inner.started == paths


def test_posts_and_static_files_do_not_wait() -> None:
    inner = _Recorder()
    statuses = _fire(ReadsInTurn(inner, at_once=1), [("POST", "/customers/1/notes")] * 4 + [("GET", "/static/a")] * 3)
    assert statuses == [200] * 7 and inner.most == 7


def test_a_streamed_body_does_not_hold_the_turn() -> None:
    inner = _Recorder(stream=True)

    async def go() -> float:
        app = ReadsInTurn(inner, at_once=1)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kehu") as c:
            loop = asyncio.get_running_loop()
            first = asyncio.create_task(c.get("/customers/export.csv"))
            await asyncio.sleep(0.05)  # the export's response has started and is streaming
            t0 = loop.time()
            await c.get("/customers")
            waited = loop.time() - t0
            await first
            return waited

    assert asyncio.run(go()) < 0.15  # not the 0.2 s the export still streams


def test_a_slow_read_gives_up_its_turn() -> None:
    inner = _Recorder()
    inner.slow = 1.0

    async def go() -> float:
        app = ReadsInTurn(inner, at_once=1, turn_seconds=0.1)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kehu") as c:
            loop = asyncio.get_running_loop()
            slow = asyncio.create_task(c.get("/slow"))
            await asyncio.sleep(0.01)
            t0 = loop.time()
            await c.get("/customers")
            waited = loop.time() - t0
            await slow
            return waited

    assert asyncio.run(go()) < 0.5  # the turn came after 0.1 s, not after the slow page's 1 s
    assert inner.most == 2


def test_the_app_takes_its_turns_from_the_settings(web: WebEnv) -> None:
    limits = [m.kwargs["at_once"] for m in web.app.user_middleware if m.cls is ReadsInTurn]
    assert limits == [web.settings.web_concurrent_reads] and web.settings.web_concurrent_reads >= 1
    assert web.login("admin").get("/customers").status_code == 200


def test_a_connection_is_renewed_after_so_many_requests(web: WebEnv) -> None:
    """Every ``requests``-th response on one connection says ``Connection: close``, so the browser's next
    connection may go to a less busy worker process; other connections keep their own count."""

    async def ok(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    app = SpreadConnections(ok, requests=3)

    async def one(port: int) -> list[tuple[bytes, bytes]]:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "http_version": "1.1", "method": "GET", "path": "/", "client": ("127.0.0.1", port)}
        await app(scope, None, send)
        return list(sent[0]["headers"])

    def closes(port: int) -> bool:
        return (b"connection", b"close") in asyncio.run(one(port))

    assert [closes(5000) for _ in range(7)] == [False, False, True, False, False, True, False]
    assert [closes(5001) for _ in range(2)] == [False, False]
    # the app renews connections too
    assert [m.kwargs.get("requests", 20) for m in web.app.user_middleware if m.cls is SpreadConnections] == [20]
