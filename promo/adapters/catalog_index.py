"""In-memory dictionaries between client ids (sku, location code) and our integer ids.

Products are never deleted and their ids never change, so a sku learnt once stays right;
unknown skus are looked up in the database and remembered. Locations are few and their
channels may change, so they are reloaded when older than ``ttl`` seconds.
"""
from __future__ import annotations

import threading
import time
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from promo.adapters.bulk import rows_where_in
from promo.adapters.orm import Location, Product
from promo.domain.availability import Site


class CatalogIndex:
    def __init__(self, session_factory: sessionmaker[Session], ttl: float = 5.0):
        self._session_factory = session_factory
        self._ttl = ttl
        self._lock = threading.Lock()
        self._product_ids: dict[str, int] = {}
        self._skus: dict[int, str] = {}
        self._sites: dict[int, Site] = {}
        self._site_ids: dict[str, int] = {}
        self._sites_loaded = 0.0

    def product_ids(self, skus: Iterable[str]) -> dict[str, int]:
        skus = set(skus)
        with self._lock:
            missing = [sku for sku in skus if sku not in self._product_ids]
        if missing:
            with self._session_factory() as session:
                found = dict(rows_where_in(session, select(Product.sku, Product.id), Product.sku, missing))
            with self._lock:
                self._product_ids.update(found)
                self._skus.update({id_: sku for sku, id_ in found.items()})
        with self._lock:
            return {sku: self._product_ids[sku] for sku in skus if sku in self._product_ids}

    def sku(self, product_id: int) -> str | None:
        return self.skus([product_id]).get(product_id)

    def skus(self, product_ids: Iterable[int]) -> dict[int, str]:
        """{product id: sku} of the known ones among ``product_ids``."""
        wanted = set(product_ids)
        with self._lock:
            missing = [id_ for id_ in wanted if id_ not in self._skus]
        if missing:
            with self._session_factory() as session:
                found = dict(rows_where_in(session, select(Product.id, Product.sku), Product.id, missing))
            with self._lock:
                self._skus.update(found)
                self._product_ids.update({sku: id_ for id_, sku in found.items()})
        with self._lock:
            return {id_: self._skus[id_] for id_ in wanted if id_ in self._skus}

    def sites(self, including: Iterable[int] = ()) -> dict[int, Site]:
        """Every location by id: reloaded when older than the ttl, or when one of
        ``including`` is missing (a location created since the last load)."""
        with self._lock:
            fresh = time.monotonic() - self._sites_loaded < self._ttl
            if fresh and all(location_id in self._sites for location_id in including):
                return self._sites
        with self._session_factory() as session:
            rows = session.execute(select(Location.id, Location.code, Location.channels, Location.lead_time_days)).all()
        sites = {id_: Site(id_, code, frozenset(channels or ()), lead or 0) for id_, code, channels, lead in rows}
        with self._lock:
            self._sites, self._site_ids = sites, {s.code: s.location_id for s in sites.values()}
            self._sites_loaded = time.monotonic()
            return sites

    def location_id(self, code: str) -> int | None:
        self.sites()
        found = self._site_ids.get(code)
        if found is None:  # perhaps created since the last load
            with self._lock:
                self._sites_loaded = 0.0
            self.sites()
            found = self._site_ids.get(code)
        return found
