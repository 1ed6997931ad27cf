"""Product recommendations for a grocery retailer, in two modes.

repeat
    "Buy again": the customer's own purchased products, ranked by their recency-weighted
    interaction count times how habitually customers re-buy the product.
discovery
    "You may also like": products the customer never bought, scored by an item-to-item
    model learned from co-purchases (EASE, Steck 2019: each product's purchases regressed
    on all the others'), applied to the customer's recency-weighted products.

Customers without purchases get what is popular at their location, or everywhere.

Every recommendation carries the reasons that produced it ("because you bought X").
Scoring a request is a few vector operations over precomputed arrays; a customer's
interactions newer than the fit are folded in per request, so they count immediately.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Literal, Mapping

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from promo.ml import repeat_ranker
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
# A product's repurchase rate is shrunk towards the overall rate as if this many more
# customers had bought it, so that two buyers who both came back do not make it a staple.
REPURCHASE_PRIOR_BUYERS = 5.0


@dataclasses.dataclass(frozen=True)
class Recommendation:
    """One recommended product.

    Attributes
    ----------
    product : int
        The product's integer id.
    score : float
        The score of the rule named by the first reason (higher is better); comparable
        between recommendations of one answer that share that reason, not otherwise.
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
    half_life_days : float, default=120
        How fast a customer's interactions lose weight: one this many days old counts half.
    popularity_half_life_days : float, default=28
        The same for popularity, which should follow what sells now (seasons, promotions).
    cart_weight, view_weight : float, default=0.3 and 0.1
        What a cart addition and a view count for in a customer's profile, a purchase
        counting 1. Only purchases decide what was "bought before".
    repurchase_power : float, default=0.5
        Repeat mode multiplies the customer's weight for a product by the product's
        repurchase rate (the share of its buyers who bought it more than once) to this
        power: 0 ignores it, 1 trusts it fully.
    discovery_products : int, default=5000
        How many of the most-bought products can be discovered. The item-to-item model
        costs this squared in memory and cubed in fitting time.
    regularization : float, default=1000
        L2 penalty of the item-to-item regression; larger is smoother, closer to plain
        co-purchase counts.
    neighbours : int, default=500
        How many item-to-item weights (the largest in magnitude) are kept per product.
    scoring_budget : int, default=100000
        At most about this many item-to-item weights are read per discovery request: a
        customer with many products reads only the largest weights of each. It bounds the
        latency of the heaviest customers and changes nothing for typical ones.
    location_products : int, default=200
        How many popular products are kept per location.
    repeat_weeks : int, default=4
        Repeat mode's ranker (:mod:`promo.ml.repeat_ranker`) learns at this many weekly
        cut-offs inside the training history; 0 keeps the rule above (recency-weighted
        count times repurchase rate), as does a history with nothing re-bought to learn from.
    repeat_horizon_days : float, default=7
        The ranker predicts a re-purchase within this many days.
    repeat_negatives : float, default=0.3
        The share of not-re-bought pairs the ranker learns from (all re-bought ones are kept).
    repeat_C : float, default=1.0
        Inverse L2 penalty of the ranker's logistic regression.

    Attributes
    ----------
    products_ : ndarray of int64
        The products known to the model, sorted; a product's position is its item index.
    customers_ : ndarray of int64
        The customers known to the model, sorted.
    data_until_ : numpy.datetime64
        The latest interaction seen; the reference time of every learned weight.
    popularity_ : ndarray of float32
        Per item, the recency-weighted number of buyers, scaled so the largest is 1.
    repurchase_rate_ : ndarray of float32
        Per item, the smoothed share of its buyers who bought it again.
    candidates_ : ndarray of int32
        The items discovery may suggest, most bought first.
    neighbour_items_, neighbour_weights_ : ndarray of shape (n_candidates, neighbours)
        Per candidate, the candidates (positions in ``candidates_``) its purchase predicts
        and by how much (negative: makes them less likely), strongest first.

    Notes
    -----
    The defaults were chosen on The Complete Journey (2,469 households, 1.47M purchases),
    trained before 2017-10-01 and judged on October; see :mod:`promo.ml.ranking`. That data
    has no carts or views, so their weights are judgement, not measurement.
    """

    def __init__(self, half_life_days: float = 120.0, popularity_half_life_days: float = 28.0,
                 cart_weight: float = 0.3, view_weight: float = 0.1,
                 repurchase_power: float = 0.5, discovery_products: int = 5000,
                 regularization: float = 1000.0, neighbours: int = 500,
                 scoring_budget: int = 100_000, location_products: int = 200,
                 repeat_weeks: int = 4, repeat_horizon_days: float = 7.0,
                 repeat_negatives: float = 0.3, repeat_C: float = 1.0):
        self.half_life_days = half_life_days
        self.popularity_half_life_days = popularity_half_life_days
        self.cart_weight = cart_weight
        self.view_weight = view_weight
        self.repurchase_power = repurchase_power
        self.discovery_products = discovery_products
        self.regularization = regularization
        self.neighbours = neighbours
        self.scoring_budget = scoring_budget
        self.location_products = location_products
        self.repeat_weeks = repeat_weeks
        self.repeat_horizon_days = repeat_horizon_days
        self.repeat_negatives = repeat_negatives
        self.repeat_C = repeat_C

    # --- fitting -----------------------------------------------------------------------

    def fit(self, history: pd.DataFrame, products: pd.DataFrame | None = None):
        """Learn profiles, popularity and the item-to-item model from ``history``.

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
        # Plain arrays from here on: filtering the frame itself would copy every column.
        type_weights = self._weights_of(history["type"])
        keep = type_weights > 0
        if products is not None:
            check_columns("products", products)
            keep &= history["product"].isin(products["product"]).to_numpy()
        if not keep.any():
            raise ValueError("history has no purchase, cart or view to learn from")
        times = history["occurred_at"].to_numpy("datetime64[ns]").view(np.int64)[keep]
        until = int(times.max())
        self.data_until_ = np.datetime64(until, "ns")
        self.products_, items = np.unique(history["product"].to_numpy(np.int64)[keep],
                                          return_inverse=True)
        self.customers_, users = np.unique(history["customer"].to_numpy(np.int64)[keep],
                                           return_inverse=True)
        is_purchase = history["type"].eq("purchase").to_numpy(bool)[keep]
        age_days = (until - times) / NS_PER_DAY

        decayed = type_weights[keep] * 0.5 ** (age_days / self.half_life_days)
        self._fit_profiles(users, items, decayed, is_purchase)
        self._fit_repurchase(users[is_purchase], items[is_purchase])
        self._fit_popularity(users, items, history["location"].to_numpy(np.int64)[keep],
                             age_days, is_purchase)
        self._fit_discovery()
        self._fit_repeat_ranker(users[is_purchase], items[is_purchase],
                                times[is_purchase], history["location"].to_numpy(np.int64)[keep][is_purchase])
        return self

    def _fit_repeat_ranker(self, users, items, times, locations):
        """The learned buy-again ranker and the per-pair state it reads at request time."""
        n_items, until = len(self.products_), int(self.data_until_.astype(np.int64))
        ranker, self.repeat_validation_ = repeat_ranker.learn_ranker(
            users, items, times, locations, n_items, len(self.customers_), weeks=self.repeat_weeks,
            horizon_days=self.repeat_horizon_days, negatives=self.repeat_negatives, C=self.repeat_C) \
            if self.repeat_weeks > 0 else (repeat_ranker.LinearRanker.empty(), {})
        self.ranker_means_, self.ranker_scales_, self.ranker_coef_ = \
            ranker.means, ranker.scales, ranker.coef
        pairs, state = repeat_ranker.pair_state(users, items, times, n_items, until)
        stats = repeat_ranker.item_stats(pairs % n_items, state, n_items, users, items, times,
                                         locations, until)
        # Aligned with the profile rows (purchased ones filled; the others stay zero).
        profile_users = np.repeat(np.arange(len(self.customers_), dtype=np.int64),
                                  np.diff(self.profile_indptr_))
        row = np.searchsorted(profile_users * n_items + self.profile_items_, pairs)
        size = len(self.profile_items_)
        self.pair_rows_ = np.zeros(size, np.float32)
        self.pair_days_ = np.zeros(size, np.float32)
        self.pair_first_day_ = np.zeros(size, np.float64)
        self.pair_last_day_ = np.zeros(size, np.float64)
        self.pair_decayed_ = np.zeros((size, len(repeat_ranker.HALF_LIVES)), np.float32)
        self.pair_rows_[row], self.pair_days_[row] = state.rows, state.days
        self.pair_first_day_[row], self.pair_last_day_[row] = state.first_day, state.last_day
        self.pair_decayed_[row] = state.weights
        self.item_cycle_, self.item_rate_, self.item_buyers_ = \
            stats.cycle, stats.repurchase_rate, stats.buyers
        self.store_ids_, self.store_indptr_ = stats.stores, stats.store_indptr
        self.store_items_, self.store_buyers_ = stats.store_items, stats.store_buyers

    def _type_weights(self) -> dict[str, float]:
        return {"purchase": 1.0, "cart": self.cart_weight, "view": self.view_weight}

    def _weights_of(self, types: pd.Series | np.ndarray) -> np.ndarray:
        """Per interaction, what its type counts for (0 for unknown types).

        Fitting passes the Series, compared without materialising a million strings;
        requests pass a small array, where numpy has less overhead than pandas.
        """
        weights = np.zeros(len(types))
        for kind, weight in self._type_weights().items():
            weights[np.asarray(types == kind, dtype=bool)] = weight
        return weights

    def _fit_profiles(self, users, items, decayed, is_purchase):
        """One CSR row per customer: their items, decayed weights and whether bought."""
        n_items = len(self.products_)
        pairs, pair_of_row = np.unique(users * n_items + items, return_inverse=True)
        pair_users = pairs // n_items
        self.profile_indptr_ = np.searchsorted(
            pair_users, np.arange(len(self.customers_) + 1)).astype(np.int64)
        self.profile_items_ = (pairs % n_items).astype(np.int32)
        self.profile_weights_ = np.bincount(pair_of_row, decayed, len(pairs)).astype(np.float32)
        self.profile_purchased_ = np.bincount(pair_of_row, is_purchase, len(pairs)) > 0

    def _fit_repurchase(self, users, items):
        """Per item, the smoothed share of its buyers who bought it more than once."""
        n_items = len(self.products_)
        pairs, purchases = np.unique(users * n_items + items, return_counts=True)
        pair_items = pairs % n_items
        buyers = np.bincount(pair_items, minlength=n_items)
        repeaters = np.bincount(pair_items, purchases > 1, n_items)
        overall = repeaters.sum() / max(buyers.sum(), 1)
        self.repurchase_rate_ = ((repeaters + REPURCHASE_PRIOR_BUYERS * overall)
                                 / (buyers + REPURCHASE_PRIOR_BUYERS)).astype(np.float32)
        self.repurchase_prior_ = np.float32(overall)

    def _fit_popularity(self, users, items, locations, age_days, is_purchase):
        """Recency-weighted buyer counts, everywhere and per location.

        A customer counts once per product, weighted by the age of their latest purchase
        of it: popular means bought by many customers lately, not bought often by a few.
        """
        purchases = pd.DataFrame({
            "user": users[is_purchase], "item": items[is_purchase],
            "location": locations[is_purchase],
            "decay": 0.5 ** (age_days[is_purchase] / self.popularity_half_life_days)})
        latest = purchases.groupby(["user", "item"], sort=False)["decay"].max()
        popularity = np.bincount(latest.index.get_level_values("item"), latest.to_numpy(),
                                 len(self.products_))
        self.popularity_ = (popularity / max(popularity.max(), 1e-12)).astype(np.float32)
        # Products nobody bought (only viewed) are not popular, whatever their rank.
        order = np.lexsort((np.arange(len(popularity)), -popularity))
        self.popular_order_ = order[popularity[order] > 0].astype(np.int32)

        located = purchases[purchases["location"] != NO_LOCATION]
        at_location = (located.groupby(["location", "user", "item"], sort=False)["decay"].max()
                       .groupby(level=["location", "item"]).sum().reset_index()
                       .sort_values(["location", "decay", "item"],
                                    ascending=[True, False, True])
                       .groupby("location").head(self.location_products))
        location_of_row = at_location["location"].to_numpy(np.int64)
        self.locations_ = np.unique(location_of_row)
        self.location_indptr_ = np.r_[np.searchsorted(location_of_row, self.locations_),
                                      len(location_of_row)].astype(np.int64)
        self.location_items_ = at_location["item"].to_numpy(np.int32)
        self.location_scores_ = at_location["decay"].to_numpy(np.float32)

    def _fit_discovery(self):
        """The item-to-item model over the most-bought products.

        EASE learns, for every candidate product, weights over the other candidates such
        that a customer's purchases predict their purchase of it; the closed form needs one
        inverse of the regularised co-purchase (Gram) matrix. Only the ``neighbours``
        largest weights per product are kept, so scoring touches few numbers.
        """
        bought = self.profile_purchased_
        buyers = np.bincount(self.profile_items_[bought], minlength=len(self.products_))
        # Only items somebody bought can be discovered (a history of views only has none).
        order = np.lexsort((np.arange(len(buyers)), -buyers))
        candidates = order[:min(self.discovery_products, int((buyers > 0).sum()))]
        self.candidates_ = candidates.astype(np.int32)
        self.candidate_of_ = np.full(len(self.products_), -1, np.int32)
        self.candidate_of_[candidates] = np.arange(len(candidates), dtype=np.int32)

        users = np.repeat(np.arange(len(self.customers_)), np.diff(self.profile_indptr_))
        columns = self.candidate_of_[self.profile_items_]
        keep = bought & (columns >= 0)
        matrix = sp.csr_matrix((np.ones(keep.sum(), np.float32), (users[keep], columns[keep])),
                               shape=(len(self.customers_), len(candidates)))
        if len(candidates) == 0:
            self.neighbour_items_ = np.zeros((0, 1), np.int32)
            self.neighbour_weights_ = np.zeros((0, 1), np.float32)
            return
        weights = ease_weights(matrix, self.regularization)
        self.neighbour_items_, self.neighbour_weights_ = _largest_per_row(weights,
                                                                         self.neighbours)

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
            Where the customer shops now: popular products come from there when it has data.
        available : callable, optional
            Given an int64 array of product ids, returns a bool array of those that may be
            recommended (in stock, allowed). Called with arrays of candidates (all of them
            at once, or popular ones in batches), never per product.

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
            if len(self.ranker_coef_):
                return self._repeat_learned(profile, limit, location, available)
            return self._repeat(profile, limit, available)
        return self._discovery(profile, limit, location, available)

    def _profile(self, customer, recent, now) -> _Profile:
        """The customer's weighted items at ``now``: the fitted row plus ``recent``."""
        position = self._customer_position(customer)
        start, end = (self.profile_indptr_[position], self.profile_indptr_[position + 1]) \
            if position >= 0 else (0, 0)
        items = self.profile_items_[start:end]
        weights = self.profile_weights_[start:end]
        purchased = self.profile_purchased_[start:end]
        until = int(self.data_until_.astype("datetime64[ns]").astype(np.int64))
        at = until if now is None else _as_ns(now)
        if at != until:
            # Exponential decay is memoryless: moving the reference time scales every
            # fitted weight alike, so only the balance with ``recent`` changes.
            weights = weights * 0.5 ** ((at - until) / (self.half_life_days * NS_PER_DAY))
        if recent is None or len(recent) == 0:
            none = np.empty(0, np.int64)
            return _Profile(items, weights, purchased, none, none.astype(float),
                            none.astype(bool), (start, end), at, none, none)
        return self._fold_in(items, weights, purchased, recent, at, (start, end))

    def _fold_in(self, items, weights, purchased, recent, at, rows) -> _Profile:
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
        # item-to-item weights or popularity yet.
        extra, extra_slot = np.unique(products[~known], return_inverse=True)
        extra_weights = np.bincount(extra_slot, new_weights[~known], len(extra))
        extra_purchased = np.bincount(extra_slot, new_purchased[~known], len(extra)) > 0
        return _Profile(merged.astype(np.int32), merged_weights, merged_purchased,
                        extra, extra_weights, extra_purchased, rows, at,
                        products[new_purchased], times[new_purchased])

    def _customer_position(self, customer) -> int:
        if customer is None:
            return -1
        position = int(np.searchsorted(self.customers_, customer))
        if position < len(self.customers_) and self.customers_[position] == customer:
            return position
        return -1

    def _repeat(self, profile: _Profile, limit, available) -> list[Recommendation]:
        """The purchased products: own recency-weighted count times repurchase rate."""
        items = profile.items[profile.purchased]
        products = np.r_[self.products_[items], profile.extra[profile.extra_purchased]]
        rates = np.r_[self.repurchase_rate_[items],
                      np.full(profile.extra_purchased.sum(), self.repurchase_prior_)]
        scores = np.r_[profile.weights[profile.purchased],
                       profile.extra_weights[profile.extra_purchased]] \
            * rates.astype(np.float64) ** self.repurchase_power
        chosen = _best(scores.copy(), limit, products, available)
        return [Recommendation(int(products[i]), float(scores[i]), ((BOUGHT_BEFORE, None),))
                for i in chosen]

    def _repeat_learned(self, profile: _Profile, limit, location, available
                        ) -> list[Recommendation]:
        """The purchased products, ranked by the learned buy-again model at ``profile.at``."""
        start, end = profile.rows
        fitted = np.flatnonzero(self.profile_purchased_[start:end]) + start
        n_items = len(self.products_)
        until = int(self.data_until_.astype("datetime64[ns]").astype(np.int64))
        half_lives = np.asarray(repeat_ranker.HALF_LIVES)
        # Decay is memoryless: the fitted weights move to ``at`` by one factor each.
        shift = 0.5 ** ((profile.at - until) / NS_PER_DAY / half_lives)
        if len(profile.recent_products) == 0:
            # The common case: nothing newer than the model, the fitted rows as they are.
            keys = self.profile_items_[fitted].astype(np.int64)
            state = repeat_ranker.PairState(self.pair_rows_[fitted], self.pair_days_[fitted],
                                            self.pair_first_day_[fitted], self.pair_last_day_[fitted],
                                            self.pair_decayed_[fitted] * shift)
        else:
            keys, state = self._fold_in_purchases(profile, fitted, shift)
        is_item = keys < n_items
        if is_item.all():
            item = keys
            cycle, rate = self.item_cycle_[item], self.item_rate_[item]
            buyers = self.item_buyers_[item]
            store_buyers = self._item_stats.at_store(location, item)
        else:
            # Products newer than the model: no figures of their own yet.
            item = np.where(is_item, keys, 0)
            cycle = np.where(is_item, self.item_cycle_[item], float(np.median(self.item_cycle_)))
            rate = np.where(is_item, self.item_rate_[item], float(self.repurchase_prior_))
            buyers = np.where(is_item, self.item_buyers_[item], 0.0)
            store_buyers = np.where(is_item, self._item_stats.at_store(location, item), 0.0)
        design = repeat_ranker.features(state, profile.at / NS_PER_DAY, cycle, rate, buyers, store_buyers,
                                        None, self.repeat_horizon_days)
        size = len(keys)
        scores = repeat_ranker.LinearRanker(self.ranker_means_, self.ranker_scales_,
                                            self.ranker_coef_).score(design)
        if is_item.all():
            products = self.products_[keys]
        else:
            products = np.empty(size, np.int64)
            products[is_item] = self.products_[keys[is_item]]
            products[~is_item] = profile.extra[keys[~is_item] - n_items]
        chosen = _best(scores, limit, products, available)
        return [Recommendation(int(products[i]), float(scores[i]), ((BOUGHT_BEFORE, None),))
                for i in chosen]

    def _fold_in_purchases(self, profile: _Profile, fitted: np.ndarray, shift: np.ndarray
                           ) -> tuple[np.ndarray, repeat_ranker.PairState]:
        """The customer's pair state with the request's new purchases added; keys are item
        indexes, then ``len(products_) + position in profile.extra`` for unknown products."""
        n_items = len(self.products_)
        known = np.searchsorted(self.products_, profile.recent_products).clip(max=n_items - 1)
        is_known = self.products_[known] == profile.recent_products
        new_keys = np.where(is_known, known,
                            n_items + np.searchsorted(profile.extra, profile.recent_products))
        keys, slot = np.unique(np.r_[self.profile_items_[fitted].astype(np.int64), new_keys],
                               return_inverse=True)
        old, new = slot[:len(fitted)], slot[len(fitted):]
        size = len(keys)
        half_lives = np.asarray(repeat_ranker.HALF_LIVES)
        new_days = (profile.recent_times // NS_PER_DAY).astype(float)
        new_age = np.maximum(profile.at - profile.recent_times, 0) / NS_PER_DAY
        decayed = np.zeros((size, len(half_lives)))
        decayed[old] = self.pair_decayed_[fitted] * shift
        np.add.at(decayed, new, 0.5 ** (new_age[:, None] / half_lives))
        rows, days = np.zeros(size), np.zeros(size)
        rows[old], days[old] = self.pair_rows_[fitted], self.pair_days_[fitted]
        rows += np.bincount(new, minlength=size)
        first, last = np.full(size, np.inf), np.full(size, np.nan)
        first[old], last[old] = self.pair_first_day_[fitted], self.pair_last_day_[fitted]
        # New purchase days, except the fitted last day seen again.
        fresh = np.unique(np.column_stack([new, new_days]), axis=0)
        fresh = fresh[fresh[:, 1] != last[fresh[:, 0].astype(np.int64)]]
        days += np.bincount(fresh[:, 0].astype(np.int64), minlength=size)
        np.minimum.at(first, new, new_days)
        last = np.where(np.isnan(last), -np.inf, last)
        np.maximum.at(last, new, new_days)
        return keys, repeat_ranker.PairState(rows, days, first, last, decayed)

    @property
    def _item_stats(self) -> repeat_ranker.ItemStats:
        return repeat_ranker.ItemStats(self.item_cycle_, self.item_rate_, self.item_buyers_, self.store_ids_,
                                       self.store_indptr_, self.store_items_, self.store_buyers_)

    def _discovery(self, profile: _Profile, limit, location, available) -> list[Recommendation]:
        """Unbought candidates by the item-to-item model, then popular products."""
        sources = self.candidate_of_[profile.items]
        usable = np.flatnonzero(sources >= 0)
        # Sub-linear in the weight: the tenth purchase of milk says less than the first.
        strength = np.log1p(profile.weights[usable])
        # Rows hold the largest weights first; heavy customers read fewer of each, so that
        # a request costs at most about ``scoring_budget`` weights.
        width = max(1, min(self.neighbour_items_.shape[1],
                           self.scoring_budget // max(len(usable), 1)))
        neighbours = self.neighbour_items_[sources[usable], :width]
        contributions = self.neighbour_weights_[sources[usable], :width] * strength[:, None]
        # (bincount answers an int array when there is nothing to count)
        scores = np.bincount(neighbours.ravel(), contributions.ravel(),
                             len(self.candidates_)).astype(np.float64, copy=False)
        scores[sources[usable][profile.purchased[usable]]] = -np.inf
        # Ties (e.g. customers with no usable product) go to the more bought candidate.
        chosen = _best(scores.copy(), limit, self.products_[self.candidates_], available)
        explained = _strongest_sources(chosen, neighbours, contributions)

        recommendations = []
        for position, source in zip(chosen, explained):
            reason = (SIMILAR_TO, int(self.products_[profile.items[usable[source]]])) \
                if source >= 0 else (FALLBACK_POPULAR, None)
            recommendations.append(Recommendation(
                int(self.products_[self.candidates_[position]]), float(scores[position]),
                (reason,)))
        if len(recommendations) < limit:
            # Every candidate was bought or unavailable: popular products outside them.
            excluded = np.r_[profile.items[profile.purchased], self.candidates_[chosen]]
            recommendations += self._popular(limit - len(recommendations), location,
                                             excluded, available)
        return recommendations

    def _popular(self, limit, location, excluded_items, available) -> list[Recommendation]:
        """Popular products at ``location`` when it has data, then popular everywhere."""
        recommendations: list[Recommendation] = []
        excluded = excluded_items
        at = self._location_position(location)
        if at >= 0:
            start, end = self.location_indptr_[at], self.location_indptr_[at + 1]
            items = self.location_items_[start:end]
            picked = _walk(items, limit, excluded, self.products_, available)
            recommendations += [Recommendation(int(self.products_[items[i]]),
                                               float(self.location_scores_[start + i]),
                                               ((POPULAR_AT_LOCATION, None),)) for i in picked]
            excluded = np.r_[excluded, items[picked]]
        if len(recommendations) < limit:
            # Beyond the few thousand most bought, "popular" would mean nothing.
            items = self.popular_order_[:POPULAR_POOL]
            picked = _walk(items, limit - len(recommendations), excluded, self.products_,
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
               "profile_weights", "profile_purchased", "repurchase_rate", "repurchase_prior",
               "popularity", "popular_order", "locations", "location_indptr", "location_items",
               "location_scores", "candidates", "candidate_of", "neighbour_items",
               "neighbour_weights", "ranker_means", "ranker_scales", "ranker_coef", "pair_rows",
               "pair_days", "pair_first_day", "pair_last_day", "pair_decayed", "item_cycle",
               "item_rate", "item_buyers", "store_ids", "store_indptr", "store_items",
               "store_buyers")

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
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], params: dict) -> "Recommender":
        """Rebuild a fitted recommender from :meth:`to_arrays` output (or an ``np.load``)."""
        missing = [name for name in cls._ARRAYS if name not in arrays]
        if missing:
            raise ValueError(f"recommender arrays lack {missing}")
        model = cls(**params)
        for name in cls._ARRAYS:
            setattr(model, name + "_", np.asarray(arrays[name]))
        # Scalars were saved as 0-d arrays; the model uses them as numpy scalars.
        model.data_until_ = model.data_until_[()]
        model.repurchase_prior_ = model.repurchase_prior_[()]
        return model


def ease_weights(bought: sp.csr_matrix, regularization: float) -> np.ndarray:
    """EASE item-to-item weights of a customer x item purchase matrix.

    ``B = argmin ||X - X B||^2 + regularization * ||B||^2`` with a zero diagonal, whose
    closed form is ``B = -P / diag(P)`` (column-wise) with ``P = (X'X + regularization I)^-1``.
    Row ``i`` says how a purchase of item ``i`` raises (or lowers) each other item's score.

    Float32 is enough: the penalty keeps the matrix well conditioned, and halves the
    memory and time of the inversion.
    """
    n_items = bought.shape[1]
    by_item = bought.T.tocsr().astype(np.float32)
    gram = np.empty((n_items, n_items), np.float32)
    for start in range(0, n_items, 1024):
        # Block by block: the sparse product of all columns at once would hold every
        # co-purchase pair in memory at the same time.
        gram[start:start + 1024] = (by_item[start:start + 1024] @ bought).toarray()
    gram[np.diag_indices_from(gram)] += regularization
    factor, info = scipy.linalg.lapack.spotrf(gram, lower=False, overwrite_a=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"co-purchase matrix is not positive definite ({info})")
    inverse, info = scipy.linalg.lapack.spotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"co-purchase matrix could not be inverted ({info})")
    # spotri fills the upper triangle only; mirror it block by block (the matrix is large).
    for start in range(0, n_items, 1024):
        end = min(start + 1024, n_items)
        inverse[start:end, :start] = inverse[:start, start:end].T
        block = inverse[start:end, start:end]
        block[...] = np.triu(block) + np.triu(block, 1).T
    inverse /= -np.diag(inverse).copy()[None, :]
    np.fill_diagonal(inverse, 0.0)
    return inverse


