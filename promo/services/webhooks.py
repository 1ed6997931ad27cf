"""Webhooks: registering endpoints, and writing events to the outbox.

``enqueue`` is what other use cases call, inside their own open unit of work and before
they commit: the event's delivery rows commit or roll back with the change that caused
it, and the sender (promo/services/webhook_sender.py) sends them after the commit. No
network I/O happens here.
"""
from __future__ import annotations

import json
import secrets
import uuid
from typing import Any

from promo.adapters.orm import Webhook, WebhookDelivery, utcnow
from promo.domain.errors import Conflict, InvalidInput, NotFound
from promo.domain.webhooks import EVENT_TYPES, FAILED, PENDING, PING, derive_secret, url_problem
from promo.services.pages import Page, page_of
from promo.services.unit_of_work import UnitOfWork

MAX_WEBHOOKS = 100
MAX_PAYLOAD_BYTES = 65_536


def new_event_id() -> str:
    return "evt_" + uuid.uuid4().hex


def enqueue(uow: UnitOfWork, event_type: str, payload: dict[str, Any]) -> str:
    """Write one delivery per active endpoint subscribed to ``event_type`` into the open
    unit of work (none when nobody subscribes); return the event id. The caller commits.

    Raises ValueError for an event type we do not send or a payload that is not a JSON
    object of at most MAX_PAYLOAD_BYTES: those are programming errors, not input."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}; one of {', '.join(EVENT_TYPES)}")
    _check_payload(payload)
    event_id = new_event_id()
    subscribers = [hook for hook in uow.webhooks.active() if event_type in hook.events]
    _write_deliveries(uow, event_id, event_type, payload, [hook.id for hook in subscribers])
    return event_id


def _check_payload(payload: dict[str, Any]) -> None:
    if not isinstance(payload, dict):
        raise ValueError("a webhook payload is a JSON object (a dict)")
    try:
        size = len(json.dumps(payload, ensure_ascii=False, allow_nan=False).encode())
    except (TypeError, ValueError) as exc:
        raise ValueError(f"a webhook payload must be plain JSON: {exc}") from None
    if size > MAX_PAYLOAD_BYTES:
        raise ValueError(f"a webhook payload is at most {MAX_PAYLOAD_BYTES} bytes as JSON, not {size}")


def _write_deliveries(uow: UnitOfWork, event_id: str, event_type: str, payload: dict[str, Any],
                      webhook_ids: list[int]) -> None:
    now = utcnow()
    uow.webhooks.add_deliveries([
        {"webhook_id": webhook_id, "event_id": event_id, "event_type": event_type, "payload": payload,
         "status": PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now, "queued_at": now}
        for webhook_id in webhook_ids])


# --- views ------------------------------------------------------------------------------

def webhook_view(hook: Webhook) -> dict[str, Any]:
    return {"id": hook.public_id, "url": hook.url, "events": list(hook.events), "active": hook.active,
            "description": hook.description, "created_at": hook.created_at, "updated_at": hook.updated_at}


def delivery_view(delivery: WebhookDelivery) -> dict[str, Any]:
    return {"id": delivery.id, "event_id": delivery.event_id, "event_type": delivery.event_type,
            "status": delivery.status, "attempts": delivery.attempts,
            "next_attempt_at": delivery.next_attempt_at if delivery.status == PENDING else None,
            "last_status_code": delivery.last_status_code, "last_error": delivery.last_error,
            "created_at": delivery.created_at, "last_attempt_at": delivery.last_attempt_at,
            "delivered_at": delivery.delivered_at, "payload": delivery.payload}


# --- endpoints --------------------------------------------------------------------------

def _checked_url(url: str) -> str:
    problem = url_problem(url)
    if problem:
        raise InvalidInput("invalid webhook URL", {"url": [problem]})
    return url


def _checked_events(events: list[str]) -> list[str]:
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown or not events:
        raise InvalidInput("invalid events", {"events": [f"one or more of {', '.join(EVENT_TYPES)}"]})
    if len(set(events)) != len(events):
        raise InvalidInput("invalid events", {"events": ["each event type at most once"]})
    return list(events)


def _webhook(uow: UnitOfWork, public_id: str) -> Webhook:
    hook = uow.webhooks.by_public_id(public_id)
    if hook is None:
        raise NotFound(f"no webhook {public_id!r}")
    return hook


def create_webhook(uow: UnitOfWork, secret_key: str, *, url: str, events: list[str],
                   description: str | None = None) -> tuple[dict[str, Any], str]:
    """Register an endpoint; return its view and its signing secret, shown only now."""
    url, events = _checked_url(url), _checked_events(events)
    with uow:
        if uow.webhooks.count() >= MAX_WEBHOOKS:
            raise Conflict(f"at most {MAX_WEBHOOKS} webhooks; delete one first", reason="too_many_webhooks")
        now = utcnow()
        hook = Webhook(public_id="wh_" + secrets.token_hex(12), url=url, events=events, active=True,
                       description=description, secret_salt=secrets.token_hex(16), created_at=now, updated_at=now)
        uow.webhooks.add(hook)
        uow.commit()
        return webhook_view(hook), derive_secret(secret_key, hook.public_id, hook.secret_salt)


def rotate_secret(uow: UnitOfWork, secret_key: str, public_id: str) -> tuple[dict[str, Any], str]:
    """A new salt, so a new secret; the old one stops signing at once (deliveries still
    pending are signed with the new one when sent)."""
    with uow:
        hook = _webhook(uow, public_id)
        hook.secret_salt, hook.updated_at = secrets.token_hex(16), utcnow()
        uow.commit()
        return webhook_view(hook), derive_secret(secret_key, hook.public_id, hook.secret_salt)


def list_webhooks(uow: UnitOfWork, *, after: str | None, limit: int) -> Page[dict[str, Any]]:
    with uow:
        return page_of(uow.webhooks.page(after, limit), limit, lambda hook: hook.public_id, webhook_view)


def get_webhook(uow: UnitOfWork, public_id: str) -> dict[str, Any]:
    with uow:
        return webhook_view(_webhook(uow, public_id))


def update_webhook(uow: UnitOfWork, public_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Change url, events, active or description. An inactive endpoint gets no new
    deliveries and its pending ones wait (not sent, not aged out) until it is active again."""
    if "url" in changes:
        _checked_url(changes["url"])
    if "events" in changes:
        _checked_events(changes["events"])
    with uow:
        hook = _webhook(uow, public_id)
        for name in ("url", "events", "active", "description"):
            if name in changes:
                setattr(hook, name, changes[name])
        hook.updated_at = utcnow()
        uow.commit()
        return webhook_view(hook)


