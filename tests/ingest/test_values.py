"""Value parsing: every real-world format of issue 2, the reasons for bad values, typed (Parquet) input."""

from __future__ import annotations

import datetime as dt
import decimal
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kehu.errors import ValidationError
from kehu.ingest.fields import FieldSpec, FieldType, kind_spec
from kehu.ingest.values import arrow_type, parse_field, render_template, split_tags

UTC = dt.UTC


def one(t: FieldType, raw: str | None, **kw: object) -> tuple[object, dict[int, str]]:
    r = parse_field(FieldSpec("x", t), pa.array([raw], pa.string()), **kw)  # type: ignore[arg-type]
    assert r.values.type == arrow_type(FieldSpec("x", t))
    return r.values[0].as_py(), r.errors


@pytest.mark.parametrize(
    "raw",
    [
        "2024-01-05",
        "2024/1/5",
        "2024.1.5",
        "2024年1月5日",
        "20240105",
        "45296",
        "45296.75",
        "２０２４-０１-０５",
        "2024-01-05 13:45",
        "2024-1-5T23:59:59",
        "Jan 5, 2024",
        "5-Jan-2024",
        " 2024/01/05 ",
    ],
)
def test_date_formats(raw: str) -> None:
    assert one(FieldType.DATE, raw) == (dt.date(2024, 1, 5), {})


@pytest.mark.parametrize(
    ("raw", "expected_utc"),
    [
        ("2024-01-05 13:45", dt.datetime(2024, 1, 5, 5, 45, tzinfo=UTC)),
        ("2024-01-05 13:45:10", dt.datetime(2024, 1, 5, 5, 45, 10, tzinfo=UTC)),
        ("2024-01-05T13:45:10", dt.datetime(2024, 1, 5, 5, 45, 10, tzinfo=UTC)),
        ("2024/1/5 13:45:10.250", dt.datetime(2024, 1, 5, 5, 45, 10, 250000, tzinfo=UTC)),
        ("2024-01-05T13:45:10+08:00", dt.datetime(2024, 1, 5, 5, 45, 10, tzinfo=UTC)),
        ("2024-01-05T13:45:10-0500", dt.datetime(2024, 1, 5, 18, 45, 10, tzinfo=UTC)),
        ("2024-01-05T05:45:10Z", dt.datetime(2024, 1, 5, 5, 45, 10, tzinfo=UTC)),
        ("2024-01-05", dt.datetime(2024, 1, 4, 16, 0, tzinfo=UTC)),
        ("20240105134510", dt.datetime(2024, 1, 5, 5, 45, 10, tzinfo=UTC)),
        ("45296.5", dt.datetime(2024, 1, 5, 4, 0, tzinfo=UTC)),
        ("2024年1月5日 下午3点30分", dt.datetime(2024, 1, 5, 7, 30, tzinfo=UTC)),
        ("2024-01-05 3:30 PM", dt.datetime(2024, 1, 5, 7, 30, tzinfo=UTC)),
    ],
)
def test_datetime_formats_are_local_time_in_tz_unless_offset(raw: str, expected_utc: dt.datetime) -> None:
    assert one(FieldType.DATETIME, raw) == (expected_utc, {})


def test_datetime_other_zone_and_dst() -> None:
    value, _ = one(FieldType.DATETIME, "2024-07-01 12:00", tz="America/New_York")
    assert value == dt.datetime(2024, 7, 1, 16, 0, tzinfo=UTC)
    with pytest.raises(ValidationError, match="time zone"):
        one(FieldType.DATETIME, "2024-07-01", tz="Mars/Olympus")


def test_date_format_from_mapping_first() -> None:
    assert one(FieldType.DATE, "05/01/2024", date_format="%d/%m/%Y") == (dt.date(2024, 1, 5), {})
    assert one(FieldType.DATE, "2024-01-05", date_format="%d/%m/%Y") == (dt.date(2024, 1, 5), {})


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("2024-13-45", "month 13 does not exist"),
        ("2024-02-30", "day 30 does not exist in 2024-02"),
        ("2023-02-29", "day 29 does not exist"),
        ("0202-01-05", "year 202 is out of range"),
        ("1/5/2024", "ambiguous"),
        ("2024-01-05 25:00", "not a date"),
        ("yesterday", "not a date: 'yesterday'"),
    ],
)
def test_bad_dates_have_reasons(raw: str, reason: str) -> None:
    value, errors = one(FieldType.DATE, raw)
    assert value is None
    assert reason in errors[0]


