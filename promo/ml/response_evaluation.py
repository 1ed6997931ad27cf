"""How well the response model ranks the audience of campaigns it has not seen, against
the simple scorers an analyst would try first.

Every campaign with enough redeemers is held out in turn. The model learns from the
campaigns that ended before the held-out one started (their redemptions were all known
by then) and scores the held-out campaign's targeted customers, with features cut at its
start. Only campaigns whose whole window lies inside the recorded history take part,
as training or as test (:func:`promo.ml.response_features.campaigns_within`).

The competitors, on the same rows:

- each single customer figure as the score: past coupon use, past redemptions, spend,
  and affinity to the promoted products (past purchases of them);
- a logistic regression on those four figures learned from one earlier campaign (the
  latest one that ended before the held-out campaign started with enough redeemers).

ROC-AUC is computed within each campaign (base rates differ by campaign, so a pooled
AUC would reward knowing which campaign converts, not who redeems), then averaged; the
difference to the best baseline gets a two-stage bootstrap interval
(:func:`promo.ml.bootstrap.campaign_difference`). Calibration is judged by a
reliability table and by expected redemptions (the sum of the probabilities) against
the actual count.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score

from promo.ml.bootstrap import Interval, campaign_difference, roc_auc
from promo.ml.frames import check_columns
from promo.ml.response import ResponseModel
from promo.ml.response_features import campaigns_within, redemption_labels, training_table

OURS = "model"
# The single figures, by the feature each reads.
SINGLE_FIGURES = {"past_coupon_use": "coupon_uses", "past_redemptions": "past_redemptions",
                  "spend": "total_spend", "promoted_affinity": "promoted_purchases"}
LOGISTIC = "logistic_one_campaign"
MIN_REDEEMERS = 10
RELIABILITY_BINS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)


def split_campaigns(campaigns: pd.DataFrame, cutoff: pd.Timestamp | str) -> tuple[list[int], list[int]]:
    """(train, test) campaign ids: train ended before ``cutoff``, test starts on or after it."""
    check_columns("campaigns", campaigns)
    cutoff = pd.Timestamp(cutoff)
    train = campaigns.loc[campaigns["ends_at"] < cutoff, "campaign"]
    test = campaigns.loc[campaigns["starts_at"] >= cutoff, "campaign"]
    return sorted(int(campaign) for campaign in train), sorted(int(campaign) for campaign in test)


@dataclasses.dataclass(frozen=True)
class ResponseEvaluation:
    """Per held-out campaign, every scorer's ROC-AUC; and the summaries."""

    campaigns: pd.DataFrame      # campaign, type, starts_at, train_campaigns, rows, redeemers,
                                 # expected, and one AUC column per scorer
    scorers: list[str]
    reliability: pd.DataFrame    # bin, rows, mean_predicted, observed
    predictions: pd.DataFrame    # campaign, y and every scorer's score, per targeted row

    def summary(self) -> pd.DataFrame:
        """Per scorer: mean ROC-AUC over the held-out campaigns and mean PR-AUC."""
        rows = []
        for scorer in self.scorers:
            pr = [average_precision_score(group["y"], group[scorer])
                  for _, group in self.predictions.groupby("campaign")]
            rows.append({"scorer": scorer, "roc_auc": float(self.campaigns[scorer].mean()),
                         "pr_auc": float(np.mean(pr)),
                         "wins": int((self.campaigns[OURS] > self.campaigns[scorer]).sum())
                         if scorer != OURS else None})
        return pd.DataFrame(rows)

    def best_baseline(self) -> str:
        baselines = [scorer for scorer in self.scorers if scorer != OURS]
        return max(baselines, key=lambda scorer: self.campaigns[scorer].mean())

    def difference(self, replicates: int = 1000, seed: int = 0) -> tuple[str, Interval]:
        """The best baseline (highest mean AUC) and ours minus it, with its interval."""
        best = self.best_baseline()
        groups = [(group["y"].to_numpy(), group[OURS].to_numpy(), group[best].to_numpy())
                  for _, group in self.predictions.groupby("campaign")]
        return best, campaign_difference(groups, replicates, seed=seed)

    def expected_vs_actual(self) -> tuple[float, int]:
        """Sum of our probabilities and the actual redeemers, over every held-out row."""
        return float(self.campaigns["expected"].sum()), int(self.campaigns["redeemers"].sum())


def judged_campaigns(campaigns: pd.DataFrame, exposures: pd.DataFrame, redemptions: pd.DataFrame,
                     history: pd.DataFrame, min_redeemers: int = MIN_REDEEMERS,
                     first_start: pd.Timestamp | None = None) -> tuple[list[int], list[int]]:
    """(eligible, held out): campaigns inside the history with an audience; and those of
    them with at least ``min_redeemers`` targeted redeemers (starting on or after
    ``first_start``) that have an earlier eligible campaign to learn from."""
    times = history["occurred_at"]
    inside = campaigns_within(campaigns, times.min() if len(times) else None,
                              times.max() if len(times) else None)
    targeted = exposures[exposures["group"] == "targeted"]
    eligible = [c for c in inside if c in set(exposures["campaign"])]
    labels = redemption_labels(campaigns, redemptions).merge(targeted[["campaign", "customer"]])
    redeemers = labels.groupby("campaign").size()
    dates = campaigns.set_index("campaign")
    held_out = []
    for campaign in eligible:
        start = dates.loc[campaign, "starts_at"]
        if redeemers.get(campaign, 0) < min_redeemers:
            continue
        if first_start is not None and start < pd.Timestamp(first_start):
            continue
        earlier = [c for c in eligible if dates.loc[c, "ends_at"] < start]
        if any(redeemers.get(c, 0) > 0 for c in earlier):
            held_out.append(campaign)
    return eligible, held_out


