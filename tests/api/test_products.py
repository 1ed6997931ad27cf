"""The product catalog: bulk upsert, one by sku, filtered keyset pagination."""
from __future__ import annotations

import pytest

from promo import create_app
from promo.api.context import EXTENSION


def product(sku: str, **fields) -> dict:
    return {"sku": sku, "name": f"Product {sku}", "price": 2.5, "currency": "USD", **fields}


def put(client, headers, items):
    return client.put("/v1/products", json=items, headers=headers)


def walk(client, headers, **query) -> tuple[list[str], int]:
    """Follow next_cursor to the end; (skus in the order served, number of pages)."""
    skus, pages, cursor = [], 0, None
    while True:
        page = client.get("/v1/products", query_string={**query, **({"cursor": cursor} if cursor else {})},
                          headers=headers)
        assert page.status_code == 200, page.json
        pages += 1
        skus += [item["sku"] for item in page.json["items"]]
        cursor = page.json["next_cursor"]
        if cursor is None:
            return skus, pages


def test_a_batch_of_new_products_is_created(client, admin, row_count):
    response = put(client, admin, [product("a1", category="dairy", brand="Acme", attributes={"size": "1l"}),
                                   product("a2")])

    assert response.status_code == 200
    assert response.json == {"upserted": 2}
    assert row_count("products") == 2
    body = client.get("/v1/products/a1", headers=admin).json
    assert {k: body[k] for k in ("sku", "name", "category", "brand", "price", "currency", "attributes")} == {
        "sku": "a1", "name": "Product a1", "category": "dairy", "brand": "Acme", "price": 2.5,
        "currency": "USD", "attributes": {"size": "1l"}}
    assert body["updated_at"].endswith("+00:00")


def test_putting_a_known_sku_replaces_the_whole_product(client, admin, row_count):
    put(client, admin, [product("a1", category="dairy", brand="Acme", attributes={"size": "1l"})])

    response = put(client, admin, [product("a1", name="Oat milk", price=3.1)])

    assert response.status_code == 200
    assert row_count("products") == 1
    body = client.get("/v1/products/a1", headers=admin).json
    assert body["name"] == "Oat milk" and body["price"] == 3.1
    # Replace, not merge: what the new version leaves out is gone.
    assert body["category"] is None and body["brand"] is None and body["attributes"] == {}


def test_one_batch_can_create_and_replace_together(client, admin, row_count):
    put(client, admin, [product("a1")])

    assert put(client, admin, [product("a1", name="Renamed"), product("b1")]).json == {"upserted": 2}

    assert row_count("products") == 2
    assert client.get("/v1/products/a1", headers=admin).json["name"] == "Renamed"


def test_an_unknown_sku_is_404(client, admin):
    response = client.get("/v1/products/nope", headers=admin)

    assert response.status_code == 404
    assert "nope" in response.json["message"]


@pytest.mark.settings(max_batch_items=3)
def test_a_batch_over_max_batch_items_is_refused_and_nothing_is_written(client, admin, row_count):
    response = put(client, admin, [product(str(n)) for n in range(4)])

    assert response.status_code == 422
    assert "at most 3" in response.json["errors"]["json"]["_schema"][0]
    assert row_count("products") == 0
    assert put(client, admin, [product(str(n)) for n in range(3)]).status_code == 200


def test_an_empty_batch_is_refused(client, admin):
    assert put(client, admin, []).status_code == 422


def test_a_sku_repeated_in_a_batch_is_refused_at_its_index_and_nothing_is_written(client, admin, row_count):
    response = put(client, admin, [product("a1"), product("b1"), product("a1", name="Again")])

    assert response.status_code == 422
    errors = response.json["errors"]["json"]
    assert set(errors) == {"2"}
    assert "first at item 0" in errors["2"]["sku"][0]
    assert row_count("products") == 0


def test_an_invalid_item_fails_the_whole_batch(client, admin, row_count):
    response = put(client, admin, [product("a1"), product("b1", currency="dollars")])

    assert response.status_code == 422
    assert set(response.json["errors"]["json"]) == {"1"}
    assert row_count("products") == 0


def test_pages_walk_every_product_exactly_once_in_sku_order(client, admin):
    skus = [f"p{n:03d}" for n in range(23)]
    put(client, admin, [product(sku) for sku in reversed(skus)])

    served, pages = walk(client, admin, limit=5)

    assert served == skus
    assert pages == 5


def test_a_listing_that_fits_one_page_has_no_next_cursor(client, admin):
    put(client, admin, [product("a1"), product("a2")])

    body = client.get("/v1/products?limit=2", headers=admin).json

    assert [item["sku"] for item in body["items"]] == ["a1", "a2"]
    assert body["next_cursor"] is None


