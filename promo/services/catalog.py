"""Catalog use cases: products and locations."""
from __future__ import annotations

from typing import Any, Sequence

from promo.adapters.orm import Location, Product
from promo.domain.batches import repeated_key_errors
from promo.domain.errors import InvalidInput, NotFound
from promo.services.pages import Page, page_of
from promo.services.unit_of_work import UnitOfWork


def product_view(product: Product) -> dict[str, Any]:
    return {
        "sku": product.sku, "name": product.name, "category": product.category, "brand": product.brand,
        "price": product.price, "currency": product.currency, "attributes": product.attributes or {},
        "updated_at": product.updated_at,
    }


def location_view(location: Location) -> dict[str, Any]:
    return {
        "code": location.code, "name": location.name, "kind": location.kind, "channels": location.channels,
        "lead_time_days": location.lead_time_days, "region": location.region, "updated_at": location.updated_at,
    }


def _refuse_repeats(items: Sequence[dict[str, Any]], key: str) -> None:
    errors = repeated_key_errors(items, key)
    if errors:
        raise InvalidInput("the batch names the same item more than once", errors)


def upsert_products(uow: UnitOfWork, items: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Create or replace products by sku, all or nothing."""
    _refuse_repeats(items, "sku")
    with uow:
        uow.products.upsert([{"attributes": {}, **item} for item in items])
        uow.commit()
    return {"upserted": len(items)}


def get_product(uow: UnitOfWork, sku: str) -> dict[str, Any]:
    with uow:
        product = uow.products.get(sku)
        if product is None:
            raise NotFound(f"no product with sku {sku!r}")
        return product_view(product)


def list_products(uow: UnitOfWork, *, after: str | None, limit: int, category: str | None = None,
                  brand: str | None = None, text: str | None = None) -> Page[dict[str, Any]]:
    with uow:
        rows = uow.products.page(after=after, limit=limit + 1, category=category, brand=brand, text=text)
        return page_of(rows, limit, key=lambda p: p.sku, view=product_view)


def pick_products(uow: UnitOfWork, text: str, *, limit: int = 20, groups: int = 8) -> dict[str, Any]:
    """What a product picker offers for what was typed: products by sku, name, category or
    brand, and whole categories and brands with their sizes (a campaign may name those)."""
    text = text.strip()
    if len(text) < 2:
        return {"products": [], "categories": [], "brands": []}

    def matching(column: str) -> list[dict[str, Any]]:
        return [{"name": name, "products": n} for name, n in uow.products.groups_matching(column, text, groups)]

    with uow:
        return {"products": [product_view(p) for p in uow.products.search(text, limit)],
                "categories": matching("category"), "brands": matching("brand")}


def products_by_sku(uow: UnitOfWork, skus: Sequence[str]) -> dict[str, Any]:
    """Many products at once, in the order asked (each once), and the skus not found."""
    wanted = list(dict.fromkeys(skus))
    with uow:
        found = uow.products.by_skus(wanted)
        return {"items": [product_view(found[sku]) for sku in wanted if sku in found],
                "missing": [sku for sku in wanted if sku not in found]}


def upsert_locations(uow: UnitOfWork, items: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Create or replace locations by code, all or nothing."""
    _refuse_repeats(items, "code")
    with uow:
        uow.locations.upsert([{"region": None, "lead_time_days": 0, **item} for item in items])
        uow.commit()
    return {"upserted": len(items)}


def get_location(uow: UnitOfWork, code: str) -> dict[str, Any]:
    with uow:
        location = uow.locations.get(code)
        if location is None:
            raise NotFound(f"no location with code {code!r}")
        return location_view(location)


def list_locations(uow: UnitOfWork, *, after: str | None, limit: int, kind: str | None = None) -> Page[dict[str, Any]]:
    with uow:
        rows = uow.locations.page(after=after, limit=limit + 1, kind=kind)
        return page_of(rows, limit, key=lambda loc: loc.code, view=location_view)
