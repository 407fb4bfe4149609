"""The segments pages' data (and their JSON twins) from the segments service
(:class:`kehu.service.segments.SegmentService`): the overview with the rule editor's example, and one segment's
members with the cursor of the next page."""

from __future__ import annotations

from typing import Any

__all__ = ["RULE_EXAMPLE", "segment_page", "segments_page"]

#: the rule the editor starts with
RULE_EXAMPLE = "all:\n  - {field: clv_12m, ge: 1000}\n  - {field: days_since_last_order, gt: 60}\n"


def segments_page(overview: dict[str, Any]) -> dict[str, Any]:
    """The overview (:meth:`~kehu.service.segments.SegmentService.overview`) with the editor's example rule."""
    return {**overview, "rule_example": RULE_EXAMPLE}


def segment_page(found: dict[str, Any]) -> dict[str, Any]:
    """One segment's page of members (:meth:`~kehu.service.segments.SegmentService.page`) with ``next``, the
    customer id the next page starts after (``None`` on the last page)."""
    members = found["members"]
    page = {k: v for k, v in found.items() if k != "more"}
    return {**page, "next": members[-1]["id"] if found["more"] and members else None}
