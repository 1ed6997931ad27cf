"""Customer use cases."""
from __future__ import annotations

from typing import Any, Sequence

import datetime as dt

from promo.adapters.orm import Customer, CustomerProfile, utcnow
from promo.domain.batches import merge_item_errors, repeated_key_errors, unknown_reference_errors
from promo.domain.errors import InvalidInput, NotFound
from promo.domain.profiles import ProfileConditions, SegmentRules, segments_of
from promo.services.pages import Page, page_of
from promo.services.profiles import profile_view
from promo.services.unit_of_work import UnitOfWork

# Customers examined per query while filtering a listing by profile conditions.
SCAN_BATCH = 1000


def _customer_view(customer: Customer, location_codes: dict[int, str]) -> dict[str, Any]:
    return {
        "id": customer.external_id,
        "attributes": customer.attributes or {},
        "home_location": location_codes.get(customer.home_location_id) if customer.home_location_id else None,
        "opted_out": customer.opted_out,
        "created_at": customer.created_at,
        "updated_at": customer.updated_at,
    }


def upsert_customers(uow: UnitOfWork, items: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Create or replace customers by id, all or nothing."""
    with uow:
        location_ids = uow.locations.ids_for(item["home_location"] for item in items if item.get("home_location"))
        errors = merge_item_errors(
            repeated_key_errors(items, "id"),
            unknown_reference_errors(items, "home_location", location_ids, lambda code: f"unknown location {code!r}"),
        )
        if errors:
            raise InvalidInput("some customers are invalid; nothing was written", errors)
        uow.customers.upsert([
            {
                "external_id": item["id"],
                "attributes": item.get("attributes") or {},
                "home_location_id": location_ids.get(item.get("home_location")),
                "opted_out": item.get("opted_out", False),
            }
            for item in items
        ])
        uow.commit()
    return {"upserted": len(items)}


def _profile_clock(uow: UnitOfWork) -> dt.datetime:
    return uow.profiles.clock() or utcnow()


def _location_ids(profile: CustomerProfile | None) -> set[int]:
    return {entry["location_id"] for entry in profile.top_locations} if profile else set()


def get_customer(uow: UnitOfWork, customer_id: str, rules: SegmentRules) -> dict[str, Any]:
    """One customer with their profile (None until they have any history)."""
    with uow:
        customer = uow.customers.get(customer_id)
        if customer is None:
            raise NotFound(f"no customer with id {customer_id!r}")
        profile = uow.profiles.get(customer.id)
        wanted = _location_ids(profile)
        if customer.home_location_id:
            wanted.add(customer.home_location_id)
        codes = uow.locations.codes_by_id(wanted)
        view = _customer_view(customer, codes)
        view["interaction_count"] = uow.interactions.count_for_customer(customer.id)
        has_history = profile is not None and profile.last_seen_at is not None
        view["profile"] = profile_view(profile, _profile_clock(uow), rules, codes) if has_history else None
        return view


def list_customers(uow: UnitOfWork, *, after: str | None, limit: int,
                   conditions: ProfileConditions | None = None, rules: SegmentRules | None = None,
                   ) -> Page[dict[str, Any]]:
    """Customers by id; with ``conditions``, only those whose profile meets them (the
    targeting test campaigns will use), each with its segments."""
    with uow:
        if conditions is None:
            rows = uow.customers.page(after=after, limit=limit + 1)
            codes = uow.locations.codes_by_id({c.home_location_id for c in rows if c.home_location_id})
            return page_of(rows, limit, key=lambda c: c.external_id, view=lambda c: _customer_view(c, codes))
        assert rules is not None, "conditions need segment rules"
        now = _profile_clock(uow)
        matching: list[tuple[Customer, list[str]]] = []
        while len(matching) <= limit:
            batch = uow.profiles.page(after=after, limit=SCAN_BATCH)
            for customer, profile in batch:
                if profile is None or profile.last_seen_at is None:
                    continue
                segments = segments_of(profile, now, rules)
                categories = [entry["name"] for entry in profile.top_categories]
                home = profile.top_locations[0]["location_id"] if profile.top_locations else None
                if conditions.matches(profile, segments=segments, categories=categories, now=now,
                                      home_location=home):
                    matching.append((customer, segments))
            if len(batch) < SCAN_BATCH:
                break
            after = batch[-1][0].external_id
        codes = uow.locations.codes_by_id({c.home_location_id for c, _ in matching if c.home_location_id})
        return page_of(matching, limit, key=lambda pair: pair[0].external_id,
                       view=lambda pair: {**_customer_view(pair[0], codes), "segments": pair[1]})