@pytest.mark.settings(default_page_size=2)
def test_a_listing_without_limit_uses_the_default_page_size(client, admin):
    put(client, admin, [product(f"a{n}") for n in range(5)])

    body = client.get("/v1/products", headers=admin).json

    assert len(body["items"]) == 2
    assert body["next_cursor"]


def test_a_limit_over_max_page_size_is_refused(client, admin, runtime):
    most = runtime.settings.max_page_size

    response = client.get(f"/v1/products?limit={most + 1}", headers=admin)

    assert response.status_code == 422
    assert "limit" in response.json["errors"]["query"]
    assert client.get(f"/v1/products?limit={most}", headers=admin).status_code == 200


@pytest.mark.parametrize("limit", ["0", "-3", "ten"])
def test_a_limit_that_is_not_a_positive_number_is_refused(client, admin, limit):
    assert client.get(f"/v1/products?limit={limit}", headers=admin).status_code == 422


def test_a_tampered_cursor_is_refused(client, admin):
    put(client, admin, [product(f"a{n}") for n in range(3)])
    cursor = client.get("/v1/products?limit=1", headers=admin).json["next_cursor"]
    tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")

    for bad in (tampered, "a" + cursor, "not-a-cursor", ""):
        response = client.get("/v1/products", query_string={"cursor": bad}, headers=admin)
        assert response.status_code == 422, bad
        assert "cursor" in response.json["errors"]["query"]


def test_a_cursor_from_another_listing_is_refused(client, admin):
    put(client, admin, [product(f"a{n}") for n in range(3)])
    client.put("/v1/locations", json=[{"code": f"s{n}", "name": "S", "kind": "store", "channels": ["store"]}
                                      for n in range(3)], headers=admin)
    product_cursor = client.get("/v1/products?limit=1", headers=admin).json["next_cursor"]
    location_cursor = client.get("/v1/locations?limit=1", headers=admin).json["next_cursor"]

    assert client.get("/v1/locations", query_string={"cursor": product_cursor}, headers=admin).status_code == 422
    assert client.get("/v1/products", query_string={"cursor": location_cursor}, headers=admin).status_code == 422
    assert client.get("/v1/customers", query_string={"cursor": product_cursor}, headers=admin).status_code == 422
    assert client.get("/v1/products", query_string={"cursor": product_cursor}, headers=admin).status_code == 200


def test_a_cursor_signed_with_another_secret_is_refused(client, admin, settings_overrides):
    put(client, admin, [product(f"a{n}") for n in range(3)])
    other = create_app({**settings_overrides, "secret_key": "another-secret"})
    try:
        foreign = other.test_client().get("/v1/products?limit=1", headers=admin).json["next_cursor"]
    finally:
        other.extensions[EXTENSION].close()

    assert foreign
    assert client.get("/v1/products", query_string={"cursor": foreign}, headers=admin).status_code == 422


def test_the_category_filter_keeps_only_that_category(client, admin):
    put(client, admin, [product("a1", category="dairy"), product("a2", category="bakery"),
                        product("a3", category="dairy"), product("a4")])

    served, _ = walk(client, admin, category="dairy", limit=1)

    assert served == ["a1", "a3"]


def test_the_text_filter_matches_part_of_the_name_in_any_case(client, admin):
    put(client, admin, [product("a1", name="Whole MILK 1l"), product("a2", name="Bread"),
                        product("a3", name="Milkshake")])

    body = client.get("/v1/products?q=milk", headers=admin).json

    assert [item["sku"] for item in body["items"]] == ["a1", "a3"]


def test_the_text_filter_takes_wildcards_literally(client, admin):
    put(client, admin, [product("a1", name="50% off"), product("a2", name="500 g"), product("a3", name="A_B")])

    assert [i["sku"] for i in client.get("/v1/products?q=50%25", headers=admin).json["items"]] == ["a1"]
    assert [i["sku"] for i in client.get("/v1/products?q=_", headers=admin).json["items"]] == ["a3"]


def test_filters_and_pagination_combine(client, admin):
    put(client, admin, [product(f"a{n}", category="dairy" if n % 2 else "bakery",
                                name="Milk" if n % 3 else "Bread") for n in range(10)])

    served, _ = walk(client, admin, category="dairy", q="milk", limit=2)

    assert served == [f"a{n}" for n in range(10) if n % 2 and n % 3]


def test_a_listing_that_ends_on_a_page_boundary_serves_no_empty_page(client, admin):
    put(client, admin, [product(f"p{n}") for n in range(6)])

    served, pages = walk(client, admin, limit=3)

    assert len(served) == 6
    assert pages == 2
