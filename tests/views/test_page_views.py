"""The views shape the services' facts for the pages: the dashboard's cohort cells, funnel order and risk bands,
the campaigns list's form choices, the tickets' and a segment's cursors, the KPI page's periods."""

from __future__ import annotations

import datetime as dt

from kehu.views.campaigns import campaign_page, campaigns_page
from kehu.views.dashboard import dashboard_page
from kehu.views.kpis import kpis_page
from kehu.views.segments import segment_page, segments_page
from kehu.views.tickets import ticket_page, tickets_page


def _stage(key: str, size: int) -> dict[str, object]:
    return {"segment": key, "labels": {"zh": key, "en": key}, "size": size}


def test_dashboard_page_shapes_cohorts_funnel_and_risk_bands() -> None:
    figures = {
        "totals": {"customers": 3},
        "cohorts": [
            {"month": dt.date(2026, 1, 1), "customers": 10, "retention": [1.0, 0.123456, None]},
            {"month": dt.date(2026, 2, 1), "customers": 4, "retention": [1.0, None, None]},
        ],
        "segments": {
            "lifecycle": {"as_of": dt.date(2026, 3, 1),
                          "segments": [_stage("lost", 1), _stage("vip", 2), _stage("new", 3), _stage("mature", 4)]},
            "rfm_cn": {"as_of": dt.date(2026, 3, 1), "segments": [_stage("b", 1), _stage("a", 2)]},
        },
        "churn_risk": {"edges": [0.0, 0.5, 1.0], "customers": [3, 1], "scored": 4},
    }  # fmt: skip
    page = dashboard_page(figures)
    assert page["totals"] == {"customers": 3}
    assert page["cohorts"] == {
        "cohorts": ["2026-01", "2026-02"],
        "sizes": [10, 4],
        "cells": [[0, 0, 1.0], [1, 0, 0.1235], [0, 1, 1.0]],
        "months_since": [0, 1, 2],
    }
    assert [s["segment"] for s in page["segments"]["lifecycle"]["segments"]] == ["new", "mature", "lost", "vip"]
    assert [s["segment"] for s in page["segments"]["rfm_cn"]["segments"]] == ["b", "a"]  # other schemes as given
    assert page["churn_risk"] == {"bands": ["0–50%", "50–100%"], "customers": [3, 1], "scored": 4}
    assert figures["segments"]["lifecycle"]["segments"][0]["segment"] == "lost"  # the facts are not changed


def test_dashboard_page_without_published_figures() -> None:
    page = dashboard_page({"cohorts": None, "segments": {}, "churn_risk": None})
    assert page == {"cohorts": None, "segments": {}, "churn_risk": None}


def test_campaigns_page_offers_the_form_choices_without_message_texts() -> None:
    targets = [
        {"ref": "rfm_cn:a", "scheme": "rfm_cn", "size": 2, "labels": {"zh": "a", "en": "a"}},
        {"ref": "lifecycle:new", "scheme": "lifecycle", "size": 1, "labels": {"zh": "n", "en": "n"}},
    ]
    page = campaigns_page([{"name": "c", "template": "Hi {name}"}], targets)
    assert page["campaigns"] == [{"name": "c"}] and page["segments"] == targets
    assert page["schemes"] == ["lifecycle", "rfm_cn"]
    assert "email" in page["channels"] and "name" in page["placeholders"]


def test_campaign_page_names_the_window_days() -> None:
    view = {"campaign": {"name": "c"}, "results": {"window": {"start": "2026-03-01T08:00:00+08:00",
                                                                 "end": "2026-03-31T08:00:00+08:00"}}}  # fmt: skip
    window = campaign_page(view)["results"]["window"]
    assert (window["start_day"], window["end_day"]) == (dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    assert "start_day" not in view["results"]["window"]
    assert campaign_page({"campaign": {"name": "d"}, "results": None})["results"] is None


def test_tickets_page_sets_the_cursor_and_the_filter_choices() -> None:
    found = {"scope": "all", "tickets": [{"id": 9}, {"id": 7}], "more": True, "total": 5, "counts": {}}
    page = tickets_page(found, filters={"status": "open"}, before=10)
    assert page["next_before"] == 7 and page["before"] == 10 and page["filters"] == {"status": "open"}
    assert "more" not in page and page["statuses"] == ["open", "in_progress", "resolved", "closed"]
    assert page["priorities"] == ["low", "normal", "high", "urgent"]
    assert tickets_page({**found, "more": False}, filters={}, before=None)["next_before"] is None
    assert ticket_page({"ticket": {"id": 1}})["statuses"] == page["statuses"]


def test_segment_page_cursor_and_the_editor_example() -> None:
    found = {"segment": "a", "members": [{"id": 3}, {"id": 8}], "more": True, "after": None}
    assert segment_page(found) == {"segment": "a", "members": found["members"], "after": None, "next": 8}
    assert segment_page({**found, "more": False})["next"] is None
    assert "field:" in segments_page({"schemes": []})["rule_example"]


def test_kpis_page_offers_the_periods() -> None:
    page = kpis_page({"kpis": []}, period="quarter")
    assert page == {"kpis": [], "periods": ["week", "month", "quarter", "year"], "chosen": "quarter",
                    "tasks_seen_at": None, "outcome_check": None}  # fmt: skip
