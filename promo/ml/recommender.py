"""Product recommendations for a grocery retailer, in two modes.

repeat
    "Buy again": the customer's own purchased products, ranked by how often and how
    recently they interacted with them (an exponentially decaying count).
discovery
    "You may also like": products the customer never bought, ranked by their similarity
    to what the customer did buy (item-to-item neighbours learned from co-purchases),
    blended with how popular they are right now.

Customers without purchases get what is popular at their location, or everywhere.

Every recommendation carries the reasons that produced it, so the channel can say
"because you bought X". Scoring a request is a few vector operations over precomputed
arrays; a customer's interactions newer than the fit are folded in per request, so they
count immediately without retraining.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from promo.ml.frames import check_columns

MODES = ("repeat", "discovery")
Mode = Literal["repeat", "discovery"]
Reason = tuple[str, "int | None"]

BOUGHT_BEFORE = "bought_before"
SIMILAR_TO = "similar_to"
POPULAR_AT_LOCATION = "popular_at_location"
FALLBACK_POPULAR = "fallback_popular"

NS_PER_DAY = 86_400 * 10**9
NO_LOCATION = -1


@dataclasses.dataclass(frozen=True)
class Recommendation:
    """One recommended product.

    Attributes
    ----------
    product : int
        The product's integer id.
    score : float
        Higher is better; comparable only within one answer.
    reasons : tuple of (str, int or None)
        Why, most important first: ``("bought_before", None)``, ``("similar_to", product)``
        naming the customer's product that contributed most, ``("popular_at_location",
        None)`` or ``("fallback_popular", None)``.
    """

    product: int
    score: float
    reasons: tuple[Reason, ...]


class Recommender(BaseEstimator):
    """Repeat and discovery product recommendations learned from the interaction history.

    Parameters
    ----------
    half_life_days : float, default=90
        How fast a customer's interactions lose weight: one this many days old counts half.
    popularity_half_life_days : float, default=21
        The same for popularity, which should follow what sells now (seasons, promotions).
    cart_weight, view_weight : float, default=0.3 and 0.1
        What a cart addition and a view count for, a purchase counting 1.
    neighbours : int, default=100
        How many similar products are kept per product.
    min_buyers : int, default=3
        Products bought by fewer customers get no neighbours and are never discovered:
        their co-purchases are too few to be evidence, and pruning them keeps fit fast.
    similarity_alpha : float, default=0.5
        Asymmetric cosine: ``co(i, j) / (n_i ** alpha * n_j ** (1 - alpha))``; 0.5 is the
        plain cosine, larger values favour popular neighbours ``j``.
    popularity_weight : float, default=0.1
        In discovery, what the popularity (scaled to [0, 1]) adds to the similarity score
        (an average similarity, also in [0, 1]).
    profile_size : int, default=200
        Discovery looks at the customer's this many most weighted products only.
    location_products : int, default=200
        How many popular products are kept per location.

    Attributes
    ----------
    products_ : ndarray of int64
        The products known to the model, sorted; a product's position is its item index.
    customers_ : ndarray of int64
        The customers known to the model, sorted.
    data_until_ : numpy.datetime64
        The latest interaction seen; the reference time of every learned weight.
    popularity_ : ndarray of float32
        Recency-weighted number of buyers per item, scaled so the largest is 1.
    """

    def __init__(self, half_life_days: float = 90.0, popularity_half_life_days: float = 21.0,
                 cart_weight: float = 0.3, view_weight: float = 0.1, neighbours: int = 100,
                 min_buyers: int = 3, similarity_alpha: float = 0.5,
                 popularity_weight: float = 0.1, profile_size: int = 200,
                 location_products: int = 200):
        self.half_life_days = half_life_days
        self.popularity_half_life_days = popularity_half_life_days
        self.cart_weight = cart_weight
        self.view_weight = view_weight
        self.neighbours = neighbours
        self.min_buyers = min_buyers
        self.similarity_alpha = similarity_alpha
        self.popularity_weight = popularity_weight
        self.profile_size = profile_size
        self.location_products = location_products

    # --- fitting -----------------------------------------------------------------------

    def fit(self, history: pd.DataFrame, products: pd.DataFrame | None = None):
        """Learn profiles, popularity and product neighbours from ``history``.

        Parameters
        ----------
        history : pandas.DataFrame
            The history frame of :mod:`promo.ml.frames` (every interaction type).
        products : pandas.DataFrame, optional
            The products frame; when given, interactions with products missing from it are
            ignored, since the service could not show them.

        Returns
        -------
        self
        """
        check_columns("history", history)
        history = history[history["type"].isin(self._type_weights())]
        if products is not None:
            check_columns("products", products)
            history = history[history["product"].isin(products["product"])]
        if history.empty:
            raise ValueError("history has no purchase, cart or view to learn from")

        times = history["occurred_at"].to_numpy("datetime64[ns]").view(np.int64)
        until = int(times.max())
        self.data_until_ = np.datetime64(until, "ns")
        self.products_, items = np.unique(history["product"].to_numpy(np.int64),
                                          return_inverse=True)
        self.customers_, users = np.unique(history["customer"].to_numpy(np.int64),
                                           return_inverse=True)
        is_purchase = (history["type"] == "purchase").to_numpy()
        weights = self._weights_of(history["type"].to_numpy())
        age_days = (until - times) / NS_PER_DAY

        pairs = self._fit_profiles(users, items, weights * 0.5 ** (age_days / self.half_life_days),
                                   is_purchase)
        self._fit_popularity(users, items, history["location"].to_numpy(np.int64), age_days,
                             is_purchase)
        self._fit_neighbours(pairs)
        return self

    def _type_weights(self) -> dict[str, float]:
        return {"purchase": 1.0, "cart": self.cart_weight, "view": self.view_weight}

    def _weights_of(self, types: np.ndarray) -> np.ndarray:
        weights = np.zeros(len(types))
        for kind, weight in self._type_weights().items():
            weights[types == kind] = weight
        return weights

    def _fit_profiles(self, users, items, decayed, is_purchase):
        """One row per customer: their items, decayed weights and whether they bought each."""
        n_items = len(self.products_)
        keys, pair_of_row = np.unique(users * n_items + items, return_inverse=True)
        pair_users, pair_items = keys // n_items, keys % n_items
        self.profile_indptr_ = np.concatenate(
            [[0], np.cumsum(np.bincount(pair_users, minlength=len(self.customers_)))]
        ).astype(np.int64)
        self.profile_items_ = pair_items.astype(np.int32)
        self.profile_weights_ = np.bincount(pair_of_row, decayed, len(keys)).astype(np.float32)
        self.profile_purchased_ = np.bincount(pair_of_row, is_purchase, len(keys)) > 0
        return pair_users, pair_items, self.profile_purchased_

    def _fit_popularity(self, users, items, locations, age_days, is_purchase):
        """Recency-weighted buyer counts, everywhere and per location.

        A customer counts once per product, weighted by the age of their latest purchase
        of it: popular means bought by many customers lately, not bought often by a few.
        """
        buys = is_purchase
        purchases = pd.DataFrame({
            "user": users[buys], "item": items[buys], "location": locations[buys],
            "decay": 0.5 ** (age_days[buys] / self.popularity_half_life_days)})
        latest = purchases.groupby(["user", "item"], sort=False)["decay"].max()
        popularity = np.bincount(latest.index.get_level_values("item"), latest.to_numpy(),
                                 len(self.products_))
        self.popularity_ = (popularity / max(popularity.max(), 1e-12)).astype(np.float32)
        self.popular_order_ = np.argsort(-self.popularity_, kind="stable").astype(np.int32)

        located = purchases[purchases["location"] != NO_LOCATION]
        at_location = (located.groupby(["location", "user", "item"], sort=False)["decay"].max()
                       .groupby(level=["location", "item"]).sum().reset_index())
        at_location = (at_location.sort_values(["location", "decay", "item"],
                                               ascending=[True, False, True])
                       .groupby("location").head(self.location_products))
        self.locations_ = np.unique(at_location["location"].to_numpy(np.int64))
        self.location_indptr_ = np.searchsorted(at_location["location"].to_numpy(np.int64),
                                                np.r_[self.locations_, np.iinfo(np.int64).max]
                                                ).astype(np.int64)
        self.location_indptr_[-1] = len(at_location)
        self.location_items_ = at_location["item"].to_numpy(np.int32)
        self.location_scores_ = at_location["decay"].to_numpy(np.float32)

    def _fit_neighbours(self, pairs):
        """The ``neighbours`` most similar products of every product with enough buyers."""
        pair_users, pair_items, purchased = pairs
        n_items = len(self.products_)
        buyers = np.bincount(pair_items[purchased], minlength=n_items)
        candidates = np.flatnonzero(buyers >= self.min_buyers)
        # item -> position among candidates, -1 for products too rare to be discovered
        self.candidate_of_ = np.full(n_items, -1, np.int32)
        self.candidate_of_[candidates] = np.arange(len(candidates), dtype=np.int32)
        self.candidates_ = candidates.astype(np.int32)

        keep = purchased & (self.candidate_of_[pair_items] >= 0)
        bought = sp.csr_matrix(
            (np.ones(keep.sum(), np.float32), (pair_users[keep], self.candidate_of_[pair_items[keep]])),
            shape=(len(self.customers_), len(candidates)))
        counts = buyers[candidates].astype(np.float64)
        source_norm = counts ** self.similarity_alpha
        target_norm = (counts ** (1.0 - self.similarity_alpha)).astype(np.float32)
        k = min(self.neighbours, max(len(candidates) - 1, 1))
        self.neighbour_items_ = np.zeros((len(candidates), k), np.int32)
        self.neighbour_weights_ = np.zeros((len(candidates), k), np.float32)
        by_item = bought.T.tocsr()
        chunk = 512
        for start in range(0, len(candidates), chunk):
            co = (by_item[start:start + chunk] @ bought).tocsr()
            self._keep_top(co, start, source_norm, target_norm, k)

    def _keep_top(self, co, start, source_norm, target_norm, k):
        indptr, indices, data = co.indptr, co.indices, co.data
        for row in range(co.shape[0]):
            lo, hi = indptr[row], indptr[row + 1]
            cols = indices[lo:hi]
            not_itself = cols != start + row
            cols = cols[not_itself]
            sims = data[lo:hi][not_itself] / target_norm[cols]
            if len(sims) > k:
                top = np.argpartition(sims, -k)[-k:]
                cols, sims = cols[top], sims[top]
            self.neighbour_items_[start + row, :len(cols)] = cols
            self.neighbour_weights_[start + row, :len(cols)] = sims / source_norm[start + row]

    # --- recommending ------------------------------------------------------------------

    def recommend(self, customer: int | None, *, mode: Mode = "repeat",
                  recent: pd.DataFrame | None = None, now=None, limit: int = 10,
                  location: int | None = None,
                  available: Callable[[np.ndarray], np.ndarray] | None = None,
                  ) -> list[Recommendation]:
        """Recommend up to ``limit`` products to ``customer``.

        Parameters
        ----------
        customer : int or None
            The customer's integer id; None or an id unknown to the model is a cold customer.
        mode : {"repeat", "discovery"}, default="repeat"
            Repeat returns only products the customer purchased before; discovery never does.
        recent : pandas.DataFrame, optional
            The customer's interactions newer than :attr:`data_until_` (history columns; at
            least product, type and occurred_at). They count as if they had been fitted.
        now : datetime-like, optional
            The reference time of the recency decay; defaults to :attr:`data_until_`.
        limit : int, default=10
        location : int, optional
            Where the customer shops now; cold customers get what is popular there.
        available : callable, optional
            Given an int64 array of product ids, returns a bool array of those that may be
            recommended (in stock, allowed). Called on batches of ranked candidates.

        Returns
        -------
        list of Recommendation
            Best first. A customer without any purchase gets popular products, in both
            modes; repeat mode may return fewer than ``limit`` products, never other ones.
        """
        if not hasattr(self, "neighbour_items_"):
            check_is_fitted(self, "neighbour_items_")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        if limit <= 0:
            return []
        profile = self._profile(customer, recent, now)
        if not (profile.purchased.any() or profile.extra_purchased.any()):
            return self._popular(limit, location, profile.items[:0], available)
        if mode == "repeat":
            return self._repeat(profile, limit, available)
        return self._discovery(profile, limit, location, available)

    def _profile(self, customer, recent, now) -> _Profile:
        """The customer's weighted items at ``now``: the fitted row plus ``recent``."""
        position = self._customer_position(customer)
        if position < 0:
            items = np.empty(0, np.int32)
            weights = np.empty(0, np.float32)
            purchased = np.empty(0, bool)
        else:
            start, end = self.profile_indptr_[position], self.profile_indptr_[position + 1]
            items = self.profile_items_[start:end]
            weights = self.profile_weights_[start:end]
            purchased = self.profile_purchased_[start:end]
        until = self.data_until_.astype("datetime64[ns]").astype(np.int64)
        at = until if now is None else _as_ns(now)
        if at != until:
            # Exponential decay is memoryless: moving the reference time scales every
            # fitted weight alike, so only the balance with ``recent`` changes.
            weights = weights * 0.5 ** ((at - until) / (self.half_life_days * NS_PER_DAY))
        none = np.empty(0, np.int64)
        if recent is None or len(recent) == 0:
            return _Profile(items, weights, purchased, none, none.astype(float), none.astype(bool))
        return self._fold_in(items, weights, purchased, recent, at)

    def _fold_in(self, items, weights, purchased, recent, at) -> _Profile:
        products = recent["product"].to_numpy(np.int64)
        types = recent["type"].to_numpy()
        times = recent["occurred_at"].to_numpy("datetime64[ns]").view(np.int64)
        age_days = np.maximum(at - times, 0) / NS_PER_DAY
        new_weights = self._weights_of(types) * 0.5 ** (age_days / self.half_life_days)
        new_purchased = types == "purchase"
        position = np.searchsorted(self.products_, products).clip(max=len(self.products_) - 1)
        known = self.products_[position] == products

        merged, slot = np.unique(np.r_[items, position[known]], return_inverse=True)
        merged_weights = np.bincount(slot, np.r_[weights, new_weights[known]], len(merged))
        merged_purchased = np.bincount(slot, np.r_[purchased, new_purchased[known]],
                                       len(merged)) > 0
        # Products newer than the model can still be bought again; they just have no
        # neighbours or popularity yet.
        extra, extra_slot = np.unique(products[~known], return_inverse=True)
        extra_weights = np.bincount(extra_slot, new_weights[~known], len(extra))
        extra_purchased = np.bincount(extra_slot, new_purchased[~known], len(extra)) > 0
        return _Profile(merged.astype(np.int32), merged_weights, merged_purchased,
                        extra, extra_weights, extra_purchased)

    def _customer_position(self, customer) -> int:
        if customer is None:
            return -1
        position = int(np.searchsorted(self.customers_, customer))
        if position < len(self.customers_) and self.customers_[position] == customer:
            return position
        return -1

    def _repeat(self, profile: _Profile, limit, available) -> list[Recommendation]:
        """The purchased products, by decayed interaction weight."""
        products = np.r_[self.products_[profile.items[profile.purchased]],
                         profile.extra[profile.extra_purchased]]
        scores = np.r_[profile.weights[profile.purchased],
                       profile.extra_weights[profile.extra_purchased]].astype(np.float64)
        chosen = _best(scores.copy(), limit, products, available)
        return [Recommendation(int(products[i]), float(scores[i]), ((BOUGHT_BEFORE, None),))
                for i in chosen]

    def _discovery(self, profile: _Profile, limit, location, available) -> list[Recommendation]:
        """Unbought products by weighted similarity to the profile, plus popularity."""
        sources = self.candidate_of_[profile.items]
        usable = np.flatnonzero(sources >= 0)
        if len(usable) > self.profile_size:
            usable = usable[np.argpartition(profile.weights[usable],
                                            -self.profile_size)[-self.profile_size:]]
        source_weights = profile.weights[usable]
        total = float(source_weights.sum())
        neighbours = self.neighbour_items_[sources[usable]]
        contributions = self.neighbour_weights_[sources[usable]] * source_weights[:, None]
        similarity = np.bincount(neighbours.ravel(), contributions.ravel(),
                                 len(self.candidates_))
        if total > 0:
            similarity /= total
        scores = similarity + self.popularity_weight * self.popularity_[self.candidates_]
        bought = self.candidate_of_[profile.items[profile.purchased]]
        scores[bought[bought >= 0]] = -np.inf
        chosen = _best(scores.copy(), limit, self.products_[self.candidates_], available)

        recommendations = []
        for position in chosen:
            if similarity[position] > 0:
                rows = np.nonzero(neighbours == position)
                best = rows[0][np.argmax(contributions[rows])]
                source = int(self.products_[profile.items[usable[best]]])
                reason = (SIMILAR_TO, source)
            else:
                reason = (FALLBACK_POPULAR, None)
            recommendations.append(Recommendation(
                int(self.products_[self.candidates_[position]]), float(scores[position]),
                (reason,)))
        return recommendations

    def _popular(self, limit, location, excluded_items, available) -> list[Recommendation]:
        """Popular products at ``location`` when it has data, then popular everywhere."""
        recommendations: list[Recommendation] = []
        chosen_items = excluded_items
        at = self._location_position(location)
        if at >= 0:
            start, end = self.location_indptr_[at], self.location_indptr_[at + 1]
            items = self.location_items_[start:end]
            picked = _walk(items, limit, chosen_items, self.products_, available)
            recommendations += [Recommendation(int(self.products_[items[i]]),
                                               float(self.location_scores_[start + i]),
                                               ((POPULAR_AT_LOCATION, None),)) for i in picked]
            chosen_items = np.r_[chosen_items, items[picked]]
        if len(recommendations) < limit:
            items = self.popular_order_
            picked = _walk(items, limit - len(recommendations), chosen_items, self.products_,
                           available)
            recommendations += [Recommendation(int(self.products_[items[i]]),
                                               float(self.popularity_[items[i]]),
                                               ((FALLBACK_POPULAR, None),)) for i in picked]
        return recommendations

    def _location_position(self, location) -> int:
        if location is None:
            return -1
        position = int(np.searchsorted(self.locations_, location))
        if position < len(self.locations_) and self.locations_[position] == location:
            return position
        return -1

    # --- persistence -------------------------------------------------------------------

    _ARRAYS = ("products", "customers", "data_until", "profile_indptr", "profile_items",
               "profile_weights", "profile_purchased", "popularity", "popular_order",
               "locations", "location_indptr", "location_items", "location_scores",
               "candidate_of", "candidates", "neighbour_items", "neighbour_weights")

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict]:
        """The fitted state as plain numpy arrays plus the JSON-able parameters.

        Returns
        -------
        arrays : dict of str to numpy.ndarray
            Numeric, boolean or datetime arrays only, so ``np.savez`` then
            ``np.load(..., allow_pickle=False)`` round-trips them.
        params : dict
            :meth:`get_params`.
        """
        check_is_fitted(self, "neighbour_items_")
        arrays = {name: np.asarray(getattr(self, name + "_")) for name in self._ARRAYS}
        return arrays, self.get_params()

    @classmethod
    def from_arrays(cls, arrays, params: dict) -> "Recommender":
        """Rebuild a fitted recommender from :meth:`to_arrays` output (or an ``np.load``)."""
        missing = [name for name in cls._ARRAYS if name not in arrays]
        if missing:
            raise ValueError(f"recommender arrays lack {missing}")
        model = cls(**params)
        for name in cls._ARRAYS:
            setattr(model, name + "_", np.asarray(arrays[name]))
        model.data_until_ = model.data_until_[()]
        return model


