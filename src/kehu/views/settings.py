"""The settings page's data (and its JSON twin): the settings and the state of the system as
:class:`kehu.service.system.SystemService` gives them (secrets already masked there)."""

from __future__ import annotations

from typing import Any

__all__ = ["settings_page"]


def settings_page(
    settings: list[dict[str, Any]], state: dict[str, Any], refresh: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The page's data: the ``settings`` rows (the template marks the changed ones), the ``system`` state and the
    data ``refresh`` (the daily schedule, its next run, the last run and the run going on:
    :meth:`kehu.service.refresh.RefreshService.status`)."""
    return {"settings": settings, "system": state, "refresh": refresh}
