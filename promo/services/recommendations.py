"""Per-customer product recommendations, checked against the live stock view.

The active recommender model scores; the customer's interactions since the model's
training data ends are read at request time and folded in, so what a customer did a
moment ago already counts. Only products available now for the channel (and location)
are returned. With no model yet, or when the model's list is short, popular in-stock
products are served (after the model's), labelled so.
"""
from __future__ import annotations

import datetime as dt
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import pandas as pd
from cachetools import LRUCache

from promo import metrics
from promo.domain.errors import InvalidInput
from promo.ids import random_hex
from promo.ml.recommender import FALLBACK_POPULAR, Recommendation
from promo.services.exposures import RECOMMENDATION, exposure
from promo.services.model_server import RECOMMENDER, ModelServer
from promo.services.stock import StockContext, channel_sites
from promo.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from promo.bootstrap import Runtime


MODES = ("repeat", "discovery")
# Reasons that come from the customer's own history (the others are popularity).
PERSONAL_REASONS = frozenset({"bought_before", "similar_to"})
# The customer's interactions since training that are folded in, newest first.
FOLD_IN_LIMIT = 1000
# Without a model: popularity over this many days before the latest purchase, refreshed
# at most this often.
FALLBACK_WINDOW_DAYS = 28
FALLBACK_TTL_SECONDS = 300.0
FALLBACK_POOL = 2000
# Extra popular candidates a discovery top-up asks for, as some may be bought already.
TOP_UP_MARGIN = 40


def _recent_frame(rows: Sequence[tuple[Any, ...]]) -> pd.DataFrame | None:
    """The rows of InteractionRepository.newer_than as the history frame the model folds in."""
    if not rows:
        return None
    return pd.DataFrame({
        "product": np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows)),
        "type": np.array([row[1] for row in rows], dtype=object),
        "quantity": np.fromiter((row[2] for row in rows), dtype=np.int64, count=len(rows)),
        # UTC already (the column type attaches the zone); the frames hold naive UTC.
        "occurred_at": np.array([row[3].replace(tzinfo=None) for row in rows], dtype="datetime64[ns]"),
    }, copy=False)


