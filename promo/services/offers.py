"""Offers for a customer and deals at a store: live campaigns the shopper is eligible
for, their products available now where the shopper is, ranked by expected value.

Everything here reads memory: the serving snapshot (promo.services.serving_state), the
live stock view, the models and the affinity caches. Each answer gets a
recommendation_id; its offers' ids cite it, and what was shown (and what a held-out
customer was not shown) is recorded as exposures off the request path.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
from cachetools import LRUCache

from promo import metrics
from promo.domain import offers as rules
from promo.domain.campaigns import is_held_out
from promo.domain.errors import Unavailable
from promo.ids import random_hex
from promo.services.campaign_check import FALLBACK_REDEMPTION_RATE
from promo.services.exposures import HOLDOUT, TREATED, UNTARGETED, exposure
from promo.services.generation_cache import GenerationCache
from promo.services.model_server import RECOMMENDER
from promo.services.offer_affinity import POPULAR, Affinity
from promo.services.serving_state import CampaignSnapshot
from promo.services.stock import channel_sites

if TYPE_CHECKING:
    from promo.bootstrap import Runtime

OFFERS, DEALS = "offers", "deals"
DEFAULT_LIMIT = 10
# How long a request waits for a starting process's first serving snapshot.
READY_WAIT_SECONDS = 10.0


@dataclasses.dataclass(frozen=True)
class Shopper:
    external_id: str | None
    customer_id: int | None         # ours, when we know them
    personal: bool                  # known and not opted out: their history may be used


@dataclasses.dataclass(frozen=True)
class _Terms:
    """What one shopper may be offered of each live campaign, here and now."""

    allowed: np.ndarray                         # per campaign
    probability: np.ndarray                     # per campaign: of redeeming it
    reasons: dict[int, tuple[str, ...]]         # campaign index -> targeting reasons
    held_out: tuple[int, ...]                   # campaign indexes
    valid_until: dt.datetime                    # the next campaign start or end


class InStockFlags:
    """Which promoted products are available now at a set of locations, per version of
    those locations' stock: requests between two changes there share one computation."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: LRUCache[tuple[Any, ...], np.ndarray] = LRUCache(maxsize=1024)

    def of(self, runtime: "Runtime", snapshot: CampaignSnapshot, site_ids: tuple[int, ...],
           stock_version: tuple[int, ...]) -> np.ndarray:
        key = (snapshot.version, site_ids, stock_version)
        with self._lock:
            found = self._cache.get(key)
        if found is None:
            found = runtime.stock.view.in_stock(snapshot.promoted, site_ids)
            with self._lock:
                self._cache[key] = found
        return found


@dataclasses.dataclass(frozen=True)
class _Plan:
    """An answer but for its ids: what a shopper is offered at a place while nothing it
    derives from changes (campaigns, tallies, audiences, models, the stock there)."""

    items: tuple[dict[str, Any], ...]               # the offers, without offer_id
    offered: tuple[tuple[int, int], ...]            # (campaign id, product id) of each
    by_campaign: tuple[tuple[int, tuple[int, ...]], ...]    # campaign id, positions of its offers
    controls: tuple[tuple[int, tuple[str, ...]], ...]       # held out of: campaign id, skus in stock here
    model: dict[str, str] | None
    valid_until: dt.datetime


class OfferPlans:
    """Plans by everything they derive from: the generation (campaigns, tallies, audiences,
    model), then the shopper, the place and its stock. A plan is about 4.5 KB (ten offers
    rendered); any stock event at the place makes its plans dead, so under a stream of
    them few are asked for again: 8,192 hold about 36 MB (bench/soak.py)."""

    def __init__(self, size: int = 8_192) -> None:
        self._cache = GenerationCache(size, "offer_plans")

    def get(self, generation: tuple[Any, ...], key: tuple[Any, ...], now: dt.datetime) -> _Plan | None:
        found = self._cache.get(generation, key)
        return found if found is not None and now < found.valid_until else None

    def put(self, generation: tuple[Any, ...], key: tuple[Any, ...], plan: _Plan) -> None:
        self._cache.put(generation, key, plan)


class EligibilityCache:
    """Each shopper's campaign terms, keyed by every version they derive from (campaigns,
    tallies, audiences) and valid until the next campaign start or end: the per-campaign
    checks run once per shopper and change, not once per request. About 2 KB each with 50
    live campaigns."""

    def __init__(self, size: int = 20_000) -> None:
        self._cache = GenerationCache(size, "offer_terms")

    def terms(self, runtime: "Runtime", snapshot: CampaignSnapshot, shopper: Shopper, kind: str, channel: str,
              site_ids: tuple[int, ...], now: dt.datetime) -> _Terms:
        state = runtime.serving
        generation = (snapshot.version, state.tallies_version, state.audiences_version)
        key = (kind, shopper, channel, site_ids, state.limit_stamp(shopper.customer_id))
        found = self._cache.get(generation, key)
        if found is None or now >= found.valid_until:
            found = _campaign_terms(runtime, snapshot, shopper, kind, channel, site_ids, now)
            self._cache.put(generation, key, found)
        return found


