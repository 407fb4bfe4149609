"""The campaigns pages' data (and their JSON twins) from the campaigns service
(:class:`kehu.service.campaigns.CampaignService`): the list with what the create form offers, and one campaign
with its results' window as local days."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kehu.campaigns.spec import PLACEHOLDERS
from kehu.vocabulary import CHANNEL_KINDS

__all__ = ["campaign_page", "campaigns_page"]


def campaigns_page(campaigns: list[dict[str, Any]], targets: list[dict[str, Any]]) -> dict[str, Any]:
    """Every campaign (newest first, without its message text: that is on the campaign's page) and the create
    form's choices: the target segments, the channels, the message placeholders and the schemes to stratify by."""
    rows = [{k: v for k, v in c.items() if k != "template"} for c in campaigns]
    return {
        "campaigns": rows,
        "segments": targets,
        "channels": list(CHANNEL_KINDS),
        "placeholders": list(PLACEHOLDERS),
        "schemes": sorted({s["scheme"] for s in targets}),
    }


def campaign_page(view: dict[str, Any]) -> dict[str, Any]:
    """One campaign (:meth:`~kehu.service.campaigns.CampaignService.view`), its results' window with the first
    and last day (``start_day``, ``end_day``) the page names."""
    results = view["results"]
    if results is None:
        return view
    window = results["window"]
    days = {
        "start_day": dt.datetime.fromisoformat(window["start"]).date(),
        "end_day": dt.datetime.fromisoformat(window["end"]).date(),
    }
    return {**view, "results": {**results, "window": {**window, **days}}}
