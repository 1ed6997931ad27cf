"""Webhooks: endpoints that receive signed events, and their deliveries (role admin)."""
from __future__ import annotations

from flask.views import MethodView

from promo.api.auth import requires
from promo.api.context import runtime, uow
from promo.api.pagination import page_args, page_body
from promo.api.parsing import Blueprint
from promo.api.schemas import PageQuerySchema
from promo.api.webhook_schemas import (
    DeliveryPageSchema,
    DeliveryQuerySchema,
    DeliverySchema,
    PingSchema,
    WebhookCreateSchema,
    WebhookPageSchema,
    WebhookSchema,
    WebhookUpdateSchema,
    WebhookWithSecretSchema,
)
from promo.domain.access import Permission
from promo.services import webhooks

blp = Blueprint("webhooks", __name__, url_prefix="/v1/webhooks",
                description="Endpoints that receive signed events, and their deliveries")


def _with_secret(view: dict, secret: str) -> dict:  # type: ignore[type-arg]
    return {**view, "secret": secret}


@blp.route("")
class Webhooks(MethodView):
    @requires(Permission.ADMIN)
    @blp.arguments(WebhookCreateSchema)
    @blp.response(201, WebhookWithSecretSchema)
    def post(self, body):
        """Register an endpoint; the answer holds its signing secret, shown only this once"""
        view, secret = webhooks.create_webhook(uow(write=True), runtime().settings.secret_key, url=body["url"],
                                               events=body["events"], description=body.get("description"))
        return _with_secret(view, secret)

    @requires(Permission.ADMIN)
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, WebhookPageSchema)
    def get(self, args):
        """List endpoints by id"""
        after, limit = page_args(args, "webhooks")
        return page_body(webhooks.list_webhooks(uow(), after=after, limit=limit), "webhooks")


@blp.route("/<id:webhook_id>")
class WebhookById(MethodView):
    @requires(Permission.ADMIN)
    @blp.response(200, WebhookSchema)
    def get(self, webhook_id):
        """One endpoint"""
        return webhooks.get_webhook(uow(), webhook_id)

    @requires(Permission.ADMIN)
    @blp.arguments(WebhookUpdateSchema)
    @blp.response(200, WebhookSchema)
    def patch(self, body, webhook_id):
        """Change an endpoint's url, events, active flag or description"""
        return webhooks.update_webhook(uow(write=True), webhook_id, body)

    @requires(Permission.ADMIN)
    @blp.response(204)
    def delete(self, webhook_id):
        """Remove an endpoint and its deliveries"""
        webhooks.delete_webhook(uow(write=True), webhook_id)


@blp.route("/<id:webhook_id>/rotate-secret")
class WebhookSecret(MethodView):
    @requires(Permission.ADMIN)
    @blp.response(200, WebhookWithSecretSchema)
    def post(self, webhook_id):
        """Give the endpoint a new signing secret (shown only in this answer); the old one stops at once"""
        view, secret = webhooks.rotate_secret(uow(write=True), runtime().settings.secret_key, webhook_id)
        return _with_secret(view, secret)


@blp.route("/<id:webhook_id>/ping")
class WebhookPing(MethodView):
    @requires(Permission.ADMIN)
    @blp.response(202, PingSchema)
    def post(self, webhook_id):
        """Queue a `ping` event for this endpoint alone (409 `webhook_inactive` when it is paused)"""
        return webhooks.ping(uow(write=True), webhook_id)


@blp.route("/<id:webhook_id>/deliveries")
class WebhookDeliveries(MethodView):
    @requires(Permission.ADMIN)
    @blp.arguments(DeliveryQuerySchema, location="query")
    @blp.response(200, DeliveryPageSchema)
    def get(self, args, webhook_id):
        """The endpoint's deliveries, newest first, optionally of one status"""
        after, limit = page_args(args, "webhook_deliveries")
        page = webhooks.list_deliveries(uow(), webhook_id, status=args.get("status"), after=after, limit=limit)
        return page_body(page, "webhook_deliveries")


@blp.route("/<id:webhook_id>/deliveries/<id:delivery_id>/retry")
class WebhookDeliveryRetry(MethodView):
    @requires(Permission.ADMIN)
    @blp.response(200, DeliverySchema)
    def post(self, webhook_id, delivery_id):
        """Queue a failed (given-up) delivery again, due now, with a fresh attempt budget
        (409 `delivery_not_failed` otherwise)"""
        return webhooks.retry_delivery(uow(write=True), webhook_id, delivery_id)
