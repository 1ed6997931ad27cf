"""Request and response schemas shared by the resources."""
from __future__ import annotations

import datetime as dt

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from promo.domain.profiles import SEGMENT_MEANINGS, SEGMENTS

CHANNELS = ("store", "web", "mobile")
LOCATION_KINDS = ("store", "warehouse")
INTERACTION_TYPES = ("view", "cart", "purchase")

ExternalId = lambda **kw: fields.String(validate=validate.Length(min=1, max=64), **kw)  # noqa: E731


class AwareDateTime(fields.AwareDateTime):
    """ISO 8601 with a timezone; a naive value is refused rather than guessed."""

    def __init__(self, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(format="iso", **kwargs)


class ErrorSchema(Schema):
    code = fields.Integer(metadata={"description": "HTTP status code"})
    status = fields.String(metadata={"description": "HTTP status name"})
    message = fields.String()
    errors = fields.Dict(metadata={"description": "per-field (and per item index) messages"})
    reason = fields.String(metadata={"description": "stable reason code on 409"})


# Products one `GET /v1/products?sku=` may name.
MAX_SKUS_PER_READ = 1000


class PageQuerySchema(Schema):
    limit = fields.Integer(validate=validate.Range(min=1), metadata={"description": "page size"})
    cursor = fields.String(metadata={"description": "next_cursor of the previous page"})


class PageSchema(Schema):
    next_cursor = fields.String(allow_none=True, metadata={"description": "pass as ?cursor= for the next page; null on the last"})


class UpsertResultSchema(Schema):
    upserted = fields.Integer(required=True)


class ProductSchema(Schema):
    sku = ExternalId(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=300))
    category = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    brand = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    price = fields.Float(required=True, allow_nan=False, validate=validate.Range(min=0, max=9_999_999_999))
    currency = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{3}$", error="ISO 4217 code, e.g. USD"))
    attributes = fields.Dict(keys=fields.String(), load_default=dict, metadata={"description": "free-form"})
    updated_at = AwareDateTime(dump_only=True)


class ProductQuerySchema(PageQuerySchema):
    category = fields.String(metadata={"description": "in any letter case"})
    brand = fields.String(metadata={"description": "in any letter case"})
    q = fields.String(validate=validate.Length(min=1, max=100), metadata={"description": "text in the name"})
    sku = fields.List(ExternalId(), validate=validate.Length(min=1, max=MAX_SKUS_PER_READ), metadata={
        "description": f"(repeatable, up to {MAX_SKUS_PER_READ}) exactly these products, in this order; "
                       "the others are listed in `missing`"})

    @validates_schema
    def _skus_alone(self, data, **kwargs):  # type: ignore[no-untyped-def]
        if data.get("sku"):
            clashing = sorted(name for name in ("category", "brand", "q", "cursor", "limit") if name in data)
            if clashing:
                raise ValidationError(f"sku reads exactly those products; drop {', '.join(clashing)}", "sku")


class ProductPageSchema(PageSchema):
    items = fields.List(fields.Nested(ProductSchema))
    missing = fields.List(fields.String(), metadata={"description": "with sku=: the skus not found"})


class LocationSchema(Schema):
    code = ExternalId(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(required=True, validate=validate.OneOf(LOCATION_KINDS))
    channels = fields.List(fields.String(validate=validate.OneOf(CHANNELS)), required=True,
                           validate=validate.Length(min=1, max=len(CHANNELS)))
    lead_time_days = fields.Integer(load_default=0, validate=validate.Range(min=0, max=365))
    region = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))
    updated_at = AwareDateTime(dump_only=True)

    @validates_schema
    def _channels_unique(self, data, **kwargs):  # type: ignore[no-untyped-def]
        channels = data.get("channels") or []
        if len(set(channels)) != len(channels):
            raise ValidationError("each channel at most once", "channels")


