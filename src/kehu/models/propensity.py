"""Next-purchase propensity and cross-sell: who orders soon, and which categories they are likely to buy next.

- :class:`PurchasePropensity`: a calibrated LightGBM classifier (see :class:`~kehu.models.boosted.BoostedClassifier`)
  of "orders within the next 30 days" on the pipeline's features.
- :class:`NextCategoryModel`: the most likely next categories per customer. From a training period it learns
  how a customer's category mix turns into next-period purchases, ``T[a, b] = P(buys b next | bought a before)``
  (the diagonal is "buys the same again"), and scores a customer by their recency-weighted category shares
  times ``T``, blended with overall popularity so customers without history get the popular categories.
- :func:`popularity_top_k` is the baseline and :func:`hit_rate_at_k` the measure: the share of customers
  who bought in the evaluation window whose top-k holds at least one category they bought.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from kehu.errors import NotFittedError, ValidationError
from kehu.models.boosted import BoostedClassifier
from kehu.models.churn import CHURN_FEATURES

__all__ = ["NextCategoryModel", "PurchasePropensity", "hit_rate_at_k", "popularity_top_k"]


class PurchasePropensity(BoostedClassifier):
    """Calibrated probability of ordering within the horizon (default 30 days) on the churn model's features."""

    def __init__(self, *, feature_names: Sequence[str] = CHURN_FEATURES, **params: Any) -> None:
        super().__init__(feature_names=feature_names, **params)

    def probability(self, X: Any) -> np.ndarray:
        """Calibrated probability of ordering within the horizon, one per row."""
        return np.asarray(self.predict_proba(X)[:, 1])


def _check_matrix(m: Any, n_categories: int | None, what: str) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    if m.ndim != 2:
        raise ValidationError(f"{what}: must be a 2-D array (customers x categories)")
    if n_categories is not None and m.shape[1] != n_categories:
        raise ValidationError(f"{what}: has {m.shape[1]} columns, expected {n_categories} (one per category)")
    if (m < 0).any() or np.isnan(m).any():
        raise ValidationError(f"{what}: counts must be non-negative numbers")
    return m


def _shares(history: np.ndarray) -> np.ndarray:
    total = history.sum(axis=1, keepdims=True)
    return np.divide(history, total, out=np.zeros_like(history), where=total > 0)


class NextCategoryModel:
    """Top next categories per customer from their category history (a category-transition model).

    Parameters
    ----------
    categories
        Category names (columns of the history and outcome matrices).
    smoothing
        Pseudo-count pulling each row of ``T`` towards popularity (sparse categories are not over-trusted).
    popularity_weight
        Weight of overall popularity added to every customer's scores (tie-breaker and cold start).
    """

    def __init__(self, *, categories: Sequence[str], smoothing: float = 5.0, popularity_weight: float = 0.05) -> None:
        self.categories = categories
        self.smoothing = smoothing
        self.popularity_weight = popularity_weight

    def fit(self, history: Any, bought_next: Any) -> NextCategoryModel:
        """Learn ``T`` from customers' histories at a training day and what they bought in the window after it.

        Parameters
        ----------
        history
            (customers, categories): recency-weighted purchase counts up to the training day.
        bought_next
            (customers, categories): 1 where the customer bought the category in the window after it.

        Returns
        -------
        self
        """
        k = len(self.categories)
        if k == 0 or len(set(self.categories)) != k:
            raise ValidationError("categories: give at least one category, each name once")
        h = _check_matrix(history, k, "history")
        y = (_check_matrix(bought_next, k, "bought_next") > 0).astype(np.float64)
        if h.shape[0] != y.shape[0]:
            raise ValidationError(f"history has {h.shape[0]} rows but bought_next has {y.shape[0]}")
        buyers = y.sum(axis=1) > 0
        if not buyers.any():
            raise ValidationError("bought_next: nobody bought in the window; nothing to learn from")
        pop = y[buyers].sum(axis=0)
        self.popularity_ = pop / pop.sum()
        w = _shares(h[buyers])
        counts = w.T @ y[buyers]  # a -> b: share-weighted buyers of b among customers with a in their mix
        mass = w.sum(axis=0)[:, None]
        self.transition_ = (counts + self.smoothing * self.popularity_[None, :]) / (mass + self.smoothing)
        self.n_customers_ = int(buyers.sum())
        return self

    def scores(self, history: Any) -> np.ndarray:
        """(customers, categories) scores: higher = more likely among the next purchases."""
        if not hasattr(self, "transition_"):
            raise NotFittedError("this NextCategoryModel is not fitted yet: call fit() first")
        h = _check_matrix(history, len(self.categories), "history")
        return np.asarray(_shares(h) @ self.transition_ + self.popularity_weight * self.popularity_[None, :])

    def top_k(self, history: Any, k: int = 3) -> np.ndarray:
        """(customers, k) column indices of the ``k`` best categories, best first."""
        s = self.scores(history)
        return np.argsort(-s, axis=1, kind="stable")[:, :k]

    def top_k_names(self, history: Any, k: int = 3) -> list[list[str]]:
        """The ``k`` best category names per customer."""
        names = list(self.categories)
        return [[names[j] for j in row] for row in self.top_k(history, k).tolist()]


def popularity_top_k(bought_next: Any, n_customers: int, k: int = 3) -> np.ndarray:
    """The baseline: the ``k`` categories most bought in a training window, the same for every customer."""
    y = _check_matrix(bought_next, None, "bought_next")
    top = np.argsort(-(y > 0).sum(axis=0), kind="stable")[:k]
    return np.tile(top, (n_customers, 1))


def hit_rate_at_k(top: Any, bought: Any) -> float:
    """Share of customers who bought anything in the window whose top-k holds at least one bought category.

    Parameters
    ----------
    top
        (customers, k) category indices (e.g. :meth:`NextCategoryModel.top_k`).
    bought
        (customers, categories) 1 where bought in the evaluation window.
    """
    top = np.asarray(top, dtype=np.int64)
    y: np.ndarray = np.asarray(bought, dtype=np.float64) > 0
    if top.shape[0] != y.shape[0]:
        raise ValidationError(f"top has {top.shape[0]} rows but bought has {y.shape[0]}")
    buyers = np.asarray(y.any(axis=1))
    if not buyers.any():
        return float("nan")
    hits = np.asarray(np.take_along_axis(y, top, axis=1).any(axis=1))
    return float(hits[buyers].mean())
