"""Customers: bulk upsert, one by id, and a paginated listing."""
from __future__ import annotations

from flask.views import MethodView
from promo.api.parsing import Blueprint

from promo.api.auth import requires
from promo.api.context import runtime, uow
from promo.api.fast_json import json_answer
from promo.api.pagination import limit_batch, page_args, page_body
from promo.api.customer_schemas import (
    CustomerDetailSchema,
    CustomerPageSchema,
    CustomerQuerySchema,
    CustomerSchema,
    RecommendationQuerySchema,
    RecommendationsSchema,
)
from promo.api.schemas import UpsertResultSchema
from promo.domain.access import Permission
from promo.domain.profiles import ProfileConditions
from promo.services import customers, recommendations
from promo.services.profiles import segment_rules

PROFILE_FILTERS = ("segment", "top_category", "min_visits", "min_spend", "max_days_since_purchase")

blp = Blueprint("customers", __name__, url_prefix="/v1/customers", description="Customers")


@blp.route("")
class Customers(MethodView):
    @requires(Permission.CUSTOMER_WRITE)
    @blp.arguments(CustomerSchema(many=True))
    @blp.response(200, UpsertResultSchema)
    def put(self, items):
        """Create or replace customers by id (all or nothing)"""
        result = customers.upsert_customers(uow(write=True), limit_batch(items))
        runtime().serving.touch(item["id"] for item in items)    # opt-outs count here at once
        return result

    @requires(Permission.CUSTOMER_READ)
    @blp.arguments(CustomerQuerySchema, location="query")
    @blp.response(200, CustomerPageSchema)
    def get(self, args):
        """List customers by id, optionally only those whose profile meets conditions

        The conditions are the targeting conditions campaigns use: every one given must
        hold; repeated `segment` or `top_category` values mean any of them."""
        after, limit = page_args(args, "customers")
        conditions = None
        if any(name in args for name in PROFILE_FILTERS):
            conditions = ProfileConditions.of(
                segments=args.get("segment", ()), top_categories=args.get("top_category", ()),
                min_visits=args.get("min_visits"), min_spend=args.get("min_spend"),
                max_days_since_purchase=args.get("max_days_since_purchase"))
        page = customers.list_customers(uow(), after=after, limit=limit, conditions=conditions,
                                        rules=segment_rules(runtime().settings))
        return page_body(page, "customers")


@blp.route("/<id:customer_id>")
class CustomerById(MethodView):
    @requires(Permission.CUSTOMER_READ)
    @blp.response(200, CustomerDetailSchema)
    def get(self, customer_id):
        """One customer, with the profile their history makes (segments, RFM, affinities, coupons)"""
        return customers.get_customer(uow(), customer_id, segment_rules(runtime().settings))


@blp.route("/<id:customer_id>/recommendations")
class CustomerRecommendations(MethodView):
    @requires(Permission.CHANNEL_SERVE)
    @blp.arguments(RecommendationQuerySchema(), location="query")     # one instance: not built per request
    @blp.response(200, RecommendationsSchema)
    def get(self, args, customer_id):
        """Products to recommend to a customer, only those available now for the channel

        Each item carries the product's name, category, price and currency. Unknown
        customers get popular products, labelled `fallback_popular` (or
        `popular_at_location`), and a list shorter than `limit` is topped up with them.
        A location that does not serve the channel is a 422 naming it."""
        return json_answer(recommendations.recommend_served(
            runtime(), customer_id, channel=args["channel"], location=args["location"], limit=args["limit"],
            mode=args["mode"]))