class LocationQuerySchema(PageQuerySchema):
    kind = fields.String(validate=validate.OneOf(LOCATION_KINDS))


class LocationPageSchema(PageSchema):
    items = fields.List(fields.Nested(LocationSchema))


class CustomerSchema(Schema):
    id = ExternalId(required=True)
    attributes = fields.Dict(keys=fields.String(), load_default=dict, metadata={"description": "free-form demographics"})
    home_location = fields.String(load_default=None, allow_none=True, metadata={"description": "a location code"})
    opted_out = fields.Boolean(load_default=False, metadata={"description": "never gets personalised offers"})
    created_at = AwareDateTime(dump_only=True)
    updated_at = AwareDateTime(dump_only=True)


class CustomerQuerySchema(PageQuerySchema):
    segment = fields.List(fields.String(validate=validate.OneOf(SEGMENTS)),
                          metadata={"description": "only customers in one of these segments (repeatable)"})
    top_category = fields.List(fields.String(validate=validate.Length(min=1, max=200)),
                               metadata={"description": "only customers with one of these among their top categories"})
    min_visits = fields.Integer(validate=validate.Range(min=0))
    min_spend = fields.Float(validate=validate.Range(min=0), allow_nan=False)
    max_days_since_purchase = fields.Float(validate=validate.Range(min=0), allow_nan=False)


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
    event_id = fields.String(required=True, validate=validate.Length(min=1, max=128),
                             metadata={"description": "the producer's id; a repeat is ignored"})
    customer = ExternalId(required=True)
    sku = ExternalId(required=True)
    type = fields.String(required=True, validate=validate.OneOf(INTERACTION_TYPES))
    quantity = fields.Integer(load_default=1, validate=validate.Range(min=0, max=1_000_000))
    value = fields.Float(load_default=None, allow_none=True, allow_nan=False,
                         validate=validate.Range(min=-1e9, max=1e9))
    discount = fields.Float(load_default=None, allow_none=True, allow_nan=False,
                            validate=validate.Range(min=-1e9, max=1e9))
    coupon_discount = fields.Float(load_default=None, allow_none=True, allow_nan=False,
                                   validate=validate.Range(min=-1e9, max=1e9))
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    location = fields.String(load_default=None, allow_none=True)
    occurred_at = AwareDateTime(required=True)
    recommendation_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64),
                                      metadata={"description": "the recommendation answer that led to this "
                                                               "interaction, for attribution"})

    @validates_schema
    def _not_in_future(self, data, **kwargs):  # type: ignore[no-untyped-def]
        occurred = data.get("occurred_at")
        if occurred and occurred > dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5):
            raise ValidationError("must not be in the future", "occurred_at")


class InteractionBatchSchema(Schema):
    events = fields.List(fields.Nested(InteractionSchema), required=True, validate=validate.Length(min=1))


class InteractionResultSchema(Schema):
    accepted = fields.Integer(required=True)
    duplicates = fields.Integer(required=True)


# --- stock --------------------------------------------------------------------------------

STOCK_EVENT_TYPES = ("sale", "receipt", "adjustment", "count", "reserve", "release", "inbound", "safety_stock")
MAX_STOCK_QUANTITY = 100_000_000


class StockEventSchema(Schema):
    event_id = fields.String(required=True, validate=validate.Length(min=1, max=128),
                             metadata={"description": "the producer's id; a repeat is a duplicate"})
    sku = ExternalId(required=True)
    location = ExternalId(required=True)
    type = fields.String(required=True, validate=validate.OneOf(STOCK_EVENT_TYPES))
    quantity = fields.Integer(load_default=None, strict=True,
                              validate=validate.Range(min=-MAX_STOCK_QUANTITY, max=MAX_STOCK_QUANTITY),
                              metadata={"description": "units; signed for adjustment; the new level for count and safety_stock"})
    occurred_at = AwareDateTime(required=True)
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    reservation_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=128))
    inbound_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=128),
                               metadata={"description": "a receipt: the event_id of the inbound notice it fulfils"})
    expires_at = AwareDateTime(load_default=None, allow_none=True)
    eta = AwareDateTime(load_default=None, allow_none=True)

    @validates_schema
    def _rules_of_the_type(self, data, **kwargs):  # type: ignore[no-untyped-def]
        errors = stock_event_rule_errors(data)
        if errors:
            raise ValidationError(errors)


