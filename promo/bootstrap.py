"""Wiring that both the web app and the CLI need: settings -> engine -> sessions -> stock."""
from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from promo.adapters.catalog_index import CatalogIndex
from promo.adapters.database import WalCheckpointer, WriteGate, create_db_engine, create_session_factory
from promo.adapters.model_store import ModelStore
from promo.adapters.stock_follower import StockFollower
from promo.adapters.stock_view import StockView
from promo.config import Settings, load_settings
from promo.services.model_server import ModelServer
from promo.services.exposures import ExposureLog
from promo.services.signals import SignalBus
from promo.services.stock import StockContext
from promo.services.unit_of_work import UnitOfWork
from promo.services.webhook_sender import WebhookSender

if TYPE_CHECKING:
    from promo.adapters.demand_index import RecentDemand
    from promo.services.api_keys import KeyRing
    from promo.services.audience_scoring import AudienceScorer
    from promo.services.campaign_watch import CampaignWatch
    from promo.services.checkout import CatalogPrices
    from promo.services.attempts import FailedAttempts
    from promo.services.request_rates import RequestRates
    from promo.services.offer_affinity import OfferAffinity
    from promo.services.offers import EligibilityCache, InStockFlags, OfferPlans
    from promo.services.recommendations import PopularityFallback, RecommendationAnswers
    from promo.services.serving_state import ServingState