class PopularityFallback:
    """Popular products straight from the interaction history: all there is while no model
    exists, and the products a small store sells when the model's popular ones are not
    in stock there."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[int | None, tuple[float, np.ndarray, np.ndarray]] = {}
        self._latest: tuple[float, dt.datetime | None] = (-FALLBACK_TTL_SECONDS, None)

    def _latest_purchase(self, uow: UnitOfWork) -> dt.datetime | None:
        # A scan of the whole history (no index leads with the time): once per period, not
        # once per store asked about.
        with self._lock:
            at, latest = self._latest
        if time.monotonic() - at >= FALLBACK_TTL_SECONDS:
            latest = uow.interactions.latest_purchase_at()
            with self._lock:
                self._latest = (time.monotonic(), latest)
        return latest

    def ranked(self, uow: UnitOfWork, location_id: int | None) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            found = self._cache.get(location_id)
        if found and time.monotonic() - found[0] < FALLBACK_TTL_SECONDS:
            return found[1], found[2]
        latest = self._latest_purchase(uow)
        rows: list[tuple[int, int]] = []
        if latest is not None:
            since = latest - dt.timedelta(days=FALLBACK_WINDOW_DAYS)
            rows = uow.interactions.popular_products(since, location_id=location_id, limit=FALLBACK_POOL)
        products = np.array([p for p, _ in rows], dtype=np.int64)
        counts = np.array([c for _, c in rows], dtype=np.float64)
        scores = counts / counts.max() if len(counts) else counts
        with self._lock:
            self._cache[location_id] = (time.monotonic(), products, scores)
        return products, scores

    def recommend(self, uow: UnitOfWork, location_id: int | None, limit: int,
                  available: Any) -> list[Recommendation]:
        if location_id is not None:
            products, scores = self.ranked(uow, location_id)
            keep = available(products) if len(products) else np.zeros(0, dtype=bool)
            found = [Recommendation(int(p), float(s), (("popular_at_location", None),))
                     for p, s in zip(products[keep][:limit], scores[keep][:limit])]
            if len(found) >= limit:
                return found
        else:
            found = []
        products, scores = self.ranked(uow, None)
        keep = available(products) if len(products) else np.zeros(0, dtype=bool)
        seen = {r.product for r in found}
        for product, score in zip(products[keep], scores[keep]):
            if len(found) >= limit:
                break
            if int(product) not in seen:
                found.append(Recommendation(int(product), float(score), (("fallback_popular", None),)))
        return found


def _informative(items: list[Recommendation]) -> list[Recommendation]:
    """Without the ties a model scores 0 for want of anything to go on (e.g. discovery for
    a customer whose only purchases it has never seen): popularity says more."""
    return [item for item in items if item.score > 0 or item.reasons[0][0] != FALLBACK_POPULAR]


Popular = Callable[[int, Any], list[Recommendation]]


def _top_up(uow: UnitOfWork, sources: Sequence[Popular], items: list[Recommendation], limit: int,
            available: Any, bought_by: int | None) -> list[Recommendation]:
    """Popular in-stock products after the model's own, labelled so, so that a shop never
    gets an empty list while anything popular is in stock (discovery leaves out what the
    customer bought). Each source, ``popular(limit, available)``, ranks by its own
    popularity (the model's, then the recent history's, which also knows the products a
    small store sells) until the list is full."""
    found: list[Recommendation] = []
    for popular in sources:
        wanted = limit - len(items) - len(found)
        if wanted <= 0:
            break
        taken = np.array([item.product for item in (*items, *found)], dtype=np.int64)

        def allowed(product_ids: np.ndarray) -> np.ndarray:
            return available(product_ids) & ~np.isin(product_ids, taken)

        if bought_by is None:
            found += popular(wanted, allowed)
            continue
        # What the customer bought is looked up among the candidates only: a heavy
        # customer's whole basket history would cost more than a few extra candidates.
        candidates = popular(wanted + TOP_UP_MARGIN, allowed)
        bought = uow.interactions.purchased_among(bought_by, [item.product for item in candidates])
        found += [item for item in candidates if item.product not in bought][:wanted]
    return found


def _item_view(item: Recommendation, product: tuple[Any, ...] | None, stock: StockContext) -> dict[str, Any]:
    name, category, price, currency = product or (None, None, None, None)
    return {"sku": stock.catalog.sku(item.product), "name": name, "category": category, "price": price,
            "currency": currency, "score": round(float(item.score), 6),
            "reasons": _render_reasons(item.reasons, stock)}


def _render_reasons(reasons: Sequence[tuple[str, int | None]], stock: StockContext) -> list[str]:
    return [f"{code}:{stock.catalog.sku(product)}" if product is not None else code for code, product in reasons]


def recommend(uow: UnitOfWork, stock: StockContext, models: ModelServer, fallback: PopularityFallback,
              customer: str, *, channel: str, location: str | None = None, limit: int = 10,
              mode: str = "repeat") -> dict[str, Any]:
    """Up to ``limit`` products for ``customer``, in stock now for ``channel``/``location``.

    ``mode`` "repeat" ranks what the customer buys; "discovery" only what they never
    bought. Unknown customers, and customers who opted out of personalisation, get
    popular products (`fallback_popular`, or `popular_at_location` when a location is
    given); so does anyone whose own list comes out shorter than ``limit``, after it, so
    that the list is empty only when nothing popular is in stock. Items carry what a
    shop shows (name, category, price, currency). Every answer carries a
    recommendation_id that later interactions may cite (``recommend_served`` records the
    list as an exposure).
    """
    if mode not in MODES:
        raise InvalidInput("invalid mode", {"mode": [f"one of {', '.join(MODES)}"]})
    location_id, site_ids = channel_sites(stock, channel, location)

    def available(product_ids: np.ndarray) -> np.ndarray:
        return stock.view.in_stock(product_ids, site_ids)

    served = models.get(RECOMMENDER)
    with uow:
        customer_id, opted_out, last_seen = uow.customers.for_serving(customer)
        personal_id = None if opted_out else customer_id   # opted out: nothing of theirs is used
        bought_by = personal_id if mode == "discovery" else None

        def from_history(n: int, allowed: Any) -> list[Recommendation]:
            return fallback.recommend(uow, location_id, n, allowed)

        if served is None:
            items = _top_up(uow, [from_history], [], limit, available, bought_by)
        else:
            model = served.estimator
            since = pd.Timestamp(model.data_until_).to_pydatetime().replace(tzinfo=dt.timezone.utc)
            # The profile knows the customer's latest interaction: most answers need no fold-in read.
            has_news = personal_id is not None and last_seen is not None and last_seen > since
            recent = _recent_frame(uow.interactions.newer_than(personal_id, since, FOLD_IN_LIMIT)) \
                if has_news else None
            items = _informative(model.recommend(personal_id, mode=mode, recent=recent, limit=limit,
                                                 location=location_id, available=available))
            if len(items) < limit:
                def from_model(n: int, allowed: Any) -> list[Recommendation]:
                    # The model's popular products: what it serves a customer it knows nothing of.
                    return model.recommend(None, limit=n, location=location_id, available=allowed)

                items += _top_up(uow, [from_model, from_history], items, limit, available, bought_by)
        products = uow.products.summaries(item.product for item in items)
    metrics.RECOMMENDATIONS.labels(mode, "model" if served else "fallback").inc()
    recommendation_id = f"rec-{random_hex()}"
    answer = {
        "recommendation_id": recommendation_id,
        "customer": customer,
        "known_customer": customer_id is not None,
        "personalised": served is not None and personal_id is not None
                        and any(code in PERSONAL_REASONS for item in items for code, _ in item.reasons),
        "mode": mode,
        "channel": channel,
        "location": location,
        "model": {"name": served.name, "version": served.version} if served else None,
        "stock_as_of_seq": stock.view.as_of_seq,
        "items": [_item_view(item, products.get(item.product), stock) for item in items],
    }
    return answer


# A cached answer is served at most this long: its popular top-ups come from a ranking
# that is itself read again every FALLBACK_TTL_SECONDS.
ANSWER_TTL_SECONDS = 60.0


class RecommendationAnswers:
    """Answers but for their ids, by everything they derive from: the customer (their id,
    opt-out and profile stamp: a new interaction rewrites the profile), the request, the
    model version, the product details, the stock at the locations asked about, and what
    this process itself changed. Behind a lock (cachetools is not thread-safe)."""

    def __init__(self, size: int = 50_000) -> None:
        self._lock = threading.Lock()
        self._cache: LRUCache[tuple[Any, ...], tuple[float, dict[str, Any]]] = LRUCache(maxsize=size)

    def get(self, key: tuple[Any, ...]) -> dict[str, Any] | None:
        with self._lock:
            found = self._cache.get(key)
        return found[1] if found is not None and time.monotonic() - found[0] < ANSWER_TTL_SECONDS else None

    def put(self, key: tuple[Any, ...], answer: dict[str, Any]) -> None:
        with self._lock:
            self._cache[key] = (time.monotonic(), answer)


def recommend_served(runtime: "Runtime", customer: str, *, channel: str, location: str | None = None,
                     limit: int = 10, mode: str = "repeat", record: bool = True) -> dict[str, Any]:
    """``recommend`` as the channels call it: answered from the process's cache when
    nothing it derives from has changed (README, "Serving from memory"), recorded as an
    exposure either way (``record=False``: staff looking, not a shopper served)."""
    if mode not in MODES:
        raise InvalidInput("invalid mode", {"mode": [f"one of {', '.join(MODES)}"]})
    stock, state = runtime.stock, runtime.serving
    location_id, site_ids = channel_sites(stock, channel, location)
    key = None
    if runtime.settings.recommendation_answer_cache and state.ready(0):
        served = runtime.models.get(RECOMMENDER)
        known = state.customers.get(customer)
        key = (customer, mode, channel, location, limit, served.version if served is not None else None, known,
               state.profiles.get(known[0]) if known is not None else None, state.products_changed_at,
               state.local_generation, state.touched(customer), stock.view.location_versions(tuple(site_ids)))
    cached = runtime.recommendation_answers.get(key) if key is not None else None
    if cached is None:
        answer = recommend(runtime.unit_of_work(), stock, runtime.models, runtime.popularity, customer,
                           channel=channel, location=location, limit=limit, mode=mode)
        if key is not None:
            runtime.recommendation_answers.put(key, answer)
    else:
        answer = {**cached, "recommendation_id": f"rec-{random_hex()}", "stock_as_of_seq": stock.view.as_of_seq}
        metrics.RECOMMENDATIONS.labels(mode, "model" if answer["model"] else "fallback").inc()
    if record:
        runtime.exposures.record([exposure(answer["recommendation_id"], dt.datetime.now(dt.timezone.utc),
                                           "recommendations", customer=customer, cohort=RECOMMENDATION,
                                           channel=channel, location_id=location_id,
                                           skus=[item["sku"] for item in answer["items"]])])
    return answer
