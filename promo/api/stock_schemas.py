"""Request and response schemas of stock events, positions and availability."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from promo.api.schemas import CHANNELS, AwareDateTime, Choice, ExternalId, Int, Number, PageQuerySchema, PageSchema, QueryInt, Text
from promo.domain.stock import MAX_EVENT_QUANTITY, MAX_LEVEL


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
