"""Recent demand per product and location, kept per process for campaign stock checks.

A campaign's expected units are spread over its (product, location) pairs in proportion
to what sold there lately. Reading four weeks of purchases takes a database scan (about
2 s on the demo), so each process keeps the totals as two sorted numpy arrays, which the
campaign watch thread reads again in the background once they are older than ``ttl``
seconds; a check then costs a few array lookups.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from typing import Sequence

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from promo.adapters.heap import give_back_memory
from promo.adapters.orm import Interaction
from promo.adapters.scans import small_page_cache

LOCATION_BITS = 24
# The weight of an even spread mixed into the sales shares, so that a pair with no recent
# sale still expects some demand (a promotion creates demand where there was none).
EVEN_SPREAD_WEIGHT = 0.2
READ_CHUNK = 10_000


@dataclasses.dataclass(frozen=True)
class _Totals:
    keys: np.ndarray       # product_id << LOCATION_BITS | location_id, sorted
    units: np.ndarray      # units sold in the window
    read_at: float


class RecentDemand:
    def __init__(self, session_factory: sessionmaker[Session], *, days: int = 28, ttl: float = 300.0):
        self._session_factory = session_factory
        self.days = days
        self.ttl = ttl
        self._totals: _Totals | None = None
        self._lock = threading.Lock()

    def _read(self) -> _Totals:
        # Through a small page cache (both statements scan much of the history), and in
        # chunks: the demo's 90k (product, location) rows as Python tuples took some 30 MB
        # at once, every refresh, which a worker's memory kept (bench/soak.py).
        with self._session_factory() as session, small_page_cache(session):
            latest = session.scalar(select(func.max(Interaction.occurred_at)).where(Interaction.type == "purchase"))
            if latest is None:
                return _Totals(np.zeros(0, np.int64), np.zeros(0, np.float64), time.monotonic())
            since = latest - dt.timedelta(days=self.days)
            result = session.execute(
                select(Interaction.product_id, Interaction.location_id, func.sum(Interaction.quantity))
                .where(Interaction.type == "purchase", Interaction.occurred_at >= since,
                       Interaction.location_id.is_not(None))
                .group_by(Interaction.product_id, Interaction.location_id)
                .execution_options(yield_per=READ_CHUNK))
            chunks = [np.array([(p, loc, max(float(u or 0), 0.0)) for p, loc, u in part], dtype=np.float64)
                      for part in result.partitions()]
        if not chunks:
            return _Totals(np.zeros(0, np.int64), np.zeros(0, np.float64), time.monotonic())
        table = np.concatenate(chunks)
        keys = (table[:, 0].astype(np.int64) << LOCATION_BITS) | table[:, 1].astype(np.int64)
        order = np.argsort(keys)
        return _Totals(keys[order], table[order, 2], time.monotonic())

    def _current(self) -> _Totals:
        """The totals as last read; only the very first read happens on a caller's time
        (the campaign watch keeps them fresh in the background: refresh_if_stale)."""
        with self._lock:
            if self._totals is None:
                self._totals = self._read()
            return self._totals

    def refresh_if_stale(self) -> bool:
        """Read the totals again if they are older than the ttl (or were never read)."""
        totals = self._totals
        if totals is not None and time.monotonic() - totals.read_at <= self.ttl:
            return False
        fresh = self._read()
        with self._lock:
            self._totals = fresh
        give_back_memory()      # the read's temporaries: else every refresh raised a worker's memory (bench/soak.py)
        return True

    def units(self, product_ids: Sequence[int], location_ids: Sequence[int]) -> np.ndarray:
        """Units sold lately, as a products x locations array."""
        totals = self._current()
        products = np.asarray(product_ids, dtype=np.int64).reshape(-1, 1)
        locations = np.asarray(location_ids, dtype=np.int64).reshape(1, -1)
        keys = ((products << LOCATION_BITS) | locations).ravel()
        sold = np.zeros(len(keys), dtype=np.float64)
        if len(totals.keys) and len(keys):
            index = np.minimum(np.searchsorted(totals.keys, keys), len(totals.keys) - 1)
            found = totals.keys[index] == keys
            sold[found] = totals.units[index[found]]
        return sold.reshape(products.shape[0], locations.shape[1])

    def shares(self, product_ids: Sequence[int], location_ids: Sequence[int]) -> np.ndarray:
        """How a campaign's demand spreads over its pairs: recent sales shares blended with
        an even spread (EVEN_SPREAD_WEIGHT), summing to 1; even when nothing sold."""
        sold = self.units(product_ids, location_ids)
        if not sold.size:
            return sold
        even = np.full(sold.shape, 1.0 / sold.size)
        total = sold.sum()
        if total <= 0:
            return even
        return (1 - EVEN_SPREAD_WEIGHT) * sold / total + EVEN_SPREAD_WEIGHT * even

    def invalidate(self) -> None:
        with self._lock:
            self._totals = None
