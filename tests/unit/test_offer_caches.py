"""The serving caches keep one generation: entries of a past generation (campaigns,
tallies or audiences since changed) are dropped at once, not left to fill the cache; and
what the offer affinity cache holds per customer is a few arrays."""
from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from promo.ml.recommender.common import BOUGHT_BEFORE, SIMILAR_TO
from promo.services.generation_cache import GenerationCache
from promo.services.offer_affinity import POPULAR, Affinity


def test_a_new_generation_replaces_the_old_entries():
    cache = GenerationCache(size=10, name="test")
    cache.put(("v1",), ("ann",), "plan 1")
    cache.put(("v1",), ("bob",), "plan 2")
    assert cache.get(("v1",), ("ann",)) == "plan 1" and len(cache) == 2

    cache.put(("v2",), ("ann",), "plan 3")

    assert len(cache) == 1                                 # v1's entries are gone
    assert cache.get(("v1",), ("bob",)) is None            # never served from a past generation
    assert cache.get(("v2",), ("ann",)) == "plan 3"


def test_within_a_generation_the_cache_stays_within_its_size():
    cache = GenerationCache(size=3, name="test")
    for n in range(10):
        cache.put(("v1",), (n,), n)
    assert len(cache) == 3 and cache.get(("v1",), (9,)) == 9 and cache.get(("v1",), (0,)) is None
    assert REGISTRY.get_sample_value("promo_serving_cache_entries", {"cache": "test"}) == 3
    cache.put(("v2",), (0,), 0)
    assert REGISTRY.get_sample_value("promo_serving_cache_entries", {"cache": "test"}) == 1


def test_an_affinity_keeps_each_products_score_and_reason_in_arrays():
    found = {7: (0.6, (SIMILAR_TO, 123456789012)), 2: (1.0, (BOUGHT_BEFORE, None)), 5: (0.3, (POPULAR, None))}

    affinity = Affinity.of(10, found)

    assert affinity.dense().tolist() == [0, 0, 1.0, 0, 0, 0.3, 0, 0.6, 0, 0]
    assert [affinity.reason(at) for at in (2, 5, 7)] == [(BOUGHT_BEFORE, None), (POPULAR, None),
                                                         (SIMILAR_TO, 123456789012)]
    assert affinity.reason(3) is None and affinity.reason(9) is None and affinity.reason(0) is None
    # About 21 bytes a scored product, whatever the reasons.
    assert sum(a.nbytes for a in (affinity.positions, affinity.scores, affinity.reason_codes,
                                  affinity.reason_products)) == 21 * 3


def test_an_affinity_refuses_a_reason_it_cannot_store():
    with pytest.raises(ValueError):
        Affinity.of(3, {1: (0.5, ("made_up", None))})
