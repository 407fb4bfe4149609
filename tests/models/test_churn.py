"""The churn, propensity and cross-sell models on small generated arrays (no I/O)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from kehu.errors import NotFittedError, ValidationError
from kehu.models.churn import (
    CHURN_FEATURES,
    ChurnModel,
    assign_tiers,
    churn_eligible,
    renewal_eligible,
    winback_eligible,
)
from kehu.models.evaluation import average_precision, calibration_deciles, capture_at, roc_auc, score_table
from kehu.models.propensity import NextCategoryModel, PurchasePropensity, hit_rate_at_k, popularity_top_k
from kehu.models.reasons import _BUILDERS, REASON_GROUPS, catalog, render

pytest.importorskip("lightgbm")
IDX = {f: i for i, f in enumerate(CHURN_FEATURES)}


def _customers(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Features where churn follows a collapse in orders, complaints and staleness (plus noise)."""
    X = np.full((n, len(CHURN_FEATURES)), np.nan)
    prev = rng.poisson(4, n).astype(float)
    collapse = rng.random(n) < 0.4
    recent = np.where(collapse, rng.binomial(prev.astype(int), 0.2), rng.poisson(prev + 0.5)).astype(float)
    X[:, IDX["orders_prev_90d"]] = prev
    X[:, IDX["orders_90d"]] = recent
    X[:, IDX["order_trend_90d"]] = recent - prev
    X[:, IDX["orders"]] = prev + recent + rng.poisson(5, n)
    X[:, IDX["days_since_last_order"]] = rng.integers(1, 170, n)
    X[:, IDX["complaints_90d"]] = rng.poisson(0.3, n)
    X[:, IDX["tenure_days"]] = rng.integers(200, 900, n)
    X[:, IDX["interactions_90d"]] = rng.poisson(2, n)
    X[:, IDX["interactions_prev_90d"]] = rng.poisson(2, n)
    X[:, IDX["mean_order_value_cents"]] = rng.gamma(3, 5_000, n)
    logit = -1.0 + 2.2 * collapse + 0.6 * X[:, IDX["complaints_90d"]] + 0.01 * X[:, IDX["days_since_last_order"]]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


