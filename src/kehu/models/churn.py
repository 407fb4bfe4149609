"""Churn early warning: a calibrated LightGBM model on the pipeline's point-in-time features, risk tiers, reasons.

:class:`ChurnModel` is a :class:`~kehu.models.boosted.BoostedClassifier` whose positive class is "churns within
the horizon" (no purchase in the next H days; for contract customers up for renewal, no renewal within the
grace period). It adds risk tiers (:meth:`ChurnModel.tier`) and per-customer reasons
(:meth:`ChurnModel.reasons`): the customer's SHAP contributions (LightGBM ``pred_contrib``) are summed per
reason group of :mod:`kehu.models.reasons`, the groups that push risk up most are kept, and each is rendered
with the customer's own numbers in zh-CN and en.

Who is scored (:func:`churn_eligible`): customers with a purchase in the last ``lapsed_days`` (default 180,
the lifecycle's ``dormant_days``), and contract customers whose contract has not ended more than the grace
period ago. Customers lapsed beyond that are a win-back problem, not an early-warning one: they are left out
of training and scoring, and the lifecycle stages (dormant / lost) describe them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kehu.errors import ValidationError
from kehu.models.boosted import BoostedClassifier
from kehu.models.reasons import Reason, explain
from kehu.vocabulary import RISK_TIERS

__all__ = ["CHURN_FEATURES", "ChurnModel", "assign_tiers", "churn_eligible"]

#: the pipeline features the churn and propensity models read (kehu.store.published.FEATURE_COLUMNS names)
CHURN_FEATURES: tuple[str, ...] = (
    "tenure_days", "orders", "purchase_days", "frequency", "recency_days", "T_days", "days_since_last_order",
    "total_revenue_cents", "mean_order_value_cents", "monetary_value_cents", "total_margin_cents",
    "revenue_30d_cents", "orders_30d", "revenue_90d_cents", "orders_90d", "revenue_180d_cents", "orders_180d",
    "revenue_365d_cents", "orders_365d", "revenue_prev_90d_cents", "orders_prev_90d", "revenue_trend_90d",
    "order_trend_90d", "gap_mean_days", "gap_std_days", "overdue_ratio",
    "refunded_orders", "refund_share", "discount_share", "category_count",
    "interactions_total", "interactions_30d", "interactions_90d", "interactions_prev_90d",
    "interaction_trend_90d", "days_since_last_interaction",
    "tickets_total", "tickets_90d", "complaints_90d", "first_response_hours_mean", "latest_nps", "latest_csat",
    "contracts_active", "contract_days_to_end", "contract_renewals",
)  # fmt: skip


def churn_eligible(
    orders: np.ndarray,
    days_since_last_order: np.ndarray,
    contract_days_to_end: np.ndarray,
    *,
    lapsed_days: int = 180,
    grace_days: int = 30,
) -> np.ndarray:
    """Which customers the churn model scores (see the module docstring); NaN means "none" / "no contract".

    Returns
    -------
    numpy.ndarray of bool
    """
    orders = np.nan_to_num(np.asarray(orders, dtype=np.float64), nan=0.0)
    dslo = np.asarray(days_since_last_order, dtype=np.float64)
    to_end = np.asarray(contract_days_to_end, dtype=np.float64)
    recent_buyer = (orders > 0) & (np.nan_to_num(dslo, nan=np.inf) <= lapsed_days)
    contract = np.nan_to_num(to_end, nan=-np.inf) >= -grace_days
    return np.asarray(recent_buyer | contract)


def assign_tiers(risk: np.ndarray, cutoffs: tuple[float, float] = (0.5, 0.25)) -> np.ndarray:
    """Risk tiers: ``"high"`` at or above ``cutoffs[0]``, ``"medium"`` at or above ``cutoffs[1]``, else ``"low"``.

    Raises
    ------
    ValidationError
        When the cut-offs are not ``1 >= high > medium >= 0``.
    """
    high, medium = cutoffs
    if not 0 <= medium < high <= 1:
        raise ValidationError(f"tier cut-offs: need 1 >= high > medium >= 0, got high={high}, medium={medium}")
    risk = np.asarray(risk, dtype=np.float64)
    return np.where(risk >= high, RISK_TIERS[0], np.where(risk >= medium, RISK_TIERS[1], RISK_TIERS[2]))


class ChurnModel(BoostedClassifier):
    """Probability of churning within the horizon, with tiers and reasons.

    Parameters
    ----------
    feature_names
        Column names of ``X`` (default :data:`CHURN_FEATURES`).
    tier_cutoffs
        ``(high, medium)`` lower bounds of the calibrated risk for the 高 and 中 tiers.
    **params
        Passed to :class:`~kehu.models.boosted.BoostedClassifier`.
    """

    def __init__(
        self,
        *,
        feature_names: Sequence[str] = CHURN_FEATURES,
        tier_cutoffs: tuple[float, float] = (0.5, 0.25),
        **params: Any,
    ) -> None:
        super().__init__(feature_names=feature_names, **params)
        self.tier_cutoffs = tier_cutoffs

    def get_params(self) -> dict[str, Any]:
        """Hyper-parameters including the tier cut-offs."""
        return {**super().get_params(), "tier_cutoffs": list(self.tier_cutoffs)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChurnModel:
        """Rebuild a fitted model from :meth:`to_dict` output."""
        params = dict(data["params"])
        params["tier_cutoffs"] = tuple(params.get("tier_cutoffs", (0.5, 0.25)))
        model = super().from_dict({**data, "params": params})
        assert isinstance(model, ChurnModel)
        return model

    def risk(self, X: Any) -> np.ndarray:
        """Calibrated probability of churning within the horizon, one per row."""
        return np.asarray(self.predict_proba(X)[:, 1])

    def tier(self, risk: np.ndarray) -> np.ndarray:
        """Tier of each calibrated risk (see :func:`assign_tiers`)."""
        return assign_tiers(risk, tuple(self.tier_cutoffs))  # type: ignore[arg-type]

    def reasons(
        self,
        X: Any,
        *,
        top: int = 3,
        contributions: np.ndarray | None = None,
        reference: Mapping[str, float] | None = None,
    ) -> list[list[Reason]]:
        """Up to ``top`` reasons per row: the reason groups whose SHAP contributions raise the risk most.

        Parameters
        ----------
        X
            Feature rows (the customers' own numbers are read from them).
        top
            Reasons per customer.
        contributions
            Precomputed :meth:`contributions` of ``X`` (computed when omitted).
        reference
            The "typical" figures of the scored population (:func:`kehu.models.reasons.reference_values`);
            without them the value and category groups give no reason.
        """
        X = self._check_X(X)
        contrib = self.contributions(X) if contributions is None else contributions
        return explain(X, contrib[:, :-1], list(self.feature_names), top=top, reference=reference)
