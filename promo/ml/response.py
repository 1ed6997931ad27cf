"""The redemption-response model: how likely a customer is to redeem a promotion, and how
much the promotion changes that (uplift), learned from past campaigns.

A calibrated logistic regression on features that are compressed (signed log1p: counts and money
are heavy-tailed), imputed with learned medians, flagged where they were missing and
standardised. Every learned part is a plain array, so the model is stored with
:meth:`ResponseModel.to_arrays` and rebuilt with :meth:`ResponseModel.from_arrays` without
pickle. The features come from :mod:`promo.ml.response_features`.

Uplift uses the two-model approach (T-learner): one model on the targeted customers,
one on the holdout customers, uplift = p(targeted) - p(holdout).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from scipy.special import expit
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from promo.ml.bootstrap import roc_auc

FORMAT = "promo.response/2"
# The features the model reads (with every ``campaign_type=`` column). Totals are kept
# with the customer's tenure beside them: within a campaign a total ranks customers
# well, and the tenure lets the model tell a long record from a heavy shopper.
MODEL_FEATURES = ("coupon_uses", "past_redemptions", "past_redemption_rate", "promoted_purchases",
                  "promoted_coupon_uses", "total_spend", "visit_days_per_week", "promoted_products",
                  "category_coupon_uses", "category_purchases", "tenure_days")
TYPE_PREFIX = "campaign_type="


# Largest standardised value a feature may take (in standard deviations of the training data).
CLIP = 10.0


def compress(values: np.ndarray) -> np.ndarray:
    """sign(x) * log1p(|x|): spend of 10 and 10,000 differ, but not a thousandfold."""
    return np.sign(values) * np.log1p(np.abs(values))


@dataclasses.dataclass(frozen=True)
class LinearScorer:
    """A fitted logistic scorer: the preprocessing and the coefficients, all arrays.

    Columns are compressed, NaN replaced by the training median (of the compressed
    values), standardised, and followed by a 0/1 "was missing" column for each feature
    that had missing values at training (``flagged``).
    """

    medians: np.ndarray
    means: np.ndarray
    scales: np.ndarray
    flagged: np.ndarray    # indices of the features with a missing flag
    coef: np.ndarray       # one per feature, then one per flag
    intercept: float

    @classmethod
    def fit(cls, matrix: np.ndarray, y: np.ndarray, *, C: float, class_weight: str | None,
            max_iter: int) -> "LinearScorer":
        compressed = compress(matrix)
        missing = np.isnan(compressed)
        flagged = np.flatnonzero(missing.any(axis=0))
        # A feature never seen has no median: 0 then, and its flag carries the signal.
        medians = np.zeros(matrix.shape[1])
        seen = ~missing.all(axis=0)
        medians[seen] = np.nanmedian(compressed[:, seen], axis=0)
        filled = np.where(missing, medians, compressed)
        means = filled.mean(axis=0)
        scales = filled.std(axis=0)
        # A constant column (its std may come out as rounding noise): leave it at 0 after centring.
        scales[scales < 1e-9] = 1.0
        if len(np.unique(y)) < 2:
            # One class only (a holdout where nobody redeemed): the smoothed rate is all there is.
            rate = (y.sum() + 0.5) / (len(y) + 1.0)
            return cls(medians, means, scales, flagged, np.zeros(matrix.shape[1] + len(flagged)),
                       float(np.log(rate / (1 - rate))))
        scorer = cls(medians, means, scales, flagged, np.zeros(0), 0.0)
        regression = LogisticRegression(C=C, class_weight=class_weight, max_iter=max_iter)
        regression.fit(scorer.design(matrix), y)
        return dataclasses.replace(scorer, coef=regression.coef_[0].astype(float),
                                   intercept=float(regression.intercept_[0]))

    def design(self, matrix: np.ndarray) -> np.ndarray:
        """The standardised design matrix the coefficients apply to."""
        compressed = compress(matrix)
        missing = np.isnan(compressed)
        filled = np.where(missing, self.medians, compressed)
        # Clipped so a customer far outside the training range cannot swamp every other feature.
        standardised = np.clip((filled - self.means) / self.scales, -CLIP, CLIP)
        return np.hstack([standardised, missing[:, self.flagged].astype(float)])

    def logit(self, matrix: np.ndarray) -> np.ndarray:
        return self.design(matrix) @ self.coef + self.intercept

    def probability(self, matrix: np.ndarray) -> np.ndarray:
        """P(redeem) for each row."""
        return expit(self.logit(matrix))   # no overflow warning for large |logit|

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.{field.name}": np.asarray(getattr(self, field.name), dtype=np.int64 if
                field.name == "flagged" else np.float64) for field in dataclasses.fields(self)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str) -> "LinearScorer":
        values = {field.name: np.asarray(arrays[f"{prefix}.{field.name}"]) for field in dataclasses.fields(cls)}
        values["intercept"] = float(values["intercept"])
        return cls(**values)


class ResponseModel(ClassifierMixin, BaseEstimator):
    """Probability that a customer redeems a promotion, plus uplift when holdouts exist.

    Parameters
    ----------
    C : float, default=0.01
        Inverse L2 regularisation strength of the logistic regressions (on standardised
        features); strong, because the first campaigns learn from few others.
    class_weight : {"balanced"} or None, default=None
        Passed to the logistic regressions. None keeps the probabilities calibrated, which
        :meth:`expected_redemptions` needs.
    min_control_rows : int, default=50
        The fewest holdout rows (and targeted rows) for which a control model, and so
        uplift, is learned.
    max_iter : int, default=1000
        Iterations of the solver.
    features : tuple of str or None, default=MODEL_FEATURES
        The columns of a DataFrame ``X`` learned from (plus every ``campaign_type=``
        column); None learns from every column. An array ``X`` is read whole.
    calibration_share : float, default=0.5
        With ``order`` given to :meth:`fit`, the latest campaigns holding at least this
        share of the targeted rows calibrate the probabilities: a model fitted on the
        earlier ones scores them, and a logistic curve on its logit (Platt scaling) maps
        scores to the rates they went on to show. The final model learns from every row
        and keeps that curve, so the probabilities carry the drift from older campaigns
        to newer ones. 0 turns it off.

    Attributes
    ----------
    feature_names_ : numpy.ndarray of str
        The columns learned from, in order; a DataFrame passed later is read by these names.
    n_features_in_ : int
    classes_ : numpy.ndarray
        ``[0, 1]``.
    response_ : LinearScorer
        The model of the targeted rows (all rows when fitted without treatment).
    control_ : LinearScorer or None
        The model of the holdout rows.
    calibration_ : numpy.ndarray
        (slope, intercept) of the Platt curve applied to the response logit.
    has_uplift_ : bool
        Whether a control model was learned, so :meth:`predict_uplift` works.
    """

    def __init__(self, C: float = 0.01, class_weight: str | None = None, min_control_rows: int = 50,
                 max_iter: int = 1000, features: tuple[str, ...] | None = MODEL_FEATURES,
                 calibration_share: float = 0.5):
        self.C = C
        self.class_weight = class_weight
        self.min_control_rows = min_control_rows
        self.max_iter = max_iter
        self.features = features
        self.calibration_share = calibration_share

    def fit(self, X: pd.DataFrame | np.ndarray, y: Any, treatment: Any = None,
            order: Any = None) -> "ResponseModel":
        """Learn the response model, and the control model when there is a big enough holdout.

        Parameters
        ----------
        X : pandas.DataFrame or array of shape (n_samples, n_features)
            Numeric features, NaN where unknown.
        y : array of shape (n_samples,)
            1 when the customer redeemed, else 0.
        treatment : array of shape (n_samples,), optional
            1 for targeted, 0 for holdout. Without it every row counts as targeted.
        order : array of shape (n_samples,), optional
            Each row's campaign start (any sortable values, equal within a campaign);
            needed for the calibration of ``calibration_share``.

        Returns
        -------
        self
        """
        names, matrix = self._read(X, fitted=False)
        y = np.asarray(y).astype(np.int64).ravel()
        if len(y) != len(matrix):
            raise ValueError(f"X has {len(matrix)} rows but y has {len(y)}")
        if not np.isin(y, [0, 1]).all():
            raise ValueError("y must be 0 or 1")
        treated = np.ones(len(y), dtype=bool) if treatment is None else np.asarray(treatment).astype(bool).ravel()
        if len(treated) != len(y):
            raise ValueError(f"treatment has {len(treated)} rows but y has {len(y)}")
        if len(np.unique(y[treated])) < 2:
            raise ValueError("the targeted rows need both redeemers and non-redeemers to learn from")
        options = {"C": self.C, "class_weight": self.class_weight, "max_iter": self.max_iter}
        self.feature_names_ = names
        self.n_features_in_ = len(names)
        self.classes_ = np.array([0, 1])
        self.response_ = LinearScorer.fit(matrix[treated], y[treated], **options)
        self.calibration_ = self._calibration(matrix[treated], y[treated],
                                              None if order is None else np.asarray(order)[treated], options)
        enough = min(treated.sum(), (~treated).sum()) >= self.min_control_rows
        self.control_ = LinearScorer.fit(matrix[~treated], y[~treated], **options) if enough else None
        self.has_uplift_ = self.control_ is not None
        return self

    def _calibration(self, matrix: np.ndarray, y: np.ndarray, order: np.ndarray | None,
                     options: dict[str, Any]) -> np.ndarray:
        """(slope, intercept) of the Platt curve on the logit; (1, 0) when not learned."""
        identity = np.array([1.0, 0.0])
        self.calibration_report_: dict[str, Any] = {}
        if order is None or self.calibration_share <= 0:
            return identity
        starts = np.unique(order)
        held = np.zeros(len(y), dtype=bool)
        for start in starts[::-1]:
            if held.sum() >= self.calibration_share * len(y):
                break
            held |= order == start
        if held.all() or len(np.unique(y[~held])) < 2 or len(np.unique(y[held])) < 2:
            return identity
        earlier = LinearScorer.fit(matrix[~held], y[~held], **options)
        logit = earlier.logit(matrix[held])
        curve = LogisticRegression(C=1e6, max_iter=self.max_iter).fit(logit[:, None], y[held])
        slope, intercept = float(curve.coef_[0, 0]), float(curve.intercept_[0])
        # The model's own check, for its metadata: how the earlier model ranked the latest
        # campaigns, and the redemptions it expected there before and after the curve.
        self.calibration_report_ = {
            "campaigns": int(len(np.unique(order[held]))), "rows": int(held.sum()),
            "redeemed": int(y[held].sum()), "roc_auc": round(roc_auc(y[held], logit), 4),
            "expected_uncalibrated": round(float(expit(logit).sum()), 1),
            "expected_calibrated": round(float(expit(slope * logit + intercept).sum()), 1)}
        return np.array([slope, intercept])

    def predict_proba(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Columns P(no redemption), P(redemption) if targeted, shape (n_samples, 2)."""
        matrix = self._read(X)[1]
        slope, intercept = self.calibration_
        redeem = expit(slope * self.response_.logit(matrix) + intercept)
        return np.column_stack([1.0 - redeem, redeem])

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """1 where redemption is the likelier outcome. Rarely useful: rank by probability."""
        return (self.predict_proba(X)[:, 1] > 0.5).astype(np.int64)

    def predict_uplift(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """P(redeem | targeted) - P(redeem | held out), per row.

        Raises
        ------
        ValueError
            When the model was fitted without a big enough holdout group.
        """
        check_is_fitted(self, "response_")
        if not self.has_uplift_:
            raise ValueError("this response model was fitted without a holdout group (at least "
                             f"min_control_rows={self.min_control_rows} rows), so it cannot estimate uplift")
        return self.predict_proba(X)[:, 1] - self.control_.probability(self._read(X)[1])

    def expected_redemptions(self, X: pd.DataFrame | np.ndarray) -> float:
        """How many of these customers are expected to redeem if targeted."""
        return float(self.predict_proba(X)[:, 1].sum())

    # --- storage -------------------------------------------------------------------------

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The fitted model as plain numpy arrays (numbers and unicode, loadable with
        ``np.load(allow_pickle=False)``) and a JSON-able dict of parameters."""
        check_is_fitted(self, "response_")
        arrays = {"feature_names": np.asarray(self.feature_names_, dtype=str),
                  "calibration": np.asarray(self.calibration_, dtype=np.float64)}
        arrays.update(self.response_.to_arrays("response"))
        if self.control_ is not None:
            arrays.update(self.control_.to_arrays("control"))
        params = {"format": FORMAT, "params": self.get_params(), "has_uplift": bool(self.has_uplift_)}
        return arrays, params

    @classmethod
    def from_arrays(cls, arrays: Any, params: dict[str, Any]) -> "ResponseModel":
        """Rebuild a model saved with :meth:`to_arrays` (``arrays`` may be an NpzFile)."""
        if params.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} model: format {params.get('format')!r}")
        model = cls(**params["params"])
        model.feature_names_ = np.asarray(arrays["feature_names"]).astype(str)
        model.n_features_in_ = len(model.feature_names_)
        model.classes_ = np.array([0, 1])
        model.response_ = LinearScorer.from_arrays(arrays, "response")
        model.calibration_ = np.asarray(arrays["calibration"], dtype=np.float64)
        model.control_ = LinearScorer.from_arrays(arrays, "control") if params["has_uplift"] else None
        model.has_uplift_ = model.control_ is not None
        return model

    # --- input ---------------------------------------------------------------------------

    def _read(self, X: pd.DataFrame | np.ndarray, fitted: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """The feature names and the float matrix of ``X``; a DataFrame is read by the
        names learned at fit (extra columns are ignored, missing ones are an error)."""
        if fitted:
            check_is_fitted(self, "response_")
        if isinstance(X, pd.DataFrame):
            X = X.rename(columns=str)
            if not fitted and self.features is not None:
                wanted = set(self.features)
                X = X[[column for column in X.columns if column in wanted or column.startswith(TYPE_PREFIX)]]
            names = np.asarray([str(column) for column in X.columns])
            if fitted:
                missing = [name for name in self.feature_names_ if name not in set(names)]
                if missing:
                    raise ValueError(f"X lacks the features {missing}")
                X = X.rename(columns=str)[list(self.feature_names_)]
                names = self.feature_names_
            matrix = X.to_numpy(dtype=float, na_value=np.nan)
        else:
            matrix = np.asarray(X, dtype=float)
            if matrix.ndim != 2:
                raise ValueError("X must be 2-dimensional")
            names = np.asarray([f"x{index}" for index in range(matrix.shape[1])]) if not fitted \
                else self.feature_names_
            if fitted and matrix.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {matrix.shape[1]} features, the model expects {self.n_features_in_}")
        return names, matrix