def shopper_of(runtime: "Runtime", customer: str | None) -> Shopper:
    if customer is None:
        return Shopper(None, None, False)
    known = runtime.serving.customers.get(customer)
    if known is None:
        return Shopper(customer, None, False)
    return Shopper(customer, known[0], not known[1])


def _campaign_terms(runtime: "Runtime", snapshot: CampaignSnapshot, shopper: Shopper, kind: str, channel: str,
                    site_ids: tuple[int, ...], now: dt.datetime) -> _Terms:
    """Per campaign: may it be offered to this shopper here, its redemption probability
    for them, the targeting reasons, and the campaigns they are held out of."""
    state = runtime.serving
    n = len(snapshot.campaigns)
    allowed = np.zeros(n, dtype=bool)
    probability = np.zeros(n)
    reasons: dict[int, tuple[str, ...]] = {}
    held_out: list[int] = []
    boundaries = [moment for c in snapshot.campaigns for moment in (c.starts_at, c.ends_at) if moment > now]
    for campaign in snapshot.campaigns:
        if not campaign.live_at(now) or rules.serves(campaign.channels, campaign.location_ids, channel, site_ids):
            continue
        if rules.limit_refusal(campaign.limits, state.tally(campaign.id), shopper.customer_id):
            continue
        targeted = campaign.targeting_type != "everyone"
        if targeted and (kind == DEALS or not shopper.personal):
            continue
        if shopper.external_id is not None and campaign.holdout_percent > 0 \
                and is_held_out(campaign.code, shopper.external_id, campaign.holdout_percent):
            held_out.append(campaign.index)
            continue
        audience = state.audiences.get(campaign.id)
        row = audience.member(shopper.customer_id) if audience is not None and shopper.personal else None
        if targeted and row is None:
            continue        # not in its audience (or the audience is not resolved yet)
        if row is not None:
            reasons[campaign.index] = audience.reasons[row]
        if row is not None and audience.probability is not None:
            probability[campaign.index] = audience.probability[row]
        else:
            probability[campaign.index] = audience.base_rate if audience is not None else FALLBACK_REDEMPTION_RATE
        allowed[campaign.index] = True
    return _Terms(allowed, probability, reasons, tuple(held_out), min(boundaries, default=dt.datetime.max.replace(
        tzinfo=dt.timezone.utc)))


def _enough_stock(runtime: "Runtime", snapshot: CampaignSnapshot, pairs: np.ndarray, site_ids: tuple[int, ...]
                  ) -> np.ndarray:
    """For pairs of campaigns whose stock policy asks more than one unit per location:
    whether some location here has that many (the in-stock flags say only "some")."""
    minimum = snapshot.pair_min_available[pairs]
    keep = np.ones(len(pairs), dtype=bool)
    demanding = np.flatnonzero(minimum > 1)
    if len(demanding):
        matrix = runtime.stock.view.available_matrix(snapshot.pair_product[pairs[demanding]], list(site_ids))
        keep[demanding] = (matrix >= minimum[demanding, None]).any(axis=1)
    return keep


def _availability(runtime: "Runtime", product_ids: list[int], site_ids: tuple[int, ...], location: str | None,
                  today: dt.date) -> list[dict[str, Any]]:
    """What a shopper is told about each offered product's stock: a band, where it is,
    and when it can be theirs when not where they are."""
    if not product_ids:
        return []
    rows = runtime.stock.view.available_matrix(product_ids, list(site_ids)).tolist()
    sites = runtime.stock.catalog.sites(including=site_ids)
    answers = []
    for row in rows:
        best = row.index(max(row))
        site = sites.get(site_ids[best])
        answers.append({
            "in_stock": row[best] > 0,
            "band": rules.quantity_band(sum(row)),
            "location": site.code if site else None,
            "promise_date": None if location is not None or site is None
            else today + dt.timedelta(days=site.lead_time_days),
        })
    return answers


@dataclasses.dataclass(frozen=True)
class _Ranked:
    pairs: list[int]                # the chosen (campaign, product) pairs, in order
    values: list[float]             # their expected values
    affinity: Affinity | None       # the customer's, when personalised
    popular: Affinity               # popularity at the location