@pytest.mark.parametrize(
    ("raw", "cents"),
    [
        ("1234.50", 123450),
        ("¥1,234.50", 123450),
        ("￥1,234.5", 123450),
        ("1234元", 123400),
        ("RMB 12.5", 1250),
        ("CNY12", 1200),
        ("$3", 300),
        ("USD 7.10", 710),
        ("1.2万", 1200000),
        ("1.2万元", 1200000),
        ("-12.50", -1250),
        ("(12.50)", -1250),
        ("-¥5", -500),
        ("¥-5", -500),
        ("12.340", 1234),
        ("-12.300", -1230),
        ("１２３.４", 12340),
        (".5", 50),
        ("1,234,567", 123456700),
        ("12,50", 1250),
        ("1.234,50", 123450),
    ],
)
def test_money_formats(raw: str, cents: int) -> None:
    assert one(FieldType.MONEY, raw) == (cents, {})


@pytest.mark.parametrize("raw", ["abc", "1.2.3", "¥", "12..5", "--5x"])
def test_bad_money(raw: str) -> None:
    value, errors = one(FieldType.MONEY, raw)
    assert value is None and errors[0].startswith("not an amount of money")


@pytest.mark.parametrize(
    ("raw", "phone"),
    [
        ("13800138000", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("0086 13800138000", "13800138000"),
        ("(+86)138 0013 8000", "13800138000"),
        ("１３８００１３８０００", "13800138000"),
        ("86-13800138000", "13800138000"),
        ("010-6552 9988", "01065529988"),
        ("+1 (415) 555-0100", "+14155550100"),
        ("00852 2345 6789", "+85223456789"),
    ],
)
def test_phone_formats(raw: str, phone: str) -> None:
    assert one(FieldType.PHONE, raw) == (phone, {})


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("12345", "too few digits"),
        ("call me", "unexpected characters"),
        ("13800138000, 13900139000", "more than one phone number"),
    ],
)
def test_bad_phones(raw: str, reason: str) -> None:
    value, errors = one(FieldType.PHONE, raw)
    assert value is None and reason in errors[0]


@pytest.mark.parametrize(
    ("raw", "email"),
    [
        ("Foo.Bar@Example.COM", "foo.bar@example.com"),
        ("ｗａｎｇ＠ｑｑ.ｃｏｍ", "wang@qq.com"),
        ("mailto:x@y.cn", "x@y.cn"),
    ],
)
def test_email(raw: str, email: str) -> None:
    assert one(FieldType.EMAIL, raw) == (email, {})


@pytest.mark.parametrize("raw", ["bad@", "a@b", "a b@c.com", "a@@b.com", "a..b@c.com"])
def test_bad_email(raw: str) -> None:
    value, errors = one(FieldType.EMAIL, raw)
    assert value is None and "not an email address" in errors[0]


@pytest.mark.parametrize(("raw", "out"), [("00123", "00123"), (" 123.0 ", "123"), ("１２３", "123"), ("C-9", "C-9")])
def test_ids(raw: str, out: str) -> None:
    assert one(FieldType.ID, raw) == (out, {})


def test_id_mangled_by_excel() -> None:
    value, errors = one(FieldType.ID, "1.23457E+11")
    assert value is None and "scientific notation" in errors[0]


@pytest.mark.parametrize(("raw", "out"), [("3", 3), ("3.0", 3), ("３", 3), ("+4", 4), ("-2", -2), ("1,200", 1200)])
def test_int(raw: str, out: int) -> None:
    assert one(FieldType.INT, raw) == (out, {})


def test_int_with_fraction_is_an_error() -> None:
    assert one(FieldType.INT, "3.5") == (None, {0: "not a whole number (has a fraction): '3.5'"})


