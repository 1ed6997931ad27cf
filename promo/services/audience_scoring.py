"""Ranking a whole customer base for a promotion in a fraction of a second.

Each process keeps an :class:`AudienceScorer` (``Runtime.audience_scorer``). Its state,
built for the active response model version, holds every customer's purchase history in
compact numpy form (:mod:`promo.ml.purchase_facts`), their demographics as a matrix and
the (small) campaign tables. Each call first brings that state up to date, cheaply:

- purchases with an id above the watermark (one indexed range query) mark their
  customers dirty; only those customers' histories are read again and rebuilt in a delta
  that overrides the base (folded into a fresh base when it grows past a share of it);
- customers and products updated since the last look (by ``updated_at``) refresh their
  demographics, and categories/brands (category and brand sums are rebuilt if a bought
  product changed category or brand);
- campaigns, audiences and redemptions are re-read whole when an aggregate of them
  changes; opted-out customers are read on every call;
- a new active model version rebuilds everything.

Another process's writes are seen on the next call, since everything is read from the
database. On PostgreSQL ids are taken before commit, so a purchase committed late can
carry an id below one already seen: ids recorded in the last ``grace`` seconds are kept
and re-listed on each call until they are older than any transaction could be.

What depends on the clock is not stored: recency, tenure, per-week rates and the "recent
weeks" windows are computed per call for the promotion's start (the service's present,
as before: the latest interaction seen, plus a microsecond).
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import threading
import time
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from promo.adapters import audience_data
from promo.adapters.heap import give_back_memory
from promo.adapters.profile_repository import ProfileRepository
from promo.domain.errors import Conflict, InvalidInput
from promo.ml.audience_features import PurchaseState, audience_features
from promo.ml.purchase_facts import CatalogVocabulary, PurchaseFacts
from promo.ml.response_features import demographic_features
from promo.services.background import log_failure
from promo.services.model_server import RESPONSE, ModelServer, ServedModel

log = logging.getLogger("promo.audiences")

TYPE_PREFIX = "campaign_type="
# A delta past this share of the base's purchases is folded into a new base.
FOLD_SHARE = 0.1
FOLD_MIN_ROWS = 20_000


def warm_up_in_background(scorer: "AudienceScorer") -> threading.Thread:
    """Build ``scorer``'s state in a thread of its own, once (a serving process as it starts)."""
    def run() -> None:
        started = time.monotonic()
        try:
            if scorer.warm():
                log.info("audience scoring state built in %.1f s", time.monotonic() - started)
        except Exception as failed:  # noqa: BLE001 - the first ranking builds it instead
            log_failure(log, "building the audience scoring state at start failed; the first ranking builds it",
                        failed)

    thread = threading.Thread(target=run, name="promo-audience-warm-up", daemon=True)
    thread.start()
    return thread


def campaign_types_of(feature_names: Sequence[str]) -> list[str]:
    """The campaign-type vocabulary a response model was trained with."""
    return [name[len(TYPE_PREFIX):] for name in feature_names if name.startswith(TYPE_PREFIX)]


@dataclasses.dataclass(frozen=True)
class ScoredAudience:
    """Customers ranked for a promotion, best first."""

    customer_ids: np.ndarray          # internal ids, int64, best first
    probability: np.ndarray           # of redeeming, in the same order
    uplift: np.ndarray | None         # probability gained by targeting, when the model knows holdouts
    ranked_by: str                    # "uplift" or "probability"
    expected_redemptions: float       # summed over every customer scored
    model_name: str
    model_version: str
    as_of: dt.datetime                # the promotion's start the features are cut at (UTC)
    opted_out: int = 0                # customers left out because they opted out


class _Watermark:
    """Which purchase ids have been seen: all up to ``safe``, and those in ``recent`` above it."""

    def __init__(self, grace_ms: int):
        self.grace_ms = grace_ms
        self.safe = 0
        self.recent = np.zeros(0, dtype=np.int64)    # sorted

    def start(self, session: Session, ids: np.ndarray) -> None:
        """After a full read of the purchases ``ids``."""
        if self.grace_ms == 0:
            self.safe = int(ids.max()) if len(ids) else 0
            return
        before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(milliseconds=self.grace_ms)
        self.safe = min(audience_data.safe_purchase_id(session, before), int(ids.max()) if len(ids) else 0)
        self.recent = np.sort(ids[ids > self.safe])

    def advance(self, ids: np.ndarray, recorded_ms: np.ndarray) -> np.ndarray:
        """Take the ids listed above ``safe``; returns the mask of those not seen before."""
        new = ~np.isin(ids, self.recent)
        if len(ids):
            old = recorded_ms < time.time() * 1000 - self.grace_ms
            if old.any():
                self.safe = max(self.safe, int(ids[old].max()))
            self.recent = np.sort(ids[ids > self.safe])
        return new