def _rank(runtime: "Runtime", snapshot: CampaignSnapshot, terms: _Terms, in_stock: np.ndarray,
          site_ids: tuple[int, ...], shopper: Shopper, location_id: int | None, limit: int) -> _Ranked:
    """The offerable pairs (allowed campaign, product in stock here, one per product),
    valued and chosen."""
    pairs = np.flatnonzero(terms.allowed[snapshot.pair_campaign] & in_stock[snapshot.pair_promoted])
    if snapshot.demanding:
        pairs = pairs[_enough_stock(runtime, snapshot, pairs, site_ids)]
    pairs = pairs[rules.first_of_each_product(snapshot.pair_product[pairs])]
    affinity = runtime.offer_affinity.of_customer(shopper.customer_id, snapshot) if shopper.personal else None
    popular = runtime.offer_affinity.popular_at(location_id, snapshot)
    campaign_of = snapshot.pair_campaign[pairs]
    value = rules.expected_value(terms.probability[campaign_of],
                                 (affinity or popular).dense()[snapshot.pair_promoted[pairs]],
                                 snapshot.pair_saving[pairs])
    chosen = rules.choose(snapshot.pair_priority[pairs], value, campaign_of, snapshot.pair_category[pairs], limit)
    return _Ranked(pairs[chosen].tolist(), value[chosen].tolist(), affinity, popular)


def _offer_views(runtime: "Runtime", snapshot: CampaignSnapshot, ranked: _Ranked, terms: _Terms,
                 site_ids: tuple[int, ...], location: str | None, today: dt.date
                 ) -> tuple[list[dict[str, Any]], dict[int, list[int]]]:
    """The offers as the channel sees them (but for their ids), and their positions by
    campaign index."""
    product_ids = snapshot.pair_product[ranked.pairs].tolist()
    campaign_of = snapshot.pair_campaign[ranked.pairs].tolist()
    promoted_of = snapshot.pair_promoted[ranked.pairs].tolist()
    availability = _availability(runtime, product_ids, site_ids, location, today)
    items: list[dict[str, Any]] = []
    by_campaign: dict[int, list[int]] = {}
    for pair, value, product_id, index, promoted_at, stock_answer in zip(
            ranked.pairs, ranked.values, product_ids, campaign_of, promoted_of, availability):
        campaign = snapshot.campaigns[index]
        info = snapshot.products[product_id]
        why = _reasons(runtime, ranked.affinity, ranked.popular, promoted_at, terms.reasons.get(index, ()),
                       stock_answer)
        by_campaign.setdefault(index, []).append(len(items))
        items.append({
            "campaign": campaign.view, "sku": info.sku, "name": info.name, "category": info.category,
            "discount": campaign.discount_view, "exclusive": campaign.exclusive,
            "code_required": campaign.codes_required, "price": info.price_value,
            "final_price": snapshot.pair_final_price[pair], "currency": info.currency,
            "availability": stock_answer, "score": round(value, 6), "reasons": why,
        })
    return items, by_campaign


def _plan(runtime: "Runtime", kind: str, snapshot: CampaignSnapshot, shopper: Shopper, channel: str,
          location: str | None, location_id: int | None, site_ids: tuple[int, ...], limit: int, now: dt.datetime,
          stock_version: tuple[int, ...]) -> _Plan:
    terms = runtime.offer_eligibility.terms(runtime, snapshot, shopper, kind, channel, site_ids, now)
    in_stock = runtime.offer_stock.of(runtime, snapshot, site_ids, stock_version)
    ranked = _rank(runtime, snapshot, terms, in_stock, site_ids, shopper, location_id, limit)
    items, by_campaign = _offer_views(runtime, snapshot, ranked, terms, site_ids, location, now.date())
    controls = []
    for index in terms.held_out:
        own = snapshot.campaigns[index].pairs
        stocked = snapshot.pair_product[own][in_stock[snapshot.pair_promoted[own]]]
        if len(stocked):
            controls.append((snapshot.campaigns[index].id,
                             tuple(snapshot.products[p].sku for p in stocked[:DEFAULT_LIMIT].tolist())))
    served = runtime.models.get(RECOMMENDER)
    tomorrow = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)
    return _Plan(
        items=tuple(items),
        offered=tuple(zip((snapshot.campaigns[c].id for c in snapshot.pair_campaign[ranked.pairs].tolist()),
                          snapshot.pair_product[ranked.pairs].tolist())),
        by_campaign=tuple((snapshot.campaigns[index].id, tuple(at)) for index, at in by_campaign.items()),
        controls=tuple(controls),
        model={"name": served.name, "version": served.version}
        if served is not None and ranked.affinity is not None else None,
        # Promise dates count from today.
        valid_until=min(terms.valid_until, tomorrow))


