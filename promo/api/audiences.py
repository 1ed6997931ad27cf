"""Audiences: ranking customers for a promotion with the redemption-response model."""
from __future__ import annotations

from flask.views import MethodView
from promo.api.parsing import Blueprint

from promo.api.auth import requires
from promo.api.context import runtime
from promo.api.audience_schemas import AudienceScoreRequestSchema, AudienceScoreSchema
from promo.domain.access import Permission
from promo.services import audiences

blp = Blueprint("audiences", __name__, url_prefix="/v1/audiences", description="Audiences")


@blp.route("/score")
class AudienceScore(MethodView):
    @requires(Permission.MARKETING_WRITE)
    @blp.arguments(AudienceScoreRequestSchema)
    @blp.response(200, AudienceScoreSchema)
    def post(self, body):
        """Rank customers by their probability of redeeming a promotion of these products

        With no `customers`, every customer who bought anything is scored (the whole demo
        base in tens of milliseconds, from per-customer features each worker keeps current;
        its first call builds them, a few seconds). 409 `model_missing` while no response
        model is active."""
        return audiences.score_audience(runtime(), skus=body["skus"], campaign_type=body.get("campaign_type"),
                                        customers=body.get("customers"), limit=body["limit"])
