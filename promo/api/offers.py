"""Offers for a customer, deals at a store, and what shoppers did with them."""
from __future__ import annotations

from flask.views import MethodView

from promo.api.auth import requires
from promo.api.context import runtime, uow
from promo.api.fast_json import json_answer
from promo.api.offer_schemas import (
    DealsQuerySchema,
    DealsSchema,
    OfferEventBatchSchema,
    OfferEventResultSchema,
    OffersQuerySchema,
    OffersSchema,
)
from promo.api.pagination import limit_batch
from promo.api.parsing import Blueprint
from promo.domain.access import Permission
from promo.services import offer_events, offers

blp = Blueprint("offers", __name__, url_prefix="/v1", description="Offers and deals")


@blp.route("/customers/<id:customer_id>/offers")
class CustomerOffers(MethodView):
    @requires(Permission.CHANNEL_SERVE)
    @blp.arguments(OffersQuerySchema(), location="query")     # one instance: not built per request
    @blp.response(200, OffersSchema)
    def get(self, args, customer_id):
        """Personalised offers: live campaigns the customer is eligible for, products in stock now

        Eligible: the campaign targets the customer, serves the channel and location, has
        cap, budget and per-customer uses left, and the customer is not held out of it
        (held-out customers are recorded as control exposures). Ranked by expected value
        (redemption probability times affinity times the saving), higher `priority` first,
        one offer per product, spread across campaigns and categories. Unknown and
        opted-out customers get popular offers of campaigns that target everyone
        (`personalised: false`). Cite `offer_id` on clicks and redemptions."""
        return json_answer(offers.offers_for_customer(runtime(), customer_id, channel=args["channel"],
                                                      location=args["location"], limit=args["limit"]))


@blp.route("/deals")
class Deals(MethodView):
    @requires(Permission.CHANNEL_SERVE)
    @blp.arguments(DealsQuerySchema(), location="query")
    @blp.response(200, DealsSchema)
    def get(self, args):
        """In-stock deals at a store: campaigns that target everyone, ranked for a customer if given"""
        return json_answer(offers.deals_at(runtime(), channel=args["channel"], location=args["location"],
                                           limit=args["limit"], customer=args["customer"]))


@blp.route("/offers/events")
class OfferEvents(MethodView):
    @requires(Permission.CHANNEL_SERVE)
    @blp.arguments(OfferEventBatchSchema)
    @blp.response(200, OfferEventResultSchema)
    def post(self, body):
        """Record clicks and dismissals of served offers, deals and recommendations (all or nothing)

        Each event cites the `recommendation_id` of the list and the `offer_id` (offers and
        deals) or the `sku` (recommendations). Idempotent by `event_id`; without one, a
        repeat of the same click on the same item of the same list is stored once."""
        return offer_events.record_offer_events(uow(write=True), limit_batch(body["events"]))
