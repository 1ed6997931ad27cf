"""How well the response model ranks customers of campaigns it has not seen, against
single-feature baselines.

A time split: the model learns from campaigns that ended before the cut-off (their
redemptions are all known by then) and is scored on campaigns that start on or after it.
Campaigns running across the cut-off are in neither set. Features are cut at each
campaign's own start either way (:mod:`promo.ml.response_features`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import average_precision_score, roc_auc_score

from promo.ml.frames import check_columns
from promo.ml.response import ResponseModel
from promo.ml.response_features import training_table

# The baselines: one feature used as the score on its own.
BASELINES = {"total_spend": "total_spend", "past_promoted_purchases": "promoted_purchases"}


def split_campaigns(campaigns: pd.DataFrame, cutoff: pd.Timestamp | str) -> tuple[list[int], list[int]]:
    """(train, test) campaign ids: train ended before ``cutoff``, test starts on or after it."""
    check_columns("campaigns", campaigns)
    cutoff = pd.Timestamp(cutoff)
    train = campaigns.loc[campaigns["ends_at"] < cutoff, "campaign"]
    test = campaigns.loc[campaigns["starts_at"] >= cutoff, "campaign"]
    return sorted(int(campaign) for campaign in train), sorted(int(campaign) for campaign in test)


def evaluate_response(history: pd.DataFrame, products: pd.DataFrame, customers: pd.DataFrame,
                      campaigns: pd.DataFrame, campaign_products: pd.DataFrame, exposures: pd.DataFrame,
                      redemptions: pd.DataFrame, *, cutoff: pd.Timestamp | str,
                      model: ResponseModel | None = None) -> pd.DataFrame:
    """ROC-AUC and PR-AUC of the response model and of the baselines on the campaigns
    starting on or after ``cutoff``, after learning from those that ended before it.

    Parameters
    ----------
    history, products, customers, campaigns, campaign_products, exposures, redemptions : pandas.DataFrame
        Frames of :mod:`promo.ml.frames`.
    cutoff : timestamp
        The split point.
    model : ResponseModel, optional
        An unfitted model to evaluate (cloned); default ``ResponseModel()``.

    Returns
    -------
    pandas.DataFrame
        One row per scorer (``model`` first, then the baselines ``total_spend`` and
        ``past_promoted_purchases``), columns ``roc_auc``, ``pr_auc`` (average precision),
        ``test_rows``, ``test_positives``, ``test_campaigns``, ``train_rows``,
        ``train_positives``, ``train_campaigns``. The test set pools the exposures of all
        test campaigns; only targeted exposures are scored (holdouts say nothing about
        who redeems when targeted).
    """
    train_ids, test_ids = split_campaigns(campaigns, cutoff)
    if not train_ids or not test_ids:
        raise ValueError(f"cutoff {cutoff} leaves {len(train_ids)} training and {len(test_ids)} test campaigns")
    frames = (history, products, customers, campaigns, campaign_products, exposures, redemptions)
    X_train, y_train, treatment_train, campaign_train = training_table(*frames, campaign_ids=train_ids)
    X_test, y_test, treatment_test, campaign_test = training_table(*frames, campaign_ids=test_ids)
    fitted = clone(model if model is not None else ResponseModel()).fit(X_train, y_train, treatment_train)

    targeted = treatment_test == 1
    X_test, y_test, campaign_test = X_test[targeted], y_test[targeted], campaign_test[targeted]
    if len(np.unique(y_test)) < 2:
        raise ValueError("the test campaigns need both redeemers and non-redeemers to be scored")
    scores = {"model": fitted.predict_proba(X_test)[:, 1]}
    for name, column in BASELINES.items():
        # A customer with no history has no value: rank them last, not unknown.
        scores[name] = X_test[column].fillna(0.0).to_numpy()
    counts = {
        "test_rows": len(y_test), "test_positives": int(y_test.sum()),
        "test_campaigns": len(np.unique(campaign_test)),
        "train_rows": len(y_train), "train_positives": int(y_train[treatment_train == 1].sum()),
        "train_campaigns": len(np.unique(campaign_train)),
    }
    rows = [{"scorer": name, "roc_auc": roc_auc_score(y_test, score), "pr_auc": average_precision_score(y_test, score),
             **counts} for name, score in scores.items()]
    return pd.DataFrame(rows).set_index("scorer")
