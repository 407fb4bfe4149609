"""The settings page's data (and its JSON twin): the settings and the state of the system as
:class:`kehu.service.system.SystemService` gives them (secrets already masked there)."""

from __future__ import annotations

from typing import Any

__all__ = ["settings_page"]


def settings_page(settings: list[dict[str, Any]], state: dict[str, Any]) -> dict[str, Any]:
    """The page's data: the ``settings`` rows (the template marks the changed ones) and the ``system`` state."""
    return {"settings": settings, "system": state}
