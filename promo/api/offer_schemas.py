"""Schemas of offers, deals and offer events."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates

from promo.api.schemas import CHANNELS, AwareDateTime, Choice, ExternalId, QueryInt, Text
from promo.domain.offers import OFFER_ID, RECOMMENDATION_ID

OFFER_EVENT_TYPES = ("click", "dismiss")


class OffersQuerySchema(Schema):
    channel = Choice(CHANNELS, required=True)
    location = ExternalId(load_default=None, metadata={
        "description": "required for channel=store; for web/mobile, only that location's stock counts"})
    limit = QueryInt(1, 100, load_default=10)


class DealsQuerySchema(Schema):
    channel = Choice(CHANNELS, load_default="mobile")
    location = ExternalId(required=True, metadata={"description": "the store (or site) the shopper is at"})
    limit = QueryInt(1, 100, load_default=10)
    customer = ExternalId(load_default=None, metadata={"description": "rank the deals for this customer"})


class OfferCampaignSchema(Schema):
    id = fields.String()
    name = fields.String()


class OfferAvailabilitySchema(Schema):
    in_stock = fields.Boolean()
    band = fields.String(metadata={"description": "plenty, few or last_units: never an exact count"})
    location = fields.String(allow_none=True, metadata={"description": "where the stock is"})
    promise_date = fields.Date(allow_none=True, metadata={
        "description": "when it can be the shopper's, when not at their location (web and mobile delivery)"})


class OfferSchema(Schema):
    offer_id = fields.String(metadata={"description": "cite it on clicks, dismissals and redemptions"})
    campaign = fields.Nested(OfferCampaignSchema)
    sku = fields.String()
    name = fields.String()
    category = fields.String(allow_none=True)
    discount = fields.Dict(metadata={"description": "the campaign's discount, as in its body"})
    exclusive = fields.Boolean(metadata={"description": "true: does not combine with other promotions"})
    code_required = fields.Boolean(metadata={"description": "true: redeemed only with one of the campaign's "
                                                            "coupon codes"})
    price = fields.Float()
    final_price = fields.Float(metadata={"description": "the price of one unit with the discount "
                                                        "(buy X get Y: the average over a full bundle)"})
    currency = fields.String()
    availability = fields.Nested(OfferAvailabilitySchema)
    score = fields.Float(metadata={"description": "expected value of the offer (ranking only)"})
    reasons = fields.List(fields.String(), metadata={
        "description": "bought_before, similar_to:<sku>, popular, segment:<name>, top_category:<name>, "
                       "model_rank, in_stock_at:<location>, ..."})


class ServedListSchema(Schema):
    recommendation_id = fields.String(metadata={"description": "cite it on clicks and dismissals"})
    customer = fields.String(allow_none=True)
    known_customer = fields.Boolean()
    personalised = fields.Boolean(metadata={"description": "false for unknown and opted-out customers: "
                                                          "popular offers of campaigns that target everyone"})
    channel = fields.String()
    location = fields.String(allow_none=True)
    stock_as_of_seq = fields.Integer()
    model = fields.Dict(allow_none=True)


class OffersSchema(ServedListSchema):
    offers = fields.List(fields.Nested(OfferSchema))


class DealsSchema(ServedListSchema):
    deals = fields.List(fields.Nested(OfferSchema))


class OfferEventSchema(Schema):
    event_id = Text(128, 1, load_default=None, metadata={
        "description": "the producer's id; a repeat is stored once (default: derived from the body)"})
    recommendation_id = Text(40, 1, required=True)
    offer_id = Text(120, 1, load_default=None, metadata={"description": "absent for a recommendation list"})
    sku = ExternalId(load_default=None)
    type = Choice(OFFER_EVENT_TYPES, required=True)
    customer = ExternalId(load_default=None)
    occurred_at = AwareDateTime(load_default=None, metadata={"description": "default: when received"})

    @validates("recommendation_id")
    def _recommendation_id(self, value: str, **_: object) -> None:
        if not RECOMMENDATION_ID.match(value):
            raise ValidationError("Not a recommendation_id (rec- and 32 hexadecimal digits).")

    @validates("offer_id")
    def _offer_id(self, value: str | None, **_: object) -> None:
        if value is not None and not OFFER_ID.match(value):
            raise ValidationError("Not an offer_id (as served in an offer list).")


class OfferEventBatchSchema(Schema):
    events = fields.List(fields.Nested(OfferEventSchema), required=True,
                         validate=validate.Length(min=1, max=1_000_000))


class OfferEventResultSchema(Schema):
    accepted = fields.Integer(required=True)
    duplicates = fields.Integer(required=True)
