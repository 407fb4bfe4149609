"""The named figures of the customer page: each published figure gets its kind, label and definition in the reader's
language (with the model's days), a renewal in hand says so, and nothing is shown that was not published."""

from __future__ import annotations

from kehu.views.figures import FIGURE_KINDS, score_figures
from kehu.web.i18n import Translator

REASON = {
    "code": "since_last_order",
    "values": {"days": 45},
    "zh": "距上次下单已45天",
    "en": "45 days since last order",
}
SCORES = {
    "churn_risk": 0.94, "churn_tier": "high", "churn_reasons": [REASON],
    "renewal_risk": 0.0, "renewal_probability": 1.0, "renewal_tier": "low", "renewal_state": "draft",
    "renewal_reasons": [], "cohort_renewal_rate": 0.957, "p_alive": 0.985, "winback": None, "winback_value": None,
    "risk_days": {"horizon": 60, "grace": 14, "lapsed": 120},
}  # fmt: skip


def test_each_published_figure_is_named_and_defined_in_both_languages() -> None:
    for locale in ("zh-CN", "en"):
        t = Translator(locale)
        figures = score_figures(SCORES, t)
        kinds = [f["kind"] for f in figures]
        assert kinds == ["purchase_churn", "contract_non_renewal", "renewal_probability", "cohort_renewal_baseline",
                         "activity"]  # fmt: skip
        by_kind = {f["kind"]: f for f in figures}
        churn = by_kind["purchase_churn"]
        assert "60" in churn["definition"] and "120" in churn["definition"], churn  # the model's days
        assert churn["tier"] == "high" and churn["display"] == "94%"
        assert churn["reasons"] == [REASON["zh" if locale == "zh-CN" else "en"]]
        renewal = by_kind["contract_non_renewal"]
        assert renewal["state"] == "draft" and renewal["state_label"] and "14" in renewal["definition"]
        labels = {f["label"] for f in figures}
        assert len(labels) == len(figures)  # no two figures share a name
        for f in figures:
            assert f["definition"] and f["definition"] != f["label"]
            assert "{" not in f["definition"]
    zh = {f["kind"]: f for f in score_figures(SCORES, Translator("zh-CN"))}
    assert zh["purchase_churn"]["label"] == "购买流失风险"
    assert zh["cohort_renewal_baseline"]["label"].endswith("（基准）")
    assert set(FIGURE_KINDS.values()) >= set(zh)
    assert score_figures(None, Translator("en")) == [] and score_figures({}, Translator("en")) == []


def test_a_single_purchase_and_a_zero_estimate_are_shown_for_what_they_are() -> None:
    scores = {"p_alive": 1.0, "winback": 0.0, "winback_value": 1234.5, "churn_risk": None}
    t = Translator("zh-CN")
    plain = {f["kind"]: f for f in score_figures(scores, t)}
    assert "state" not in plain["activity"]
    figures = {f["kind"]: f for f in score_figures(scores, t, single_purchase=True)}
    assert figures["activity"]["state"] == "single_purchase" and "100%" in figures["activity"]["state_label"]
    assert figures["winback"]["display"] == "<1%" and figures["winback"]["value"] == 0.0
    assert figures["winback_value"]["display"].endswith("1,234.50")
    assert set(figures) == {"activity", "winback", "winback_value"}  # churn_risk is null: not published, not shown


def test_p_alive_names_the_purchase_model_behind_it() -> None:
    t = Translator("en")
    scores = {"p_alive": 1.0}
    (bg,) = score_figures(scores, t, single_purchase=True)
    assert "BG/NBD" in bg["definition"] and bg["state"] == "single_purchase"
    (mbg,) = score_figures(scores, t, purchase_model="mbgnbd", single_purchase=True)
    assert "MBG/NBD" in mbg["definition"] and "state" not in mbg  # MBG/NBD lets one-time buyers drop out
