"""Each serving process's in-memory picture of what may be offered: the live campaigns
with their products and prices, how far their limits are used, who each one's audience
is, and which customers exist and opted out.

Offers and deals read only this (plus the live stock view and the models), so serving
costs no database round trip in steady state. A refresher thread asks the database
every ``serving_refresh_ms`` a few cheap version questions (the campaigns' revisions,
redemption counts, the latest product and customer change) and rebuilds only the part
whose version moved; each part is replaced whole (one reference assignment), so a
request sees one consistent version of it. Audiences (targeting, the response model's
probabilities, the holdout) take longer to resolve: a second thread resolves a
campaign's when it goes live and again every ``offer_audience_refresh_ms`` as profiles
change.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import threading
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from promo import metrics
from promo.adapters import serving_data
from promo.adapters.heap import give_back_memory
from promo.adapters.orm import Campaign
from promo.domain import offers as offer_rules
from promo.domain.campaigns import Discount, StockPolicy
from promo.domain.errors import Conflict
from promo.domain.offers import NO_REDEMPTIONS, Limits, Tally
from promo.services.background import log_failure
from promo.services.campaign_check import FALLBACK_REDEMPTION_RATE
from promo.services.model_server import RESPONSE
from promo.services.redemption_tallies import RedemptionTallies

if TYPE_CHECKING:
    from promo.bootstrap import Runtime

log = logging.getLogger(__name__)

# Customers changed this long before the latest change seen are read again at each
# refresh: a transaction that stamped its rows earlier but committed later is still seen.
CUSTOMER_OVERLAP = dt.timedelta(seconds=30)
# Besides, every customer is read again this often (a transaction open longer than the
# overlap would otherwise be missed for good).
CUSTOMER_FULL_RELOAD_SECONDS = 600.0


@dataclasses.dataclass(frozen=True)
class LiveCampaign:
    """What serving needs of one active campaign."""

    index: int                          # position in the snapshot
    id: int
    code: str
    name: str
    type: str | None
    revision: int
    channels: frozenset[str]
    location_ids: frozenset[int] | None
    discount: Discount
    priority: int
    exclusive: bool
    holdout_percent: float
    targeting_type: str
    limits: Limits
    starts_at: dt.datetime
    ends_at: dt.datetime
    pairs: np.ndarray                   # positions of its (campaign, product) pairs in the snapshot
    product_ids: frozenset[int] = frozenset()   # all its products (pairs keep those with a saving)
    budget: Decimal | None = None
    codes_required: bool = False

    @functools.cached_property
    def view(self) -> dict[str, str]:
        """The campaign as an offer names it (shared by every answer: never modified)."""
        return {"id": self.code, "name": self.name}

    @functools.cached_property
    def discount_view(self) -> dict[str, Any]:
        return self.discount.as_dict()

    def live_at(self, now: dt.datetime) -> bool:
        return self.starts_at <= now < self.ends_at


@dataclasses.dataclass(frozen=True)
class ProductInfo:
    sku: str
    name: str
    category: str | None
    price: Decimal
    currency: str

    @functools.cached_property
    def price_value(self) -> float:
        return float(self.price)


@dataclasses.dataclass(frozen=True)
class CampaignSnapshot:
    """The live campaigns and their (campaign, product) pairs as parallel arrays, grouped
    by product in preference order (promo.domain.offers.preference_order): filtering
    them keeps, for each product, the pair to offer first."""

    version: tuple[Any, ...]
    campaigns: tuple[LiveCampaign, ...]
    products: dict[int, ProductInfo]
    promoted: np.ndarray                # sorted unique product ids of every live campaign
    pair_campaign: np.ndarray           # campaign index
    pair_product: np.ndarray            # product id
    pair_promoted: np.ndarray           # index into ``promoted``
    pair_category: np.ndarray           # category index, -1 when unknown
    pair_priority: np.ndarray           # the campaign's priority
    pair_saving: np.ndarray             # float, what one unit's discount is worth
    pair_min_available: np.ndarray     # units a location needs for the pair to be offered there
    pair_final_price: tuple[float, ...]     # one unit with the discount, rounded once to the cent

    @functools.cached_property
    def demanding(self) -> bool:
        """Whether some campaign's stock policy asks more than one unit per location."""
        return bool(len(self.pair_min_available) and self.pair_min_available.max() > 1)


def _empty(dtype: Any = np.int64) -> np.ndarray:
    return np.zeros(0, dtype=dtype)


EMPTY_SNAPSHOT = CampaignSnapshot(
    version=(), campaigns=(), products={}, promoted=_empty(), pair_campaign=_empty(), pair_product=_empty(),
    pair_promoted=_empty(), pair_category=_empty(), pair_priority=_empty(), pair_saving=_empty(float),
    pair_min_available=_empty(), pair_final_price=())