def stock_event_rule_errors(data: dict) -> dict[str, list[str]]:  # type: ignore[type-arg]
    """What each event type requires beyond the field types (shared with the fast parser in
    promo/api/stock_events.py). Fills in a release's optional quantity."""
    kind, quantity = data.get("type"), data.get("quantity")
    errors: dict[str, list[str]] = {}
    if kind == "release":
        data["quantity"] = quantity or 0
    elif quantity is None:
        errors["quantity"] = ["required for this type"]
    elif kind in ("sale", "receipt", "reserve", "inbound") and quantity < 1:
        errors["quantity"] = ["must be at least 1"]
    elif kind in ("count", "safety_stock") and quantity < 0:
        errors["quantity"] = ["must not be negative"]
    elif kind == "adjustment" and quantity == 0:
        errors["quantity"] = ["must not be zero"]
    if kind == "adjustment" and not data.get("reason"):
        errors["reason"] = ["required for an adjustment"]
    if kind in ("reserve", "release") and not data.get("reservation_id"):
        errors["reservation_id"] = ["required for reserve and release"]
    if kind == "inbound" and data.get("eta") is None:
        errors["eta"] = ["required for inbound"]
    if kind != "reserve" and data.get("expires_at") is not None:
        errors["expires_at"] = ["only a reserve expires"]
    if kind != "receipt" and data.get("inbound_id") is not None:
        errors["inbound_id"] = ["only a receipt names an inbound"]
    return errors


class StockEventBatchSchema(Schema):
    events = fields.List(fields.Nested(StockEventSchema), required=True, validate=validate.Length(min=1))


class RefusedEventSchema(Schema):
    index = fields.Integer()
    event_id = fields.String()
    reason = fields.String(metadata={"description": "insufficient_stock, reservation_exists, unknown_reservation, "
                                                    "reservation_closed, reservation_elsewhere or inbound_elsewhere"})
    duplicate = fields.Boolean(metadata={"description": "a repeat of an event refused earlier"})


class StockIngestResultSchema(Schema):
    accepted = fields.Integer()
    duplicates = fields.Integer()
    refused = fields.List(fields.Nested(RefusedEventSchema))
    last_seq = fields.Integer(metadata={"description": "pass as ?min_seq= to read your own write"})
    anomalies = fields.Integer(metadata={"description": "facts in this batch that took on-hand below zero"})


class SafetyStockSchema(Schema):
    sku = ExternalId(required=True)
    location = ExternalId(required=True)
    safety_stock = fields.Integer(required=True, validate=validate.Range(min=0, max=MAX_STOCK_QUANTITY))


class MinSeqQuerySchema(Schema):
    min_seq = fields.Integer(validate=validate.Range(min=0),
                             metadata={"description": "wait (briefly) until the view has this sequence number"})


class StockPositionSchema(Schema):
    location = fields.String()
    on_hand = fields.Integer()
    reserved = fields.Integer(metadata={"description": "open, unexpired reservations"})
    safety_stock = fields.Integer()
    available = fields.Integer(metadata={"description": "on_hand - reserved - safety_stock, at least 0"})
    inbound = fields.Integer(metadata={"description": "expected receipts not yet arrived"})


class ProductStockSchema(Schema):
    sku = fields.String()
    as_of_seq = fields.Integer()
    locations = fields.List(fields.Nested(StockPositionSchema))