def delete_webhook(uow: UnitOfWork, public_id: str) -> None:
    """Remove the endpoint and its deliveries (pending ones are not sent)."""
    with uow:
        uow.webhooks.remove(_webhook(uow, public_id))
        uow.commit()


def ping(uow: UnitOfWork, public_id: str) -> dict[str, Any]:
    """Queue a ``ping`` event for this endpoint alone, to test it."""
    with uow:
        hook = _webhook(uow, public_id)
        if not hook.active:
            raise Conflict("the webhook is inactive; activate it to ping it", reason="webhook_inactive")
        event_id = new_event_id()
        _write_deliveries(uow, event_id, PING, {"webhook": hook.public_id}, [hook.id])
        uow.commit()
        return {"event_id": event_id}


# --- deliveries -------------------------------------------------------------------------

def _delivery_id(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and 0 < int(text) < 2**63 else None


def list_deliveries(uow: UnitOfWork, public_id: str, *, status: str | None, after: str | None,
                    limit: int) -> Page[dict[str, Any]]:
    """Newest first."""
    with uow:
        hook = _webhook(uow, public_id)
        rows = uow.webhooks.deliveries_page(hook.id, status, _delivery_id(after) if after else None, limit)
        return page_of(rows, limit, lambda delivery: str(delivery.id), delivery_view)


def retry_delivery(uow: UnitOfWork, public_id: str, delivery_id: str) -> dict[str, Any]:
    """Put a given-up delivery back in the queue, due now, with a fresh budget."""
    with uow:
        hook = _webhook(uow, public_id)
        number = _delivery_id(delivery_id)
        delivery = uow.webhooks.delivery(hook.id, number) if number is not None else None
        if delivery is None:
            raise NotFound(f"no delivery {delivery_id!r} of webhook {public_id!r}")
        if delivery.status != FAILED:
            raise Conflict(f"only a failed delivery can be retried; this one is {delivery.status}",
                           reason="delivery_not_failed")
        uow.webhooks.requeue(delivery)
        uow.commit()
        return delivery_view(delivery)


def pending_count(uow: UnitOfWork) -> int:
    with uow:
        return uow.webhooks.pending_count()
