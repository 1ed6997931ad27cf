"""Clicks and dismissals of served offers and recommendations, by the ids they were
served with; idempotent by event_id, all or nothing."""
from __future__ import annotations

import hashlib
from typing import Any, Sequence

from sqlalchemy.dialects import postgresql, sqlite

from promo.adapters.orm import OfferEvent, utcnow
from promo.domain.batches import conflicting_repeat_errors, merge_item_errors
from promo.domain.errors import InvalidInput
from promo.domain.offers import parse_offer_id
from promo.services.unit_of_work import UnitOfWork

CHUNK = 1000


def _event_id(event: dict[str, Any]) -> str:
    """Without the producer's id, one click (or dismissal) per item of a served list
    counts: a repeat of the same body is the same event."""
    key = "\x1f".join(str(event.get(name) or "") for name in ("recommendation_id", "offer_id", "sku", "type"))
    return "derived-" + hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def _item_errors(events: Sequence[dict[str, Any]]) -> dict[int, dict[str, list[str]]]:
    errors: dict[int, dict[str, list[str]]] = {}
    for index, event in enumerate(events):
        if event.get("offer_id") is None and event.get("sku") is None:
            errors.setdefault(index, {})["offer_id"] = ["give the offer_id (offers, deals) or the sku "
                                                        "(recommendations) that was clicked or dismissed"]
        parsed = parse_offer_id(event["offer_id"]) if event.get("offer_id") else None
        if parsed is not None and parsed[0] != event["recommendation_id"]:
            errors.setdefault(index, {})["offer_id"] = ["this offer was not served in that recommendation_id's list"]
    return errors


def record_offer_events(uow: UnitOfWork, events: Sequence[dict[str, Any]]) -> dict[str, int]:
    events = [{**event, "event_id": event.get("event_id") or _event_id(event)} for event in events]
    errors = merge_item_errors(conflicting_repeat_errors(events, "event_id"), _item_errors(events))
    if errors:
        raise InvalidInput("some events are invalid; nothing was written", {"events": errors})
    now = utcnow()
    rows = [{"event_id": e["event_id"], "recommendation_id": e["recommendation_id"], "offer_id": e.get("offer_id"),
             "sku": e.get("sku"), "type": e["type"], "customer": e.get("customer"),
             "occurred_at": e.get("occurred_at") or now, "received_at": now} for e in events]
    unique = list({row["event_id"]: row for row in rows}.values())
    accepted = 0
    with uow:
        dialect = uow.session.get_bind().dialect.name
        for start in range(0, len(unique), CHUNK):
            statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(OfferEvent)
            statement = statement.values(unique[start:start + CHUNK]).on_conflict_do_nothing(
                index_elements=["event_id"]).returning(OfferEvent.id)
            accepted += len(uow.session.execute(statement).all())
        uow.commit()
    return {"accepted": accepted, "duplicates": len(events) - accepted}
