"""Answers a shop can use: products read in batch, filters in any letter case, availability
that names an unknown sku, channels a location serves, and errors that say where the
problem is (query or body) and what was asked."""
from __future__ import annotations

import datetime as dt

import pytest

UTC = dt.timezone.utc


@pytest.fixture
def shop(client, admin):
    products = [
        {"sku": "milk", "name": "Milk 1L", "price": 1.2, "currency": "USD", "category": "DAIRY", "brand": "Cowco"},
        {"sku": "steak", "name": "Steak", "price": 20.0, "currency": "USD", "category": "BEEF", "brand": "Moo"},
        {"sku": "oat", "name": "Oat drink", "price": 1.9, "currency": "EUR", "category": "Dairy Alternatives",
         "brand": "Private"},
    ]
    assert client.put("/v1/products", json=products, headers=admin).status_code == 200
    assert client.put("/v1/locations", json=[
        {"code": "436", "name": "Store 436", "kind": "store", "channels": ["store", "mobile"]},
        {"code": "OLD", "name": "Store without app", "kind": "store", "channels": ["store"]},
        {"code": "DC", "name": "Web DC", "kind": "warehouse", "channels": ["web", "mobile"], "lead_time_days": 2},
    ], headers=admin).status_code == 200
    now = dt.datetime.now(UTC).isoformat()
    response = client.post("/v1/stock/events", headers=admin, json={"events": [
        {"event_id": f"count-{sku}-{site}", "sku": sku, "location": site, "type": "count", "quantity": 6,
         "occurred_at": now} for sku in ("milk", "steak") for site in ("436", "OLD", "DC")]})
    assert response.status_code == 200, response.json
    return response.json["last_seq"]


def get(client, headers, path, **query):
    return client.get(path, query_string=query, headers=headers)


# --- products ----------------------------------------------------------------------------

def test_repeated_sku_reads_exactly_those_products_in_the_order_asked_and_lists_the_missing(client, admin, shop):
    response = client.get("/v1/products?sku=steak&sku=nope&sku=milk&sku=steak", headers=admin)

    assert response.status_code == 200, response.json
    assert [item["sku"] for item in response.json["items"]] == ["steak", "milk"]
    assert response.json["items"][0]["price"] == 20.0 and response.json["items"][0]["currency"] == "USD"
    assert response.json["missing"] == ["nope"]
    assert response.json["next_cursor"] is None


def test_a_sku_read_does_not_mix_with_filters_or_paging(client, admin, shop):
    response = client.get("/v1/products?sku=milk&category=DAIRY", headers=admin)

    assert response.status_code == 422
    assert "category" in response.json["errors"]["query"]["sku"][0]


def test_the_product_category_and_brand_filters_match_in_any_letter_case(client, admin, shop):
    def skus(**query):
        response = get(client, admin, "/v1/products", **query)
        assert response.status_code == 200, response.json
        return [item["sku"] for item in response.json["items"]]

    assert skus(category="beef") == skus(category="Beef") == skus(category="BEEF") == ["steak"]
    assert skus(category="dairy alternatives") == ["oat"]
    assert skus(brand="cowco") == ["milk"]
    assert skus(category="dairy", brand="MOO") == []


def test_the_customer_top_category_filter_matches_in_any_letter_case(client, admin, shop):
    day = dt.datetime.now(UTC) - dt.timedelta(days=1)
    events = [{"event_id": f"e{n}", "customer": "ann", "sku": "steak", "type": "purchase", "quantity": 1,
               "value": 20.0, "channel": "store", "location": "436", "occurred_at": day.isoformat()}
              for n in range(2)]
    assert client.post("/v1/interactions", json={"events": events}, headers=admin).status_code == 200

    def ids(category):
        response = get(client, admin, "/v1/customers", top_category=category)
        assert response.status_code == 200, response.json
        return [item["id"] for item in response.json["items"]]

    assert ids("beef") == ids("Beef") == ids("BEEF") == ["ann"]
    assert ids("dairy") == []


# --- availability ------------------------------------------------------------------------

def test_availability_of_an_unknown_sku_is_404_naming_it(client, admin, shop):
    response = get(client, admin, "/v1/availability", sku="caviar", channel="store", location="436")

    assert response.status_code == 404
    assert "caviar" in response.json["message"]


def test_the_batch_availability_names_an_unknown_sku_in_its_item_and_answers_the_others(client, admin, shop):
    response = client.post("/v1/availability", headers=admin, json={
        "channel": "mobile", "location": "436", "min_seq": shop,
        "items": [{"sku": "milk", "quantity": 2}, {"sku": "caviar"}]})

    assert response.status_code == 200, response.json
    milk, caviar = response.json["items"]
    assert (milk["available_now"], milk["quantity_now"]) == (True, 6) and "error" not in milk
    assert (caviar["available_now"], caviar["quantity_now"]) == (False, 0)
    assert "caviar" in caviar["error"]


def test_the_mobile_app_asks_its_store_for_what_is_on_the_shelf(client, admin, shop):
    response = get(client, admin, "/v1/availability", sku="milk", channel="mobile", location="436", quantity=6,
                   min_seq=shop)

    assert response.status_code == 200, response.json
    assert (response.json["available_now"], response.json["quantity_now"], response.json["source_location"]) == (
        True, 6, "436")


@pytest.mark.parametrize("channel, location", [("mobile", "OLD"), ("web", "436"), ("store", "DC")])
def test_availability_and_recommendations_agree_a_location_not_serving_the_channel_is_a_422_naming_it(
        client, admin, shop, channel, location):
    answers = [
        get(client, admin, "/v1/availability", sku="milk", channel=channel, location=location),
        get(client, admin, "/v1/customers/anyone/recommendations", channel=channel, location=location),
    ]
    batch = client.post("/v1/availability", headers=admin, json={
        "channel": channel, "location": location, "items": [{"sku": "milk"}]})

    for response in answers:
        assert response.status_code == 422, response.json
        assert response.json["errors"]["query"]["location"] == [f"{location!r} does not serve channel {channel!r}"]
    assert batch.status_code == 422
    assert batch.json["errors"]["json"]["location"] == [f"{location!r} does not serve channel {channel!r}"]


# --- errors say where and what ------------------------------------------------------------

def test_a_missing_query_parameter_is_reported_under_errors_query(client, admin, shop):
    for path in ("/v1/availability?sku=milk&channel=store", "/v1/customers/anyone/recommendations?channel=store"):
        response = client.get(path, headers=admin)
        assert response.status_code == 422, response.json
        assert response.json["errors"] == {"query": {"location": ["required when channel is 'store'"]}}


def test_an_unknown_route_gets_the_json_error_shape_naming_what_was_asked(client, admin):
    response = client.get("/v1/prodcuts", headers=admin)

    assert response.status_code == 404
    assert set(response.json) == {"code", "status", "message", "errors"}
    assert "GET /v1/prodcuts" in response.json["message"] and "/docs" in response.json["message"]


def test_a_method_a_route_does_not_take_is_a_json_405_naming_the_allowed_ones(client, admin):
    response = client.delete("/v1/products", headers=admin)

    assert response.status_code == 405
    assert "DELETE" in response.json["message"] and "PUT" in response.json["message"]
