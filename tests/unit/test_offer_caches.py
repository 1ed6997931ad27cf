"""The serving caches keep one generation: entries of a past generation (campaigns,
tallies or audiences since changed) are dropped at once, not left to fill the cache."""
from __future__ import annotations

from promo.services.generation_cache import GenerationCache


def test_a_new_generation_replaces_the_old_entries():
    cache = GenerationCache(size=10)
    cache.put(("v1",), ("ann",), "plan 1")
    cache.put(("v1",), ("bob",), "plan 2")
    assert cache.get(("v1",), ("ann",)) == "plan 1" and len(cache) == 2

    cache.put(("v2",), ("ann",), "plan 3")

    assert len(cache) == 1                                 # v1's entries are gone
    assert cache.get(("v1",), ("bob",)) is None            # never served from a past generation
    assert cache.get(("v2",), ("ann",)) == "plan 3"


def test_within_a_generation_the_cache_stays_within_its_size():
    cache = GenerationCache(size=3)
    for n in range(10):
        cache.put(("v1",), (n,), n)
    assert len(cache) == 3 and cache.get(("v1",), (9,)) == 9 and cache.get(("v1",), (0,)) is None
