"""Request and response schemas of products and locations."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from promo.api.schemas import CHANNELS, LOCATION_KINDS, Attributes, AwareDateTime, Choice, ExternalId, Int, Number, PageQuerySchema, PageSchema, Text


# Products one `GET /v1/products?sku=` may name.
MAX_SKUS_PER_READ = 1000


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
