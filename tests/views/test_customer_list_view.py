"""The customers list's view: the opaque cursors it hands out and reads back, and the page it shapes from the
service's facts (the query echoed, the cursors, the filters' choices)."""

from __future__ import annotations

import datetime as dt

import pytest

from kehu.errors import ValidationError
from kehu.service.customer_query import CustomerQuery
from kehu.views.customer_list import cursor_key, customers_page, encode_cursor


def test_cursors_round_trip_and_belong_to_their_sort() -> None:
    when = dt.datetime(2026, 3, 1, 8, 30, tzinfo=dt.UTC)
    for sort, key in (("created", (when, 17)), ("name", ("王芳", 3)), ("value", (None, 5)), ("id", (9, 9))):
        cursor = encode_cursor(sort, key)
        assert "=" not in cursor and cursor_key(sort, cursor) == key
    assert cursor_key("id", None) is None and cursor_key("id", "") is None
    with pytest.raises(ValidationError, match="different sort order"):
        cursor_key("name", encode_cursor("id", (9, 9)))
    with pytest.raises(ValidationError, match="not a page cursor"):
        cursor_key("id", "not-a-cursor!")


def _facts(**changes: object) -> dict[str, object]:
    labels = {"zh": "甲", "en": "A"}
    facts: dict[str, object] = {
        "customers": [{"id": 4}], "risk_days": {"horizon": 90}, "currency": "CNY", "count": 1,
        "count_is_lower_bound": False, "next_key": ("Li", 4), "prev_key": None,
        "owners": [{"id": 2, "name": "rep"}], "regions": ["华东"], "tags": ["vip"], "sorts": ["id", "name"],
        "risk_kinds": ["purchase", "renewal", "winback"],
        "schemes": {
            "lifecycle": {"as_of": dt.date(2026, 3, 1), "labels": labels, "segments": {"new": labels}},
            "rfm_cn": {"as_of": dt.date(2026, 3, 1), "labels": labels,
                       "segments": {"champions": labels, "lost": labels}},
        },
    }  # fmt: skip
    return {**facts, **changes}


def test_customers_page_echoes_the_query_and_offers_the_choices() -> None:
    query = CustomerQuery(q="李", sort="name", risk="high", limit=20)
    page = customers_page(_facts(), query)
    assert page["query"] == {
        "q": "李", "owner": None, "region": None, "tag": None, "segment": None, "stage": None, "risk": "high",
        "risk_kind": "purchase", "sort": "name", "desc": False, "limit": 20,
    }  # fmt: skip
    assert cursor_key("name", page["next"]) == ("Li", 4) and page["prev"] is None
    assert {k: page[k] for k in ("customers", "risk_days", "currency", "count", "count_is_lower_bound")} == {
        "customers": [{"id": 4}], "risk_days": {"horizon": 90}, "currency": "CNY", "count": 1,
        "count_is_lower_bound": False,
    }  # fmt: skip
    choices = page["choices"]
    assert choices["risks"] == ["high", "medium", "low"] and choices["sorts"] == ["id", "name"]
    assert [s["scheme"] for s in choices["segments"]] == ["rfm_cn"]  # lifecycle is the stage filter
    assert [s["value"] for s in choices["segments"][0]["segments"]] == ["rfm_cn:champions", "rfm_cn:lost"]
    assert choices["stages"] == [{"value": "new", "labels": {"zh": "甲", "en": "A"}}]
    assert not {"next_key", "prev_key", "schemes", "owners"} & set(page)