def _serve(runtime: "Runtime", kind: str, customer: str | None, channel: str, location: str | None,
           limit: int, record: bool = True) -> dict[str, Any]:
    state = runtime.serving
    if not state.ready(READY_WAIT_SECONDS):
        raise Unavailable("this process is still loading the live campaigns; retry in a moment",
                          reason="serving_state_loading")
    location_id, sites = channel_sites(runtime.stock, channel, location)
    site_ids = tuple(sites)
    snapshot = state.campaigns
    now = dt.datetime.now(dt.timezone.utc)
    shopper = shopper_of(runtime, customer)
    as_of_seq = runtime.stock.view.as_of_seq
    stock_version = runtime.stock.view.location_versions(site_ids, now)
    served = runtime.models.get(RECOMMENDER)
    generation = (snapshot.version, state.tallies_version, state.audiences_version,
                  served.version if served is not None else None)
    key = (kind, shopper, channel, location, limit, site_ids, stock_version, state.limit_stamp(shopper.customer_id))
    plan = runtime.offer_plans.get(generation, key, now)
    if plan is None:
        plan = _plan(runtime, kind, snapshot, shopper, channel, location, location_id, site_ids, limit, now,
                     stock_version)
        runtime.offer_plans.put(generation, key, plan)
    recommendation_id = f"rec-{random_hex()}"
    offer_ids = [rules.offer_id(recommendation_id, campaign_id, product_id) for campaign_id, product_id in plan.offered]
    items = [{"offer_id": offer_id, **item} for offer_id, item in zip(offer_ids, plan.items)]
    if record:
        _record(runtime, kind, recommendation_id, now, shopper, channel, location_id, plan, items)
    metrics.OFFER_LISTS.labels(kind, "true" if shopper.personal else "false").inc()
    return {
        "recommendation_id": recommendation_id, "customer": customer,
        "known_customer": shopper.customer_id is not None, "personalised": shopper.personal,
        "channel": channel, "location": location, "stock_as_of_seq": as_of_seq, "model": plan.model,
        kind: items,
    }


def _reasons(runtime: "Runtime", affinity: Affinity | None, popular: Affinity, promoted_at: int,
             targeting: tuple[str, ...], availability: dict[str, Any]) -> list[str]:
    codes: list[tuple[str, Any]] = []
    found = affinity.reason(promoted_at) if affinity is not None else None
    if found is not None:
        code, product = found
        codes.append((code, runtime.stock.catalog.sku(product) if product is not None else None))
    elif popular.reason(promoted_at) is not None:
        codes.append((POPULAR, None))
    codes += [(reason, None) for reason in targeting]
    if availability["location"] is not None:
        codes.append(("in_stock_at", availability["location"]))
    return rules.reasons_text(codes)


def _record(runtime: "Runtime", kind: str, recommendation_id: str, now: dt.datetime, shopper: Shopper, channel: str,
            location_id: int | None, plan: _Plan, items: list[dict[str, Any]]) -> None:
    """One exposure per campaign in the list, and one control exposure per campaign the
    shopper was held out of that had something in stock to offer here."""
    cohort = TREATED if shopper.personal else UNTARGETED
    rows = [exposure(recommendation_id, now, kind, customer=shopper.external_id, cohort=cohort, channel=channel,
                     location_id=location_id, campaign_id=campaign_id, skus=[items[at]["sku"] for at in positions])
            for campaign_id, positions in plan.by_campaign]
    rows += [exposure(recommendation_id, now, kind, customer=shopper.external_id, cohort=HOLDOUT, channel=channel,
                      location_id=location_id, campaign_id=campaign_id, skus=skus)
             for campaign_id, skus in plan.controls]
    runtime.exposures.record(rows)


def offers_for_customer(runtime: "Runtime", customer: str, *, channel: str, location: str | None = None,
                        limit: int = DEFAULT_LIMIT, record: bool = True) -> dict[str, Any]:
    """The live campaigns ``customer`` is eligible for, each with its products available
    now for the channel and location, best first (README, "Offers and deals").
    ``record=False``: staff looking (the web app's customer lookup), no exposure."""
    return _serve(runtime, OFFERS, customer, channel, location, limit, record)


def deals_at(runtime: "Runtime", *, channel: str, location: str, limit: int = DEFAULT_LIMIT,
             customer: str | None = None) -> dict[str, Any]:
    """The deals anyone may have at a location (campaigns targeting everyone), in stock
    there, ranked for ``customer`` when one is given, else by popularity there."""
    return _serve(runtime, DEALS, customer, channel, location, limit)
