"""Hostile uploads in the web app: a zip bomb and a crafted sparse sheet are refused with a message naming the
uploaded file, in under 5 s and under 500 MB, and the server keeps serving; an upload over KEHU_UPLOAD_MAX_MB is
refused before its body is stored."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web_testkit import WebEnv, csrf_of

from kehu.errors import UploadTooLargeError
from kehu.ingest import workbooks
from kehu.web.app import create_app
from kehu.web.upload_limit import UploadLimit
from workbook_kit import sparse_sheet, zip_bomb


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


class _PeakRss:
    """The highest RSS of this process (the test and the app in it) while the block runs, sampled every 10 ms."""

    def __enter__(self) -> _PeakRss:
        self.base = self.peak = _rss_kb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss_kb())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def grew_mb(self) -> float:
        return (self.peak - self.base) / 1024


def _upload(c: Any, name: str, content: bytes, lang: str) -> Any:
    token = csrf_of(c.get("/imports").text)
    return c.post(
        "/imports",
        data={"csrf_token": token, "kind": "customers", "source": "shop"},
        files={"file": (name, content, "application/octet-stream")},
        headers={"Accept-Language": lang},
    )


def _still_serving(web: WebEnv, c: Any) -> None:
    assert c.get("/imports").status_code == 200
    assert c.get("/customers.json").status_code == 200
    assert web.login("rep_a").get("/customers").status_code == 200


@pytest.fixture(scope="module")
def bomb_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return zip_bomb(tmp_path_factory.mktemp("bomb") / "bomb.xlsx").read_bytes()


def test_a_zip_bomb_upload_is_refused_naming_the_file_and_the_server_keeps_serving(
    web: WebEnv, bomb_bytes: bytes
) -> None:
    c = web.login("manager")
    with _PeakRss() as rss:
        started = time.perf_counter()
        r = _upload(c, "炸弹.xlsx", bomb_bytes, "zh-CN")
        seconds = time.perf_counter() - started
    assert r.status_code == 422 and seconds < 5 and rss.grew_mb < 500, (seconds, rss.grew_mb)
    assert 'id="preview-error"' in r.text and "炸弹.xlsx：文件过大 / 不是有效的工作簿" in r.text
    assert str(web.home) not in r.text  # the upload's server path is not shown
    en = _upload(c, "bomb.xlsx", bomb_bytes, "en")
    assert "bomb.xlsx: file too large / not a valid workbook" in en.text
    _still_serving(web, c)


def test_a_zip_bomb_through_the_api_is_refused_too(web: WebEnv, bomb_bytes: bytes) -> None:
    c = web.client()
    r = c.post(
        "/api/imports",
        data={"kind": "customers", "source": "api"},
        files={"file": ("bomb.xlsx", bomb_bytes, "application/octet-stream")},
        headers={**web.token("admin"), "Accept-Language": "en"},
    )
    assert r.status_code == 422 and "file too large / not a valid workbook" in r.json()["error"]
    assert "bomb.xlsx" in r.json()["error"]


def test_a_sparse_sheet_upload_is_refused_and_a_reader_that_aborts_does_not_take_the_server_down(
    web: WebEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = sparse_sheet(tmp_path / "sparse.xlsx").read_bytes()
    c = web.login("manager")
    started = time.perf_counter()
    r = _upload(c, "稀疏.xlsx", content, "en")
    assert r.status_code == 422 and time.perf_counter() - started < 5
    assert "稀疏.xlsx: file too large: sheet 客户 spans A1:XFD1048576" in r.text
    monkeypatch.setattr(workbooks, "sheet_extent", lambda *a, **k: 0)  # the native reader meets it: signal 6
    with _PeakRss() as rss:
        started = time.perf_counter()
        aborted = _upload(c, "稀疏.xlsx", content, "zh-CN")
        seconds = time.perf_counter() - started
    assert aborted.status_code == 422 and seconds < 5 and rss.grew_mb < 500
    assert "稀疏.xlsx：无法读取该工作簿：工作簿读取程序被信号 SIGABRT 终止" in aborted.text
    _still_serving(web, c)


def _limited(web: WebEnv, mb: int) -> Any:
    from fastapi.testclient import TestClient

    app = create_app(web.settings.model_copy(update={"upload_max_mb": mb}), workspace=web.ws)
    c = TestClient(app)
    web._clients.append(c)
    return web.login("manager", c)


def _uploads(web: WebEnv) -> set[str]:
    folder = web.home / "uploads"
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def test_an_upload_over_the_limit_is_refused_before_it_is_stored(web: WebEnv) -> None:
    c = _limited(web, 1)
    before = _uploads(web)
    big = b"\xe5\xae\xa2\xe6\x88\xb7\xe7\xbc\x96\xe5\x8f\xb7\n" + b"C1\n" * (1 << 20)  # 3 MB of CSV
    r = _upload(c, "big.csv", big, "zh-CN")
    assert r.status_code == 413 and "上传的文件超过 1 MB（KEHU_UPLOAD_MAX_MB），未保存" in r.text
    api = c.post(
        "/api/imports",
        data={"kind": "customers", "source": "api"},
        files={"file": ("big.csv", big, "text/csv")},
        headers={**web.token("admin"), "Accept-Language": "en"},
    )
    assert api.status_code == 413 and "larger than 1 MB (KEHU_UPLOAD_MAX_MB) and was not stored" in api.json()["error"]
    assert _uploads(web) == before
    small = _upload(c, "small.csv", b"\xe5\xae\xa2\xe6\x88\xb7\xe7\xbc\x96\xe5\x8f\xb7\nC1\n", "en")
    assert small.status_code == 200  # under the limit, uploads work as before


def test_a_chunked_upload_is_refused_and_not_stored(web: WebEnv) -> None:
    c = _limited(web, 1)
    token = csrf_of(c.get("/imports").text)
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\ncustomers\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()

    def body() -> Iterator[bytes]:  # a generator: sent chunked, without a Content-Length
        yield head
        for _ in range(64):
            yield b"C1\n" * ((64 << 10) // 3)
        yield f"\r\n--{boundary}--\r\n".encode()

    before = _uploads(web)
    r = c.post(
        "/imports",
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "Accept-Language": "en"},
    )
    assert r.status_code == 413 and "larger than 1 MB (KEHU_UPLOAD_MAX_MB)" in r.text
    assert _uploads(web) == before


def test_a_body_without_a_length_is_read_only_up_to_the_limit() -> None:
    """The middleware itself: the app behind it stops getting body pieces once the limit is passed."""
    pieces = [b"x" * 1000] * 50
    given: list[int] = []

    async def reads_everything(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            given.append(len(message.get("body", b"")))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"stored"})

    async def receive() -> dict[str, Any]:
        piece = pieces.pop(0)
        return {"type": "http.request", "body": piece, "more_body": bool(pieces)}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/imports", "headers": []}
    with pytest.raises(UploadTooLargeError) as caught:
        asyncio.run(UploadLimit(reads_everything, limit_bytes=10_000)(scope, receive, send))
    assert sum(given) == 10_000 and len(pieces) == 39  # the eleventh piece was refused; the rest never read
    assert caught.value.key == "files.upload_too_large" and not sent
