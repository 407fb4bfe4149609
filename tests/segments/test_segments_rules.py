"""The rule language: loading and its messages, injection attempts, and the same members on DuckDB, Spark
and the SQLAlchemy store path (with Python's first-match evaluation as the reference)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from segments_testkit import AS_OF, make_store, publish_profile, random_profile, random_scores

from kehu.config import Settings
from kehu.errors import ValidationError
from kehu.segments.rules import (
    All,
    Condition,
    compile_ibis,
    evaluate,
    load_rule,
    parse_rule,
    rule_fields,
    rule_to_data,
)

VALID_RULES: list[Any] = [
    {"field": "orders", "ge": 3},
    {"field": "days_since_last_order", "<=": 30},
    {"all": [{"field": "region", "in": ["华东", "华南"]}, {"field": "total_revenue_cents", "between": [5000, 60000]}]},
    {"any": [{"field": "latest_nps", "is_null": True}, {"field": "latest_nps", "lt": 7}]},
    {"not": {"field": "top_category", "eq": "茶叶"}},
    {"field": "last_order_date", "within_days": 30},
    {"field": "first_order_date", "older_than_days": 365},
    {"field": "last_order_date", "gt": "2025-03-01"},
    {"field": "region", "not_in": ["华北"]},
    {"all": [{"field": "clv_12m", "ge": 2500.5}, {"field": "churn_risk", "gt": 0.3}]},
    {"field": "contract_days_to_end", "between": [-60, 30]},
    {"field": "mean_order_value_cents", "!=": 2500},
    {"field": "region", "eq": "华东' OR '1'='1"},  # an injection attempt in a text value is just text
    {"field": "owner_id", "in": [1]},
    {"field": "overdue_ratio", "is_null": False},
]


def test_rules_load_from_yaml_and_json() -> None:
    text = """
    all:
      - {field: region, in: [华东, 华南]}
      - {field: last_order_date, within_days: 30}
      - not: {field: total_revenue_cents, lt: 100000}
    """
    rule = load_rule(text)
    assert isinstance(rule, All)
    assert rule_fields(rule) == ["region", "last_order_date", "total_revenue_cents"]
    assert load_rule('{"field": "orders", ">=": 2}') == Condition("orders", "ge", 2)
    assert parse_rule(rule_to_data(rule)) == rule  # the canonical form loads back to the same rule


def test_parameters_and_dates_are_resolved_on_load() -> None:
    rule = parse_rule({"field": "T_days", "le": "$new_days"}, params={"new_days": 90})
    assert rule == Condition("T_days", "le", 90)
    assert parse_rule({"field": "last_order_date", "ge": "2025-01-31"}).value == dt.date(2025, 1, 31)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"field": "recency", "lt": 30}, "rule: unknown field 'recency': not a customer profile field"),
        ({"field": "total_revenue", "gt": 1}, "did you mean 'total_revenue_cents'"),
        ({"field": "orders", "gt": "3"}, r"\(field 'orders', gt\): expected a number, got str '3'"),
        ({"field": "orders", "gt": True}, "expected a number, got bool"),
        ({"field": "region", "eq": 3}, r"\(field 'region', eq\): expected text, got int 3"),
        ({"field": "region", "lt": "华东"}, "lt needs a number or date field; 'region' is text"),
        ({"field": "last_order_date", "gt": "last week"}, r"expected a date \(YYYY-MM-DD\)"),
        ({"field": "orders", "within_days": 30}, "within_days needs a date field; 'orders' is int"),
        ({"field": "last_order_date", "within_days": -1}, "must not be negative"),
        ({"field": "orders", "between": [5, 1]}, "low 5 is above high 1"),
        ({"field": "orders", "between": [1]}, r"expected \[low, high\]"),
        ({"field": "region", "in": []}, "expected a non-empty list"),
        ({"field": "orders", "gt": 1, "lt": 5}, "several operators"),
        ({"field": "orders"}, "has no operator"),
        ({"field": "orders", "like": "%"}, "unknown operator 'like'"),
        ({"field": "orders", "eq": None}, "a value is missing"),
        ({"all": []}, r"rule.all: expected a non-empty list of rules"),
        ({"all": [{"field": "orders", "gt": 1}, {"fiel": "orders"}]}, r"rule.all\[1\]: unknown key\(s\) 'fiel'"),
        ({"any": [{"field": "orders", "gt": 1}], "all": []}, "more than one key"),
        ({"always": "yes"}, "rule.always: must be true"),
        ({"field": "T_days", "le": "$nope"}, "unknown parameter '\\$nope'"),
        ("orders > 3", "expected a mapping"),
        # injection attempts: in the field name, the operator and a numeric or date value
        ({"field": "orders; DROP TABLE customers", "gt": 1}, "unknown field 'orders; DROP TABLE customers'"),
        ({"field": "orders", "gt 1 OR 1=1 --": 1}, "unknown operator 'gt 1 OR 1=1 --'"),
        ({"field": "orders", "gt": "1; DROP TABLE customers"}, "expected a number, got str"),
        ({"field": "last_order_date", "gt": "2025-01-01' OR 1=1 --"}, r"expected a date \(YYYY-MM-DD\)"),
        ({"field": "region", "eq": "华东\x00"}, "text contains control characters"),
        ({"field": "region", "in": [{"sql": "1=1"}]}, "expected text, got dict"),
    ],
)
def test_malformed_rules_are_rejected_with_field_and_problem(rule: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_rule(rule)


def test_bad_yaml_is_rejected() -> None:
    with pytest.raises(ValidationError, match="rule: not valid YAML or JSON"):
        load_rule("all: [ {field: orders")


def test_malformed_rule_runs_no_query(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """define_segment validates before touching the store: no engine is even created."""
    from kehu.service import segmentation
    from kehu.store import db

    def no_store(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the store was contacted for an invalid rule")

    monkeypatch.setattr(db, "create_store_engine", no_store)
    with pytest.raises(ValidationError, match="unknown field 'orders; DROP TABLE customers'"):
        segmentation.define_segment(settings, "bad", {"field": "orders; DROP TABLE customers", "gt": 1})
    with pytest.raises(ValidationError, match="segment name"):
        segmentation.define_segment(settings, "Robert'); DROP TABLE students;--", {"field": "orders", "gt": 1})


def test_same_members_on_engine_store_and_reference(settings: Settings, engine: str, backend: Any) -> None:
    from kehu.engine import register_arrow, release, to_arrow
    from kehu.segments.profile import profile_arrow, store_members

    store = make_store(settings)
    rows = random_profile(21, range(1, 301), AS_OF)
    publish_profile(store, rows, AS_OF, random_scores(22, rows))
    with store.connect() as conn:
        profile = profile_arrow(conn, AS_OF)
        reference_rows = profile.to_pylist()
        table = register_arrow(backend, "rules_profile", profile)
        try:
            for data in VALID_RULES:
                rule = parse_rule(data)
                in_engine = to_arrow(
                    backend, table.filter(compile_ibis(rule, table, as_of=AS_OF)).select("customer_id")
                )
                engine_ids = sorted(in_engine.column("customer_id").to_pylist())
                store_ids = store_members(conn, rule, AS_OF)
                expected = sorted(r["customer_id"] for r in reference_rows if evaluate(rule, r, as_of=AS_OF))
                assert engine_ids == store_ids == expected, data
            assert len(store_members(conn, parse_rule({"field": "orders", "ge": 0}), AS_OF)) == 300
        finally:
            release(backend, ["rules_profile"])
        # the text-value injection attempt matched nobody and harmed nothing
        assert conn.execute(sa.text("SELECT count(*) FROM customers")).scalar_one() == 300
    store.dispose()
