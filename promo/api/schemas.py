"""Request and response schemas shared by the resources."""
from __future__ import annotations

import datetime as dt
import json
import re

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from promo.domain.profiles import SEGMENT_MEANINGS, SEGMENTS
from promo.domain.stock import MAX_EVENT_QUANTITY, MAX_LEVEL

CHANNELS = ("store", "web", "mobile")
LOCATION_KINDS = ("store", "warehouse")
INTERACTION_TYPES = ("view", "cart", "purchase")

# --- the kinds of field every request schema is built from ------------------------------
# Every value a client sends is bounded here, so that nothing it can send reaches the
# domain or the database out of range: strings have a length and no control characters
# (PostgreSQL cannot store NUL), integers are integers (2.5 and "3" are refused, not
# truncated or converted) within a range, floats are finite within a range, datetimes
# carry a timezone and fall between EARLIEST and LATEST, free-form attributes are
# bounded in size and depth. tests/api/test_hostile_input.py checks every schema an
# endpoint reads against these rules.

EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc)
DATETIME_RANGE_ERROR = "Must be between 1970-01-01T00:00:00Z and 2100-01-01T00:00:00Z (in UTC)."
# Control characters, and lone UTF-16 surrogates (valid in a JSON string's escapes, not in
# UTF-8: no database driver could encode them).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
CONTROL_CHARACTERS_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
# Ids appear in URL paths (/v1/products/<sku>): a '/' would split the path, '.' and '..'
# are path segments of their own.
ID_PATTERN = r"^(?!\.\.?\Z)[^/\x00-\x1f\x7f\ud800-\udfff]+\Z"
ID_RULE = "Must not contain '/' or control characters, nor be '.' or '..'."
MAX_ATTRIBUTES_BYTES = 16_384
MAX_ATTRIBUTES_DEPTH = 8


def _no_control_characters(value: str) -> None:
    if CONTROL_CHARACTERS.search(value):
        raise ValidationError("Must not contain control characters.")


def _no_control_characters_but_line_breaks(value: str) -> None:
    if CONTROL_CHARACTERS_BUT_LINES.search(value):
        raise ValidationError("Must not contain control characters other than tab and line breaks.")


def Text(max_length: int, min_length: int = 0, *, multiline: bool = False, **kwargs) -> fields.String:  # type: ignore[no-untyped-def]  # noqa: N802
    """A string of bounded length with no control characters (tab and line breaks
    allowed in ``multiline`` free text)."""
    plain = _no_control_characters_but_line_breaks if multiline else _no_control_characters
    return fields.String(validate=[validate.Length(min=min_length, max=max_length), plain], **kwargs)


def ExternalId(**kwargs) -> fields.String:  # type: ignore[no-untyped-def]  # noqa: N802
    """A client's id for a product, location or customer: it must be readable back through
    its own URL, so it has no '/' (see ID_RULE)."""
    return fields.String(validate=[validate.Length(min=1, max=64), validate.Regexp(ID_PATTERN, error=ID_RULE)],
                         **kwargs)


def Choice(choices, **kwargs) -> fields.String:  # type: ignore[no-untyped-def]  # noqa: N802
    return fields.String(validate=validate.OneOf(choices), **kwargs)


def Int(low: int, high: int, **kwargs) -> fields.Integer:  # type: ignore[no-untyped-def]  # noqa: N802
    """An integer in a JSON body: a JSON integer within [low, high]; 2.5, 2.0, "3" and
    true are refused."""
    return fields.Integer(strict=True, validate=validate.Range(min=low, max=high), **kwargs)


def QueryInt(low: int, high: int, **kwargs) -> fields.Integer:  # type: ignore[no-untyped-def]  # noqa: N802
    """An integer in a query string (text, so not strict: "2.5" is still refused)."""
    return fields.Integer(validate=validate.Range(min=low, max=high), **kwargs)


def Number(low: float, high: float, **kwargs) -> fields.Float:  # type: ignore[no-untyped-def]  # noqa: N802
    """A finite number within [low, high]."""
    return fields.Float(allow_nan=False, validate=validate.Range(min=low, max=high), **kwargs)


