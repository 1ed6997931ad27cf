"""95% bootstrap intervals of a difference between two scorers, paired.

Two designs, one per question:

:func:`cutoff_difference`
    recommenders judged per customer at several cut-offs: the statistic is the mean over
    cut-offs of each cut-off's mean difference, and customers are resampled with
    replacement as clusters (all their cut-offs together), since one customer's answers
    at four cut-offs are not four independent draws;
:func:`campaign_difference`
    response scorers judged per held-out campaign by ROC-AUC: the statistic is the mean
    over campaigns of the AUC difference, and both the campaigns and the customers within
    each drawn campaign are resampled (two stages), since both vary.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
from scipy.stats import rankdata

REPLICATES = 1000
LEVEL = 0.95


@dataclasses.dataclass(frozen=True)
class Interval:
    """A difference (ours minus the other) and its bootstrap interval."""

    difference: float
    low: float
    high: float

    @property
    def above_zero(self) -> bool:
        return self.low > 0

    def __str__(self) -> str:
        return f"{self.difference:+.4f} [{self.low:+.4f}, {self.high:+.4f}]"


def _interval(point: float, replicates: np.ndarray, level: float) -> Interval:
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(replicates, [tail, 100 - tail])
    return Interval(float(point), float(low), float(high))


def cutoff_difference(ours: np.ndarray, theirs: np.ndarray, customers: np.ndarray,
                      cutoffs: np.ndarray, replicates: int = REPLICATES, level: float = LEVEL,
                      seed: int = 0) -> Interval:
    """Mean over cut-offs of the mean per-customer difference ``ours - theirs``.

    Parameters
    ----------
    ours, theirs : array of float
        One value per judged (customer, cut-off) row, paired.
    customers, cutoffs : array
        Each row's customer (the resampled cluster) and cut-off (the stratum).
    """
    difference = np.asarray(ours, float) - np.asarray(theirs, float)
    clusters, cluster = np.unique(customers, return_inverse=True)
    strata, stratum = np.unique(cutoffs, return_inverse=True)
    point = float(np.mean([difference[stratum == s].mean() for s in range(len(strata))]))
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(len(clusters), np.full(len(clusters), 1 / len(clusters)),
                              size=replicates).astype(float)
    means = np.zeros(replicates)
    for s in range(len(strata)):
        rows = stratum == s
        drawn = weights[:, cluster[rows]]
        total = drawn.sum(axis=1)
        # A replicate that drew nobody of this cut-off (vanishingly rare) keeps its mean.
        means += np.where(total > 0, drawn @ difference[rows] / np.maximum(total, 1),
                          difference[rows].mean())
    return _interval(point, means / len(strata), level)


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC-AUC by the rank-sum formula (ties count half); NaN without both classes."""
    y = np.asarray(y, bool)
    positives = int(y.sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[y].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def campaign_difference(groups: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
                        replicates: int = REPLICATES, level: float = LEVEL,
                        seed: int = 0) -> Interval:
    """Mean over campaigns of ``AUC(ours) - AUC(theirs)``, two-stage bootstrap.

    Parameters
    ----------
    groups : sequence of (y, ours, theirs)
        Per campaign, the labels and the two scorers' scores of its customers.
    """
    point = float(np.mean([roc_auc(y, a) - roc_auc(y, b) for y, a, b in groups]))
    rng = np.random.default_rng(seed)
    values = np.empty(replicates)
    for replicate in range(replicates):
        drawn = rng.integers(0, len(groups), len(groups))
        differences = []
        for index in drawn:
            y, a, b = groups[index]
            rows = rng.integers(0, len(y), len(y))
            difference = roc_auc(y[rows], a[rows]) - roc_auc(y[rows], b[rows])
            if not np.isnan(difference):
                differences.append(difference)
        values[replicate] = np.mean(differences) if differences else point
    return _interval(point, values, level)