@dataclasses.dataclass
class _State:
    version: str
    purchases: PurchaseState
    delta_rows: audience_data.PurchaseRows
    base_rows: int
    vocabulary: CatalogVocabulary
    watermark: _Watermark
    known: np.ndarray                 # customer ids that exist
    demographics: np.ndarray          # slots x demographic columns
    demographic_names: list[str]
    customers_seen: dt.datetime | None
    products_seen: dt.datetime | None
    campaign_signature: tuple[Any, ...]
    campaign_frames: dict[str, pd.DataFrame]

    @property
    def n_slots(self) -> int:
        return len(self.known)


class AudienceScorer:
    """Per-process audience ranking with the active response model (see the module doc)."""

    def __init__(self, session_factory: Callable[[], Session], models: ModelServer, *, grace_seconds: float):
        self._session_factory = session_factory
        self._models = models
        self._grace_ms = int(grace_seconds * 1000)
        self._lock = threading.Lock()
        self._state: _State | None = None
        # Within reading_history_once(): whether the campaign history was looked at yet.
        self._history_batch: bool | None = None

    # --- the interface -----------------------------------------------------------------

    def model(self, campaign_type: str | None = None) -> ServedModel:
        """The response model serving now; 409 ``model_missing`` without one, 422 for a
        campaign type it was not trained with."""
        served = self._models.get(RESPONSE)
        if served is None:
            raise Conflict("no response model is active; run `promo train`", reason="model_missing")
        types = campaign_types_of(served.estimator.feature_names_)
        if campaign_type is not None and campaign_type not in types:
            raise InvalidInput("unknown campaign type", {"campaign_type": [f"the model knows {types}"]})
        return served

    def warm(self) -> bool:
        """Build the state now rather than in the first ranking, which would wait for it:
        every customer's purchase figures, read from the whole history (about 4 s on the
        demo). False when no response model is serving."""
        served = self._models.get(RESPONSE)
        if served is None:
            return False
        with self._lock:
            with self._session_factory() as session:
                self._current(session, served.version)
        return True

    @contextlib.contextmanager
    def reading_history_once(self) -> Iterator[None]:
        """Rank several promotions in a row with the campaign history (exposures and
        redemptions, read whole) looked at again at most once. Resolving every live
        campaign's audience re-read it for each, as redemptions kept changing it: 50 reads
        of a growing history every audience refresh (bench/soak.py). Other rankings meanwhile
        (a preview, the scoring endpoint) see the history as the row read it."""
        with self._lock:
            self._history_batch = False
        try:
            yield
        finally:
            with self._lock:
                self._history_batch = None

    def rank(self, product_ids: Sequence[int], *, campaign_type: str | None = None,
             customer_ids: Sequence[int] | np.ndarray | None = None) -> ScoredAudience:
        """Rank ``customer_ids`` (internal ids; None: every customer with a purchase) for a
        promotion of ``product_ids`` of type ``campaign_type`` starting now. Opted-out
        customers are left out and counted."""
        served = self.model(campaign_type)
        model = served.estimator
        promoted = np.unique(np.asarray(list(product_ids), dtype=np.int64))
        with self._lock:
            with self._session_factory() as session:
                state = self._current(session, served.version)
                present = ProfileRepository(session).clock() or dt.datetime.now(dt.timezone.utc)
                opted_out = audience_data.opted_out_ids(session)
            ids = self._audience(state, customer_ids)
            excluded = np.isin(ids, opted_out)
            ids = ids[~excluded]
            # Everything seen so far is the past of a promotion starting now.
            starts_at = pd.Timestamp(present.astimezone(dt.timezone.utc).replace(tzinfo=None)) \
                + pd.Timedelta(microseconds=1)
            frames = state.campaign_frames
            X = audience_features(
                state.purchases, ids, demographics=state.demographics, demographic_names=state.demographic_names,
                promoted_products=promoted, promoted_categories=state.vocabulary.selected("category", promoted),
                promoted_brands=state.vocabulary.selected("brand", promoted), starts_at=starts_at,
                campaign_type=campaign_type, campaign_types=campaign_types_of(model.feature_names_),
                redemptions=frames["redemptions"], exposures=frames["exposures"], campaigns=frames["campaigns"])
        probability = model.predict_proba(X)[:, 1] if len(ids) else np.zeros(0)
        uplift = model.predict_uplift(X) if model.has_uplift_ and len(ids) else None
        order = np.argsort(-(uplift if uplift is not None else probability), kind="stable")
        return ScoredAudience(
            customer_ids=ids[order], probability=probability[order],
            uplift=None if uplift is None else uplift[order],
            ranked_by="uplift" if uplift is not None else "probability",
            expected_redemptions=float(model.expected_redemptions(X)) if len(ids) else 0.0,
            model_name=served.name, model_version=served.version,
            as_of=starts_at.to_pydatetime().replace(tzinfo=dt.timezone.utc), opted_out=int(excluded.sum()))

    def features(self, product_ids: Sequence[int], customer_ids: Sequence[int], *, starts_at: pd.Timestamp,
                 campaign_type: str | None, campaign_types: Sequence[str]) -> pd.DataFrame:
        """The feature frame :meth:`rank` scores, for a given start (tests compare it with
        :func:`promotion_features`)."""
        served = self.model(campaign_type)
        promoted = np.unique(np.asarray(list(product_ids), dtype=np.int64))
        with self._lock:
            with self._session_factory() as session:
                state = self._current(session, served.version)
            frames = state.campaign_frames
            return audience_features(
                state.purchases, np.asarray(customer_ids, dtype=np.int64), demographics=state.demographics,
                demographic_names=state.demographic_names, promoted_products=promoted,
                promoted_categories=state.vocabulary.selected("category", promoted),
                promoted_brands=state.vocabulary.selected("brand", promoted), starts_at=starts_at,
                campaign_type=campaign_type, campaign_types=campaign_types, redemptions=frames["redemptions"],
                exposures=frames["exposures"], campaigns=frames["campaigns"])

    @property
    def state_version(self) -> str | None:
        """The model version the state was built for (None before the first call)."""
        return self._state.version if self._state else None

    @property
    def nbytes(self) -> int:
        """Roughly what the state's arrays take."""
        state = self._state
        if state is None:
            return 0
        rows = sum(getattr(state.delta_rows, f.name).nbytes for f in dataclasses.fields(state.delta_rows))
        return state.purchases.base.nbytes + state.purchases.delta.nbytes + rows + state.demographics.nbytes

    # --- keeping the state current -------------------------------------------------------

    def _audience(self, state: _State, customer_ids: Sequence[int] | np.ndarray | None) -> np.ndarray:
        if customer_ids is None:
            return state.purchases.buyers()
        ids = np.unique(np.asarray(customer_ids, dtype=np.int64))
        inside = (ids >= 0) & (ids < state.n_slots)
        known = np.zeros(len(ids), dtype=bool)
        known[inside] = state.known[ids[inside]]
        if not known.all():
            raise InvalidInput("the audience cannot be scored",
                               {"customer_ids": [f"unknown customer id {int(i)}" for i in ids[~known][:20]]})
        return ids

    def _current(self, session: Session, version: str) -> _State:
        if self._state is None or self._state.version != version:
            self._state = None          # let the old state go before building the new one
            self._state = self._build(session, version)
            give_back_memory()
        else:
            self._refresh(session, self._state)
        return self._state

    def _build(self, session: Session, version: str) -> _State:
        vocabulary = CatalogVocabulary()
        ids, categories, brands, products_seen = audience_data.read_products_since(session, None)
        vocabulary.update(ids, categories, brands)
        people, customers_seen = audience_data.read_customers_since(session, None)
        rows = audience_data.read_purchases(session)
        watermark = _Watermark(self._grace_ms)
        watermark.start(session, rows.id)
        n_slots = int(max(people["customer"].max() if len(people) else -1,
                          rows.customer.max() if len(rows.customer) else -1)) + 1
        base = self._facts(rows, vocabulary, n_slots)
        del rows
        names = list(demographic_features(people.iloc[:0], pd.Index([], dtype=np.int64)).columns)
        state = _State(version=version, purchases=PurchaseState(base, vocabulary.codes, *vocabulary.sizes),
                       delta_rows=audience_data.no_purchases(),
                       base_rows=int(base.count.sum()), vocabulary=vocabulary, watermark=watermark,
                       known=np.zeros(n_slots, dtype=bool), demographics=np.full((n_slots, len(names)), np.nan),
                       demographic_names=names, customers_seen=customers_seen, products_seen=products_seen,
                       campaign_signature=(), campaign_frames={})
        self._take_customers(state, people)
        self._refresh_campaigns(session, state)
        return state

    @staticmethod
    def _facts(rows: audience_data.PurchaseRows, vocabulary: CatalogVocabulary, n_slots: int) -> PurchaseFacts:
        return PurchaseFacts(rows.customer, rows.product, rows.day, rows.value, rows.discount, rows.coupon,
                             n_slots=n_slots, catalog=vocabulary.codes, n_categories=vocabulary.sizes[0],
                             n_brands=vocabulary.sizes[1])

    def _refresh(self, session: Session, state: _State) -> None:
        # With no grace (SQLite: one writer at a time, stamps in commit order) only rows
        # stamped after the last one seen; else the last ``grace`` seconds again.
        grace, strict = dt.timedelta(milliseconds=self._grace_ms), self._grace_ms == 0
        people, seen = audience_data.read_customers_since(
            session, state.customers_seen - grace if state.customers_seen else None, strict=strict)
        self._take_customers(state, people)
        state.customers_seen = max(filter(None, (state.customers_seen, seen)), default=None)
        ids, categories, brands, seen = audience_data.read_products_since(
            session, state.products_seen - grace if state.products_seen else None, strict=strict)
        changed = state.vocabulary.update(ids, categories, brands)
        state.products_seen = max(filter(None, (state.products_seen, seen)), default=None)
        bought = np.isin(changed, state.purchases.base.products) | np.isin(changed, state.purchases.delta.products)
        if bought.any():     # a product bought before changed category or brand: re-sum by the new ones
            state.purchases.set_catalog(state.vocabulary.codes, *state.vocabulary.sizes)
        self._refresh_purchases(session, state)
        self._refresh_campaigns(session, state)

    def _refresh_purchases(self, session: Session, state: _State) -> None:
        ids, customers, recorded = audience_data.purchases_after(session, state.watermark.safe)
        new = state.watermark.advance(ids, recorded)
        touched = np.unique(customers[new])
        if len(touched) == 0:
            return
        if int(touched.max()) + 1 > state.n_slots:
            self._grow(state, int(touched.max()) + 1)
        fresh = audience_data.read_purchases(session, touched.tolist())
        kept = audience_data.take_rows(state.delta_rows, ~np.isin(state.delta_rows.customer, touched))
        rows = audience_data.join_rows([kept, fresh])
        if len(rows.id) > max(FOLD_SHARE * state.base_rows, FOLD_MIN_ROWS):
            # The delta has grown: read everything again into a new base (a cold build's work).
            everything = audience_data.read_purchases(session)
            if len(everything.customer) and int(everything.customer.max()) >= state.n_slots:
                self._grow(state, int(everything.customer.max()) + 1)   # bought since the listing
            base = self._facts(everything, state.vocabulary, state.n_slots)
            state.purchases = PurchaseState(base, state.vocabulary.codes, *state.vocabulary.sizes)
            state.purchases.ensure_slots(state.n_slots)
            state.base_rows = len(everything.id)
            state.delta_rows = audience_data.no_purchases()
            del everything
            give_back_memory()
            return
        state.delta_rows = rows
        dirty = np.unique(rows.customer)
        state.purchases.replace(self._facts(rows, state.vocabulary, state.n_slots), dirty)

    def _grow(self, state: _State, n_slots: int) -> None:
        extra = n_slots - len(state.known)
        state.known = np.concatenate([state.known, np.zeros(extra, dtype=bool)])
        state.demographics = np.vstack([state.demographics, np.full((extra, state.demographics.shape[1]), np.nan)])
        state.purchases.ensure_slots(n_slots)

    def _take_customers(self, state: _State, people: pd.DataFrame) -> None:
        if people.empty:
            return
        ids = people["customer"].to_numpy(dtype=np.int64)
        if int(ids.max()) + 1 > state.n_slots:
            self._grow(state, int(ids.max()) + 1)
        state.known[ids] = True
        rows = demographic_features(people, pd.Index(ids, name="customer"))
        state.demographics[ids] = rows[state.demographic_names].to_numpy(dtype=float)

    def _refresh_campaigns(self, session: Session, state: _State) -> None:
        if self._history_batch:
            return
        if self._history_batch is False:
            self._history_batch = True
        signature = audience_data.campaign_signature(session)
        if signature == state.campaign_signature:
            return
        frames = audience_data.read_campaigns(session)
        # Date the exposures once here rather than merging on every call.
        frames["exposures"] = frames["exposures"].merge(frames["campaigns"][["campaign", "starts_at"]],
                                                        on="campaign", how="left")
        state.campaign_frames = frames
        state.campaign_signature = signature


def grace_seconds_for(dialect: str) -> float:
    """How long an id may stay uncommitted: on SQLite writers commit in id order (one
    write lock), on PostgreSQL a transaction may commit after later ids did."""
    return 60.0 if dialect == "postgresql" else 0.0
