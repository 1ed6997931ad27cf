"""Customer use cases."""
from __future__ import annotations

from typing import Any, Sequence

from promo.adapters.orm import Customer
from promo.domain.batches import merge_item_errors, repeated_key_errors, unknown_reference_errors
from promo.domain.errors import InvalidInput, NotFound
from promo.services.pages import Page, page_of
from promo.services.unit_of_work import UnitOfWork


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


def get_customer(uow: UnitOfWork, customer_id: str) -> dict[str, Any]:
    with uow:
        customer = uow.customers.get(customer_id)
        if customer is None:
            raise NotFound(f"no customer with id {customer_id!r}")
        codes = uow.locations.codes_by_id([customer.home_location_id] if customer.home_location_id else [])
        view = _customer_view(customer, codes)
        view["interaction_count"] = uow.interactions.count_for_customer(customer.id)
        return view


def list_customers(uow: UnitOfWork, *, after: str | None, limit: int) -> Page[dict[str, Any]]:
    with uow:
        rows = uow.customers.page(after=after, limit=limit + 1)
        codes = uow.locations.codes_by_id({c.home_location_id for c in rows if c.home_location_id})
        return page_of(rows, limit, key=lambda c: c.external_id, view=lambda c: _customer_view(c, codes))
