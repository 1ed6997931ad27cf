"""A customer's affinity to a fixed set of products (a campaign's, say), cheaply.

Discovery scores every candidate product from the customer's purchases through the
item-to-item weights; to score only a few hundred products, the weights that lead into
them are gathered once per set (``ItemToItemIndex``), and a customer's scores are then a
sum over the few of those weights their purchases start from.
"""
from __future__ import annotations

import numpy as np

from promo.ml.recommender.common import SIMILAR_TO, Profile, Recommendation


class ItemToItemIndex:
    """The item-to-item weights whose target is one of ``product_ids``, by source."""

    def __init__(self, model, product_ids) -> None:
        self.product_ids = np.unique(np.asarray(product_ids, dtype=np.int64))
        items = np.searchsorted(model.products_, self.product_ids).clip(max=max(len(model.products_) - 1, 0))
        known = len(model.products_) > 0
        positions = np.where(known & (model.products_[items] == self.product_ids), model.candidate_of_[items], -1)
        target_of = np.full(len(model.candidates_), -1, dtype=np.int64)
        target_of[positions[positions >= 0]] = np.flatnonzero(positions >= 0)
        into = target_of[model.neighbour_items_]
        rows, columns = np.nonzero(into >= 0)
        # Rows come out sorted: the entries of source candidate s are indptr[s]:indptr[s + 1].
        self.indptr = np.searchsorted(rows, np.arange(len(model.candidates_) + 1))
        self.target = into[rows, columns]
        self.weight = model.neighbour_weights_[rows, columns]

    def similar(self, model, profile: Profile) -> list[Recommendation]:
        """The products of the set linked to what the customer bought and never bought
        themselves, best first, each with the purchase that contributed most."""
        sources = model.candidate_of_[profile.items]
        usable = np.flatnonzero(sources >= 0)
        starts, ends = self.indptr[sources[usable]], self.indptr[sources[usable] + 1]
        lengths = ends - starts
        if not lengths.sum():
            return []
        # The entries of every usable source, concatenated, and which profile row each is.
        row_of = np.repeat(np.arange(len(usable)), lengths)
        entries = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths) \
            + np.repeat(starts, lengths)
        contributions = self.weight[entries] * np.log1p(profile.weights[usable])[row_of]
        targets = self.target[entries]
        scores = np.bincount(targets, contributions, len(self.product_ids))
        bought = np.isin(self.product_ids, model.products_[profile.items[profile.purchased]])
        scores[bought] = 0.0
        # The purchase behind each product: one whose contribution is its largest.
        largest = np.full(len(self.product_ids), -np.inf)
        np.maximum.at(largest, targets, contributions)
        is_largest = contributions == largest[targets]
        strongest = np.full(len(self.product_ids), -1)
        strongest[targets[is_largest]] = row_of[is_largest]
        found = np.flatnonzero(scores > 0)
        found = found[np.argsort(-scores[found], kind="stable")]
        return [Recommendation(int(self.product_ids[t]), float(scores[t]),
                               ((SIMILAR_TO, int(model.products_[profile.items[usable[strongest[t]]]])),))
                for t in found.tolist()]
