"""Uploads bigger than ``KEHU_UPLOAD_MAX_MB`` are refused before their body is stored.

Starlette parses a form upload into temporary files before a route sees it, so a limit checked in the route
would come after the whole body was written to disk. :class:`UploadLimit` stands in front of the app: a request
whose ``Content-Length`` says it is too big is answered ``413`` at once, its body unread; a body sent without a
length (chunked) is counted as it arrives and stopped at the limit with
:class:`~kehu.errors.UploadTooLargeError` (the app's error handler answers 413 and the partial temporary file
is removed by the form parser). Either way the user is told the limit in their language.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kehu import i18n
from kehu.errors import UploadTooLargeError

__all__ = ["UploadLimit", "too_large"]


def too_large(limit_bytes: int) -> UploadTooLargeError:
    """The refusal of an upload over ``limit_bytes`` (catalog ``files.upload_too_large``)."""
    params = {"limit_mb": limit_bytes >> 20}
    error = UploadTooLargeError(i18n.said("files.upload_too_large", "en", params))
    error.said("files.upload_too_large", **params)
    return error


class UploadLimit:
    """Refuses request bodies over ``limit_bytes`` (posts, puts and patches) before they are stored."""

    def __init__(self, app: ASGIApp, *, limit_bytes: int) -> None:
        self.app = app
        self.limit_bytes = limit_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None and length > self.limit_bytes:
            await _refuse(scope, self.limit_bytes)(scope, receive, send)
            return
        received = 0
        limit = self.limit_bytes

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large(limit)
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _refuse(scope: Scope, limit_bytes: int) -> Response:
    from kehu.web.render import locale_for, render_error, wants_json

    request = Request(scope)
    error = too_large(limit_bytes)
    message = i18n.error_text(error, locale_for(request))
    headers = {"Connection": "close"}  # the body is not read: this connection cannot carry another request
    if wants_json(request):
        return JSONResponse({"error": message}, status_code=413, headers=headers)
    response = render_error(request, 413, message)
    response.headers.update(headers)
    return response
