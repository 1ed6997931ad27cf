"""Schemas of carts, redemptions and coupon codes. Amounts are exact decimals: accepted as
JSON numbers or strings, answered as strings in the currency's minor unit."""
from __future__ import annotations

import re
from decimal import Decimal

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from promo.api.schemas import CHANNELS, AtMostDecimals, ExternalId, Int, PageQuerySchema, Text
from promo.domain.offers import OFFER_ID

MAX_LINES = 200
MAX_CODES = 10
MAX_UNITS = 10_000
MAX_PRICE = Decimal("1000000")

CODE_RULE = "letters, digits and dashes only"


# A price sent as text: digits, a point and at most 4 decimals (as a till prints it).
AMOUNT_TEXT = re.compile(r"^\s*\d{1,7}(\.\d{1,4})?\s*\Z")
AMOUNT_TEXT_PATTERN = r"^\s*\d{1,7}(\.\d{1,4})?\s*$"


class Amount(fields.Decimal):
    """A price: a finite decimal, 0 to a million, at most 4 decimals; a JSON number or a
    string of digits ("3.49", exact). The API document says both (amount_property)."""

    text_rule = AMOUNT_TEXT          # also read by the cart's quick checks (promo.api.quick_checks)

    def __init__(self, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(allow_nan=False, validate=[validate.Range(min=Decimal(0), max=MAX_PRICE),
                                                    AtMostDecimals(4)], **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(value, str) and not self.text_rule.match(value):
            raise ValidationError("Not a valid amount: digits, with at most 4 decimals after a point.")
        return super()._deserialize(value, attr, data, **kwargs)


def amount_property(converter, field, ret, **kwargs):  # type: ignore[no-untyped-def]
    """apispec: an Amount is a number or a string of digits (apispec alone would write a
    number with its bounds as strings, which no JSON Schema reader takes)."""
    if not isinstance(field, Amount):
        return {}
    for key in ("type", "minimum", "maximum", "format"):
        ret.pop(key, None)
    return {"anyOf": [{"type": "number", "minimum": 0, "maximum": float(MAX_PRICE)},
                      {"type": "string", "pattern": AMOUNT_TEXT_PATTERN}]}


def CouponCodeText(**kwargs) -> fields.String:  # type: ignore[no-untyped-def]  # noqa: N802
    return fields.String(validate=[validate.Length(min=3, max=64),
                                   validate.Regexp(r"^\s*[A-Za-z0-9][A-Za-z0-9-]*\s*\Z", error=CODE_RULE)], **kwargs)


class CartLineSchema(Schema):
    sku = ExternalId(required=True)
    quantity = Int(1, MAX_UNITS, required=True)
    unit_price = Amount(load_default=None, metadata={"description": "the price the till charges a unit; "
                                                                    "default: the catalog's"})


class CartSchema(Schema):
    customer = ExternalId(load_default=None, metadata={"description": "absent: an anonymous shopper"})
    channel = fields.String(validate=validate.OneOf(CHANNELS), required=True)
    location = ExternalId(required=True, metadata={"description": "where the cart is paid and fulfilled"})
    currency = fields.String(validate=[validate.Length(equal=3), validate.Regexp(r"^[A-Za-z]{3}\Z")],
                             load_default=None, metadata={"description": "ISO 4217; default: the products'"})
    lines = fields.List(fields.Nested(CartLineSchema), required=True,
                        validate=validate.Length(min=1, max=MAX_LINES))
    codes = fields.List(CouponCodeText(), load_default=list, validate=validate.Length(max=MAX_CODES))


class PricedLineSchema(Schema):
    index = fields.Integer()
    sku = fields.String()
    quantity = fields.Integer()
    unit_price = fields.String()
    amount = fields.String(metadata={"description": "quantity x unit_price"})
    discount = fields.String()
    total = fields.String(metadata={"description": "amount - discount"})
    promotions = fields.List(fields.String(), metadata={"description": "campaigns that discount the line"})
    not_discounted = fields.String(allow_none=True, metadata={
        "description": "why no promotion may discount it (out_of_stock: more units than are available here)"})


class AppliedLineSchema(Schema):
    index = fields.Integer()
    sku = fields.String()
    discount = fields.String()


class AppliedPromotionSchema(Schema):
    campaign = fields.String()
    name = fields.String()
    discount = fields.Dict()
    code = fields.String(allow_none=True)
    priority = fields.Integer()
    exclusive = fields.Boolean()
    amount = fields.String(metadata={"description": "what it takes off the cart"})
    lines = fields.List(fields.Nested(AppliedLineSchema))


class NotAppliedSchema(Schema):
    campaign = fields.String(allow_none=True)
    code = fields.String(allow_none=True)
    reason = fields.String(metadata={"description": (
        "not_eligible, holdout, per_customer_limit, max_redemptions_reached, budget_exhausted, out_of_stock, "
        "code_unknown, code_used, code_required, campaign_not_active, min_quantity, exclusive_conflict, "
        "no_saving, no_product_in_cart")})


class CartEvaluationSchema(Schema):
    customer = fields.String(allow_none=True)
    channel = fields.String()
    location = fields.String()
    currency = fields.String()
    lines = fields.List(fields.Nested(PricedLineSchema))
    applied = fields.List(fields.Nested(AppliedPromotionSchema))
    not_applied = fields.List(fields.Nested(NotAppliedSchema))
    subtotal = fields.String()
    discount = fields.String()
    total = fields.String()
    stock_as_of_seq = fields.Integer()


class RedemptionRequestSchema(Schema):
    idempotency_key = Text(128, 8, required=True, metadata={
        "description": "the client's id of this redemption: a repeat gets the same answer"})
    customer = ExternalId(required=True)
    channel = fields.String(validate=validate.OneOf(CHANNELS), required=True)
    location = ExternalId(required=True)
    currency = fields.String(validate=[validate.Length(equal=3), validate.Regexp(r"^[A-Za-z]{3}\Z")],
                             load_default=None)
    lines = fields.List(fields.Nested(CartLineSchema), load_default=None,
                        validate=validate.Length(min=1, max=MAX_LINES))
    sku = ExternalId(load_default=None, metadata={"description": "instead of lines: one product"})
    quantity = Int(1, MAX_UNITS, load_default=None)
    unit_price = Amount(load_default=None)
    offer_id = Text(120, 1, load_default=None, metadata={"description": "the offer served"})
    campaign = Text(64, 1, load_default=None, metadata={"description": "or the campaign's id"})
    code = CouponCodeText(load_default=None, metadata={"description": "or a coupon code"})

    @validates("offer_id")
    def _offer_id(self, value: str | None, **_: object) -> None:
        if value is not None and not OFFER_ID.match(value):
            raise ValidationError("Not an offer_id (as served in an offer list).")

    @validates_schema
    def _one_of_each(self, data: dict, **_: object) -> None:  # type: ignore[type-arg]
        named = [name for name in ("offer_id", "campaign", "code") if data.get(name) is not None]
        if len(named) != 1:
            raise ValidationError("Name exactly one of offer_id, campaign or code.", "_schema")
        if (data.get("lines") is None) == (data.get("sku") is None):
            raise ValidationError("Give either lines or sku and quantity.", "_schema")
        if data.get("sku") is not None and data.get("quantity") is None:
            raise ValidationError(["Required with sku."], "quantity")
        if data.get("lines") is not None and any(data.get(n) is not None for n in ("quantity", "unit_price")):
            raise ValidationError("quantity and unit_price go in each line.", "_schema")


class ReservationSchema(Schema):
    sku = fields.String()
    reservation_id = fields.String(metadata={"description": "cite it on the sale (stock event) to consume it"})
    quantity = fields.Integer()
    expires_at = fields.String(load_default=None)


class RedemptionSchema(Schema):
    redemption_id = fields.String()
    idempotency_key = fields.String()
    status = fields.String(metadata={"description": "redeemed or cancelled"})
    redeemed_at = fields.String()
    cancelled_at = fields.String(allow_none=True)
    cancel_reason = fields.String(allow_none=True)
    campaign = fields.String()
    name = fields.String()
    code = fields.String(allow_none=True)
    customer = fields.String()
    channel = fields.String()
    location = fields.String()
    currency = fields.String()
    lines = fields.List(fields.Nested(PricedLineSchema))
    subtotal = fields.String()
    discount = fields.String()
    total = fields.String(metadata={"description": "the final price of the lines"})
    offer_id = fields.String(allow_none=True)
    recommendation_id = fields.String(allow_none=True)
    reservations = fields.List(fields.Nested(ReservationSchema))
    stock_released = fields.List(fields.Nested(ReservationSchema))


class CancelSchema(Schema):
    reason = Text(500, load_default=None)


class IssueCodesSchema(Schema):
    code = CouponCodeText(load_default=None, metadata={"description": "one shared code, e.g. SUMMER20"})
    count = Int(1, 100_000, load_default=None, metadata={"description": "or this many unique codes"})
    pattern = Text(64, 1, load_default=None, metadata={
        "description": "unique codes' shape: # is a random character (default ####-####-####); it must have "
                       "enough # for the count"})
    customers = fields.List(ExternalId(), load_default=None, validate=validate.Length(min=1, max=100_000),
                            metadata={"description": "one unique code for each of these customers"})
    max_uses = Int(1, 1_000_000_000, allow_none=True, metadata={
        "description": "uses per code (unique codes: default 1; shared: default unlimited)"})

    @validates_schema
    def _one_kind(self, data: dict, **_: object) -> None:  # type: ignore[type-arg]
        kinds = [name for name in ("code", "count", "customers") if data.get(name) is not None]
        if data.get("code") is not None and len(kinds) > 1:
            raise ValidationError("A shared code takes no count nor customers.", "_schema")
        if not kinds:
            raise ValidationError("Give a shared code, a count, or customers.", "_schema")
        if data.get("count") is not None and data.get("customers") is not None \
                and data["count"] != len(data["customers"]):
            raise ValidationError(["Must equal the number of customers when both are given."], "count")
        if data.get("code") is not None and data.get("pattern") is not None:
            raise ValidationError(["Only for unique codes."], "pattern")


class CodeSchema(Schema):
    code = fields.String()
    kind = fields.String(metadata={"description": "shared or unique"})
    customer = fields.String(allow_none=True)
    max_uses = fields.Integer(allow_none=True)
    uses = fields.Integer()


class IssuedCodesSchema(Schema):
    campaign = fields.String()
    issued = fields.Integer()
    codes = fields.List(fields.Nested(CodeSchema))


class CodesPageSchema(Schema):
    items = fields.List(fields.Nested(CodeSchema))
    next_cursor = fields.String(allow_none=True)


class CodesQuerySchema(PageQuerySchema):
    format = fields.String(validate=validate.OneOf(("json", "csv")), load_default="json")


class CustomerCodesQuerySchema(Schema):
    channel = fields.String(validate=validate.OneOf(CHANNELS), load_default="mobile")
    location = ExternalId(required=True, metadata={"description": "the store the shopper is at"})


class CodeDealSchema(Schema):
    sku = fields.String()
    name = fields.String()
    price = fields.Float()
    final_price = fields.Float()
    currency = fields.String()
    availability = fields.Dict()


class CustomerCodeSchema(Schema):
    code = fields.String()
    campaign = fields.Dict()
    discount = fields.Dict()
    uses_left = fields.Integer(allow_none=True)
    ends_at = fields.DateTime()
    deals = fields.List(fields.Nested(CodeDealSchema))


class CustomerCodesSchema(Schema):
    customer = fields.String()
    channel = fields.String()
    location = fields.String()
    codes = fields.List(fields.Nested(CustomerCodeSchema))
