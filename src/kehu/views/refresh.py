"""The data refresh panel's data (the refresh page, its JSON twin, and the panels on the dashboard and the
settings page): the schedule, the run shown (the one asked for, else the one going on, else the last one) and the
recent runs, as :class:`kehu.service.refresh.RefreshService` gives them."""

from __future__ import annotations

from typing import Any

__all__ = ["refresh_page"]


def refresh_page(
    status: dict[str, Any], run: dict[str, Any] | None = None, *, started: str | None = None
) -> dict[str, Any]:
    """The page's data: ``status`` with ``run`` (the run to follow) and ``notice`` (``started`` when the button
    started a run, ``already_running`` when it found one going on)."""
    shown = run or status["running"] or status["last"]
    notice = {"1": "started", "0": "already_running"}.get(started or "")
    return {**status, "run": shown, "notice": notice if run is not None else None}