@dataclasses.dataclass(frozen=True)
class Audience:
    """Who a live campaign targets, as resolved (promo.services.campaign_audience)."""

    revision: int
    model_version: str | None
    resolved_at: float                  # time.monotonic()
    position: dict[int, int]            # customer id -> row
    held_out: np.ndarray
    probability: np.ndarray | None
    reasons: tuple[tuple[str, ...], ...]
    base_rate: float                    # for customers the model did not score

    def member(self, customer_id: int) -> int | None:
        return self.position.get(customer_id)


@dataclasses.dataclass(frozen=True)
class ChangedRows:
    """Rows of a table kept by key, read again incrementally by the table's latest
    ``updated_at`` (``changed_at``) and in full every CUSTOMER_FULL_RELOAD_SECONDS."""

    by_key: dict[Any, Any]
    changed_at: dt.datetime | None
    loaded_at: float

    def get(self, key: Any) -> Any:
        return self.by_key.get(key)


NOTHING_READ = ChangedRows({}, None, float("-inf"))


def reread(current: ChangedRows, changed_at: dt.datetime | None,
           read: Callable[[dt.datetime | None], dict[Any, Any]]) -> ChangedRows:
    """``current`` brought up to ``changed_at``: unchanged if that has not moved, else the
    rows changed since shortly before the last change seen (a transaction that stamped
    its rows earlier but committed later is still caught), or every row when due."""
    full = time.monotonic() - current.loaded_at >= CUSTOMER_FULL_RELOAD_SECONDS or current.changed_at is None
    if not full and changed_at == current.changed_at:
        return current
    if full:
        return ChangedRows(read(None), changed_at, time.monotonic())
    return ChangedRows({**current.by_key, **read(current.changed_at - CUSTOMER_OVERLAP)}, changed_at,
                       current.loaded_at)


def build_snapshot(version: tuple[Any, ...], rows: list[Any], products_of: dict[int, list[int]],
                   details: list[tuple[int, str, str, str | None, float, str]]) -> CampaignSnapshot:
    """The snapshot of the active campaigns ``rows`` (ORM campaigns) and their products."""
    products = {pid: ProductInfo(sku, name, category, Decimal(str(price)).quantize(Decimal("0.01")), currency)
                for pid, sku, name, category, price, currency in details}
    pairs: list[tuple[int, int, Decimal, Decimal]] = []     # (campaign index, product, saving, final price)
    discounts = [Discount.of(row.discount or {"type": "percent", "value": 0}) for row in rows]
    for index, (row, discount) in enumerate(zip(rows, discounts)):
        for pid in products_of.get(row.id, ()):
            info = products.get(pid)
            saving = discount.saving(info.price) if info is not None else Decimal(0)
            if saving > 0:      # a fixed price above the shelf price saves nothing: no offer
                pairs.append((index, pid, saving, discount.unit_price(info.price)))  # type: ignore[union-attr]
    campaign = np.asarray([p[0] for p in pairs], dtype=np.int64)
    product = np.asarray([p[1] for p in pairs], dtype=np.int64)
    saving = np.asarray([float(p[2]) for p in pairs], dtype=np.float64)
    priority = np.asarray([rows[c].priority or 0 for c in campaign], dtype=np.int64)
    exclusive = np.asarray([bool(rows[c].exclusive) for c in campaign], dtype=bool)
    policies = [StockPolicy.of(row.stock_policy) for row in rows]
    minimum = np.asarray([max(1, policies[c].min_available_per_location) for c in campaign], dtype=np.int64)
    order = offer_rules.preference_order(product, priority, exclusive, saving, campaign)
    campaign, product, saving, priority, minimum = (a[order] for a in (campaign, product, saving, priority, minimum))
    final_prices = tuple(float(pairs[i][3]) for i in order)
    categories: dict[str, int] = {}
    category = np.asarray([categories.setdefault(products[p].category, len(categories))  # type: ignore[arg-type]
                           if products[p].category else -1 for p in product.tolist()], dtype=np.int64)
    promoted = np.unique(product)
    campaigns = tuple(LiveCampaign(
        index=index, id=row.id, code=row.code, name=row.name, type=row.type, revision=row.revision,
        channels=frozenset(row.channels or ()),
        location_ids=None if row.location_ids is None else frozenset(row.location_ids),
        discount=discounts[index], priority=row.priority or 0,
        exclusive=bool(row.exclusive), holdout_percent=float(row.holdout_percent or 0),
        targeting_type=(row.targeting or {}).get("type", "everyone"),
        limits=Limits(row.max_redemptions, row.per_customer, row.budget), starts_at=row.starts_at,
        ends_at=row.ends_at, pairs=np.flatnonzero(campaign == index),
        product_ids=frozenset(products_of.get(row.id, ())),
        budget=None if row.budget is None else Decimal(str(row.budget)).quantize(Decimal("0.01")),
        codes_required=bool(row.codes_required)) for index, row in enumerate(rows))
    return CampaignSnapshot(
        version=version, campaigns=campaigns, products=products, promoted=promoted, pair_campaign=campaign,
        pair_product=product, pair_promoted=np.searchsorted(promoted, product), pair_category=category,
        pair_priority=priority, pair_saving=saving, pair_min_available=minimum, pair_final_price=final_prices)


