"""Request and response schemas of customers, their profiles, interactions and recommendations."""
from __future__ import annotations

import datetime as dt

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from promo.api.schemas import CHANNELS, INTERACTION_TYPES, Attributes, AwareDateTime, Choice, ExternalId, Int, Number, PageQuerySchema, PageSchema, QueryInt, Text
from promo.domain.profiles import SEGMENT_MEANINGS, SEGMENTS


class CustomerSchema(Schema):
    id = ExternalId(required=True)
    attributes = Attributes(metadata={"description": "free-form demographics (at most 16 KiB as JSON)"})
    home_location = ExternalId(load_default=None, allow_none=True, metadata={"description": "a location code"})
    opted_out = fields.Boolean(load_default=False, metadata={"description": "never gets personalised offers"})
    created_at = AwareDateTime(dump_only=True)
    updated_at = AwareDateTime(dump_only=True)


class CustomerQuerySchema(PageQuerySchema):
    segment = fields.List(Choice(SEGMENTS),
                          metadata={"description": "only customers in one of these segments (repeatable)"})
    top_category = fields.List(Text(200, 1),
                               metadata={"description": "only customers with one of these among their top categories"})
    min_visits = QueryInt(0, 1_000_000_000)
    min_spend = Number(0, 1e12)
    max_days_since_purchase = Number(0, 36_500)


class RankedShareSchema(Schema):
    name = fields.String()
    spend = fields.Float()
    share = fields.Float(allow_none=True, metadata={"description": "of the customer's total spend"})


class CouponHistorySchema(Schema):
    campaigns_targeted = fields.Integer()
    redemptions = fields.Integer()
    last_redemption_at = fields.DateTime(allow_none=True)
    purchases_with_coupon_discount = fields.Integer()
    coupon_discount = fields.Float()


class LocationVisitsSchema(Schema):
    location = fields.String(allow_none=True)
    visits = fields.Integer()


class FrequencySchema(Schema):
    visits = fields.Integer(metadata={"description": "distinct purchase times (baskets)"})
    visits_per_30_days = fields.Float(metadata={"description": "since the first purchase (at least 30 days)"})


class MonetarySchema(Schema):
    spend = fields.Float()
    average_basket = fields.Float(allow_none=True)
    items = fields.Integer()
    discount = fields.Float(metadata={"description": "retail discount received"})


class ProfileSchema(Schema):
    as_of = fields.DateTime(metadata={"description": "the reference time segments are judged at: the latest "
                                                     "interaction the service has seen"})
    segments = fields.List(fields.String(), metadata={"description": ", ".join(
        f"{name}: {meaning}" for name, meaning in SEGMENT_MEANINGS.items())})
    recency_days = fields.Float(allow_none=True)
    frequency = fields.Nested(FrequencySchema)
    monetary = fields.Nested(MonetarySchema)
    first_purchase_at = fields.DateTime(allow_none=True)
    last_purchase_at = fields.DateTime(allow_none=True)
    last_seen_at = fields.DateTime(allow_none=True)
    home_store = fields.String(allow_none=True, metadata={"description": "the location visited most"})
    top_locations = fields.List(fields.Nested(LocationVisitsSchema))
    channel_mix = fields.Dict(keys=fields.String(), values=fields.Float(),
                              metadata={"description": "share of visits per channel"})
    top_categories = fields.List(fields.Nested(RankedShareSchema))
    top_brands = fields.List(fields.Nested(RankedShareSchema))
    coupons = fields.Nested(CouponHistorySchema)
    browsing = fields.Dict(keys=fields.String(), values=fields.Integer())


class CustomerDetailSchema(CustomerSchema):
    interaction_count = fields.Integer(dump_only=True)
    profile = fields.Nested(ProfileSchema, allow_none=True, dump_only=True,
                            metadata={"description": "null until the customer has any history"})


class CustomerMatchSchema(CustomerSchema):
    segments = fields.List(fields.String(), dump_only=True)


class CustomerPageSchema(PageSchema):
    items = fields.List(fields.Nested(CustomerMatchSchema),
                        metadata={"description": "with segments when the listing is filtered by profile"})


class InteractionSchema(Schema):
    event_id = Text(128, 1, required=True, metadata={"description": "the producer's id; a repeat is ignored"})
    customer = ExternalId(required=True)
    sku = ExternalId(required=True)
    type = Choice(INTERACTION_TYPES, required=True)
    quantity = Int(0, 1_000_000, load_default=1)
    value = Number(-1e9, 1e9, load_default=None, allow_none=True)
    discount = Number(-1e9, 1e9, load_default=None, allow_none=True)
    coupon_discount = Number(-1e9, 1e9, load_default=None, allow_none=True)
    channel = Choice(CHANNELS, required=True)
    location = ExternalId(load_default=None, allow_none=True)
    occurred_at = AwareDateTime(required=True)
    recommendation_id = Text(64, 1, load_default=None, allow_none=True,
                                      metadata={"description": "the recommendation answer that led to this "
                                                               "interaction, for attribution"})

    @validates_schema
    def _not_in_future(self, data, **kwargs):  # type: ignore[no-untyped-def]
        occurred = data.get("occurred_at")
        if occurred and occurred > dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5):
            raise ValidationError("must not be in the future", "occurred_at")


class InteractionBatchSchema(Schema):
    events = fields.List(fields.Nested(InteractionSchema), required=True, validate=validate.Length(min=1, max=1_000_000))


class InteractionResultSchema(Schema):
    accepted = fields.Integer(required=True)
    duplicates = fields.Integer(required=True)


# --- stock --------------------------------------------------------------------------------

class RecommendationQuerySchema(Schema):
    channel = Choice(CHANNELS, required=True)
    location = ExternalId(load_default=None, metadata={
        "description": "required for channel=store; for web/mobile, only that location's stock counts"})
    limit = QueryInt(1, 100, load_default=10)
    mode = Choice(("repeat", "discovery"), load_default="repeat", metadata={
        "description": "repeat: products the customer buys; discovery: products they never bought"})


class RecommendedItemSchema(Schema):
    sku = fields.String()
    name = fields.String()
    category = fields.String(allow_none=True)
    price = fields.Float()
    currency = fields.String()
    score = fields.Float()
    reasons = fields.List(fields.String(), metadata={
        "description": "bought_before, similar_to:<sku>, popular_at_location, fallback_popular"})


class ServedModelSchema(Schema):
    name = fields.String()
    version = fields.String()


class RecommendationsSchema(Schema):
    recommendation_id = fields.String(metadata={"description": "cite it as recommendation_id on later interactions"})
    customer = fields.String()
    known_customer = fields.Boolean()
    personalised = fields.Boolean(metadata={"description": "false when only popularity was served: no model "
                                                          "yet, a cold or unknown customer, or one who opted out"})
    mode = fields.String()
    channel = fields.String()
    location = fields.String(allow_none=True)
    model = fields.Nested(ServedModelSchema, allow_none=True,
                          metadata={"description": "null while no model is trained: popularity is served"})
    stock_as_of_seq = fields.Integer()
    items = fields.List(fields.Nested(RecommendedItemSchema))