class AvailabilityQuerySchema(MinSeqQuerySchema):
    sku = ExternalId(required=True)
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    location = fields.String(load_default=None, metadata={"description": "required for channel=store"})
    quantity = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_STOCK_QUANTITY))


class AvailabilityItemSchema(Schema):
    sku = ExternalId(required=True)
    quantity = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_STOCK_QUANTITY))


class AvailabilityBatchSchema(MinSeqQuerySchema):
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    location = fields.String(load_default=None)
    items = fields.List(fields.Nested(AvailabilityItemSchema), required=True, validate=validate.Length(min=1))


class AvailabilitySchema(Schema):
    sku = fields.String()
    quantity = fields.Integer()
    channel = fields.String()
    location = fields.String(allow_none=True)
    available_now = fields.Boolean()
    quantity_now = fields.Integer(metadata={"description": "what can be had now"})
    promise_date = fields.Date(allow_none=True, metadata={"description": "when the whole quantity can be had"})
    source_location = fields.String(allow_none=True)
    as_of_seq = fields.Integer()
    error = fields.String(metadata={"description": "only in the batch form, for an unknown sku: names it"})


class AvailabilityListSchema(Schema):
    items = fields.List(fields.Nested(AvailabilitySchema))


class LowStockQuerySchema(PageQuerySchema, MinSeqQuerySchema):
    location = ExternalId(required=True)
    threshold = fields.Integer(validate=validate.Range(min=0), metadata={"description": "absolute level"})
    cover_days = fields.Float(validate=validate.Range(min=0.1, max=365),
                              metadata={"description": "low when available covers fewer days of recent sales"})
    velocity_days = fields.Integer(load_default=28, validate=validate.Range(min=1, max=365))

    @validates_schema
    def _one_threshold(self, data, **kwargs):  # type: ignore[no-untyped-def]
        if data.get("threshold") is not None and data.get("cover_days") is not None:
            raise ValidationError("give threshold or cover_days, not both", "cover_days")


class LowStockItemSchema(StockPositionSchema):
    sku = fields.String()
    threshold = fields.Float()
    daily_sales = fields.Float(allow_none=True)


class LowStockSchema(PageSchema):
    location = fields.String()
    as_of_seq = fields.Integer()
    items = fields.List(fields.Nested(LowStockItemSchema))


class RecommendationQuerySchema(Schema):
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    location = fields.String(load_default=None, metadata={
        "description": "required for channel=store; for web/mobile, only that location's stock counts"})
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=100))
    mode = fields.String(load_default="repeat", validate=validate.OneOf(("repeat", "discovery")), metadata={
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


class AudienceScoreRequestSchema(Schema):
    skus = fields.List(ExternalId(), required=True, validate=validate.Length(min=1, max=100_000),
                       metadata={"description": "the products the promotion discounts"})
    campaign_type = fields.String(load_default=None, allow_none=True,
                                  metadata={"description": "one the model learned (the demo's: Type A, B, C)"})
    customers = fields.List(ExternalId(), load_default=None, allow_none=True, validate=validate.Length(min=1,
                            max=100_000), metadata={"description": "default: every customer with a purchase"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=10_000),
                           metadata={"description": "how many of the best customers to list"})


class ScoredCustomerSchema(Schema):
    id = fields.String()
    probability = fields.Float(metadata={"description": "of redeeming if targeted"})
    uplift = fields.Float(allow_none=True, metadata={
        "description": "probability if targeted minus if not; null unless the model learned from holdouts"})


class AudienceScoreSchema(Schema):
    model = fields.Nested(ServedModelSchema)
    as_of = fields.DateTime()
    audience_size = fields.Integer()
    opted_out = fields.Integer(metadata={"description": "customers left out because they opted out"})
    expected_redemptions = fields.Float(metadata={"description": "the sum of the audience's probabilities"})
    ranked_by = fields.String()
    customers = fields.List(fields.Nested(ScoredCustomerSchema))
