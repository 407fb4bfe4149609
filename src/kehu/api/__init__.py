"""Kehu's REST API under ``/api/`` (mounted by :func:`kehu.web.app.create_app`)."""

from __future__ import annotations

__all__: list[str] = []
