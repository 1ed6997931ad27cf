"""Bootstrap intervals of paired differences."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from promo.ml.bootstrap import campaign_difference, cutoff_difference, roc_auc


def test_roc_auc_matches_scikit_learn_with_ties():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    score = rng.integers(0, 5, 300)      # many ties
    assert roc_auc(y, score) == pytest.approx(roc_auc_score(y, score))
    assert np.isnan(roc_auc(np.zeros(5), np.arange(5)))


def test_a_clear_per_customer_gain_has_an_interval_above_zero_and_no_gain_one_around_it():
    rng = np.random.default_rng(2)
    customers = np.tile(np.arange(500), 4)
    cutoffs = np.repeat(np.arange(4), 500)
    theirs = rng.random(2000)
    better = cutoff_difference(theirs + 0.05 + rng.normal(0, 0.1, 2000), theirs, customers, cutoffs, 300)
    assert better.difference == pytest.approx(0.05, abs=0.01)
    assert 0 < better.low < better.difference < better.high
    noise = rng.normal(0, 0.1, 2000)
    same = cutoff_difference(theirs + noise - noise.mean(), theirs, customers, cutoffs, 300)
    assert same.low < 0 < same.high


def test_the_statistic_is_the_mean_over_cutoffs_of_each_cutoffs_mean():
    # Cut-off 0 has one customer gaining 1, cut-off 1 has three gaining nothing.
    interval = cutoff_difference(np.array([1.0, 0, 0, 0]), np.zeros(4), np.array([1, 2, 3, 4]),
                                 np.array([0, 1, 1, 1]), 200)
    assert interval.difference == pytest.approx(0.5)


def test_campaign_difference_resamples_campaigns_and_customers():
    rng = np.random.default_rng(3)
    groups = []
    for _ in range(8):
        y = rng.integers(0, 2, 400)
        good = y + rng.normal(0, 0.8, 400)
        poor = y + rng.normal(0, 2.0, 400)
        groups.append((y, good, poor))
    interval = campaign_difference(groups, 200)
    assert interval.difference == pytest.approx(np.mean([roc_auc(y, a) - roc_auc(y, b) for y, a, b in groups]))
    assert interval.above_zero
    reversed_interval = campaign_difference([(y, b, a) for y, a, b in groups], 200)
    assert reversed_interval.high < 0
