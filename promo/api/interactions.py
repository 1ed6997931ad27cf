"""Interactions: what customers viewed, put in their cart and bought."""
from __future__ import annotations

from flask.views import MethodView
from promo.api.parsing import Blueprint

from promo.api.auth import requires
from promo.api.context import runtime, uow
from promo.api.pagination import limit_batch
from promo.api.customer_schemas import InteractionBatchSchema, InteractionResultSchema
from promo.domain.access import Permission
from promo.services import interactions

blp = Blueprint("interactions", __name__, url_prefix="/v1/interactions", description="Customer interactions")


@blp.route("")
class Interactions(MethodView):
    @requires(Permission.CUSTOMER_WRITE)
    @blp.arguments(InteractionBatchSchema)
    @blp.response(200, InteractionResultSchema)
    def post(self, body):
        """Record interaction events, idempotent by event_id (all or nothing)"""
        result = interactions.record_interactions(uow(write=True), limit_batch(body["events"]))
        # What they did counts at once in this process's answers (others see it within a refresh).
        runtime().serving.touch(event["customer"] for event in body["events"])
        return result
