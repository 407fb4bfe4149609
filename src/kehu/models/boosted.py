"""A calibrated LightGBM binary classifier on plain arrays: the engine of the churn and propensity models.

:class:`BoostedClassifier` follows the scikit-learn estimator contract: keyword-only hyper-parameters stored
as given, ``fit`` returns ``self``, learned state ends in ``_`` and every prediction checks the model is fitted.

Calibration is fitted on a *held-out time slice*: ``fit(X, y, calibration=(X_cal, y_cal))`` grows the trees on
``X`` (stopping early on the slice) and maps their raw scores to probabilities with isotonic regression (or
Platt scaling) fitted on the slice. The caller passes the latest snapshot as the slice, so the probabilities
are calibrated on the most recent behaviour the model has not been trained on.

LightGBM and scikit-learn are optional (the ``churn`` extra) and imported only when a model is fitted or used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kehu.errors import DependencyError, NotFittedError, ValidationError

__all__ = ["CHURN_INSTALL_HINT", "BoostedClassifier", "feature_matrix", "import_lightgbm", "import_sklearn"]

CHURN_INSTALL_HINT = "pip install 'kehu[churn]'  (lightgbm and scikit-learn)"
_CALIBRATIONS = ("isotonic", "platt")


def import_lightgbm() -> Any:
    """The ``lightgbm`` module, or a :class:`DependencyError` with the install hint."""
    try:
        import lightgbm
    except ImportError as exc:  # also OSError-like failures surface as ImportError (missing libgomp)
        raise DependencyError(
            f"The churn and propensity models need lightgbm, which is not installed or cannot load ({exc}). "
            f"Install it with: {CHURN_INSTALL_HINT}; on Debian/Ubuntu also `apt-get install libgomp1`"
        ) from exc
    return lightgbm


def import_sklearn() -> Any:
    """The ``sklearn`` package (calibration and the logistic baseline), or a :class:`DependencyError`."""
    try:
        import sklearn.isotonic
        import sklearn.linear_model
    except ImportError as exc:
        raise DependencyError(
            f"The churn models need scikit-learn, which is not installed. Install it with: {CHURN_INSTALL_HINT}"
        ) from exc
    return sklearn


def feature_matrix(columns: Mapping[str, Any], features: Sequence[str]) -> np.ndarray:
    """Stack named columns into a float64 matrix (rows = customers); ``None`` becomes NaN.

    Parameters
    ----------
    columns
        Name -> a sequence or array of numbers (or ``None``), all of the same length.
    features
        The names to take, in the model's order.

    Raises
    ------
    ValidationError
        When a feature is missing or the columns differ in length.
    """
    missing = [f for f in features if f not in columns]
    if missing:
        raise ValidationError(f"features: missing column(s) {', '.join(missing)}")
    arrays = []
    for name in features:
        col = columns[name]
        if isinstance(col, np.ndarray) and col.dtype.kind in "fiub":
            arrays.append(col.astype(np.float64, copy=False))
        else:
            arrays.append(np.array([np.nan if v is None else v for v in col], dtype=np.float64))
    lengths = {a.shape[0] for a in arrays}
    if len(lengths) > 1:
        raise ValidationError(f"features: columns differ in length ({sorted(lengths)})")
    if not arrays:
        raise ValidationError("features: no feature names given")
    return np.column_stack(arrays)


def _check_xy(X: Any, y: Any, n_features: int | None, what: str) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2:
        raise ValidationError(f"{what}: X must be a 2-D array (customers x features), got {X.ndim} dimension(s)")
    if n_features is not None and X.shape[1] != n_features:
        raise ValidationError(f"{what}: X has {X.shape[1]} columns, expected {n_features} (one per feature name)")
    if y.shape != (X.shape[0],):
        raise ValidationError(f"{what}: y must have one label per row of X ({X.shape[0]}), got shape {y.shape}")
    if not np.isin(y, (0, 1, False, True)).all():
        raise ValidationError(f"{what}: y must hold 0/1 labels")
    y = y.astype(np.float64)
    if y.min() == y.max():
        raise ValidationError(f"{what}: every label is {int(y[0])}; both outcomes are needed to fit")
    return X, y


class BoostedClassifier:
    """Gradient-boosted trees (LightGBM) with probability calibration on a held-out time slice.

    Parameters
    ----------
    feature_names
        Names of the columns of ``X`` (kept with the model; reasons and reports use them).
    n_estimators
        Maximum boosting rounds (early stopping on the calibration slice may use fewer).
    learning_rate, num_leaves, max_depth, min_child_samples, subsample, colsample, reg_lambda
        LightGBM's tree parameters. A shallow depth keeps ``pred_contrib`` (reasons) affordable.
    early_stopping_rounds
        Stop when the log-loss on the calibration slice has not improved for this many rounds (0: never).
    calibration
        ``"isotonic"`` (default) or ``"platt"``.
    n_jobs
        Threads for LightGBM.
    seed
        Seed of LightGBM's sampling (fits are reproducible).
    """

    def __init__(
        self,
        *,
        feature_names: Sequence[str],
        n_estimators: int = 400,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        max_depth: int = 5,
        min_child_samples: int = 40,
        subsample: float = 0.8,
        colsample: float = 0.8,
        reg_lambda: float = 1.0,
        early_stopping_rounds: int = 40,
        calibration: str = "isotonic",
        n_jobs: int = 2,
        seed: int = 0,
    ) -> None:
        self.feature_names = feature_names
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample = colsample
        self.reg_lambda = reg_lambda
        self.early_stopping_rounds = early_stopping_rounds
        self.calibration = calibration
        self.n_jobs = n_jobs
        self.seed = seed

    # -- parameters -------------------------------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters as given (``feature_names`` as a list)."""
        return {
            "feature_names": list(self.feature_names),
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "min_child_samples": self.min_child_samples,
            "subsample": self.subsample,
            "colsample": self.colsample,
            "reg_lambda": self.reg_lambda,
            "early_stopping_rounds": self.early_stopping_rounds,
            "calibration": self.calibration,
            "n_jobs": self.n_jobs,
            "seed": self.seed,
        }

    def _lgb_params(self) -> dict[str, Any]:
        return {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "min_data_in_leaf": self.min_child_samples,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1 if self.subsample < 1 else 0,
            "feature_fraction": self.colsample,
            "lambda_l2": self.reg_lambda,
            "num_threads": self.n_jobs,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }

    def _validate_params(self) -> None:
        if self.calibration not in _CALIBRATIONS:
            raise ValidationError(f"calibration: {self.calibration!r} is not one of {', '.join(_CALIBRATIONS)}")
        if self.n_estimators < 1:
            raise ValidationError(f"n_estimators: must be at least 1, got {self.n_estimators}")
        if not 0 < self.learning_rate <= 1:
            raise ValidationError(f"learning_rate: must be in (0, 1], got {self.learning_rate}")
        if len(set(self.feature_names)) != len(self.feature_names) or not self.feature_names:
            raise ValidationError("feature_names: give each column one distinct name")

    # -- fitting ----------------------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, *, calibration: tuple[Any, Any]) -> BoostedClassifier:
        """Grow the trees on ``(X, y)`` and calibrate on the held-out slice ``calibration = (X_cal, y_cal)``.

        Returns
        -------
        self
        """
        self._validate_params()
        lgb = import_lightgbm()
        sklearn = import_sklearn()
        n = len(self.feature_names)
        X, y = _check_xy(X, y, n, "fit")
        X_cal, y_cal = _check_xy(calibration[0], calibration[1], n, "calibration slice")
        train = lgb.Dataset(X, label=y, feature_name=list(self.feature_names), free_raw_data=True)
        valid = lgb.Dataset(X_cal, label=y_cal, reference=train)
        callbacks = []
        if self.early_stopping_rounds > 0:
            callbacks.append(lgb.early_stopping(self.early_stopping_rounds, verbose=False))
        booster = lgb.train(
            self._lgb_params(), train, num_boost_round=self.n_estimators, valid_sets=[valid], callbacks=callbacks
        )
        self.booster_ = booster
        self.n_trees_ = int(booster.best_iteration or booster.current_iteration())
        raw = self.decision_function(X_cal)
        if self.calibration == "isotonic":
            iso = sklearn.isotonic.IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            iso.fit(raw, y_cal)
            self.calibration_ = {"kind": "isotonic", "x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}
        else:
            lr = sklearn.linear_model.LogisticRegression(C=1e6, max_iter=1000)
            lr.fit(raw.reshape(-1, 1), y_cal)
            self.calibration_ = {"kind": "platt", "a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}
        self.n_train_ = int(X.shape[0])
        self.n_calibration_ = int(X_cal.shape[0])
        self.base_rate_ = float(y.mean())
        self.importance_ = dict(
            zip(self.feature_names, booster.feature_importance("gain").astype(float).tolist(), strict=True)
        )
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "booster_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit() first")

    def _check_X(self, X: Any) -> np.ndarray:
        self._check_fitted()
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise ValidationError(
                f"X must have {len(self.feature_names)} columns ({', '.join(self.feature_names)}), got shape {X.shape}"
            )
        return X

    # -- prediction -------------------------------------------------------------------------------------------
    def decision_function(self, X: Any) -> np.ndarray:
        """The raw score (log-odds before calibration) of each row."""
        X = self._check_X(X)
        return np.asarray(self.booster_.predict(X, raw_score=True, num_iteration=self.n_trees_), dtype=np.float64)

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """Map raw scores to calibrated probabilities."""
        self._check_fitted()
        cal = self.calibration_
        if cal["kind"] == "isotonic":
            return np.interp(raw, np.asarray(cal["x"]), np.asarray(cal["y"]))
        return np.asarray(1.0 / (1.0 + np.exp(-(cal["a"] * raw + cal["b"]))))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated probabilities, shape (n, 2): columns P(0), P(1) (scikit-learn's layout)."""
        p = self.calibrate(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any, threshold: float = 0.5) -> np.ndarray:
        """0/1 predictions at ``threshold`` of the calibrated probability."""
        return (self.predict_proba(X)[:, 1] >= threshold).astype(np.int8)

    def contributions(self, X: Any) -> np.ndarray:
        """LightGBM's SHAP values (``pred_contrib``): shape (n, features + 1), the last column the expected value.

        Each row sums to :meth:`decision_function` of that row. The cost grows with depth and trees; compute
        it only for the rows that need explanations.
        """
        X = self._check_X(X)
        out = self.booster_.predict(X, pred_contrib=True, num_iteration=self.n_trees_)
        return np.asarray(out, dtype=np.float64)

    # -- persistence ------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: parameters, the booster as LightGBM's text model, the calibration map."""
        self._check_fitted()
        return {
            "params": self.get_params(),
            "booster": self.booster_.model_to_string(num_iteration=self.n_trees_),
            "n_trees": self.n_trees_,
            "calibration": self.calibration_,
            "n_train": self.n_train_,
            "n_calibration": self.n_calibration_,
            "base_rate": self.base_rate_,
            "importance": self.importance_,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BoostedClassifier:
        """Rebuild a fitted model from :meth:`to_dict` output."""
        lgb = import_lightgbm()
        model = cls(**data["params"])
        model.booster_ = lgb.Booster(model_str=data["booster"])
        model.n_trees_ = int(data["n_trees"])
        model.calibration_ = dict(data["calibration"])
        model.n_train_ = int(data["n_train"])
        model.n_calibration_ = int(data["n_calibration"])
        model.base_rate_ = float(data["base_rate"])
        model.importance_ = dict(data["importance"])
        return model
