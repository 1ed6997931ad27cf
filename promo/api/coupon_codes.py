"""Coupon codes: issued and exported by marketing, shown to their customers by the app."""
from __future__ import annotations

from flask import Response, g, stream_with_context
from flask.views import MethodView

from promo.api.auth import requires
from promo.api.checkout_schemas import (
    CodesPageSchema,
    CodesQuerySchema,
    CustomerCodesQuerySchema,
    CustomerCodesSchema,
    IssueCodesSchema,
    IssuedCodesSchema,
)
from promo.api.context import runtime, uow
from promo.api.pagination import page_args, page_body
from promo.api.parsing import Blueprint
from promo.domain.access import Permission
from promo.services import coupon_codes

blp = Blueprint("coupon_codes", __name__, url_prefix="/v1", description="Coupon codes")


@blp.route("/campaigns/<id:code>/codes")
class CampaignCodes(MethodView):
    @requires(Permission.MARKETING_WRITE)
    @blp.arguments(IssueCodesSchema)
    @blp.response(201, IssuedCodesSchema)
    def post(self, body, code):
        """Issue coupon codes: one shared code, or unique codes in bulk (optionally one per customer)

        Unique codes are drawn from a secure random source, with enough random characters
        (`#` in the pattern) for the count that a guess succeeds less than once in 10^8
        tries. Codes are case-insensitive. From now on the campaign is redeemed only with
        one of its codes."""
        return coupon_codes.issue(uow(write=True), code, body, actor=g.api_key_name), 201

    @requires(Permission.MARKETING_WRITE)
    @blp.arguments(CodesQuerySchema, location="query")
    @blp.response(200, CodesPageSchema)
    def get(self, args, code):
        """The campaign's codes with their uses; `format=csv` streams them all as CSV"""
        if args["format"] == "csv":
            return Response(stream_with_context(coupon_codes.csv_rows(uow(), code)), mimetype="text/csv",
                            headers={"Content-Disposition": f'attachment; filename="codes-{code}.csv"'})
        listing = f"campaign-codes:{code}"
        after, limit = page_args(args, listing)
        return page_body(coupon_codes.codes_page(uow(), code, after=after, limit=limit), listing)


@blp.route("/customers/<id:customer_id>/codes")
class CustomerCodes(MethodView):
    @requires(Permission.CHANNEL_SERVE)
    @blp.arguments(CustomerCodesQuerySchema, location="query")
    @blp.response(200, CustomerCodesSchema)
    def get(self, args, customer_id):
        """A customer's own coupon codes with uses left, each with the deals it unlocks in stock at the location"""
        return coupon_codes.codes_of_customer(runtime(), uow(), customer_id, channel=args["channel"],
                                              location=args["location"])
