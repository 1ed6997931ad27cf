"""How much a customer likes each promoted product, from the recommender, and which
promoted products are popular at a location: the per-customer and per-location parts
of an offer's expected value, computed once per model version and campaign snapshot and
kept in bounded caches (the serving path then only filters and ranks)."""
from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
from cachetools import LRUCache

from promo.ml.recommender.affinity import ItemToItemIndex
from promo.services.model_server import RECOMMENDER

if TYPE_CHECKING:
    from promo.bootstrap import Runtime
    from promo.services.serving_state import CampaignSnapshot

# A product the customer buys again weighs more than one like theirs, which weighs more
# than one merely popular (affinities are in [0, 1], by rank within each list).
REPEAT_WEIGHT, DISCOVERY_WEIGHT, POPULAR_WEIGHT = 1.0, 0.6, 0.3
# Kept sparse (a customer relates to a few dozen promoted products), these are about a
# kilobyte each: the caches stay within tens of megabytes per process.
CUSTOMER_CACHE_SIZE = 50_000
LOCATION_CACHE_SIZE = 2_048


@dataclasses.dataclass(frozen=True)
class Affinity:
    """Scores in [0, 1] of some promoted products (``positions`` into the snapshot's
    ``promoted``; the others score 0), with the reason behind each, as (code, product id
    or None)."""

    size: int
    positions: np.ndarray
    scores: np.ndarray
    reasons: dict[int, tuple[str, int | None]]      # by position

    @classmethod
    def of(cls, size: int, found: dict[int, tuple[float, tuple[str, int | None]]]) -> "Affinity":
        positions = np.asarray(sorted(found), dtype=np.int64)
        return cls(size, positions, np.asarray([found[p][0] for p in positions.tolist()], dtype=np.float64),
                   {p: reason for p, (_, reason) in found.items()})

    def dense(self) -> np.ndarray:
        score = np.zeros(self.size)
        score[self.positions] = self.scores
        return score

    def reason(self, position: int) -> tuple[str, int | None] | None:
        return self.reasons.get(position)


def _by_rank(items: list[Any], promoted: np.ndarray, weight: float,
             found: dict[int, tuple[float, tuple[str, int | None]]]) -> None:
    """Give each listed product not scored yet ``weight`` times its rank's share."""
    if not items:
        return
    positions = np.searchsorted(promoted, np.asarray([item.product for item in items], dtype=np.int64))
    n = len(items)
    for rank, (at, item) in enumerate(zip(positions.tolist(), items)):
        if at < len(promoted) and promoted[at] == item.product and at not in found:
            found[at] = (weight * (1.0 - rank / n), item.reasons[0])


class OfferAffinity:
    def __init__(self, runtime: "Runtime"):
        self._runtime = runtime
        self._lock = threading.Lock()
        self._customers: LRUCache[tuple[Any, ...], Affinity] = LRUCache(maxsize=CUSTOMER_CACHE_SIZE)
        self._locations: LRUCache[tuple[Any, ...], Affinity] = LRUCache(maxsize=LOCATION_CACHE_SIZE)
        # The item-to-item weights into the promoted products, per (snapshot, model version).
        self._index: tuple[tuple[Any, ...], ItemToItemIndex] | None = None
        self._skus_known_for: str | None = None

    def _index_for(self, snapshot: "CampaignSnapshot", served: Any) -> ItemToItemIndex:
        key = (snapshot.version, served.version)
        with self._lock:
            found = self._index
        if found is not None and found[0] == key:
            return found[1]
        index = ItemToItemIndex(served.estimator, snapshot.promoted)
        if self._skus_known_for != served.version:
            # Reasons name the customer's own products (similar_to:<sku>): learn every sku
            # the model knows, in a few bulk reads, rather than one read per request later.
            self._runtime.stock.catalog.skus(served.estimator.products_.tolist())
            self._skus_known_for = served.version
        with self._lock:
            self._index = (key, index)
        return index

    def of_customer(self, customer_id: int, snapshot: "CampaignSnapshot") -> Affinity | None:
        """The customer's affinity to the promoted products (None without a recommender):
        what they buy again, then what goes with what they buy."""
        served = self._runtime.models.get(RECOMMENDER)
        if served is None or not len(snapshot.promoted):
            return None
        key = (customer_id, snapshot.version, served.version)
        with self._lock:
            found = self._customers.get(key)
        if found is not None:
            return found
        promoted = snapshot.promoted
        model = served.estimator
        scored: dict[int, tuple[float, tuple[str, int | None]]] = {}
        repeat, similar = model.affinity(customer_id, promoted, index=self._index_for(snapshot, served))
        _by_rank(repeat, promoted, REPEAT_WEIGHT, scored)
        _by_rank(similar, promoted, DISCOVERY_WEIGHT, scored)
        found = Affinity.of(len(promoted), scored)
        with self._lock:
            self._customers[key] = found
        return found

    def popular_at(self, location_id: int | None, snapshot: "CampaignSnapshot") -> Affinity:
        """The promoted products by popularity at the location (everywhere without one): how
        offers are ranked for a customer we know nothing of."""
        served = self._runtime.models.get(RECOMMENDER)
        key = (location_id, snapshot.version, served.version if served else None)
        with self._lock:
            found = self._locations.get(key)
        if found is not None:
            return found
        promoted = snapshot.promoted
        scored: dict[int, tuple[float, tuple[str, int | None]]] = {}
        if served is not None and len(promoted):
            items = served.estimator.recommend(None, limit=len(promoted), location=location_id,
                                               available=lambda ids: np.isin(ids, promoted))
            _by_rank(items, promoted, POPULAR_WEIGHT, scored)
        found = Affinity.of(len(promoted), {at: (score, ("popular", None)) for at, (score, _) in scored.items()})
        with self._lock:
            self._locations[key] = found
        return found
