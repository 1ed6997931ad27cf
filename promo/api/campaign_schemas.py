"""Request and response schemas of the campaigns resource."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from promo.api.schemas import (
    AwareDateTime,
    Choice,
    ExternalId,
    Int,
    Number,
    PageQuerySchema,
    Text,
)
from promo.domain.campaigns import (
    CHANNELS,
    DISCOUNT_TYPES,
    MAX_HOLDOUT_PERCENT,
    ON_STOCKOUT,
    STATUSES,
    TARGETING_TYPES,
)
from promo.domain.profiles import SEGMENTS

# Skus one campaign may name one by one (categories and brands reach further).
MAX_CAMPAIGN_SKUS = 10_000
MAX_NAMES = 100
# The largest amount a money column (numeric(12, 2)) holds, rounded down.
MONEY_MAX = 1e9


class ProductRuleSchema(Schema):
    skus = fields.List(ExternalId(), validate=validate.Length(max=MAX_CAMPAIGN_SKUS), load_default=list)
    categories = fields.List(Text(200, 1), validate=validate.Length(max=MAX_NAMES), load_default=list)
    brands = fields.List(Text(200, 1), validate=validate.Length(max=MAX_NAMES), load_default=list)

    @validates_schema
    def _something(self, data, **kwargs):  # type: ignore[no-untyped-def]
        if not (data.get("skus") or data.get("categories") or data.get("brands")):
            raise ValidationError("name at least one sku, category or brand")


class DiscountSchema(Schema):
    type = Choice(DISCOUNT_TYPES, required=True)
    value = Number(0, MONEY_MAX, metadata={"description": "percent (0-100], amount off, or fixed price"})
    buy = Int(1, 100)
    get = Int(1, 100)


class TargetingSchema(Schema):
    type = Choice(TARGETING_TYPES, required=True)
    segments = fields.List(Choice(SEGMENTS), validate=validate.Length(max=len(SEGMENTS)))
    top_category = fields.List(Text(200, 1), validate=validate.Length(max=MAX_NAMES))
    min_visits = Int(0, 1_000_000_000)
    min_spend = Number(0, 1e12)
    max_days_since_purchase = Number(0, 36_500)
    top_percent = Number(0.01, 100, metadata={"description": "model targeting: the best share of the ranking"})
    min_probability = Number(0, 1, metadata={"description": "model targeting: customers at or above it"})

    @validates_schema
    def _consistent(self, data, **kwargs):  # type: ignore[no-untyped-def]
        kind = data.get("type")
        conditions = [k for k in ("segments", "top_category", "min_visits", "min_spend", "max_days_since_purchase")
                      if data.get(k) not in (None, [])]
        cuts = [k for k in ("top_percent", "min_probability") if data.get(k) is not None]
        if kind == "everyone" and (conditions or cuts):
            raise ValidationError("'everyone' takes no conditions; use 'profile' or 'model'", "type")
        if kind == "profile" and not conditions:
            raise ValidationError("profile targeting needs at least one condition", "type")
        if kind == "profile" and cuts:
            raise ValidationError("top_percent and min_probability are for model targeting", cuts[0])
        if kind == "model" and len(cuts) != 1:
            raise ValidationError("model targeting needs exactly one of top_percent and min_probability", "type")


class LimitsSchema(Schema):
    max_redemptions = Int(1, 1_000_000_000, allow_none=True)
    per_customer = Int(1, 1_000_000, allow_none=True)
    budget = Number(0.01, MONEY_MAX, allow_none=True, metadata={"description": "money the discounts may cost"})


class StockPolicySchema(Schema):
    min_cover_ratio = Number(0, 100, metadata={"description": "available units over expected demand, per sku "
                                                              "and location (default 1)"})
    min_available_per_location = Int(0, 1_000_000_000, metadata={"description": "default 1"})
    on_stockout = Choice(ON_STOCKOUT, metadata={"description": "default exclude_product"})
    resume_on_restock = fields.Boolean(metadata={"description": "default true"})


class CampaignWriteSchema(Schema):
    """The body of POST (every required field) and PATCH (any of them) /v1/campaigns."""

    name = Text(200, 1, required=True)
    description = Text(2000, multiline=True)
    starts_at = AwareDateTime(required=True)
    ends_at = AwareDateTime(required=True)
    channels = fields.List(Choice(CHANNELS), required=True, validate=validate.Length(min=1, max=len(CHANNELS)))
    locations = fields.List(ExternalId(), allow_none=True, validate=validate.Length(min=1, max=10_000),
                            metadata={"description": "location codes; omitted or null: every location serving "
                                                     "the campaign's channels"})
    products = fields.Nested(ProductRuleSchema, required=True)
    discount = fields.Nested(DiscountSchema, required=True)
    targeting = fields.Nested(TargetingSchema, load_default=lambda: {"type": "everyone"})
    limits = fields.Nested(LimitsSchema)
    priority = Int(-1000, 1000, metadata={"description": "higher first when offers stack; default 0"})
    exclusive = fields.Boolean(metadata={"description": "when served, no other campaign stacks with it"})
    holdout_percent = Number(0, 50, metadata={"description": f"0-{MAX_HOLDOUT_PERCENT}: customers held out to "
                                                             "measure uplift"})
    stock_policy = fields.Nested(StockPolicySchema)

    @validates_schema
    def _dates(self, data, partial=False, **kwargs):  # type: ignore[no-untyped-def]
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            raise ValidationError("must be after starts_at", "ends_at")
        if len(set(data.get("channels") or ())) != len(data.get("channels") or ()):
            raise ValidationError("name each channel once", "channels")


class CampaignPatchSchema(CampaignWriteSchema):
    """PATCH /v1/campaigns/{id}: any of the fields (load it with partial=True)."""


class CampaignQuerySchema(PageQuerySchema):
    status = Choice(STATUSES)
    q = Text(200, 1, metadata={"description": "words in the name or description, or an exact id"})
    source = Choice(("api", "import", "completejourney"), metadata={"description": "api: built here; "
                                                                                     "import: loaded history"})


class TransitionSchema(Schema):
    reason = Text(2000, 1, multiline=True, metadata={"description": "kept in the audit log"})


class OverrideSchema(Schema):
    reason = Text(2000, 1, required=True, multiline=True)


class ActivationSchema(TransitionSchema):
    override = fields.Nested(OverrideSchema, metadata={"description": "activate although the stock check "
                                                                      "refuses; the reason is audited"})


# --- responses --------------------------------------------------------------------------

class ProductRuleViewSchema(Schema):
    skus = fields.List(fields.String())
    categories = fields.List(fields.String())
    brands = fields.List(fields.String())
    resolved = fields.Integer(metadata={"description": "products the rule resolved to when written"})


class ResultsSchema(Schema):
    targeted = fields.Integer()
    holdout = fields.Integer()
    redemptions = fields.Integer()
    redeemers = fields.Integer()
    redemption_rate = fields.Float(allow_none=True, metadata={"description": "redeemers over targeted"})
    discount_spent = fields.Float(metadata={"description": "what its redemptions took off bills, against budget"})


class CampaignSchema(Schema):
    id = fields.String()
    name = fields.String()
    description = fields.String()
    status = fields.String()
    source = fields.String()
    type = fields.String(allow_none=True)
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    channels = fields.List(fields.String())
    locations = fields.List(fields.String(), allow_none=True)
    products = fields.Nested(ProductRuleViewSchema)
    discount = fields.Dict(allow_none=True)
    targeting = fields.Dict()
    limits = fields.Dict()
    priority = fields.Integer()
    exclusive = fields.Boolean()
    holdout_percent = fields.Float()
    stock_policy = fields.Dict()
    paused_by = fields.String(allow_none=True, metadata={"description": "manual or stock"})
    stock_override = fields.Boolean(metadata={"description": "went live by overriding the stock check; the stock "
                                                             "watch lets it run until the stock meets its policy once"})
    expected_redemptions = fields.Float(allow_none=True)
    results = fields.Nested(ResultsSchema)
    revision = fields.Integer()
    created_by = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class CampaignPageSchema(Schema):
    items = fields.List(fields.Nested(CampaignSchema))
    next_cursor = fields.String(allow_none=True)


class CampaignEventSchema(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    actor = fields.String()
    action = fields.String()
    reason = fields.String(allow_none=True)
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)
    stock_seq = fields.Integer(allow_none=True)
    details = fields.Dict()


class CampaignHistorySchema(Schema):
    items = fields.List(fields.Nested(CampaignEventSchema))
    next_cursor = fields.String(allow_none=True)


class CoverPositionSchema(Schema):
    sku = fields.String()
    location = fields.String()
    available = fields.Integer()
    expected_units = fields.Float()
    cover = fields.Float(allow_none=True)
    status = fields.String()


class LocationCoverSchema(Schema):
    location = fields.String()
    ok = fields.Integer()
    at_risk = fields.Integer()
    short = fields.Integer()


class CheckReportSchema(Schema):
    campaign = fields.String()
    status = fields.String()
    checked_at = fields.DateTime()
    as_of_seq = fields.Integer(metadata={"description": "the stock sequence number the check read"})
    verdict = fields.String(metadata={"description": "ok | at_risk | short"})
    policy_met = fields.Boolean()
    stock_policy = fields.Dict()
    audience = fields.Dict()
    expected_redemptions = fields.Float()
    expected_from = fields.String(metadata={"description": "model | historical_rate | fallback_rate"})
    model = fields.Dict(allow_none=True)
    units_per_redemption = fields.Integer()
    remaining_share = fields.Float()
    products = fields.Integer()
    locations = fields.Integer()
    counts = fields.Dict()
    positions = fields.List(fields.Nested(CoverPositionSchema))
    positions_truncated = fields.Boolean()
    by_location = fields.List(fields.Nested(LocationCoverSchema))


class AudienceQuerySchema(PageQuerySchema):
    format = Choice(("json", "csv"), load_default="json")


class AudienceMemberSchema(Schema):
    id = fields.String()
    rank = fields.Integer()
    probability = fields.Float(allow_none=True)
    uplift = fields.Float(allow_none=True)
    held_out = fields.Boolean()
    reasons = fields.List(fields.String())


class AudiencePageSchema(Schema):
    audience = fields.Dict()
    items = fields.List(fields.Nested(AudienceMemberSchema))
    next_cursor = fields.String(allow_none=True)



class ReportQuerySchema(Schema):
    format = Choice(("json", "csv"), load_default="json")


class ReportComparisonSchema(Schema):
    comparison = fields.String(allow_none=True, metadata={
        "description": "holdout (randomised), or 'untargeted (not randomised)' for imported history"})
    window = fields.Dict()
    treated = fields.Integer()
    control = fields.Integer()
    treated_buyers = fields.Integer()
    control_buyers = fields.Integer()
    treated_rate = fields.Float()
    control_rate = fields.Float()
    uplift = fields.Float(metadata={"description": "treated rate minus control rate"})
    interval_95 = fields.List(fields.Float(), metadata={"description": "Wald interval of the difference"})
    relative_uplift = fields.Float(allow_none=True)
    treated_sales = fields.Float(metadata={"description": "what the treated spent on the promoted products"})
    note = fields.String()


class CampaignReportSchema(Schema):
    campaign = fields.Dict()
    as_of = fields.DateTime()
    totals = fields.Dict(metadata={"description": "exposures, clicks, redemptions, revenue, discount, ..."})
    limits = fields.Dict(metadata={"description": "cap, budget and codes: used and left"})
    outcome = fields.String()
    treated_vs_control = fields.Nested(ReportComparisonSchema)
    by_channel = fields.List(fields.Dict())
    by_location = fields.List(fields.Dict())
    by_day = fields.List(fields.Dict(), metadata={
        "description": "per UTC day with a redemption: redemptions and discount (cancelled ones left out)"})
    timeline = fields.List(fields.Dict(), metadata={
        "description": "transitions, refusals, stock events on promoted products, codes issued"})
