"""Churn early warning: a calibrated LightGBM model on the pipeline's point-in-time features, risk tiers, reasons.

:class:`ChurnModel` is a :class:`~kehu.models.boosted.BoostedClassifier` whose positive class is a named
churn event. Two such models are trained on the same features, each on its own population and label:

- *purchase churn*: no purchase within the horizon (default 90 days), for recent buyers
  (:func:`churn_eligible`: a purchase in the last ``lapsed_days``, default 180, the lifecycle's ``dormant_days``);
- *contract non-renewal*: the current contract is not renewed within the grace period after its end, for
  contract customers up for renewal (:func:`renewal_eligible`: the contract ends within the horizon or ended
  less than the grace period ago).

It adds risk tiers (:meth:`ChurnModel.tier`) and per-customer reasons (:meth:`ChurnModel.reasons`): the
customer's SHAP contributions (LightGBM ``pred_contrib``) are summed per reason group of
:mod:`kehu.models.reasons`, the groups that push risk up most are kept, and each is rendered with the
customer's own numbers in zh-CN and en.

Buyers lapsed beyond ``lapsed_days`` (:func:`winback_eligible`) are a win-back problem, not an early-warning one:
their figure is the probability of returning within the horizon (a
:class:`~kehu.models.propensity.PurchasePropensity` trained on lapsed customers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kehu.errors import ValidationError
from kehu.models.boosted import BoostedClassifier
from kehu.models.reasons import Reason, explain
from kehu.vocabulary import RISK_TIERS

__all__ = [
    "CHURN_FEATURES",
    "ChurnModel",
    "assign_tiers",
    "churn_eligible",
    "renewal_eligible",
    "winback_eligible",
]

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
    *,
    lapsed_days: int = 180,
) -> np.ndarray:
    """Who gets a purchase-churn risk: buyers with a purchase in the last ``lapsed_days`` (NaN means "none").

    Returns
    -------
    numpy.ndarray of bool
    """
    orders = np.nan_to_num(np.asarray(orders, dtype=np.float64), nan=0.0)
    dslo = np.asarray(days_since_last_order, dtype=np.float64)
    return np.asarray((orders > 0) & (np.nan_to_num(dslo, nan=np.inf) <= lapsed_days))


def winback_eligible(
    orders: np.ndarray,
    days_since_last_order: np.ndarray,
    *,
    lapsed_days: int = 180,
) -> np.ndarray:
    """Who gets a win-back figure: buyers whose last purchase is more than ``lapsed_days`` ago.

    Every customer with a purchase is exactly one of :func:`churn_eligible` and :func:`winback_eligible`.
    """
    orders = np.nan_to_num(np.asarray(orders, dtype=np.float64), nan=0.0)
    return np.asarray((orders > 0) & ~churn_eligible(orders, days_since_last_order, lapsed_days=lapsed_days))


def renewal_eligible(contract_days_to_end: np.ndarray, *, horizon_days: int = 90, grace_days: int = 30) -> np.ndarray:
    """Who gets a non-renewal risk: contract customers whose contract ends within ``horizon_days`` or ended less
    than ``grace_days`` ago (the outcome's ``up_for_renewal``; NaN means "no contract")."""
    to_end = np.asarray(contract_days_to_end, dtype=np.float64)
    finite = np.isfinite(to_end)
    safe = np.where(finite, to_end, 0.0)
    return np.asarray(finite & (safe > -grace_days) & (safe <= horizon_days))


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
    """Probability of a churn event (purchase churn or contract non-renewal), with tiers and reasons.

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
        """Calibrated probability of the churn event the model was trained on, one per row."""
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
