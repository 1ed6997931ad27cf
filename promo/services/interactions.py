"""Recording what customers do: views, carts and purchases."""
from __future__ import annotations

from typing import Any, Sequence

from promo.domain.batches import (
    channel_mismatch_errors,
    conflicting_repeat_errors,
    merge_item_errors,
    unknown_reference_errors,
)
from promo.domain.errors import InvalidInput
from promo.services.unit_of_work import UnitOfWork


def record_interactions(uow: UnitOfWork, events: Sequence[dict[str, Any]], *,
                        refresh_profiles: bool = True) -> dict[str, int]:
    """Store new interaction events, idempotent by ``event_id``; all or nothing.

    Unknown customers are created on the fly (a first visit is how most customers become
    known); unknown skus or locations, and a location that does not serve the event's
    channel, are an error for that item and nothing is written.
    The profiles of the customers concerned are recomputed in the same transaction, so a
    profile never lags its history (bulk loaders pass ``refresh_profiles=False`` and
    refresh everyone once at the end instead).
    """
    with uow:
        product_ids = uow.products.ids_for(event["sku"] for event in events)
        locations = uow.locations.channels_for(event["location"] for event in events if event.get("location"))
        location_ids = {code: found[0] for code, found in locations.items()}
        errors = merge_item_errors(
            conflicting_repeat_errors(events, "event_id"),
            unknown_reference_errors(events, "sku", product_ids, lambda sku: f"unknown sku {sku!r}"),
            unknown_reference_errors(events, "location", location_ids, lambda code: f"unknown location {code!r}"),
            channel_mismatch_errors(events, {code: found[1] for code, found in locations.items()}),
        )
        if errors:
            raise InvalidInput("some events are invalid; nothing was written", {"events": errors})
        customer_ids = uow.customers.ensure(event["customer"] for event in events)
        accepted = uow.interactions.add_new([
            {
                "event_id": event["event_id"],
                "customer_id": customer_ids[event["customer"]],
                "product_id": product_ids[event["sku"]],
                "type": event["type"],
                "quantity": event.get("quantity", 1),
                "value": event.get("value"),
                "discount": event.get("discount"),
                "coupon_discount": event.get("coupon_discount"),
                "channel": event["channel"],
                "location_id": location_ids.get(event.get("location")),
                "occurred_at": event["occurred_at"],
                "recommendation_id": event.get("recommendation_id"),
            }
            for event in events
        ])
        if refresh_profiles and accepted:
            uow.profiles.refresh(customer_ids.values())
        uow.commit()
    return {"accepted": accepted, "duplicates": len(events) - accepted}