@dataclasses.dataclass
class Runtime:
    """What one process holds for its lifetime."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    stock: StockContext
    write_gate: WriteGate
    models: ModelServer
    checkpointer: WalCheckpointer | None = None
    campaign_watch: CampaignWatch | None = None
    # Sends the webhook outbox; its threads run only in serving processes (follow_stock).
    webhooks: WebhookSender = dataclasses.field(init=False)
    # What was served, written in batches; its writer runs only in serving processes.
    exposures: ExposureLog = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.webhooks = WebhookSender(self.unit_of_work, self.settings)
        self.exposures = ExposureLog(self.unit_of_work, self.settings.exposure_flush_ms / 1000,
                                     self.settings.exposure_batch_size)

    @functools.cached_property
    def serving(self) -> ServingState:
        # What offers and deals read; serving processes keep it current in the background,
        # others build it on first use.
        from promo.services.serving_state import ServingState

        return ServingState(self, self.settings.serving_refresh_ms / 1000,
                            self.settings.offer_audience_refresh_ms / 1000)

    @functools.cached_property
    def offer_affinity(self) -> OfferAffinity:
        from promo.services.offer_affinity import OfferAffinity

        return OfferAffinity(self)

    @functools.cached_property
    def offer_eligibility(self) -> EligibilityCache:
        from promo.services.offers import EligibilityCache

        return EligibilityCache()

    @functools.cached_property
    def offer_plans(self) -> OfferPlans:
        from promo.services.offers import OfferPlans

        return OfferPlans()

    @functools.cached_property
    def recommendation_answers(self) -> RecommendationAnswers:
        from promo.services.recommendations import RecommendationAnswers

        return RecommendationAnswers()

    @functools.cached_property
    def offer_stock(self) -> InStockFlags:
        from promo.services.offers import InStockFlags

        return InStockFlags()

    @functools.cached_property
    def popularity(self) -> PopularityFallback:
        # Built on first use: the recommendations module brings pandas and scikit-learn,
        # which commands such as `promo keys create` should not pay for.
        from promo.services.recommendations import PopularityFallback

        return PopularityFallback()

    @functools.cached_property
    def catalog_prices(self) -> CatalogPrices:
        from promo.services.checkout import CatalogPrices

        return CatalogPrices()

    @functools.cached_property
    def code_guesses(self) -> FailedAttempts:
        from promo.services.attempts import TOO_MANY_GUESSES, FailedAttempts

        return FailedAttempts(self.unit_of_work, self.settings.code_guess_limit, self.settings.code_guess_window_s,
                              kind="coupon_code", reason=TOO_MANY_GUESSES, what="wrong coupon codes")

    @functools.cached_property
    def sign_in_attempts(self) -> FailedAttempts:
        from promo.services.attempts import TOO_MANY_SIGN_INS, FailedAttempts

        return FailedAttempts(self.unit_of_work, self.settings.sign_in_attempt_limit, self.settings.sign_in_window_s,
                              kind="sign_in", reason=TOO_MANY_SIGN_INS, what="failed sign-ins")

    @functools.cached_property
    def key_requests(self) -> RequestRates:
        from promo.services.request_rates import RequestRates

        return RequestRates(self.settings.api_rate_per_key, self.settings.api_burst_per_key)

    @functools.cached_property
    def keys(self) -> KeyRing:
        from promo.services.api_keys import KeyRing

        return KeyRing(self.unit_of_work, self.settings.api_key_refresh_ms / 1000)

    @functools.cached_property
    def demand(self) -> RecentDemand:
        from promo.adapters.demand_index import RecentDemand

        return RecentDemand(self.session_factory)

    @functools.cached_property
    def audience_scorer(self) -> AudienceScorer:
        # Built on first use, like popularity; its state is built on the first ranking.
        from promo.services.audience_scoring import AudienceScorer, grace_seconds_for

        return AudienceScorer(self.session_factory, self.models,
                              grace_seconds=grace_seconds_for(self.engine.dialect.name))

    def unit_of_work(self, *, write: bool = False) -> UnitOfWork:
        return UnitOfWork(self.session_factory, write=write, gate=self.write_gate)

    def close(self) -> None:
        # What was served is written first (gunicorn gives a worker graceful_timeout seconds
        # in all): a graceful shutdown loses none. Then the campaign watch (it may enqueue
        # webhooks), then the sender: a delivery in flight is recorded while the database
        # is still there.
        self.exposures.close()
        if self.campaign_watch is not None:
            self.campaign_watch.stop()
        if "serving" in self.__dict__:
            self.serving.stop()
        self.webhooks.stop()
        self.models.stop()
        self.stock.follower.stop()
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.engine.dispose()


def bootstrap(settings: Settings | None = None, *, follow_stock: bool = False) -> Runtime:
    """Build the runtime; ``follow_stock`` loads the stock view and keeps it caught up,
    keeps the active models loaded, sends webhooks, and on SQLite checkpoints the WAL in
    the background (the web app does; one-shot commands read the database instead)."""
    settings = settings or load_settings()
    engine = create_db_engine(settings)
    session_factory = create_session_factory(engine)
    view = StockView()
    stock = StockContext(
        view=view,
        follower=StockFollower(engine, session_factory, view, poll_interval=settings.stock_poll_interval_ms / 1000),
        catalog=CatalogIndex(session_factory),
        signals=SignalBus(),
        low_stock_threshold=settings.low_stock_threshold,
        max_wait_seconds=settings.stock_max_wait_ms / 1000,
        positions_lag=settings.stock_positions_lag,
    )
    models = ModelServer(ModelStore(settings.model_dir), session_factory,
                         check_interval=settings.model_check_interval_ms / 1000)
    runtime = Runtime(settings=settings, engine=engine, session_factory=session_factory, stock=stock,
                      write_gate=WriteGate.for_settings(settings), models=models)
    if follow_stock:
        stock.follower.start()
        models.start()
        runtime.webhooks.start()
        if settings.is_sqlite:
            runtime.checkpointer = WalCheckpointer(engine)
            runtime.checkpointer.start()
        from promo.services.campaign_watch import CampaignWatch

        runtime.campaign_watch = CampaignWatch(runtime, settings.campaign_watch_interval_ms / 1000)
        runtime.campaign_watch.start()
        runtime.exposures.start()
        runtime.serving.start()
        if settings.audience_warm_up:
            from promo.services.audience_scoring import warm_up_in_background

            warm_up_in_background(runtime.audience_scorer)
    return runtime
