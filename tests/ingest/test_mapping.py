"""Mapping files and header recognition."""

from __future__ import annotations

from pathlib import Path

import pytest

from kehu.errors import ImportFileError, MappingError
from kehu.ingest.fields import kind_spec
from kehu.ingest.mapping import Mapping, load_mapping, plan_columns

ORDERS = kind_spec("orders")


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "m.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_full_mapping_loads(tmp_path: Path) -> None:
    m = load_mapping(
        write(
            tmp_path,
            """
kind: orders
format: fixed-width
encoding: GBK
header: false
skip_rows: 1
widths: [5, 8, 7]
columns: [customer_id, ordered_at, amount]
date_format: {ordered_at: "%Y%m%d"}
defaults: {currency: USD}
derive: {order_id: "x-{customer_id}-{row}"}
""",
        )
    )
    assert m.format == "fixed_width" and m.encoding == "gb18030" and m.widths == (5, 8, 7)
    assert m.column_names == ("customer_id", "ordered_at", "amount")
    assert m.date_format_for("ordered_at") == "%Y%m%d" and m.date_format_for("paid_at") is None
    assert load_mapping(write(tmp_path, "date_format: '%d/%m/%Y'\n")).date_format_for("paid_at") == "%d/%m/%Y"


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("colums: [a]\n", "colums", "unknown key"),
        ("format: pdf\n", "format", "is not one of"),
        ("encoding: latin-1\n", "encoding", "not supported"),
        ("header: maybe\n", "header", "true or false"),
        ("skip_rows: -1\n", "skip_rows", "whole number"),
        ("delimiter: ';;'\n", "delimiter", "single character"),
        ("format: fixed_width\n", "widths", "needs widths"),
        ("columns: [a, a]\n", "columns", "unique"),
        ("derive: {order_id: '{customer_id:>5}'}\n", "derive", "plain field name"),
        ("defaults: [currency]\n", "defaults", "expected a mapping"),
        ("header: false\ncolumns: {a: customer_id}\n", "columns", "by position"),
    ],
)
def test_bad_mappings_name_file_key_and_problem(tmp_path: Path, text: str, key: str, problem: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(MappingError, match=problem) as info:
        load_mapping(p)
    assert info.value.path == str(p) and f"'{key}'" in str(info.value)


def test_missing_and_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="not found"):
        load_mapping(tmp_path / "nope.yaml")
    with pytest.raises(MappingError, match="not valid YAML"):
        load_mapping(write(tmp_path, "a: [\n"))
    with pytest.raises(MappingError, match="YAML mapping of keys"):
        load_mapping(write(tmp_path, "- a\n- b\n"))


def test_chinese_and_english_headers_are_recognized() -> None:
    headers = ["订单号", "客户ID", "下单时间", "实付金额", "Order Status", "商品名称", "备注"]
    plan = plan_columns(ORDERS, headers, None, "o.csv")
    assert plan.fields == {
        "order_id": "订单号",
        "customer_id": "客户ID",
        "ordered_at": "下单时间",
        "amount": "实付金额",
        "product": "商品名称",
        "status": "Order Status",
    }
    assert plan.extras == ["备注"] and plan.ignored == []


def test_ambiguous_headers_are_refused_naming_the_columns() -> None:
    # issue 23: taking the earlier alias and keeping the other as an attribute imported the wrong value silently
    with pytest.raises(ImportFileError, match="columns '订单日期', '下单时间' all mean the field ordered_at"):
        plan_columns(ORDERS, ["订单编号", "客户编号", "订单日期", "下单时间", "金额"], None, "o.csv")


def test_one_header_two_fields_first_field_wins() -> None:
    plan = plan_columns(kind_spec("customers"), ["客户编号", "渠道"], None, "c.csv")
    assert plan.fields == {"customer_id": "客户编号", "acquisition_channel": "渠道"}


def test_missing_required_field_names_aliases_and_headers() -> None:
    with pytest.raises(ImportFileError) as info:
        plan_columns(ORDERS, ["订单编号", "客户编号", "金额"], None, "o.csv")
    msg = str(info.value)
    assert msg.startswith("o.csv: required field 'ordered_at' not found")
    assert "下单时间" in msg and "order_date" in msg and "headers found: 订单编号, 客户编号, 金额" in msg


def test_mapping_renames_ignores_defaults_and_derive() -> None:
    m = Mapping(
        renames={"客户": "customer_id", "时间": "ordered_at", "内部备注": "_"},
        defaults={"currency": "CNY"},
        derive={"order_id": "{客户}-{row}"},
    )
    plan = plan_columns(ORDERS, ["客户", "时间", "金额", "内部备注", "币种"], m, "o.csv")
    assert plan.fields == {"customer_id": "客户", "ordered_at": "时间", "amount": "金额", "currency": "币种"}
    assert plan.ignored == ["内部备注"] and plan.extras == []
    assert plan.defaults == {}  # the file has a currency column: the default is not needed
    assert plan.derived == {"order_id": "{客户}-{row}"}


def test_mapping_errors_against_the_kind(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="not a field of orders"):
        plan_columns(ORDERS, ["a"], Mapping(defaults={"colour": "red"}), "o.csv")
    with pytest.raises(MappingError, match=r"is not in o\.csv"):
        plan_columns(ORDERS, ["a"], Mapping(renames={"b": "amount"}), "o.csv")
    with pytest.raises(MappingError, match="neither a field nor a column"):
        plan_columns(ORDERS, ["客户编号"], Mapping(derive={"order_id": "{nope}"}), "o.csv")
    with pytest.raises(MappingError, match="for customers, not orders"):
        plan_columns(ORDERS, ["a"], Mapping(kind="customers"), "o.csv")


def test_headerless_column_names_with_ignored_columns() -> None:
    m = Mapping(header=False, column_names=("customer_id", "_", "ordered_at", "amount", "order_id", "_skip"))
    headers = m.synthesized_headers(6)
    assert headers == ["customer_id", "_2", "ordered_at", "amount", "order_id", "_skip"]
    plan = plan_columns(ORDERS, headers, m, "x.txt")
    assert plan.ignored == ["_2", "_skip"] and plan.extras == []
    assert set(plan.fields) == {"customer_id", "ordered_at", "amount", "order_id"}
