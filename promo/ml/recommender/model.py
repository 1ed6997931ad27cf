"""The :class:`Recommender` estimator: parameters, ``fit`` and ``recommend``; the work is
done in :mod:`.fitting`, :mod:`.fold_in`, :mod:`.scoring` and :mod:`.persistence`."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from promo.ml import repeat_ranker
from promo.ml.frames import check_columns
from promo.ml.recommender import fitting, fold_in, persistence, scoring
from promo.ml.recommender.affinity import ItemToItemIndex
from promo.ml.recommender.common import MODES, NS_PER_DAY, Mode, Recommendation


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
        The counting rule of repeat mode (used when no ranker is learned) multiplies the
        customer's weight for a product by the product's repurchase rate (the share of
        its buyers who bought it more than once) to this power: 0 ignores it, 1 trusts it.
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
    repeat_weeks : int, default=2
        Repeat mode's ranker (:mod:`promo.ml.repeat_ranker`) learns at this many weekly
        cut-offs inside the training history; 0 keeps the rule above (recency-weighted
        count times repurchase rate), as does a history with nothing re-bought to learn from.
    repeat_horizon_days : float, default=7
        The ranker predicts a re-purchase within this many days.
    repeat_negatives : float, default=1.0
        The share of not-re-bought pairs the ranker learns from (all re-bought ones are kept).
    repeat_C : float, default=1.0
        Inverse L2 penalty of the ranker's fit.
    repeat_objective : {"softmax", "logistic"}, default="softmax"
        How the ranker is learned: the order of each customer's servable products
        (:mod:`promo.ml.softmax_ranker`), or a logistic regression over all of them.
    repeat_category_penalty : float or None, default=300
        With ``products`` given to :meth:`fit`, the softmax ranker also learns each product
        category's intercept and adjustment of every coefficient, shrunk towards the shared
        ones by this L2 penalty (larger: closer to them); None learns shared ones only.

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
    The defaults were chosen on The Complete Journey (2,469 households, 1.47M purchases):
    discovery's trained before 2017-10-01 and judged on October, the ranker's by
    ``bench/tuning.py ranker``; see :mod:`promo.ml.multi_cutoff`. That data
    has no carts or views, so their weights are judgement, not measurement.
    """

    def __init__(self, half_life_days: float = 120.0, popularity_half_life_days: float = 28.0,
                 cart_weight: float = 0.3, view_weight: float = 0.1,
                 repurchase_power: float = 0.5, discovery_products: int = 5000,
                 regularization: float = 1000.0, neighbours: int = 500,
                 scoring_budget: int = 100_000, location_products: int = 200,
                 repeat_weeks: int = 2, repeat_horizon_days: float = 7.0,
                 repeat_negatives: float = 1.0, repeat_C: float = 1.0,
                 repeat_objective: str = "softmax", repeat_category_penalty: float | None = 300.0):
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
        self.repeat_objective = repeat_objective
        self.repeat_category_penalty = repeat_category_penalty

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
        self.item_category_ = fitting.item_categories(self.products_, products)
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

    def affinity(self, customer: int | None, product_ids, *, recent: pd.DataFrame | None = None, now=None,
                 index: ItemToItemIndex | None = None) -> tuple[list[Recommendation], list[Recommendation]]:
        """How ``customer`` relates to each of ``product_ids`` (e.g. a campaign's products).

        ``index``, the set's :class:`ItemToItemIndex` (built once for many customers),
        makes it much cheaper; without one it is built for this call.

        Returns
        -------
        (repeat, similar) : two lists of Recommendation, best first
            ``repeat``: those the customer bought, ranked as repeat mode ranks them;
            ``similar``: those they never bought that the item-to-item weights link to
            what they bought, with the product behind each (``similar_to``). Products in
            neither list are unrelated to the customer. Much cheaper than ``recommend``
            with a long ``limit``: no popular products are looked for.
        """
        check_is_fitted(self, "neighbour_items_")
        wanted_ids = np.unique(np.asarray(list(product_ids), dtype=np.int64))
        profile = self._profile(customer, recent, now)
        if not len(wanted_ids) or not (profile.purchased.any() or profile.extra_purchased.any()):
            return [], []

        def wanted(candidates: np.ndarray) -> np.ndarray:
            return np.isin(candidates, wanted_ids)

        if len(self.ranker_coef_):
            repeat = self._repeat_learned(profile, len(wanted_ids), None, wanted)
        else:
            repeat = self._repeat(profile, len(wanted_ids), wanted)
        index = index if index is not None else ItemToItemIndex(self, wanted_ids)
        return repeat, index.similar(self, profile)

    def _customer_position(self, customer) -> int:
        if customer is None:
            return -1
        position = int(np.searchsorted(self.customers_, customer))
        if position < len(self.customers_) and self.customers_[position] == customer:
            return position
        return -1

    @property
    def _item_stats(self) -> repeat_ranker.ItemStats:
        return repeat_ranker.ItemStats(self.item_cycle_, self.item_rate_, self.item_buyers_, self.store_ids_,
                                       self.store_indptr_, self.store_items_, self.store_buyers_)

    def _location_position(self, location) -> int:
        if location is None:
            return -1
        position = int(np.searchsorted(self.locations_, location))
        if position < len(self.locations_) and self.locations_[position] == location:
            return position
        return -1

    # Each job has its own module; the estimator keeps them as its methods.
    _fit_repeat_ranker = fitting.fit_repeat_ranker
    _fit_profiles = fitting.fit_profiles
    _fit_repurchase = fitting.fit_repurchase
    _fit_popularity = fitting.fit_popularity
    _fit_discovery = fitting.fit_discovery
    _profile = fold_in.profile
    _fold_in = fold_in.fold_in
    _fold_in_purchases = fold_in.fold_in_purchases
    _repeat = scoring.repeat
    _repeat_learned = scoring.repeat_learned
    _discovery = scoring.discovery
    _popular = scoring.popular
    _ARRAYS = persistence.ARRAYS
    to_arrays = persistence.to_arrays
    from_arrays = classmethod(persistence.from_arrays)