@dataclasses.dataclass(frozen=True)
class _Profile:
    """A customer's interactions as the model sees them at request time.

    ``items`` are item indexes (known products); ``extra`` are products newer than the
    model, seen only in the request's recent interactions.
    """

    items: np.ndarray
    weights: np.ndarray
    purchased: np.ndarray
    extra: np.ndarray
    extra_weights: np.ndarray
    extra_purchased: np.ndarray


def _as_ns(moment) -> int:
    return int(pd.Timestamp(moment).as_unit("ns").value)


def _best(scores: np.ndarray, limit: int, products: np.ndarray,
          available: Callable[[np.ndarray], np.ndarray] | None) -> list[int]:
    """Positions of the ``limit`` best finite ``scores`` whose product is available.

    Candidates are examined best first in batches that double in size, so ``available``
    sees a few arrays, never one product at a time. ``scores`` is consumed (overwritten).
    """
    chosen: list[int] = []
    batch = limit if available is None else 2 * limit
    while len(chosen) < limit:
        if batch < len(scores):
            part = np.argpartition(-scores, batch - 1)[:batch]
        else:
            part = np.arange(len(scores))
        part = part[np.isfinite(scores[part])]
        if len(part) == 0:
            break
        part = part[np.lexsort((part, -scores[part]))]
        scores[part] = -np.inf
        if available is not None:
            part = part[np.asarray(available(products[part]), dtype=bool)]
        chosen += part[:limit - len(chosen)].tolist()
        batch *= 2
    return chosen


def _walk(items: np.ndarray, limit: int, excluded: np.ndarray, products: np.ndarray,
          available: Callable[[np.ndarray], np.ndarray] | None) -> list[int]:
    """Positions of the first ``limit`` of the ranked ``items`` not excluded and available."""
    chosen: list[int] = []
    start, batch = 0, limit if available is None else 2 * limit
    while len(chosen) < limit and start < len(items):
        positions = np.arange(start, min(start + batch + len(excluded), len(items)))
        start = positions[-1] + 1
        positions = positions[~np.isin(items[positions], excluded)]
        if available is not None and len(positions):
            positions = positions[np.asarray(available(products[items[positions]]), dtype=bool)]
        chosen += positions[:limit - len(chosen)].tolist()
        batch *= 2
    return chosen