@pytest.fixture(scope="module")
def fitted() -> tuple[ChurnModel, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    X, y = _customers(rng, 6_000)
    Xc, yc = _customers(rng, 3_000)
    model = ChurnModel(n_estimators=150, early_stopping_rounds=20).fit(X, y, calibration=(Xc, yc))
    Xt, yt = _customers(rng, 3_000)
    return model, Xt, yt


def test_shap_contributions_sum_to_the_raw_score(fitted: tuple[ChurnModel, np.ndarray, np.ndarray]) -> None:
    model, X, _ = fitted
    contrib = model.contributions(X[:500])
    assert contrib.shape == (500, len(CHURN_FEATURES) + 1)
    np.testing.assert_allclose(contrib.sum(axis=1), model.decision_function(X[:500]), rtol=0, atol=1e-9)


def test_collapsed_customer_gets_the_collapse_as_top_reason(fitted: tuple[ChurnModel, np.ndarray, np.ndarray]) -> None:
    model, X, _ = fitted
    row = X[0].copy()
    row[IDX["days_since_last_order"]] = 60
    row[IDX["orders_prev_90d"]], row[IDX["orders_90d"]], row[IDX["order_trend_90d"]] = 6, 2, -4
    row[IDX["complaints_90d"]] = 0
    reasons = model.reasons(row[None, :])[0]
    assert reasons, "a customer whose orders collapsed must get reasons"
    top = reasons[0]
    assert top.code == "orders_down"
    assert top.values == {"recent": 2, "previous": 6, "drop_pct": 67}
    assert top.sentence("zh") == "近90天下单2次，较前90天的6次下降67%"
    assert top.sentence("en") == "2 orders in the last 90 days, down 67% from 6"
    assert set(top.as_dict()) == {"code", "values", "zh", "en"}
    assert model.risk(row[None, :])[0] > model.base_rate_


def test_model_ranks_better_than_chance_and_is_calibrated(fitted: tuple[ChurnModel, np.ndarray, np.ndarray]) -> None:
    model, X, y = fitted
    risk = model.risk(X)
    assert risk.min() >= 0 and risk.max() <= 1
    assert roc_auc(y, risk) > 0.7
    assert max(abs(d["gap"]) for d in calibration_deciles(y, risk)) < 0.08
    assert set(model.tier(risk)) <= {"high", "medium", "low"}


def test_saved_model_predicts_the_same(fitted: tuple[ChurnModel, np.ndarray, np.ndarray]) -> None:
    model, X, _ = fitted
    again = ChurnModel.from_dict(model.to_dict())
    np.testing.assert_allclose(again.risk(X), model.risk(X))
    assert again.tier_cutoffs == model.tier_cutoffs


def test_platt_calibration_and_propensity_share_the_contract() -> None:
    rng = np.random.default_rng(5)
    X, y = _customers(rng, 3_000)
    Xc, yc = _customers(rng, 1_500)
    prop = PurchasePropensity(calibration="platt", n_estimators=60).fit(X, 1 - y, calibration=(Xc, 1 - yc))
    p = prop.probability(X)
    assert prop.calibration_["kind"] == "platt" and np.all((p > 0) & (p < 1))
    assert prop.predict(X).shape == (3_000,)


def test_bad_input_is_refused_with_a_clear_message() -> None:
    with pytest.raises(NotFittedError):
        ChurnModel().risk(np.zeros((1, len(CHURN_FEATURES))))
    X = np.zeros((10, len(CHURN_FEATURES)))
    with pytest.raises(ValidationError, match="both outcomes"):
        ChurnModel().fit(X, np.zeros(10), calibration=(X, np.r_[np.zeros(5), np.ones(5)]))
    with pytest.raises(ValidationError, match="columns"):
        ChurnModel().fit(X[:, :3], np.r_[np.zeros(5), np.ones(5)], calibration=(X, np.ones(10)))
    with pytest.raises(ValidationError, match="calibration"):
        ChurnModel(calibration="beta").fit(X, np.r_[np.zeros(5), np.ones(5)], calibration=(X, np.ones(10)))
    with pytest.raises(ValidationError, match="cut-offs"):
        assign_tiers(np.array([0.3]), (0.2, 0.4))


def test_tiers_and_eligibility() -> None:
    assert assign_tiers(np.array([0.9, 0.5, 0.3, 0.1]), (0.5, 0.25)).tolist() == ["high", "high", "medium", "low"]
    nan = np.nan
    orders, dslo = np.array([3, 3, 0, 0, nan]), np.array([20, 400, nan, nan, nan])
    # purchase churn: recent buyer yes; lapsed buyer no; contract-only customers and prospects no
    assert churn_eligible(orders, dslo).tolist() == [True, False, False, False, False]
    # win-back: exactly the lapsed buyers; every buyer is in one of the two
    assert winback_eligible(orders, dslo).tolist() == [False, True, False, False, False]
    buyers = np.nan_to_num(orders) > 0
    assert ((churn_eligible(orders, dslo) ^ winback_eligible(orders, dslo)) == buyers).all()
    # non-renewal: the contract ends within the horizon or ended less than the grace period ago
    to_end = np.array([nan, 0, 90, 91, -29, -30, 400])
    assert renewal_eligible(to_end, horizon_days=90, grace_days=30).tolist() == [
        False, True, True, False, True, False, False,
    ]  # fmt: skip


def test_every_reason_code_has_both_languages_and_renders() -> None:
    cat = catalog()
    placeholders = re.compile(r"{(\w+)[:}]")
    for code, entry in cat.items():
        assert set(entry) == {"zh", "en"}, code
        assert set(placeholders.findall(entry["zh"])) == set(placeholders.findall(entry["en"])), code
    assert set(REASON_GROUPS) == set(_BUILDERS)
    assert set(sum(REASON_GROUPS.values(), ())) == set(CHURN_FEATURES)
    assert render("contract_ending", {"days": 12}, "zh") == "合同12天后到期"


def test_metrics_match_scikit_learn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2_000)
    score = y * 0.3 + rng.random(2_000)
    assert roc_auc(y, score) == pytest.approx(metrics.roc_auc_score(y, score), abs=1e-12)
    assert average_precision(y, score) == pytest.approx(metrics.average_precision_score(y, score), abs=1e-12)
    tied = np.round(score, 1)
    assert roc_auc(y, tied) == pytest.approx(metrics.roc_auc_score(y, tied), abs=1e-12)
    assert capture_at(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.1, 0.0]), 0.25) == 0.5
    table = score_table(y, {"s": score, "p": np.clip(score, 0, 1)}, probabilities=("p",))
    assert table[0]["brier"] is None and table[1]["brier"] is not None
    assert table[0]["lift_10"] == pytest.approx(table[0]["capture_10"] / 0.1)


def test_next_category_model_beats_popularity_when_tastes_persist() -> None:
    rng = np.random.default_rng(1)
    k, n = 6, 4_000

    def period(taste: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        history = np.zeros((n, k))
        nxt = np.zeros((n, k))
        for i in range(n):
            history[i, rng.choice(k, 3, p=taste[i])] += 1
            if rng.random() < 0.6:
                nxt[i, rng.choice(k, p=taste[i])] = 1
        return history, nxt

    popular = np.array([0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
    taste = np.array([rng.dirichlet(popular * 3) for _ in range(n)])
    h_tr, y_tr = period(taste)
    h_te, y_te = period(taste)
    model = NextCategoryModel(categories=[f"c{j}" for j in range(k)]).fit(h_tr, y_tr)
    ours = hit_rate_at_k(model.top_k(h_te, 3), y_te)
    baseline = hit_rate_at_k(popularity_top_k(y_tr, n, 3), y_te)
    assert ours > baseline + 0.03
    assert model.top_k_names(h_te[:1], 2)[0][0].startswith("c")


def test_activity_that_stopped_reads_as_no_orders_not_as_a_100_percent_drop() -> None:
    from kehu.models.reason_checks import check
    from kehu.models.reasons import _activity, _engagement, _Row

    def first_true(candidates: list[tuple[str, dict[str, Any]]], row: _Row) -> tuple[str, Any]:
        return next((code, values) for code, values in candidates if check(code, values, row) is None)

    row = _Row(orders_90d=0, orders_prev_90d=3)
    assert first_true(_activity(row, {}, {}), row) == ("no_orders_90d", {"previous": 3})
    row = _Row(orders_90d=1, orders_prev_90d=4)
    assert first_true(_activity(row, {}, {}), row)[0] == "orders_down"
    stopped = _Row(interactions_90d=0, interactions_prev_90d=5, days_since_last_interaction=120)
    assert first_true(_engagement(stopped, {}, {}), stopped) == ("no_engagement", {"days": 120})
