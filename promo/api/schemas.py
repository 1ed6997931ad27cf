"""Request and response schemas shared by the resources."""
from __future__ import annotations

import datetime as dt

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

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
    category = fields.String()
    q = fields.String(validate=validate.Length(min=1, max=100), metadata={"description": "text in the name"})


class ProductPageSchema(PageSchema):
    items = fields.List(fields.Nested(ProductSchema))


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


class CustomerDetailSchema(CustomerSchema):
    interaction_count = fields.Integer(dump_only=True)


class CustomerPageSchema(PageSchema):
    items = fields.List(fields.Nested(CustomerSchema))


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
