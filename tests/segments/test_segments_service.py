"""The segmentation service end to end on a store: two runs, list, show, explain, transitions, custom
segments with versions, and exports that open with openpyxl with Chinese headers."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from segments_testkit import make_store, publish_profile, random_profile, random_scores

from kehu.config import Settings, load_settings
from kehu.errors import NotFoundError, ValidationError
from kehu.publish import segments as placement
from kehu.service import segmentation as seg

DAY1 = dt.date(2025, 3, 31)
DAY2 = dt.date(2025, 6, 30)


def _publish_two_days(settings: Settings) -> sa.Engine:
    """Customers 1..240 published on DAY1, 41..300 on DAY2 (40 gone, 60 new), with changed values."""
    store = make_store(settings)
    first = random_profile(1, range(1, 241), DAY1)
    second = random_profile(2, range(41, 301), DAY2)
    publish_profile(store, first, DAY1, random_scores(3, first))
    publish_profile(store, second, DAY2, random_scores(4, second))
    return store


@pytest.fixture
def two_days(settings: Settings) -> Iterator[sa.Engine]:
    """A store with both days published and not yet segmented (for tests that change things)."""
    store = _publish_two_days(settings)
    yield store
    store.dispose()


_Ran = tuple[Settings, placement.SegmentRunResult, placement.SegmentRunResult]


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Ran]:
    """Both days published and segmented on DuckDB once, for the tests that only read."""
    settings = load_settings(home=tmp_path_factory.mktemp("segments") / "home")
    store = _publish_two_days(settings)
    first, second = placement.segment_run(settings, "duckdb", DAY1), placement.segment_run(settings, "duckdb", DAY2)
    yield settings, first, second
    store.dispose()


def test_run_list_and_change_since_previous(ran: _Ran) -> None:
    settings, first, second = ran
    assert second.as_of == DAY2
    assert set(second.schemes) == {"rfm_cn", "rfm_en", "lifecycle", "value", "cross"}
    buyers = sum(second.schemes["rfm_cn"]["sizes"].values())
    assert second.schemes["rfm_cn"]["population"] == buyers == sum(second.schemes["rfm_en"]["sizes"].values())
    assert sum(second.schemes["lifecycle"]["sizes"].values()) == 260
    pareto = second.schemes["value"]["stats"]["pareto"]
    assert 0.2 < pareto["top_share"] <= 1.0
    assert sum(t["customers"] for t in pareto["tiers"].values()) == buyers

    listed = seg.list_segments(settings)
    by_ref = {row["ref"]: row for row in listed}
    assert by_ref["rfm_cn:important_value"]["label_zh"] == "重要价值客户"
    assert by_ref["rfm_en:cant_lose_them"]["label_en"] == "Can't Lose Them"
    assert by_ref["lifecycle:at_risk"]["label_zh"] == "衰退/风险客户"
    assert len([r for r in listed if r["scheme"] == "rfm_en"]) == 11  # empty segments are listed too
    for row in listed:
        before = first.schemes[row["scheme"]]["sizes"].get(row["segment"], 0)
        after = second.schemes[row["scheme"]]["sizes"].get(row["segment"], 0)
        assert (row["size"], row["previous_size"], row["change"]) == (after, before, after - before)
        assert row["as_of"] == DAY2.isoformat() and row["previous_as_of"] == DAY1.isoformat()
    assert all(r["previous_size"] is None for r in seg.list_segments(settings, DAY1))


def test_transitions_add_up(ran: _Ran) -> None:
    settings = ran[0]
    result = seg.segment_transitions(settings, DAY1, DAY2, customers=True)
    assert [r["scheme"] for r in result] == ["rfm_cn", "rfm_en", "lifecycle", "value", "cross"]
    for scheme in result:
        moved = sum(m["customers"] for m in scheme["moves"])
        assert moved == len(set().union(*(m["customer_ids"] for m in scheme["moves"])))
        assert scheme["customers_from"] + scheme["new"] - scheme["gone"] == scheme["customers_to"]
        for row in scheme["segments"]:
            assert row["balanced"]
            assert row["size_to"] == row["size_from"] - row["out"] + row["in"]
            assert row["stayed"] + row["out"] == row["size_from"]
        assert sum(r["size_to"] for r in scheme["segments"]) == scheme["customers_to"]
    lifecycle = result[2]
    assert lifecycle["gone"] == 40 and lifecycle["new"] == 60  # customers 1..40 left, 241..300 arrived
    gone = {m["from_segment"]: m for m in lifecycle["moves"] if m["to_segment"] is None}
    assert sum(m["customers"] for m in gone.values()) == 40
    assert all(cid <= 40 for m in gone.values() for cid in m["customer_ids"])
    only = seg.segment_transitions(settings, DAY1, DAY2, scheme="rfm_cn")
    assert len(only) == 1 and "customer_ids" not in only[0]["moves"][0]


def test_show_and_explain(ran: _Ran) -> None:
    settings = ran[0]
    shown = seg.show_segment(settings, "lifecycle:dormant", limit=5)
    assert shown["label_zh"] == "沉睡客户" and shown["version"] == 1
    assert shown["precedence"][:3] == ["prospect", "lost", "dormant"]
    assert shown["rule"]["all"][1] == {"field": "days_since_last_order", "gt": 180}  # the threshold resolved
    assert len(shown["members"]) == min(5, shown["size"])
    member = shown["members"][0]
    assert member["values"]["days_since_last_order"] > 180
    assert member["values"]["contract_days_to_end"] is None

    why = {row["scheme"]: row for row in seg.explain_customer(settings, member["customer_id"])}
    assert why["lifecycle"]["segment"] == "dormant" and why["lifecycle"]["earlier"] == ["prospect", "lost"]
    rfm = why["rfm_cn"]["values"]
    assert {"r_score", "f_score", "m_score", "r_high", "f_high", "m_high", "recency"} <= set(rfm)
    assert why["rfm_cn"]["rule"] == {"all": [{"field": "m_high", "eq": rfm["m_high"]},
                                              {"field": "r_high", "eq": rfm["r_high"]},
                                              {"field": "f_high", "eq": rfm["f_high"]}]}  # fmt: skip
    with pytest.raises(NotFoundError, match="has no segment 'sleepy'"):
        seg.show_segment(settings, "lifecycle:sleepy")
    with pytest.raises(NotFoundError, match="no run of scheme 'rfm_xx'"):
        seg.show_segment(settings, "rfm_xx:a")


def test_rerun_replaces_and_config_change_is_a_new_version(settings: Settings, two_days: sa.Engine) -> None:
    from kehu.store.segments import segment_memberships, segment_runs

    placement.segment_run(settings, "duckdb", DAY2)
    placement.segment_run(settings, "duckdb", DAY2)
    with two_days.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(segment_runs)).scalar_one() == 5
        lifecycle = conn.execute(
            sa.select(sa.func.count()).select_from(segment_memberships).join(segment_runs)
            .where(segment_runs.c.scheme == "lifecycle")
        ).scalar_one()  # fmt: skip
        assert lifecycle == 260
    (settings.home / "segments.yaml").write_text("lifecycle:\n  thresholds:\n    lost_days: 540\n", encoding="utf-8")
    again = placement.segment_run(settings, "duckdb", DAY2)
    assert again.schemes["lifecycle"]["version"] == 2 and again.schemes["rfm_cn"]["version"] == 1
    assert seg.show_segment(settings, "lifecycle:lost")["rule"]["any"][0]["all"][1]["gt"] == 540
    (settings.home / "segments.yaml").write_text("lifecycle:\n  thresholds:\n    lost_dayz: 540\n", encoding="utf-8")
    with pytest.raises(ValidationError, match=r"lifecycle\.thresholds\.lost_dayz: unknown setting"):
        placement.segment_run(settings, "duckdb", DAY2)


def test_custom_segment_versions_and_members(settings: Settings, two_days: sa.Engine) -> None:
    from kehu.segments.profile import store_members
    from kehu.segments.rules import parse_rule

    rule = {"all": [{"field": "region", "in": ["华东", "华南"]}, {"field": "last_order_date", "within_days": 90}]}
    first = seg.define_segment(settings, "east_recent", rule, label_zh="华东华南近期客户", label_en="East, recent")
    same = seg.define_segment(settings, "east_recent", rule, label_zh="华东华南近期客户", label_en="East, recent")
    assert first["version"] == same["version"] == 1
    result = placement.segment_run(settings, "duckdb", DAY2)
    members = seg.show_segment(settings, "custom.east_recent", limit=0)
    assert members["label_zh"] == "华东华南近期客户" and members["population"] == 260
    with two_days.connect() as conn:
        expected = store_members(conn, parse_rule(rule), DAY2)
    assert members["size"] == len(expected) == result.schemes["custom.east_recent"]["sizes"].get("east_recent", 0)
    assert len(expected) > 0
    changed = seg.define_segment(settings, "east_recent", {**rule, "all": rule["all"][:1]})
    assert changed["version"] == 2
    assert placement.segment_run(settings, "duckdb", DAY2).schemes["custom.east_recent"]["version"] == 2


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_export_opens_with_chinese_headers(ran: _Ran, fmt: str, tmp_path: Any) -> None:
    import openpyxl

    settings = ran[0]
    shown = seg.show_segment(settings, "rfm_cn:important_value", limit=0)
    out = tmp_path / f"export.{fmt}"
    done = seg.export_segment(settings, "rfm_cn:important_value", fmt=fmt, out=out)
    assert done["rows"] == shown["size"] > 0
    if fmt == "xlsx":
        book = openpyxl.load_workbook(out, read_only=True)
        rows = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
        book.close()
    else:
        with out.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
    header = rows[0]
    assert header[:9] == ["客户编号", "客户名称", "公司", "电话", "邮箱", "区域", "城市", "负责人", "所属团队"]
    assert "分群" in header and "入群依据" in header
    assert len(rows) == 1 + shown["size"]
    first = dict(zip(header, rows[1], strict=True))
    assert first["分群"] == "重要价值客户" and first["负责人"] in ("张伟", "李娜")
    assert str(first["公司"]).startswith("'=")  # a value that looks like a formula stays text
    assert "r_score" in first["入群依据"]
    with pytest.raises(ValidationError, match="export format 'pdf'"):
        seg.export_segment(settings, "rfm_cn:important_value", fmt="pdf", out=out)


def test_segment_run_before_any_publish_says_what_to_do(settings: Settings) -> None:
    store = make_store(settings)
    store.dispose()
    with pytest.raises(NotFoundError, match="kehu run"):
        placement.segment_run(settings, "duckdb")


@pytest.mark.spark
def test_spark_and_duckdb_runs_give_the_same_memberships(
    settings: Settings, two_days: sa.Engine, spark_started: None
) -> None:
    from kehu.store.segments import memberships, run_ids

    def snapshot() -> dict[str, Any]:
        with two_days.connect() as conn:
            runs = run_ids(conn, DAY2)
            return {s: (r["population"], r["stats"], memberships(conn, r["id"])) for s, r in runs.items()}

    placement.segment_run(settings, "duckdb", DAY2)
    on_duckdb = snapshot()
    placement.segment_run(settings, "spark", DAY2)
    on_spark = snapshot()
    assert on_spark.keys() == on_duckdb.keys()
    for scheme in on_duckdb:
        assert on_spark[scheme] == on_duckdb[scheme], scheme


@pytest.mark.slow
def test_demo_company_transitions_add_up(tmp_path: Any) -> None:
    """The demo company through import, the pipeline on two days and segmentation: transitions add up."""
    from kehu.publish.pipeline_run import run_pipeline
    from kehu.service.workspace import Workspace

    settings = load_settings(home=tmp_path / "home")
    with Workspace(settings) as ws:
        ws.init()  # the store migration creates the segment tables
        end = ws.load_demo(customers=600, seed=7)["as_of"]
    end = end if isinstance(end, dt.date) else dt.date.fromisoformat(str(end)[:10])
    start = end - dt.timedelta(days=91)
    for day in (start, end):
        run_pipeline(settings, as_of=day, engine="duckdb", progress=lambda *_: None)
        placement.segment_run(settings, "duckdb", day)
    result = seg.segment_transitions(settings, start, end)
    assert {r["scheme"] for r in result} == {"rfm_cn", "rfm_en", "lifecycle", "value", "cross"}
    for scheme in result:
        assert scheme["customers_from"] + scheme["new"] - scheme["gone"] == scheme["customers_to"]
        assert all(row["balanced"] for row in scheme["segments"])
        # every customer of either run is counted in exactly one move
        assert sum(m["customers"] for m in scheme["moves"]) == scheme["customers_from"] + scheme["new"]
    lifecycle = next(r for r in result if r["scheme"] == "lifecycle")
    assert sum(r["size_to"] for r in lifecycle["segments"]) == lifecycle["customers_to"] > 500
