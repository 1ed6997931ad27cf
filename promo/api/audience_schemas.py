"""Request and response schemas of audience scoring."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from promo.api.customer_schemas import ServedModelSchema
from promo.api.schemas import ExternalId, Int, Text


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
