"""Checkout: carts evaluated, promotions redeemed and cancelled."""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_smorest import abort
from marshmallow import ValidationError

from promo.api.auth import requires
from promo.api.checkout_schemas import CancelSchema, CartEvaluationSchema, CartSchema, RedemptionRequestSchema, \
    RedemptionSchema
from promo.api.cart_parser import load_cart
from promo.api.context import runtime, uow
from promo.api.fast_json import json_answer
from promo.api.parsing import Blueprint, json_body
from promo.domain.access import Permission
from promo.services import checkout, redemptions

blp = Blueprint("checkout", __name__, url_prefix="/v1", description="Checkout: carts and redemptions")


@blp.route("/carts/evaluate")
class CartEvaluation(MethodView):
    @requires(Permission.CHECKOUT)
    @blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": CartSchema}}})
    @blp.response(200, CartEvaluationSchema)
    def post(self):
        """Which promotions apply to a cart, the discount per line and in total, and why the others do not

        Writes nothing but the count of wrong coupon codes. Stacking: higher `priority` first,
        then exclusive ones; an exclusive promotion takes its lines for itself. Buy X get Y
        gives the cheapest units of each full group free. Amounts are exact decimals rounded
        once per line to the currency's minor unit, answered as strings. Wrong coupon codes
        count against a limit per key and per customer (429 past it)."""
        # CartSchema is the contract; its fast twin parses (see cart_parser.py).
        try:
            body = load_cart(json_body())
        except ValidationError as error:
            abort(422, message="invalid cart; nothing was evaluated", errors={"json": error.messages})
        subjects = redemptions.guess_subjects(g.api_key_name, body.get("customer"))
        if body.get("codes"):
            runtime().code_guesses.check(subjects)
        answer = checkout.evaluate(runtime(), uow(), body)
        wrong = sum(1 for refused in answer["not_applied"] if refused["reason"] == "code_unknown")
        if wrong:
            runtime().code_guesses.wrong(subjects, wrong)
        return json_answer(answer)


@blp.route("/redemptions")
class Redemptions(MethodView):
    @requires(Permission.CHECKOUT)
    @blp.arguments(RedemptionRequestSchema)
    @blp.response(201, RedemptionSchema)
    @blp.alt_response(409, description="refused, with a stable `reason`: campaign_not_active, not_eligible, "
                                       "holdout, per_customer_limit, max_redemptions_reached, budget_exhausted, "
                                       "out_of_stock, code_used, code_unknown, code_required, "
                                       "idempotency_mismatch, ...")
    def post(self, body):
        """Redeem one promotion (an offer, a campaign or a coupon code) on some lines

        Counts against the campaign's cap and budget, the customer's limit and the code's
        uses, never past them whatever the concurrency, and holds the promoted lines'
        stock (a reservation each: cite its `reservation_id` on the sale). All or nothing.
        The same `idempotency_key` gets the same answer; with another body, 409
        `idempotency_mismatch`."""
        answer, made_now = redemptions.redeem(runtime(), uow(write=True), body, caller=g.api_key_name)
        return json_answer(answer, 201, {} if made_now else {"Idempotent-Replayed": "true"})


@blp.route("/redemptions/<id:redemption_id>/cancel")
class RedemptionCancel(MethodView):
    @requires(Permission.CHECKOUT)
    @blp.arguments(CancelSchema)
    @blp.response(200, RedemptionSchema)
    def post(self, body, redemption_id):
        """Cancel a redemption: cap, budget, the customer's count, the code's use and the held stock come back, once"""
        return json_answer(redemptions.cancel(runtime(), uow(write=True), redemption_id, reason=body.get("reason")))
