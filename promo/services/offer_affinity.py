"""How much a customer likes each promoted product, from the recommender, and which
promoted products are popular at a location: the per-customer and per-location parts
of an offer's expected value, computed once per model version and campaign snapshot and
kept in bounded caches (the serving path then only filters and ranks)."""
from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from promo.ml.recommender.affinity import ItemToItemIndex
from promo.ml.recommender.common import BOUGHT_BEFORE, FALLBACK_POPULAR, POPULAR_AT_LOCATION, SIMILAR_TO
from promo.services.generation_cache import GenerationCache
from promo.services.model_server import RECOMMENDER

if TYPE_CHECKING:
    from promo.bootstrap import Runtime
    from promo.services.serving_state import CampaignSnapshot

# A product the customer buys again weighs more than one like theirs, which weighs more
# than one merely popular (affinities are in [0, 1], by rank within each list).
REPEAT_WEIGHT, DISCOVERY_WEIGHT, POPULAR_WEIGHT = 1.0, 0.6, 0.3
# A customer can relate to every promoted product (discovery scores all those linked to
# anything they bought): an affinity is about 20 bytes a scored product, some 12 KB for
# 600 promoted products, so these stay within a few hundred MB per process.
CUSTOMER_CACHE_SIZE = 20_000
LOCATION_CACHE_SIZE = 2_048
POPULAR = "popular"
REASON_CODES = (BOUGHT_BEFORE, SIMILAR_TO, POPULAR_AT_LOCATION, FALLBACK_POPULAR, POPULAR)
_NO_PRODUCT = -1


@dataclasses.dataclass(frozen=True)
class Affinity:
    """Scores in [0, 1] of some promoted products (``positions`` into the snapshot's
    ``promoted``; the others score 0), with the reason behind each, as (code, product id
    or None). Arrays rather than a tuple per product: those took about 80 KB a customer
    (bench/soak.py)."""

    size: int
    positions: np.ndarray           # sorted
    scores: np.ndarray
    reason_codes: np.ndarray        # into REASON_CODES
    reason_products: np.ndarray     # _NO_PRODUCT for none

    @classmethod
    def of(cls, size: int, found: dict[int, tuple[float, tuple[str, int | None]]]) -> "Affinity":
        ordered = sorted(found.items())
        return cls(size, np.asarray([at for at, _ in ordered], dtype=np.int32),
                   np.asarray([score for _, (score, _) in ordered], dtype=np.float64),
                   np.asarray([REASON_CODES.index(code) for _, (_, (code, _)) in ordered], dtype=np.int8),
                   np.asarray([_NO_PRODUCT if product is None else product for _, (_, (_, product)) in ordered],
                              dtype=np.int64))

    def dense(self) -> np.ndarray:
        score = np.zeros(self.size)
        score[self.positions] = self.scores
        return score

    def reason(self, position: int) -> tuple[str, int | None] | None:
        at = int(np.searchsorted(self.positions, position))
        if at == len(self.positions) or self.positions[at] != position:
            return None
        product = int(self.reason_products[at])
        return REASON_CODES[self.reason_codes[at]], None if product == _NO_PRODUCT else product


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
        # Both by (campaign snapshot, model version): a new one leaves nothing worth keeping.
        self._customers = GenerationCache(CUSTOMER_CACHE_SIZE, "customer_affinity")
        self._locations = GenerationCache(LOCATION_CACHE_SIZE, "location_affinity")
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
        generation = (snapshot.version, served.version)
        found = self._customers.get(generation, (customer_id,))
        if found is not None:
            return found
        promoted = snapshot.promoted
        model = served.estimator
        scored: dict[int, tuple[float, tuple[str, int | None]]] = {}
        repeat, similar = model.affinity(customer_id, promoted, index=self._index_for(snapshot, served))
        _by_rank(repeat, promoted, REPEAT_WEIGHT, scored)
        _by_rank(similar, promoted, DISCOVERY_WEIGHT, scored)
        found = Affinity.of(len(promoted), scored)
        self._customers.put(generation, (customer_id,), found)
        return found

    def popular_at(self, location_id: int | None, snapshot: "CampaignSnapshot") -> Affinity:
        """The promoted products by popularity at the location (everywhere without one): how
        offers are ranked for a customer we know nothing of."""
        served = self._runtime.models.get(RECOMMENDER)
        generation = (snapshot.version, served.version if served else None)
        found = self._locations.get(generation, (location_id,))
        if found is not None:
            return found
        promoted = snapshot.promoted
        scored: dict[int, tuple[float, tuple[str, int | None]]] = {}
        if served is not None and len(promoted):
            items = served.estimator.recommend(None, limit=len(promoted), location=location_id,
                                               available=lambda ids: np.isin(ids, promoted))
            _by_rank(items, promoted, POPULAR_WEIGHT, scored)
        found = Affinity.of(len(promoted), {at: (score, (POPULAR, None)) for at, (score, _) in scored.items()})
        self._locations.put(generation, (location_id,), found)
        return found