class ServingState:
    """The parts, kept current by the refresher threads (or by ``refresh()`` in tests)."""

    def __init__(self, runtime: "Runtime", refresh_seconds: float, audience_refresh_seconds: float):
        self._runtime = runtime
        self.refresh_seconds = refresh_seconds
        self.audience_refresh_seconds = audience_refresh_seconds
        self.campaigns: CampaignSnapshot = EMPTY_SNAPSHOT
        self.tallies: dict[int, Tally] = {}
        self.audiences: dict[int, Audience] = {}
        # {external id: (id, opted out)} of every customer this process knows of.
        self.customers = NOTHING_READ
        # {customer id: when their profile was last rewritten}: their history changed when it did.
        self.profiles = NOTHING_READ
        # Changes this process made itself (an interaction ingested here, a customer or
        # product written here): answers cached from before them must not be served even
        # before the next refresh sees them. Bumped per customer, and for everything.
        self._touched: dict[str, int] = {}
        self.local_generation = 0
        # Caches of what is derived from the tallies and audiences (a customer's eligible
        # campaigns) are keyed by these: bumped when audiences are replaced, and when a
        # campaign's cap or budget becomes reached or no longer is. A count per customer
        # moves only that customer's stamp (limit_stamp).
        self._redemption_tallies = RedemptionTallies()
        self._limit_stamps: dict[int, int] = {}
        self.tallies_version = 0
        self.audiences_version = 0
        self._tally_version: tuple[int, float, int] | None = None
        self.products_changed_at: dt.datetime | None = None
        self._ready = threading.Event()
        self._refresh_lock = threading.Lock()
        self._audience_lock = threading.Lock()
        self._stop = threading.Event()
        self._audiences_due = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- reading ---------------------------------------------------------------------------

    def ready(self, timeout: float) -> bool:
        """Whether the first refresh is done (waiting up to ``timeout`` for it); before it, a
        process knows no campaign and would offer nothing."""
        if not self._ready.is_set() and not self._threads:
            self.refresh()      # no refresher running (a one-shot command, a test): do it now
        return self._ready.wait(timeout)

    def tally(self, campaign_id: int) -> Tally:
        return self.tallies.get(campaign_id, NO_REDEMPTIONS)

    # --- refreshing ------------------------------------------------------------------------

    def refresh(self, *, audiences: bool = True) -> None:
        """One refresh of every part whose version moved; with ``audiences``, also resolve
        the audiences that are missing or out of date (the audience thread's work)."""
        with self._refresh_lock:
            started = time.perf_counter()
            with self._runtime.session_factory() as session:
                versions = serving_data.versions(session, [c.id for c in self.campaigns.campaigns])
                if self._refresh_campaigns(session, versions):
                    # The live campaigns changed: their redemptions are other rows.
                    versions = serving_data.versions(session, [c.id for c in self.campaigns.campaigns])
                self._refresh_customers(session, versions.customers_changed_at)
                self._refresh_profiles(session, versions.profiles_changed_at)
                self.products_changed_at = versions.products_changed_at
                self._refresh_tallies(session, versions.redemptions)
            metrics.SERVING_REFRESH_SECONDS.observe(time.perf_counter() - started)
        self._ready.set()
        if audiences:
            self.refresh_audiences()

    def _refresh_campaigns(self, session: Any, versions: serving_data.Versions) -> bool:
        version = (*versions.campaigns, versions.products_changed_at)
        if version == self.campaigns.version:
            return False
        rows = serving_data.active_campaigns(session)
        products_of = serving_data.campaign_products(session, [row.id for row in rows])
        details = serving_data.product_details(session, {p for ids in products_of.values() for p in ids})
        snapshot = build_snapshot(version, rows, products_of, details)
        self.campaigns = snapshot
        live = {c.id for c in snapshot.campaigns}
        self.audiences = {cid: a for cid, a in self.audiences.items() if cid in live}
        self.audiences_version += 1
        self._audiences_due.set()
        self._tally_version = None     # the set of live campaigns changed: count again
        metrics.SERVING_LIVE_CAMPAIGNS.set(len(snapshot.campaigns))
        return True

    def _refresh_customers(self, session: Any, changed_at: dt.datetime | None) -> None:
        def read(since: dt.datetime | None) -> dict[Any, Any]:
            return {external: (id_, bool(opted)) for id_, external, opted in serving_data.customers(session, since)}

        self.customers = reread(self.customers, changed_at, read)

    def _refresh_profiles(self, session: Any, changed_at: dt.datetime | None) -> None:
        def read(since: dt.datetime | None) -> dict[Any, Any]:
            return dict(serving_data.profile_stamps(session, since))

        self.profiles = reread(self.profiles, changed_at, read)

    def touch(self, external_ids: Any = None) -> None:
        """This process changed these customers (or, with none given, anything answers
        derive from): answers cached before must not be served again."""
        if external_ids is None:
            self.local_generation += 1
            return
        for external_id in external_ids:
            self._touched[external_id] = self._touched.get(external_id, 0) + 1

    def touched(self, external_id: str) -> int:
        return self._touched.get(external_id, 0)

    def _refresh_tallies(self, session: Any, overall: tuple[int, float, int]) -> None:
        if overall == self._tally_version:
            return
        changes = self._redemption_tallies.refresh(session, self.campaigns.campaigns)
        self.tallies = changes.tallies
        for customer_id in changes.customers:
            self._limit_stamps[customer_id] = self._limit_stamps.get(customer_id, 0) + 1
        if changes.limits_moved:
            self.tallies_version += 1
        self._tally_version = overall

    def limit_stamp(self, customer_id: int | None) -> int:
        """Moves when this customer's count of a campaign with a per-customer limit does:
        answers cached for them before must not be served again."""
        return self._limit_stamps.get(customer_id, 0) if customer_id is not None else 0

    def refresh_audiences(self) -> None:
        """Resolve the audience of every live campaign that has none, whose revision or
        response model changed, or that is older than the audience refresh period."""
        from promo.services.campaign_audience import resolve

        with self._audience_lock:
            served = self._runtime.models.get(RESPONSE)
            model_version = served.version if served else None
            due = [campaign for campaign in self.campaigns.campaigns if not self._audience_current(campaign,
                                                                                                    model_version)]
            if not due:
                return
            with self._runtime.audience_scorer.reading_history_once():
                for campaign in due:
                    if self._stop.is_set():
                        return
                    try:
                        audience = self._resolve(resolve, campaign, model_version)
                    except Conflict as exc:     # e.g. model targeting while no response model is served
                        log.warning("campaign audience not resolved", extra={"campaign": campaign.code,
                                                                              "reason": exc.reason})
                        continue
                    self.audiences = {**self.audiences, campaign.id: audience}
                    self.audiences_version += 1
            give_back_memory()      # the round's temporaries: else the worker keeps them (bench/soak.py)

    def _audience_current(self, campaign: LiveCampaign, model_version: str | None) -> bool:
        found = self.audiences.get(campaign.id)
        return found is not None and found.revision == campaign.revision and found.model_version == model_version \
            and time.monotonic() - found.resolved_at < self.audience_refresh_seconds

    def _resolve(self, resolve: Any, campaign: LiveCampaign, model_version: str | None) -> Audience:
        with self._runtime.unit_of_work() as uow:
            row = uow.session.get(Campaign, campaign.id)
            product_ids = self.campaigns.pair_product[campaign.pairs].tolist()
            found = resolve(self._runtime, uow, row, product_ids)
        position = {int(cid): n for n, cid in enumerate(found.customer_ids)}
        base_rate = float(np.mean(found.probability)) if found.probability is not None and found.size \
            else FALLBACK_REDEMPTION_RATE
        return Audience(revision=campaign.revision, model_version=model_version, resolved_at=time.monotonic(),
                        position=position, held_out=found.held_out, probability=found.probability,
                        reasons=tuple(tuple(r) for r in found.reasons), base_rate=base_rate)

    # --- threads ---------------------------------------------------------------------------

    def start(self) -> None:
        for name, target in (("serving-refresh", self._run_refresh), ("serving-audiences", self._run_audiences)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._audiences_due.set()
        for thread in self._threads:
            thread.join(timeout=2)      # daemons: one resolving an audience is left to die

    def _run_refresh(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh(audiences=False)
            except Exception as failed:   # the database may be away for a while: keep serving what we have
                log_failure(log, "serving state refresh failed", failed)
            self._stop.wait(self.refresh_seconds)

    def _run_audiences(self) -> None:
        while not self._stop.is_set():
            try:
                if self._ready.wait(1.0):
                    self.refresh_audiences()
            except Exception as failed:
                log_failure(log, "campaign audiences refresh failed", failed)
            self._audiences_due.wait(min(self.audience_refresh_seconds, 5.0))
            self._audiences_due.clear()