def _largest_per_row(weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indexes and values of the ``k`` largest-magnitude entries of each row.

    Each row is ordered by decreasing magnitude, so its first entries are its strongest.
    Rows are processed in blocks to bound the temporary memory.
    """
    n_rows, n_columns = weights.shape
    k = max(1, min(k, n_columns))
    columns = np.empty((n_rows, k), np.int32)
    values = np.empty((n_rows, k), np.float32)
    for start in range(0, n_rows, 1024):
        block = weights[start:start + 1024]
        magnitude = np.abs(block)
        top = np.argpartition(-magnitude, k - 1, axis=1)[:, :k] if k < n_columns \
            else np.broadcast_to(np.arange(k), block.shape)
        order = np.argsort(-np.take_along_axis(magnitude, top, axis=1), axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        columns[start:start + 1024] = top
        values[start:start + 1024] = np.take_along_axis(block, top, axis=1)
    return columns, values


def _strongest_sources(chosen: list[int], neighbours: np.ndarray,
                       contributions: np.ndarray) -> list[int]:
    """Per chosen candidate, the profile row that raised its score most (-1: none did)."""
    best = np.full(len(chosen), -1)
    if neighbours.size == 0 or not chosen:
        return best.tolist()
    # Positive contributions to the chosen candidates only, found with a lookup table.
    slot_of = np.full(int(max(chosen)) + 1, -1, np.int16 if len(chosen) < 2**15 else np.int64)
    slot_of[chosen] = np.arange(len(chosen))
    flat = neighbours.ravel()
    entries = np.flatnonzero(flat < len(slot_of))
    slots = slot_of[flat[entries]]
    values = contributions.ravel()[entries]
    relevant = (slots >= 0) & (values > 0)
    entries, slots, values = entries[relevant], slots[relevant], values[relevant]
    # Strongest first within each slot, so a slot's first entry is its best.
    order = np.lexsort((-values, slots))
    slots, entries = slots[order], entries[order]
    first = np.r_[True, slots[1:] != slots[:-1]] if len(slots) else slots.astype(bool)
    best[slots[first]] = entries[first] // neighbours.shape[1]
    return best.tolist()


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
    rows: tuple[int, int]            # the customer's slice of the fitted profile arrays
    at: int                          # the reference time, ns
    recent_products: np.ndarray      # the request's purchases (product ids) and times
    recent_times: np.ndarray


# Popular products examined per availability check when filling with popular ones.
WALK_BATCH = 1024
# How far down the global popularity ranking a fill with popular products may go.
POPULAR_POOL = 5000


def _as_ns(moment) -> int:
    return int(pd.Timestamp(moment).as_unit("ns").value)


def _best(scores: np.ndarray, limit: int, products: np.ndarray,
          available: Callable[[np.ndarray], np.ndarray] | None) -> list[int]:
    """Positions of the ``limit`` best finite ``scores`` whose product is available, best
    first (ties: lower position first).

    ``available`` is asked once, about every finite candidate (the stock view answers a
    few thousand products in microseconds): walking the ranking in small batches would
    cost more where the location stocks few of them. ``scores`` is consumed.
    """
    finite = np.flatnonzero(np.isfinite(scores))
    if available is not None and len(finite):
        unavailable = finite[~np.asarray(available(products[finite]), dtype=bool)]
        scores[unavailable] = -np.inf
        finite = np.setdiff1d(finite, unavailable, assume_unique=True)
    if len(finite) > limit:
        boundary = scores[finite[np.argpartition(-scores[finite], limit - 1)[limit - 1]]]
        # Everything tied with the last kept joins, so ties are broken by position, not by
        # where the partition happened to cut.
        finite = finite[scores[finite] >= boundary]
    ranked = finite[np.lexsort((finite, -scores[finite]))]
    return ranked[:limit].tolist()


def _walk(items: np.ndarray, limit: int, excluded: np.ndarray, products: np.ndarray,
          available: Callable[[np.ndarray], np.ndarray] | None) -> list[int]:
    """Positions of the first ``limit`` of the ranked ``items`` not excluded and available.

    The head of the ranking usually suffices; when it does not (a location that stocks
    few of the popular products), the rest is checked in one call.
    """
    chosen: list[int] = []
    head = limit if available is None else max(2 * limit, WALK_BATCH)
    for positions in (np.arange(min(head + len(excluded), len(items))),
                      np.arange(min(head + len(excluded), len(items)), len(items))):
        if available is not None and len(positions):
            positions = positions[np.asarray(available(products[items[positions]]), dtype=bool)]
        if len(excluded):
            positions = positions[~np.isin(items[positions], excluded)]
        chosen += positions[:limit - len(chosen)].tolist()
        if len(chosen) >= limit:
            break
    return chosen