def datetime_range_error(value: dt.datetime) -> str | None:
    """Why an aware datetime is out of range, or None. The year is checked first: a
    datetime near year 1 or 9999 may not even convert to UTC."""
    if not EARLIEST.year - 1 <= value.year <= LATEST.year or not EARLIEST <= value < LATEST:
        return DATETIME_RANGE_ERROR
    return None


class AwareDateTime(fields.AwareDateTime):
    """ISO 8601 with a timezone, between EARLIEST and LATEST; a naive value is refused
    rather than guessed."""

    def __init__(self, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(format="iso", **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        moment = super()._deserialize(value, attr, data, **kwargs)
        problem = datetime_range_error(moment)
        if problem:
            raise ValidationError(problem)
        return moment


def _bounded_attributes(value: dict) -> None:  # type: ignore[type-arg]
    def walk(item, depth: int) -> None:  # type: ignore[no-untyped-def]
        if depth > MAX_ATTRIBUTES_DEPTH:
            raise ValidationError(f"Must not be nested more than {MAX_ATTRIBUTES_DEPTH} levels deep.")
        if isinstance(item, dict):
            for key, inner in item.items():
                walk(key, depth)
                walk(inner, depth + 1)
        elif isinstance(item, list):
            for inner in item:
                walk(inner, depth + 1)
        elif isinstance(item, str) and _UNSTORABLE.search(item):
            raise ValidationError("Must not contain NUL characters or lone surrogates.")
        elif isinstance(item, int) and not -(2**63) <= item < 2**63:
            raise ValidationError("Must not hold integers past 64 bits.")

    walk(value, 1)
    if len(json.dumps(value, ensure_ascii=False).encode()) > MAX_ATTRIBUTES_BYTES:
        raise ValidationError(f"Must be at most {MAX_ATTRIBUTES_BYTES} bytes as JSON.")


def Attributes(**kwargs) -> fields.Dict:  # type: ignore[no-untyped-def]  # noqa: N802
    """Free-form JSON attributes: at most MAX_ATTRIBUTES_BYTES as JSON and
    MAX_ATTRIBUTES_DEPTH levels deep, keys of at most 100 characters."""
    return fields.Dict(keys=Text(100, 1), load_default=dict, validate=_bounded_attributes, **kwargs)


class ErrorSchema(Schema):
    code = fields.Integer(metadata={"description": "HTTP status code"})
    status = fields.String(metadata={"description": "HTTP status name"})
    message = fields.String()
    errors = fields.Dict(metadata={"description": "per-field (and per item index) messages"})
    reason = fields.String(metadata={"description": "stable reason code on 409"})
    details = fields.Dict(metadata={"description": "what a 409 found, e.g. the stock check that refused an "
                                                   "activation"})


# Products one `GET /v1/products?sku=` may name.
MAX_SKUS_PER_READ = 1000


class PageQuerySchema(Schema):
    limit = QueryInt(1, 1_000_000, metadata={"description": "page size"})
    cursor = Text(1000, 1, metadata={"description": "next_cursor of the previous page"})


class PageSchema(Schema):
    next_cursor = fields.String(allow_none=True, metadata={"description": "pass as ?cursor= for the next page; null on the last"})


class UpsertResultSchema(Schema):
    upserted = fields.Integer(required=True)


class ProductSchema(Schema):
    sku = ExternalId(required=True)
    name = Text(300, 1, required=True)
    category = Text(200, load_default=None, allow_none=True)
    brand = Text(200, load_default=None, allow_none=True)
    price = Number(0, 9_999_999_999, required=True)
    currency = fields.String(required=True, validate=[validate.Length(equal=3),
                                                      validate.Regexp(r"^[A-Z]{3}\Z", error="ISO 4217 code, e.g. USD")])
    attributes = Attributes(metadata={"description": "free-form (at most 16 KiB as JSON, 8 levels deep)"})
    updated_at = AwareDateTime(dump_only=True)


class ProductQuerySchema(PageQuerySchema):
    category = Text(200, 1, metadata={"description": "in any letter case"})
    brand = Text(200, 1, metadata={"description": "in any letter case"})
    q = Text(100, 1, metadata={"description": "text in the name"})
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
    name = Text(200, 1, required=True)
    kind = Choice(LOCATION_KINDS, required=True)
    channels = fields.List(Choice(CHANNELS), required=True,
                           validate=validate.Length(min=1, max=len(CHANNELS)))
    lead_time_days = Int(0, 365, load_default=0)
    region = Text(100, load_default=None, allow_none=True)
    updated_at = AwareDateTime(dump_only=True)

    @validates_schema
    def _channels_unique(self, data, **kwargs):  # type: ignore[no-untyped-def]
        channels = data.get("channels") or []
        if len(set(channels)) != len(channels):
            raise ValidationError("each channel at most once", "channels")


class LocationQuerySchema(PageQuerySchema):
    kind = Choice(LOCATION_KINDS)


class LocationPageSchema(PageSchema):
    items = fields.List(fields.Nested(LocationSchema))


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

STOCK_EVENT_TYPES = ("sale", "receipt", "adjustment", "count", "reserve", "release", "inbound", "safety_stock")
MAX_STOCK_QUANTITY = MAX_EVENT_QUANTITY


class StockEventSchema(Schema):
    event_id = Text(128, 1, required=True, metadata={"description": "the producer's id; a repeat is a duplicate"})
    sku = ExternalId(required=True)
    location = ExternalId(required=True)
    type = Choice(STOCK_EVENT_TYPES, required=True)
    quantity = Int(-MAX_STOCK_QUANTITY, MAX_STOCK_QUANTITY, load_default=None,
                   metadata={"description": "units; signed for adjustment; the new level for count and safety_stock"})
    occurred_at = AwareDateTime(required=True)
    reason = Text(200, load_default=None, allow_none=True)
    reservation_id = Text(128, 1, load_default=None, allow_none=True)
    inbound_id = Text(128, 1, load_default=None, allow_none=True,
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
    events = fields.List(fields.Nested(StockEventSchema), required=True, validate=validate.Length(min=1, max=1_000_000))


class RefusedEventSchema(Schema):
    index = fields.Integer()
    event_id = fields.String()
    reason = fields.String(metadata={"description": "insufficient_stock, reservation_exists, unknown_reservation, "
                                                    "reservation_closed, reservation_elsewhere, inbound_elsewhere or "
                                                    "level_out_of_range"})
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
    safety_stock = Int(0, MAX_STOCK_QUANTITY, required=True)


class MinSeqQuerySchema(Schema):
    min_seq = QueryInt(0, 2**63 - 1,
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
    channel = Choice(CHANNELS, required=True)
    location = ExternalId(load_default=None, metadata={"description": "required for channel=store"})
    quantity = QueryInt(1, MAX_STOCK_QUANTITY, load_default=1)


class AvailabilityItemSchema(Schema):
    sku = ExternalId(required=True)
    quantity = Int(1, MAX_STOCK_QUANTITY, load_default=1)


class AvailabilityBatchSchema(Schema):
    min_seq = Int(0, 2**63 - 1, metadata={"description": "wait (briefly) until the view has this sequence number"})
    channel = Choice(CHANNELS, required=True)
    location = ExternalId(load_default=None)
    items = fields.List(fields.Nested(AvailabilityItemSchema), required=True, validate=validate.Length(min=1, max=1_000_000))


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
    threshold = QueryInt(0, MAX_LEVEL, metadata={"description": "absolute level"})
    cover_days = Number(0.1, 365,
                              metadata={"description": "low when available covers fewer days of recent sales"})
    velocity_days = QueryInt(1, 365, load_default=28)

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


class AudienceScoreRequestSchema(Schema):
    skus = fields.List(ExternalId(), required=True, validate=validate.Length(min=1, max=100_000),
                       metadata={"description": "the products the promotion discounts"})
    campaign_type = Text(100, 1, load_default=None, allow_none=True,
                                  metadata={"description": "one the model learned (the demo's: Type A, B, C)"})
    customers = fields.List(ExternalId(), load_default=None, allow_none=True, validate=validate.Length(min=1,
                            max=100_000), metadata={"description": "default: every customer with a purchase"})
    limit = Int(1, 10_000, load_default=100,
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