def test_text_folds_fullwidth_alphanumerics_but_not_punctuation() -> None:
    assert one(FieldType.TEXT, "  ＡＢＣ公司，你好１ ") == ("ABC公司，你好1", {})


def test_tags() -> None:
    r = parse_field(FieldSpec("t", FieldType.TAGS), pa.array(["vip, 高价值；新客、vip", "", None, "a|b"]))
    assert r.values.to_pylist() == [["vip", "高价值", "新客"], None, None, ["a", "b"]]


def test_choice_synonyms_and_unknown() -> None:
    spec = kind_spec("orders").field("status")
    r = parse_field(spec, pa.array(["已退款", "Completed", "已 完成", "交易关闭", "what", None]))
    assert r.values.to_pylist() == ["refunded", "completed", "completed", "cancelled", None, None]
    assert list(r.errors) == [4]
    assert "unknown value 'what' for status; accepted: cancelled, completed" in r.errors[4]


def test_empty_and_whitespace_are_null_without_error() -> None:
    for t in FieldType:
        if t in (FieldType.DECIMAL, FieldType.CHOICE):
            continue
        r = parse_field(FieldSpec("x", t), pa.array(["", "   ", "\u3000", None], pa.string()))
        assert r.values.null_count == 4 and not r.errors, t


def test_typed_parquet_inputs() -> None:
    ts = pa.array([dt.datetime(2024, 1, 5, 13, 45)], pa.timestamp("ms"))
    aware = pa.array([dt.datetime(2024, 1, 5, 5, 45, tzinfo=UTC)], pa.timestamp("us", tz="UTC"))
    dt_spec, d_spec = FieldSpec("t", FieldType.DATETIME), FieldSpec("d", FieldType.DATE)
    assert parse_field(dt_spec, ts).values[0].as_py() == dt.datetime(2024, 1, 5, 5, 45, tzinfo=UTC)
    assert parse_field(dt_spec, aware).values[0].as_py() == dt.datetime(2024, 1, 5, 5, 45, tzinfo=UTC)
    late = pa.array([dt.datetime(2024, 1, 5, 20, 0, tzinfo=UTC)], pa.timestamp("us", tz="UTC"))
    assert parse_field(d_spec, late).values[0].as_py() == dt.date(2024, 1, 6)  # 04:00 next day in Shanghai
    assert parse_field(d_spec, pa.array([dt.date(2024, 1, 5)])).values[0].as_py() == dt.date(2024, 1, 5)
    assert parse_field(d_spec, pa.array([20240105, 45296])).values.to_pylist() == [dt.date(2024, 1, 5)] * 2
    money = FieldSpec("m", FieldType.MONEY)
    assert parse_field(money, pa.array([12, None])).values.to_pylist() == [1200, None]
    assert parse_field(money, pa.array([12.345, 0.1 + 0.2])).values.to_pylist() == [None, 30]  # issue 23
    dec = pa.array([Decimal("1.005"), Decimal("-2.50")], pa.decimal128(10, 3))
    assert parse_field(money, dec).values.to_pylist() == [None, -250]
    assert parse_field(FieldSpec("i", FieldType.INT), pa.array([3.0, 2.5])).values.to_pylist() == [3, None]
    assert parse_field(FieldSpec("i", FieldType.ID), pa.array([123, 45])).values.to_pylist() == ["123", "45"]
    flag = kind_spec("tickets").field("is_complaint")
    assert parse_field(flag, pa.array([True, False])).values.to_pylist() == ["true", "false"]
    big = pa.chunked_array([pa.array(["a"]), pa.array(["b"])]).cast(pa.large_string())
    assert parse_field(FieldSpec("x", FieldType.TEXT), big).values.to_pylist() == ["a", "b"]


def test_large_batches_take_the_vectorized_paths_and_keep_order() -> None:
    rng = np.random.default_rng(7)
    days = rng.integers(0, 3000, 20_000)
    dates = [str(np.datetime64("2018-01-01") + int(d)) for d in days]
    dates[17] = "2024-02-30"
    dates[18] = "2024/2/3"
    r = parse_field(FieldSpec("d", FieldType.DATE), pa.array(dates))
    got = r.values.to_pylist()
    assert r.errors == {17: "not a date: '2024-02-30' (day 30 does not exist in 2024-02)"}
    assert got[18] == dt.date(2024, 2, 3)
    for i in (0, 5, 19, 19_999):
        assert got[i] == dt.date.fromisoformat(dates[i])


