"""Request and response schemas of /v1/webhooks."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from promo.api.schemas import Choice, PageQuerySchema, PageSchema, Text
from promo.domain.webhooks import DELIVERY_STATUSES, EVENT_TYPES, MAX_URL_LENGTH, url_problem


def _valid_url(value: str) -> None:
    problem = url_problem(value)
    if problem:
        raise ValidationError(problem)


def Url(**kwargs) -> fields.String:  # type: ignore[no-untyped-def]  # noqa: N802
    """An http(s) URL of bounded length (plain text, see promo.domain.webhooks.url_problem)."""
    field = Text(MAX_URL_LENGTH, 1, **kwargs)
    field.validators.append(_valid_url)
    return field


def Events(**kwargs) -> fields.List:  # type: ignore[no-untyped-def]  # noqa: N802
    return fields.List(Choice(EVENT_TYPES), validate=validate.Length(min=1, max=len(EVENT_TYPES)),
                       metadata={"description": "one or more of: " + ", ".join(EVENT_TYPES)}, **kwargs)


def _events_unique(data: dict) -> None:  # type: ignore[type-arg]
    events = data.get("events") or []
    if len(set(events)) != len(events):
        raise ValidationError("each event type at most once", "events")


class WebhookCreateSchema(Schema):
    url = Url(required=True, metadata={"description": "http:// or https://; redirects are not followed"})
    events = Events(required=True)
    description = Text(500, load_default=None, allow_none=True)

    @validates_schema
    def _unique(self, data, **kwargs):  # type: ignore[no-untyped-def]
        _events_unique(data)


class WebhookUpdateSchema(Schema):
    url = Url()
    events = Events()
    active = fields.Boolean(metadata={"description": "false pauses deliveries (pending ones wait)"})
    description = Text(500, allow_none=True)

    @validates_schema
    def _something(self, data, **kwargs):  # type: ignore[no-untyped-def]
        if not data:
            raise ValidationError("give at least one of url, events, active, description")
        _events_unique(data)


class WebhookSchema(Schema):
    id = fields.String()
    url = fields.String()
    events = fields.List(fields.String())
    active = fields.Boolean()
    description = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class WebhookWithSecretSchema(WebhookSchema):
    secret = fields.String(metadata={"description": "the signing secret; shown only in this answer"})


class WebhookPageSchema(PageSchema):
    items = fields.List(fields.Nested(WebhookSchema))


class DeliveryQuerySchema(PageQuerySchema):
    status = Choice(DELIVERY_STATUSES)


class DeliverySchema(Schema):
    id = fields.Integer()
    event_id = fields.String(metadata={"description": "the Promo-Event-Id header; the same on every attempt"})
    event_type = fields.String()
    status = fields.String(metadata={"description": "pending, delivered or failed (given up)"})
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime(allow_none=True, metadata={"description": "while pending"})
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    last_attempt_at = fields.DateTime(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)
    payload = fields.Dict(metadata={"description": "the event's data (the body's `data`)"})


class DeliveryPageSchema(PageSchema):
    items = fields.List(fields.Nested(DeliverySchema), metadata={"description": "newest first"})


class PingSchema(Schema):
    event_id = fields.String()