def _figures(X: pd.DataFrame) -> np.ndarray:
    """The single figures as a matrix, unknown as 0, log-compressed."""
    return np.log1p(np.clip(X[list(SINGLE_FIGURES.values())].fillna(0.0).to_numpy(float), 0, None))


def evaluate_response(history: pd.DataFrame, products: pd.DataFrame, customers: pd.DataFrame,
                      campaigns: pd.DataFrame, campaign_products: pd.DataFrame, exposures: pd.DataFrame,
                      redemptions: pd.DataFrame, *, model: ResponseModel | None = None,
                      min_redeemers: int = MIN_REDEEMERS, first_start: pd.Timestamp | None = None,
                      say: Callable[[str], None] = lambda _message: None) -> ResponseEvaluation:
    """Hold out every campaign with enough redeemers in turn; see the module docstring.

    Parameters
    ----------
    history, products, customers, campaigns, campaign_products, exposures, redemptions : pandas.DataFrame
        Frames of :mod:`promo.ml.frames`.
    model : ResponseModel, optional
        An unfitted model to evaluate (cloned for every held-out campaign).
    min_redeemers : int, default=10
        Campaigns with fewer targeted redeemers are not held out (an AUC over a handful
        of positives is noise); they are still learned from.
    first_start : timestamp, optional
        Hold out only campaigns starting on or after it.
    """
    eligible, held_out = judged_campaigns(campaigns, exposures, redemptions, history, min_redeemers,
                                          first_start)
    if not held_out:
        raise ValueError(f"no campaign with at least {min_redeemers} redeemers and an earlier one to learn from")
    say(f"response: features of {len(eligible)} campaigns, cut at each one's start")
    frames = (history, products, customers, campaigns, campaign_products, exposures, redemptions)
    X, y, treatment, campaign_of_row = training_table(*frames, campaign_ids=eligible)
    dates = campaigns.set_index("campaign")
    starts = dates["starts_at"].reindex(campaign_of_row).to_numpy()
    model = model if model is not None else ResponseModel()
    figures = _figures(X)
    rows, predictions = [], []
    for campaign in held_out:
        start = dates.loc[campaign, "starts_at"]
        earlier = [c for c in eligible if dates.loc[c, "ends_at"] < start]
        learn = np.isin(campaign_of_row, earlier)
        judge = (campaign_of_row == campaign) & (treatment == 1)
        say(f"response: campaign {campaign}, learning from {len(earlier)} earlier campaigns")
        fitted = clone(model).fit(X[learn], y[learn], treatment[learn], order=starts[learn])
        scores = {OURS: fitted.predict_proba(X[judge])[:, 1]}
        for name, column in SINGLE_FIGURES.items():
            # A customer with no history has no value: rank them last, not unknown.
            scores[name] = X.loc[judge, column].fillna(0.0).to_numpy()
        scores[LOGISTIC] = _one_campaign_logistic(figures, y, campaign_of_row, treatment, earlier,
                                                  dates, judge)
        truth = y[judge]
        rows.append({"campaign": campaign, "type": dates.loc[campaign, "type"], "starts_at": start,
                     "train_campaigns": len(earlier), "rows": int(judge.sum()),
                     "redeemers": int(truth.sum()), "expected": float(scores[OURS].sum()),
                     **{name: roc_auc(truth, score) for name, score in scores.items()}})
        predictions.append(pd.DataFrame({"campaign": campaign, "y": truth, **scores}))
    table = pd.DataFrame(rows)
    pooled = pd.concat(predictions, ignore_index=True)
    scorers = [OURS, *SINGLE_FIGURES, LOGISTIC]
    return ResponseEvaluation(table, scorers, reliability(pooled["y"].to_numpy(), pooled[OURS].to_numpy()),
                              pooled)


def _one_campaign_logistic(figures: np.ndarray, y: np.ndarray, campaign_of_row: np.ndarray,
                           treatment: np.ndarray, earlier: list[int], dates: pd.DataFrame,
                           judge: np.ndarray) -> np.ndarray:
    """A logistic regression on the single figures, learned from the latest earlier
    campaign with at least :data:`MIN_REDEEMERS` targeted redeemers (else the one with most)."""
    targeted = treatment == 1
    counts = {c: int(y[(campaign_of_row == c) & targeted].sum()) for c in earlier}
    enough = [c for c in earlier if counts[c] >= MIN_REDEEMERS]
    source = max(enough, key=lambda c: dates.loc[c, "ends_at"]) if enough else max(earlier, key=counts.get)
    rows = (campaign_of_row == source) & targeted
    means, scales = figures[rows].mean(axis=0), figures[rows].std(axis=0)
    scales[scales < 1e-9] = 1.0
    regression = LogisticRegression(max_iter=1000).fit((figures[rows] - means) / scales, y[rows])
    return regression.decision_function((figures[judge] - means) / scales)


def reliability(y: np.ndarray, probability: np.ndarray,
                bins: tuple[float, ...] = RELIABILITY_BINS) -> pd.DataFrame:
    """Rows, mean predicted probability and observed redemption rate per probability bin."""
    codes = np.clip(np.searchsorted(bins, probability, side="right") - 1, 0, len(bins) - 2)
    rows = []
    for code in range(len(bins) - 1):
        chosen = codes == code
        if chosen.any():
            rows.append({"bin": f"{bins[code]:.2f}-{bins[code + 1]:.2f}", "rows": int(chosen.sum()),
                         "mean_predicted": float(probability[chosen].mean()),
                         "observed": float(y[chosen].mean())})
    return pd.DataFrame(rows, columns=["bin", "rows", "mean_predicted", "observed"])
