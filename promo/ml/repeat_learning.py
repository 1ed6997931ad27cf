"""Learning the buy-again ranker (:mod:`promo.ml.repeat_ranker`) from the training history:
weekly cut-offs inside it, the servable pairs at each, the label "re-bought in the week
after", and a softmax (or logistic) fit; plus the model's own check for its metadata."""
from __future__ import annotations

import dataclasses

import numpy as np

from promo.ml.repeat_ranker import FEATURES, NS_PER_DAY, LinearRanker, PurchaseIndex, design_at
from promo.ml.softmax_ranker import fit_softmax

OBJECTIVES = ("softmax", "logistic")


def learn_ranker(users: np.ndarray, items: np.ndarray, times: np.ndarray, locations: np.ndarray,
                 n_items: int, n_users: int, *, weeks: int = 2, horizon_days: float = 7.0,
                 negatives: float = 1.0, C: float = 1.0, objective: str = "softmax", seed: int = 0,
                 item_category: np.ndarray | None = None, category_penalty: float | None = None
                 ) -> tuple[LinearRanker, dict[str, float]]:
    """Fit the ranker at ``weeks`` weekly cut-offs before the last purchase.

    It learns from what serving ranks: at each cut-off, the pairs that could be served
    (the product in stock at the customer's usual store, :func:`design_at`) of the
    customers who re-bought one of those in the week after; a ``negatives`` share of the
    not-re-bought ones (all re-bought ones are kept). ``objective`` ``"softmax"`` learns
    the order within each customer's week (:func:`promo.ml.softmax_ranker.fit_softmax`);
    ``"logistic"`` a logistic regression over all those pairs. Either way each customer's
    week weighs one over the number of products they re-bought, as recall counts them: a
    customer who re-buys forty products does not outweigh forty who re-buy one. With
    ``item_category`` (each item's category code, -1 for none) and a ``category_penalty``,
    the softmax also learns each category's intercept and adjustment of every coefficient,
    shrunk by that penalty (the logistic objective ignores them). Returns an empty ranker
    when the history has no re-purchase to learn from.

    Returns
    -------
    ranker : LinearRanker
    validation : dict
        With two weeks or more: recall@10 on the latest week of a ranker learned from the
        older ones, beside buy-again by count and by 30-day recency on the same week
        (the servable pairs of the customers who re-bought one): the model's own check,
        for its metadata.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, not {objective!r}")
    if len(times) == 0:
        return LinearRanker.empty(), {}
    rng = np.random.default_rng(seed)
    end = int(times.max())
    index = PurchaseIndex.build(users, items, times, locations, n_items)
    weeks_data = []
    for week in range(1, weeks + 1):
        cutoff = end - int(week * horizon_days * NS_PER_DAY)
        if not (times < cutoff).any():
            break
        pairs, design, servable = design_at(index, n_users, cutoff, horizon_days)
        after = (times >= cutoff) & (times < cutoff + int(horizon_days * NS_PER_DAY))
        bought = np.isin(pairs, users[after].astype(np.int64) * n_items + items[after])
        rebought = np.bincount(pairs[bought & servable] // n_items, minlength=n_users)
        judged = servable & (rebought[pairs // n_items] > 0)
        pairs, design, bought = pairs[judged], design[judged], bought[judged]
        keep = bought | (rng.random(len(pairs)) < negatives)
        if week > 1:
            # Only the latest week is kept whole (for the validation); the others as sampled.
            pairs, design, bought, keep = pairs[keep], design[keep], bought[keep], np.ones(keep.sum(), bool)
        weeks_data.append(_Week(pairs, design, bought, keep, 1.0 / rebought[pairs // n_items]))
    categories = _Categories(item_category, category_penalty) \
        if item_category is not None and category_penalty is not None and objective == "softmax" else None
    ranker = _fit(weeks_data, C, objective, n_items, categories)
    validation = {}
    if ranker.learned and len(weeks_data) >= 2:
        older = _fit(weeks_data[1:], C, objective, n_items, categories)
        if older.learned:
            latest = weeks_data[0]
            latest_categories = categories.of(latest.pairs % n_items) if categories is not None else None
            validation = {name: round(_recall(latest.pairs, score, latest.bought, n_items), 4) for name, score in (
                ("ranker", older.score(latest.design, latest_categories)),
                ("buy_again_count", latest.design[:, FEATURES.index("log_rows")]),
                ("buy_again_recency_30d", latest.design[:, FEATURES.index("log_w30")]))}
    return ranker, validation


@dataclasses.dataclass(frozen=True)
class _Week:
    """One training cut-off's pairs (sorted by customer), design, labels, the rows learned
    from and each row's customer weight."""

    pairs: np.ndarray
    design: np.ndarray
    bought: np.ndarray
    keep: np.ndarray
    weight: np.ndarray


@dataclasses.dataclass(frozen=True)
class _Categories:
    """Each item's category code (-1: none) and the penalty of the categories' adjustments."""

    of_item: np.ndarray
    penalty: float

    def of(self, items: np.ndarray) -> np.ndarray:
        return self.of_item[items]

    @property
    def count(self) -> int:
        return int(self.of_item.max()) + 1 if len(self.of_item) else 0


def _fit(weeks_data: list[_Week], C: float, objective: str, n_items: int,
         categories: _Categories | None = None) -> LinearRanker:
    if not weeks_data:
        return LinearRanker.empty()
    y = np.concatenate([week.bought[week.keep] for week in weeks_data])
    if y.all() or not y.any():
        return LinearRanker.empty()
    design = np.vstack([week.design[week.keep] for week in weeks_data])
    weight = np.concatenate([week.weight[week.keep] for week in weeks_data])
    if objective == "logistic":
        return LinearRanker.fit(design, y.astype(np.int64), C=C,
                                sample_weight=weight * len(weight) / weight.sum())
    # Groups: one customer at one cut-off; pairs are sorted by customer within a week.
    group_key = np.concatenate([week.pairs[week.keep] // n_items + offset * (2 ** 40)
                                for offset, week in enumerate(weeks_data)])
    starts = np.r_[0, np.flatnonzero(np.diff(group_key)) + 1]
    if categories is None or categories.count == 0:
        means, scales, coef, _ = fit_softmax(design, y, starts, weight[starts], C=C)
        return LinearRanker(means, scales, coef)
    items = np.concatenate([week.pairs[week.keep] % n_items for week in weeks_data])
    means, scales, coef, category_coef = fit_softmax(
        design, y, starts, weight[starts], C=C, categories=categories.of(items),
        n_categories=categories.count, category_penalty=categories.penalty)
    return LinearRanker(means, scales, coef, category_coef)


def _recall(pairs: np.ndarray, score: np.ndarray, bought: np.ndarray, n_items: int, k: int = 10) -> float:
    """Mean recall@k over the customers who re-bought something (ties: lower item first)."""
    users, items = pairs // n_items, pairs % n_items
    order = np.lexsort((items, -score, users))
    users, hit = users[order], bought[order]
    first = np.r_[0, np.flatnonzero(np.diff(users)) + 1]
    rank = np.arange(len(users)) - np.repeat(first, np.diff(np.r_[first, len(users)]))
    relevant = np.bincount(users, hit)
    found = np.bincount(users, hit & (rank < k))
    judged = relevant > 0
    return float((found[judged] / relevant[judged]).mean()) if judged.any() else 0.0
