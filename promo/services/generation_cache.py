"""A bounded cache whose entries all derive from one generation of the serving state."""
from __future__ import annotations

import threading
from typing import Any

from cachetools import LRUCache

from promo import metrics


class GenerationCache:
    """An LRU cache of one generation: the versions every key shares (campaigns, tallies,
    audiences, the model...). Entries of another generation can never be asked for again,
    so a new generation replaces the old entries at once instead of leaving them to fill
    the cache: a cache of 100,000 entries kept filling with dead ones (hundreds of MB a
    worker, bench/soak.py). Behind a lock (cachetools is not thread-safe)."""

    def __init__(self, size: int, name: str) -> None:
        self._entries = metrics.SERVING_CACHE_ENTRIES.labels(name)
        self._lock = threading.Lock()
        self._size = size
        self._generation: tuple[Any, ...] | None = None
        self._cache: LRUCache[tuple[Any, ...], Any] = LRUCache(maxsize=size)

    def get(self, generation: tuple[Any, ...], key: tuple[Any, ...]) -> Any:
        with self._lock:
            return self._cache.get(key) if generation == self._generation else None

    def put(self, generation: tuple[Any, ...], key: tuple[Any, ...], value: Any) -> None:
        with self._lock:
            if generation != self._generation:
                self._generation = generation
                self._cache = LRUCache(maxsize=self._size)
            self._cache[key] = value
            self._entries.set(len(self._cache))

    def __len__(self) -> int:
        return len(self._cache)
