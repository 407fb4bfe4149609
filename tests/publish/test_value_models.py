"""Value models on the store: published scores equal the model objects' own predictions; report files.

A small demo company goes through the real importer and the pipeline; the expectations are recomputed here
from the published features (and from the raw tables) with the model classes themselves.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import sqlalchemy as sa

from kehu.config import load_settings
from kehu.errors import StoreError, ValidationError
from kehu.models import BetaGeo, GammaGamma, ParetoNBD, ShiftedBetaGeo, customer_lifetime_value
from kehu.publish.pipeline_run import run_pipeline
from kehu.publish.value_models import contract_cohorts, score_value_models
from kehu.publish.value_report import write_models_report
from kehu.service.workspace import Workspace
from kehu.store import published, schema

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """A 300-customer demo company, imported and run through the pipeline once for this module."""
    ws = Workspace(load_settings(home=tmp_path_factory.mktemp("value") / "home"))
    ws.init()
    ws.load_demo(customers=300, seed=3)
    run_pipeline(ws.settings, engine="duckdb", progress=lambda *_: None)
    yield ws
    ws.close()


def _features(ws: Workspace, unit: str = "weeks") -> dict[str, np.ndarray]:
    h = published.customer_score_history.c
    rec, age = (h.recency_weeks, h.T_weeks) if unit == "weeks" else (h.recency_days, h.T_days)
    with ws.engine.connect() as conn:
        as_of = conn.execute(sa.select(sa.func.max(h.as_of))).scalar_one()
        rows = conn.execute(
            sa.select(h.customer_id, h.frequency, rec, age, h.monetary_value_cents, h.scores)
            .where(h.as_of == as_of, h.frequency.is_not(None))
            .order_by(h.customer_id)
        ).all()
    ids, f, r, T, m, scores = zip(*rows, strict=True)
    money = np.array([0.0 if v is None else v / 100 for v in m])
    return {
        "ids": np.array(ids), "f": np.array(f, dtype=float), "r": np.array(r, dtype=float),
        "T": np.array(T, dtype=float), "m": money, "scores": list(scores), "as_of": as_of,
    }  # fmt: skip


def test_published_scores_are_the_models_predictions(demo: Workspace) -> None:
    result = score_value_models(demo.settings, demo.engine)
    d = _features(demo)
    assert result.as_of == d["as_of"] and result.customers == len(d["ids"])
    # the models, fitted here on the same published features
    bg = BetaGeo().fit(d["f"], d["r"], d["T"])
    spender = (d["f"] > 0) & (d["m"] > 0)
    gg = GammaGamma().fit(d["f"][spender], d["m"][spender])
    for name, model in (("bgnbd", bg), ("gamma_gamma", gg)):
        for k, v in model.params_.items():
            assert result.models[name]["params"][k] == pytest.approx(v, rel=1e-9)
    assert result.repeat_customers == int(spender.sum())

    fill = float(gg.expected_average_value([0.0], [0.0])[0])
    m = np.where(spender, d["m"], np.where(d["f"] > 0, fill, 0.0))
    clv = customer_lifetime_value(
        bg, gg, d["f"], d["r"], d["T"], m, months=12, periods_per_month=365.25 / 12 / 7, discount_rate=0.10
    )
    expected = {
        "p_alive": bg.probability_alive(d["f"], d["r"], d["T"]),
        "expected_purchases_90d": bg.expected_purchases(90 / 7, d["f"], d["r"], d["T"]),
        "expected_purchases_365d": bg.expected_purchases(365 / 7, d["f"], d["r"], d["T"]),
        "expected_order_value": clv.expected_average_value,
        "clv_12m": clv.value,
    }
    for name, values in expected.items():
        got = np.array([s[name] for s in d["scores"]])
        tol = 0.006 if name in ("expected_order_value", "clv_12m") else 1e-6
        np.testing.assert_allclose(got, values, rtol=1e-9, atol=tol, err_msg=name)
    for s in d["scores"]:
        assert s["clv_12m_lower"] <= s["clv_12m"] <= s["clv_12m_upper"]
        assert 0.0 <= s["p_alive"] <= 1.0
        assert s["expected_purchases_90d"] <= s["expected_purchases_365d"]
    # the latest table carries the same scores as the history row of that day
    with demo.engine.connect() as conn:
        latest = dict(
            conn.execute(sa.select(published.customer_scores.c.customer_id, published.customer_scores.c.scores)).all()
        )
    for cid, s in zip(d["ids"], d["scores"], strict=True):
        assert latest[int(cid)] == s


def test_contract_outlook_from_survivor_cohorts(demo: Workspace) -> None:
    result = score_value_models(demo.settings, demo.engine)
    as_of = result.as_of
    with demo.engine.connect() as conn:
        rows = conn.execute(
            sa.select(schema.contracts.c.customer_id, schema.contracts.c.start_date, schema.contracts.c.end_date).where(
                schema.contracts.c.status != "draft"
            )
        ).all()
        scores = dict(
            conn.execute(sa.select(published.customer_scores.c.customer_id, published.customer_scores.c.scores)).all()
        )
    cohorts, renewals = contract_cohorts([tuple(r) for r in rows], as_of)
    assert cohorts and renewals and result.contract_customers == len(renewals)
    # every customer with a contract covering as_of has the outlook, nobody else
    active = {r[0] for r in rows if r[1] <= as_of <= r[2]}
    assert set(renewals) == active
    assert {cid for cid, s in scores.items() if s and "cohort_renewal_rate" in s} == active
    sbg = ShiftedBetaGeo().fit(list(cohorts.values()))
    assert result.models["shifted_beta_geo"]["params"] == pytest.approx(sbg.params_, rel=1e-9)
    for cid, made in renewals.items():
        s = scores[cid]
        assert s["cohort_renewal_rate"] == pytest.approx(float(sbg.retention_rate(made + 1)), abs=1e-6)
        derl = float(sbg.discounted_expected_residual_lifetime(made, 0.10))
        assert s["expected_residual_years"] == pytest.approx(derl, abs=1e-4)


def test_contract_cohorts_by_hand() -> None:
    as_of = dt.date(2024, 6, 30)
    rows = [
        (1, dt.date(2021, 1, 1), dt.date(2021, 12, 31)),  # 2021: one year, lapsed
        (1, dt.date(2022, 1, 1), dt.date(2022, 12, 31)),  # ... renewed once: lasted 2 years
        (2, dt.date(2021, 3, 1), dt.date(2022, 2, 28)),  # 2021: lasted 1 year
        (3, dt.date(2021, 6, 1), dt.date(2024, 5, 31)),  # 2021: 3 years, ended a month ago
        (4, dt.date(2021, 7, 1), dt.date(2024, 12, 31)),  # 2021: active, 3 completed years
        (5, dt.date(2023, 9, 1), dt.date(2024, 8, 31)),  # 2023: active in year 1 (horizon 0: no cohort)
        (6, dt.date(2025, 1, 1), dt.date(2025, 12, 31)),  # starts after as_of: ignored
    ]
    cohorts, renewals = contract_cohorts(rows, as_of)
    # the 2021 cohort is observed for 3 full years (its last member started 2021-07-01); customer 1 lasted
    # 2 years, 2 lasted 1, 3 lasted 3 and 4 is still under contract
    assert cohorts == {2021: [4, 4, 3, 2]}
    assert renewals == {4: 3, 5: 0}


def test_model_file_is_the_version_record(demo: Workspace) -> None:
    result = score_value_models(demo.settings, demo.engine, margin=0.4, annual_discount_rate=0.08)
    doc = json.loads(result.model_file.read_text(encoding="utf-8"))
    assert result.model_file == demo.settings.home / "models" / f"value-{result.as_of.isoformat()}.json"
    assert doc["as_of"] == result.as_of.isoformat()
    assert doc["settings"]["margin"] == 0.4 and doc["settings"]["annual_discount_rate"] == 0.08
    for name in ("bgnbd", "gamma_gamma"):
        rec = doc["models"][name]
        k = len(rec["params"])
        assert rec["aic"] == pytest.approx(2 * k - 2 * rec["log_likelihood"])
        assert rec["bic"] == pytest.approx(k * np.log(rec["n_customers"]) - 2 * rec["log_likelihood"])
        assert all(se is None or se > 0 for se in rec["standard_errors"].values())
    d = _features(demo)
    bg = BetaGeo().fit(d["f"], d["r"], d["T"])
    assert doc["models"]["bgnbd"]["standard_errors"] == pytest.approx(bg.standard_errors_, rel=1e-6)


def test_other_scores_are_kept_and_rerun_is_idempotent(demo: Workspace) -> None:
    c = published.customer_scores.c
    with demo.engine.begin() as conn:
        cid = conn.execute(sa.select(c.customer_id).where(c.frequency > 0).limit(1)).scalar_one()
        old = conn.execute(sa.select(c.scores).where(c.customer_id == cid)).scalar_one() or {}
        conn.execute(
            sa.update(published.customer_scores).where(c.customer_id == cid).values(scores={**old, "segment": "vip"})
        )
    first = score_value_models(demo.settings, demo.engine)
    with demo.engine.connect() as conn:
        once = conn.execute(sa.select(c.scores).where(c.customer_id == cid)).scalar_one()
    score_value_models(demo.settings, demo.engine)
    with demo.engine.connect() as conn:
        twice = conn.execute(sa.select(c.scores).where(c.customer_id == cid)).scalar_one()
    assert once["segment"] == "vip" and "clv_12m" in once
    assert once == twice and first.customers > 0


def test_days_as_the_time_unit(demo: Workspace) -> None:
    result = score_value_models(demo.settings, demo.engine, unit="days", interval_draws=20)
    d = _features(demo, unit="days")
    bg = BetaGeo().fit(d["f"], d["r"], d["T"])
    assert result.unit == "days"
    assert result.models["bgnbd"]["params"] == pytest.approx(bg.params_, rel=1e-9)
    got = np.array([s["expected_purchases_90d"] for s in d["scores"]])
    np.testing.assert_allclose(got, bg.expected_purchases(90.0, d["f"], d["r"], d["T"]), atol=1e-6)


@pytest.mark.slow
def test_pareto_nbd_scores(demo: Workspace) -> None:
    # slow: on this data the Pareto/NBD optimum has beta ~ 500 alpha, where the hypergeometric series
    # needs thousands of terms per evaluation
    result = score_value_models(demo.settings, demo.engine, purchase_model="pareto_nbd", interval_draws=10)
    d = _features(demo)
    pn = ParetoNBD().fit(d["f"], d["r"], d["T"])
    assert result.models["pareto_nbd"]["params"] == pytest.approx(pn.params_, rel=1e-6)
    got = np.array([s["p_alive"] for s in d["scores"]])
    np.testing.assert_allclose(got, pn.probability_alive(d["f"], d["r"], d["T"]), atol=2e-6)
    got90 = np.array([s["expected_purchases_90d"] for s in d["scores"]])
    np.testing.assert_allclose(got90, pn.expected_purchases(90 / 7, d["f"], d["r"], d["T"]), rtol=1e-5, atol=2e-6)


def test_clear_errors(demo: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="unit: 'months' is not one of days, weeks"):
        score_value_models(demo.settings, demo.engine, unit="months")
    with pytest.raises(ValidationError, match="purchase_model"):
        score_value_models(demo.settings, demo.engine, purchase_model="bgbb")
    with pytest.raises(ValidationError, match="margin: must be in"):
        score_value_models(demo.settings, demo.engine, margin=1.5)
    with pytest.raises(ValidationError, match="interval_level"):
        score_value_models(demo.settings, demo.engine, interval_level=90)
    with pytest.raises(StoreError, match="no features published for as_of 1999-01-01"):
        score_value_models(demo.settings, demo.engine, as_of=dt.date(1999, 1, 1))
    empty = Workspace(load_settings(home=tmp_path / "empty"))
    empty.init()
    with pytest.raises(StoreError, match="run `kehu run`"):
        score_value_models(empty.settings, empty.engine)
    empty.close()


def test_models_report_files_and_numbers(demo: Workspace, tmp_path: Path) -> None:
    with demo.engine.connect() as conn:
        o = schema.orders.c
        rows = conn.execute(
            sa.select(o.customer_id, o.ordered_at).where(sa.func.lower(o.status).in_(("paid", "completed")))
        ).all()
    days: dict[int, set[dt.date]] = {}
    for cid, at in rows:
        days.setdefault(cid, set()).add(at.astimezone(ZoneInfo(demo.settings.timezone)).date())  # local days
    cal_end, obs_end = dt.date(2025, 6, 30), max(max(v) for v in days.values())
    report = write_models_report(
        demo.settings, demo.engine, tmp_path / "report", calibration_end=cal_end, compare=("bgnbd",)
    )
    for png in (report.files.calibration_png, report.files.cumulative_png, report.files.p_alive_png):
        assert png.read_bytes().startswith(PNG_MAGIC)
    assert report.files.html.read_text(encoding="utf-8").count("data:image/png;base64,") == 3
    assert report.observation_end == obs_end
    # calibration customers: first purchase on or before the end of calibration
    acquired = {cid for cid, d in days.items() if min(d) <= cal_end}
    assert report.customers == len(acquired) == report.numbers["calibration"]["customers"].sum()
    # the cumulative curve ends at all repeat purchase days up to the end of observation
    repeat_days = sum(len(d) - 1 for d in days.values())
    assert report.numbers["cumulative"]["actual"][-1] == repeat_days
    # mean holdout purchases of the customers without repeats in calibration, counted by hand
    zero = [cid for cid in acquired if len({d for d in days[cid] if d <= cal_end}) == 1]
    held = [len({d for d in days[cid] if cal_end < d <= obs_end}) for cid in zero]
    assert report.numbers["calibration"]["actual"][0] == pytest.approx(np.mean(held))
    saved = json.loads(report.numbers_file.read_text(encoding="utf-8"))
    assert saved["numbers"]["cumulative"]["actual"] == report.numbers["cumulative"]["actual"].tolist()
    assert [row["model"] for row in saved["comparison"]] == ["BG/NBD"]
    with pytest.raises(ValidationError, match="calibration_end: must be on or after"):
        write_models_report(demo.settings, demo.engine, tmp_path / "bad", calibration_end=obs_end)


def _cdnow_workspace(tmp_path: Path) -> Workspace:
    from kehu_testdata import cdnow_path

    ws = Workspace(load_settings(home=tmp_path / "cdnow"))
    ws.init()
    mapping = Path(__file__).resolve().parents[2] / "examples" / "cdnow" / "sample.yaml"
    summary = ws.import_file("orders", cdnow_path("CDNOW_sample.txt"), mapping=mapping, source="cdnow")
    assert (summary.inserted, summary.quarantined) == (6_919, 0)
    return ws


def test_cdnow_published_bgnbd_is_the_papers_fit(tmp_path: Path) -> None:
    from kehu.models import calibration_holdout
    from kehu.models.diagnostics import calibration_vs_holdout, cumulative_repeat_transactions
    from kehu_testdata import cdnow_path

    ws = _cdnow_workspace(tmp_path)
    as_of = dt.date(1997, 9, 30)
    run_pipeline(ws.settings, as_of=as_of, engine="duckdb", progress=lambda *_: None)
    result = score_value_models(ws.settings, ws.engine)
    assert result.as_of == as_of and result.customers == 2_357
    # the same fit from the raw file, through the array API
    raw = np.loadtxt(cdnow_path("CDNOW_sample.txt"))
    dates = np.array([f"{int(v):08d}" for v in raw[:, 2]])
    days = np.array([f"{v[:4]}-{v[4:6]}-{v[6:]}" for v in dates], dtype="datetime64[D]")
    data = calibration_holdout(raw[:, 0], days, raw[:, 4], calibration_end="1997-09-30", unit_days=7.0)
    cal = data.calibration
    direct = BetaGeo().fit(cal.frequency, cal.recency, cal.T)
    published_params = json.loads(result.model_file.read_text())["models"]["bgnbd"]["params"]
    assert published_params == pytest.approx(direct.params_, rel=1e-8)
    for k, v in {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}.items():  # Fader, Hardie & Lee (2005)
        assert float(f"{published_params[k]:.3g}") == pytest.approx(v, rel=2e-3), k
    spend = GammaGamma().fit(cal.frequency, cal.monetary_value)
    assert result.models["gamma_gamma"]["params"] == pytest.approx(spend.params_, rel=1e-6)
    report = write_models_report(
        ws.settings, ws.engine, tmp_path / "report",
        calibration_end=as_of, observation_end=dt.date(1998, 6, 30),
    )  # fmt: skip
    assert report.customers == 2_357
    assert report.parameters[0]["estimate"] == pytest.approx(direct.params_["r"], rel=1e-8)
    assert {row["model"] for row in report.comparison} == {"BG/NBD", "Pareto/NBD", "MBG/NBD"}
    # the plotted numbers are those of the array API on the raw file
    split = calibration_holdout(
        raw[:, 0], days, raw[:, 4], calibration_end="1997-09-30", observation_end="1998-06-30", unit_days=7.0
    )
    mine = calibration_vs_holdout(direct, split)
    for key in ("customers", "actual", "predicted"):
        np.testing.assert_allclose(report.numbers["calibration"][key], mine[key], rtol=1e-9)
    tracking = cumulative_repeat_transactions(direct, raw[:, 0], days, start="1997-01-01", end="1998-06-30")
    np.testing.assert_allclose(report.numbers["cumulative"]["actual"], tracking["actual"])
    np.testing.assert_allclose(report.numbers["cumulative"]["predicted"], tracking["predicted"], rtol=1e-9)
    ws.close()


def test_mbgnbd_scores(demo: Workspace) -> None:
    from kehu.models import ModifiedBetaGeo

    result = score_value_models(demo.settings, demo.engine, purchase_model="mbgnbd", interval_draws=10)
    d = _features(demo)
    mbg = ModifiedBetaGeo().fit(d["f"], d["r"], d["T"])
    assert result.purchase_model == "mbgnbd" and result.models["mbgnbd"]["converged"]
    assert result.models["mbgnbd"]["params"] == pytest.approx(mbg.params_, rel=1e-9)
    got = np.array([s["p_alive"] for s in d["scores"]])
    np.testing.assert_allclose(got, mbg.probability_alive(d["f"], d["r"], d["T"]), atol=1e-6)
    score_value_models(demo.settings, demo.engine)  # back to the default model for the other tests


def test_no_scores_from_a_fit_that_did_not_converge(tmp_path: Path) -> None:
    """Forty customers with the same two purchases: BG/NBD's r runs off to ~1e8 and the search calls it success."""
    ws = Workspace(load_settings(home=tmp_path / "home"))
    ws.init()
    mapping = Path(__file__).resolve().parents[2] / "examples" / "cdnow" / "sample.yaml"
    lines = [f"{c:05d} {c:04d} {day} 1 20.00" for c in range(1, 41) for day in ("19970105", "19970301")]
    orders_file = tmp_path / "same.txt"
    orders_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert ws.import_file("orders", orders_file, mapping=mapping, source="same").inserted == 80
    run_pipeline(ws.settings, as_of=dt.date(1997, 6, 30), engine="duckdb", progress=lambda *_: None)
    with pytest.raises(ValidationError, match=r"the BG/NBD fit did not converge, so no value scores were published: "
                       r"parameter \w+ = .* sits at the edge of its range"):  # fmt: skip
        score_value_models(ws.settings, ws.engine)
    with ws.engine.connect() as conn:
        scores = conn.execute(sa.select(published.customer_scores.c.scores)).scalars().all()
    assert scores and not any("p_alive" in (s or {}) for s in scores)
    ws.close()
