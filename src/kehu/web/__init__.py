"""Kehu's web app: server-rendered pages (each with a JSON twin), the REST API and static assets in one app."""

from __future__ import annotations

__all__ = ["create_app", "serve"]


def __getattr__(name: str) -> object:
    # FastAPI and uvicorn load only when the web app is used (fast CLI start)
    if name == "create_app":
        from kehu.web.app import create_app

        return create_app
    if name == "serve":
        from kehu.web.server import serve

        return serve
    raise AttributeError(name)
