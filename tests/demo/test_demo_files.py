"""The demo files: deterministic bytes, headers the importer maps to the intended fields, formats, bad rows."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from demo_helpers import file_of, read_rows

from kehu.demo import DemoCompany, generate_demo
from kehu.demo.headers import HEADERS
from kehu.errors import ValidationError
from kehu.ingest.fields import kind_spec, normalize_header

_DT_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日")
_MONEY = re.compile(r"^-?¥?\d{1,3}(,\d{3})*(\.\d{1,2})?元?$|^-?¥?\d+(\.\d{1,2})?元?$")


def _resolve(kind: str, header: str) -> str | None:
    """The field the importer picks: the first in the kind's order whose aliases match the header."""
    key = normalize_header(header)
    for spec in kind_spec(kind).fields:
        if key in {normalize_header(a) for a in (spec.name, *spec.aliases)}:
            return spec.name
    return None


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    a = generate_demo(tmp_path / "a", customers=300, seed=7)
    b = generate_demo(tmp_path / "b", customers=300, seed=7)
    c = generate_demo(tmp_path / "c", customers=300, seed=8)
    for fa, fb, fc in zip(a.files, b.files, c.files, strict=True):
        assert fa.path.read_bytes() == fb.path.read_bytes(), fa.path.name
        assert fa.path.name == fc.path.name
    assert a.truth_path.read_bytes() == b.truth_path.read_bytes()
    assert a.expected_bad_rows == b.expected_bad_rows
    assert file_of(a, "orders").path.read_bytes() != file_of(c, "orders").path.read_bytes()


def test_every_header_maps_to_its_intended_field(small_demo: DemoCompany) -> None:
    for demo_file in small_demo.files:
        intended = HEADERS["store" if demo_file.source == "store" else demo_file.kind]
        names, _ = read_rows(demo_file)
        assert names == list(intended.values()), demo_file.path.name
        for field, header in intended.items():
            assert _resolve(demo_file.kind, header) == field, (demo_file.path.name, header)
        spec = kind_spec(demo_file.kind)
        assert set(spec.required) <= set(intended), demo_file.path.name


def test_files_in_import_order_with_sources(small_demo: DemoCompany) -> None:
    kinds = [f.kind for f in small_demo.files]
    assert kinds[0] == "customers"
    assert set(kinds) == {"customers", "orders", "contracts", "interactions", "tickets", "feedback"}
    assert {f.source for f in small_demo.files if f.path.name != "store_members.csv"} == {"crm"}
    assert file_of(small_demo, "customers", "store").path.name == "store_members.csv"
    assert file_of(small_demo, "contracts").sheet == "合同"
    roles = {o.role for o in small_demo.owners}
    assert roles == {"rep", "manager"} and 3 <= len({o.team for o in small_demo.owners}) <= 4
    assert small_demo.as_of == dt.date(2026, 10, 31)


def test_encodings(shape_demo: DemoCompany) -> None:
    raw = file_of(shape_demo, "customers").path.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("gb18030")
    outside_gbk = [ch for ch in set(text) if not _encodes(ch, "gbk")]
    assert outside_gbk, "some names should need GB18030"
    assert file_of(shape_demo, "orders").path.read_bytes().startswith(b"\xef\xbb\xbf")
    for kind in ("tickets", "feedback"):
        file_of(shape_demo, kind).path.read_bytes().decode("utf-8")


def _encodes(ch: str, codec: str) -> bool:
    try:
        ch.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def _date_ok(value: object) -> bool:
    if isinstance(value, dt.date):
        return True
    for fmt in _DT_FORMATS:
        try:
            dt.datetime.strptime(str(value), fmt)
        except ValueError:
            continue
        return True
    return False


def _choice_ok(kind: str, field: str, value: str | None) -> bool:
    return value is None or normalize_header(value) in kind_spec(kind).field(field).choices


def _bad(kind: str, row: dict[str, object]) -> bool:
    """Independent re-statement of what makes a demo row invalid (mirrors the importer's rules)."""
    spec = kind_spec(kind)
    if any(row.get(f) in (None, "") for f in spec.required):
        return True
    for f in spec.fields:
        v = row.get(f.name)
        if v is None:
            continue
        t = f.type.value
        if t in ("date", "datetime") and not _date_ok(v):
            return True
        if t == "money" and not isinstance(v, int | float) and not _MONEY.match(str(v)):
            return True
        if t == "int" and not re.fullmatch(r"-?\d+", str(v)):
            return True
        if t == "choice" and not _choice_ok(kind, f.name, str(v)):
            return True
    if kind == "orders" and int(str(row["quantity"])) < 1:
        return True
    if kind == "tickets" and row.get("satisfaction") is not None and not 1 <= int(str(row["satisfaction"])) <= 5:
        return True
    if kind == "contracts":
        s, e = row["start_date"], row["end_date"]
        if isinstance(s, dt.datetime) and isinstance(e, dt.datetime) and e < s:
            return True
    return False


def test_bad_rows_are_exactly_the_expected_ones(small_demo: DemoCompany) -> None:
    for demo_file in small_demo.files:
        names, rows = read_rows(demo_file)
        fields = {h: f for f, h in HEADERS["store" if demo_file.source == "store" else demo_file.kind].items()}
        bad = sum(_bad(demo_file.kind, {fields[h]: v for h, v in zip(names, r, strict=True)}) for r in rows)
        assert bad == small_demo.expected_bad_rows[demo_file.path.name], demo_file.path.name
        assert sum(small_demo.bad_row_reasons[demo_file.path.name].values()) == bad
    assert sum(small_demo.expected_bad_rows.values()) > 0
    orders = small_demo.expected_bad_rows["shop_orders.csv"]
    _, rows = read_rows(file_of(small_demo, "orders"))
    assert 0.002 <= orders / len(rows) <= 0.02


def test_value_formats_vary_like_real_exports(shape_demo: DemoCompany) -> None:
    names, rows = read_rows(file_of(shape_demo, "orders"))
    amounts = [r[names.index("订单金额")] or "" for r in rows]
    dates = [r[names.index("下单时间")] or "" for r in rows]
    assert any(a.startswith("¥") and "," in a for a in amounts)
    assert any(a.endswith("元") for a in amounts)
    assert any(re.fullmatch(r"\d{4}/\d{1,2}/\d{1,2}", d) for d in dates)
    assert any(re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日", d) for d in dates)
    names, rows = read_rows(file_of(shape_demo, "customers", "store"))
    phones = [r[names.index("手机号码")] or "" for r in rows]
    emails = [r[names.index("电子邮箱")] or "" for r in rows]
    assert any(p.startswith("+86") for p in phones) and any(" " in p for p in phones)
    assert any(e and e == e.upper() for e in emails)


@pytest.mark.parametrize("n", [1, 5, 37])
def test_tiny_companies_work(tmp_path: Path, n: int) -> None:
    demo = generate_demo(tmp_path, customers=n, seed=n)
    _, rows = read_rows(file_of(demo, "customers"))
    assert len(rows) == n + demo.expected_bad_rows["crm_customers_gbk.csv"]
    assert all(f.path.exists() for f in demo.files) and demo.truth_path.exists()


def test_rejects_an_empty_company(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        generate_demo(tmp_path, customers=0)