def test_render_template() -> None:
    cols = {"customer_id": pa.array(["001", None, " 7 "])}
    out = render_template("cdnow-{customer_id}-{row}", cols, np.array([2, 3, 4]))
    assert out.to_pylist() == ["cdnow-001-2", None, "cdnow-7-4"]
    assert render_template("{{x}}", {}, np.array([1, 2])).to_pylist() == ["{x}", "{x}"]
    with pytest.raises(ValidationError, match="nope"):
        render_template("{nope}", cols, np.array([1, 2, 3]))


# --- properties -------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(cents=st.integers(-(10**14), 10**14), style=st.sampled_from(["plain", "yen", "comma", "yuan", "paren"]))
def test_money_round_trips(cents: int, style: str) -> None:
    value = Decimal(cents) / 100
    text = f"{abs(value):.2f}"
    if style == "comma":
        text = f"{abs(value):,.2f}"
    sign = "-" if cents < 0 else ""
    raw = {
        "plain": f"{sign}{text}",
        "yen": f"{sign}¥{text}",
        "comma": f"{sign}{text}",
        "yuan": f"{sign}{text}元",
        "paren": f"({text})" if cents < 0 else text,
    }[style]
    assert one(FieldType.MONEY, raw) == (cents, {})


@settings(max_examples=200, deadline=None)
@given(x=st.decimals(min_value=-(10**9), max_value=10**9, places=4, allow_nan=False, allow_infinity=False))
def test_money_is_never_rounded(x: decimal.Decimal) -> None:
    # issue 23: a fraction of a cent is a row problem, whole cents (with any trailing zeros) are kept exactly
    value, errors = one(FieldType.MONEY, str(x))
    if x * 100 == (x * 100).to_integral_value():
        assert (value, errors) == (int(x * 100), {})
    else:
        assert value is None and "fraction of a cent" in errors[0]


@pytest.mark.parametrize("raw", ["0.001", "12.345", "-12.345", "0.004", "¥1,234.567", "0.0000001万"])
def test_a_fraction_of_a_cent_is_a_row_problem(raw: str) -> None:
    value, errors = one(FieldType.MONEY, raw)
    assert value is None
    assert errors == {0: f"{raw!r} has a fraction of a cent (more than two decimals): round it to cents in the file"}


@settings(max_examples=200, deadline=None)
@given(
    day=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2200, 12, 31)),
    fmt=st.sampled_from(["%Y-%m-%d", "%Y/%m/%d", "{y}/{m}/{d}", "{y}年{m}月{d}日", "%Y%m%d", "%Y.%m.%d"]),
)
def test_dates_round_trip(day: dt.date, fmt: str) -> None:
    raw = fmt.format(y=day.year, m=day.month, d=day.day) if "{" in fmt else day.strftime(fmt)
    assert one(FieldType.DATE, raw) == (day, {})


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), st.text(max_size=30)), min_size=1, max_size=30),
    t=st.sampled_from([t for t in FieldType if t is not FieldType.DECIMAL]),
)
def test_random_text_never_crashes(values: list[str | None], t: FieldType) -> None:
    spec = kind_spec("orders").field("status") if t is FieldType.CHOICE else FieldSpec("x", t)
    r = parse_field(spec, pa.array(values, pa.string()))
    assert len(r.values) == len(values)
    for i, v in enumerate(values):
        empty = v is None or not v.strip()
        if t is FieldType.TAGS and v is not None:
            empty = not split_tags(v)  # only separators (e.g. ";") is no tag at all
        if empty:
            assert r.values[i].as_py() is None and i not in r.errors
        else:  # each present value either parses or has a reason, never both
            assert (r.values[i].as_py() is None) == (i in r.errors), (v, r.values[i], r.errors.get(i))
