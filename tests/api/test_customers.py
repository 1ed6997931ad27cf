"""Customers: bulk upsert with a home location, one by id, keyset pagination."""
from __future__ import annotations

import pytest

STORE = {"code": "s1", "name": "High Street", "kind": "store", "channels": ["store"]}


@pytest.fixture
def store(client, admin):
    assert client.put("/v1/locations", json=[STORE], headers=admin).status_code == 200
    return STORE["code"]


def put(client, headers, items):
    return client.put("/v1/customers", json=items, headers=headers)


def test_customers_are_created_with_their_home_location(client, admin, store, row_count):
    response = put(client, admin, [{"id": "c1", "attributes": {"age": "35-44"}, "home_location": store},
                                   {"id": "c2"}])

    assert response.status_code == 200 and response.json == {"upserted": 2}
    assert row_count("customers") == 2
    body = client.get("/v1/customers/c1", headers=admin).json
    assert {k: body[k] for k in ("id", "attributes", "home_location", "opted_out", "interaction_count")} == {
        "id": "c1", "attributes": {"age": "35-44"}, "home_location": "s1", "opted_out": False,
        "interaction_count": 0}
    other = client.get("/v1/customers/c2", headers=admin).json
    assert other["home_location"] is None and other["attributes"] == {}


def test_putting_a_known_id_replaces_the_customer_but_keeps_its_creation_time(client, admin, store, row_count):
    put(client, admin, [{"id": "c1", "attributes": {"age": "35-44"}, "home_location": store}])
    created = client.get("/v1/customers/c1", headers=admin).json

    response = put(client, admin, [{"id": "c1", "attributes": {"income": "high"}, "opted_out": True}])

    assert response.status_code == 200
    body = client.get("/v1/customers/c1", headers=admin).json
    assert body["attributes"] == {"income": "high"}
    assert body["home_location"] is None
    assert body["opted_out"] is True
    assert body["created_at"] == created["created_at"]
    assert body["updated_at"] >= created["updated_at"]
    assert row_count("customers") == 1


def test_an_unknown_customer_is_404(client, admin):
    response = client.get("/v1/customers/nobody", headers=admin)

    assert response.status_code == 404
    assert "nobody" in response.json["message"]


def test_an_unknown_home_location_is_refused_per_item_and_nothing_is_written(client, admin, store, row_count):
    response = put(client, admin, [{"id": "c1", "home_location": store},
                                   {"id": "c2", "home_location": "atlantis"},
                                   {"id": "c3"},
                                   {"id": "c4", "home_location": "lemuria"}])

    assert response.status_code == 422
    errors = response.json["errors"]["json"]
    assert set(errors) == {"1", "3"}
    assert "atlantis" in errors["1"]["home_location"][0]
    assert "lemuria" in errors["3"]["home_location"][0]
    assert row_count("customers") == 0


def test_an_id_repeated_in_a_batch_is_refused_at_its_index_and_nothing_is_written(client, admin, row_count):
    response = put(client, admin, [{"id": "c1"}, {"id": "c2"}, {"id": "c1", "opted_out": True}])

    assert response.status_code == 422
    assert set(response.json["errors"]["json"]) == {"2"}
    assert "id" in response.json["errors"]["json"]["2"]
    assert row_count("customers") == 0


def test_a_repeated_id_and_an_unknown_location_on_one_item_are_both_reported(client, admin):
    response = put(client, admin, [{"id": "c1"}, {"id": "c1", "home_location": "atlantis"}])

    assert response.status_code == 422
    assert set(response.json["errors"]["json"]["1"]) == {"id", "home_location"}


@pytest.mark.parametrize("item", [{}, {"id": ""}, {"id": "x" * 65}, {"id": "c1", "opted_out": "perhaps"},
                                  {"id": "c1", "attributes": ["a"]}])
def test_an_invalid_customer_is_refused(client, admin, row_count, item):
    response = put(client, admin, [{"id": "ok"}, item])

    assert response.status_code == 422
    assert list(response.json["errors"]["json"]) == ["1"]
    assert row_count("customers") == 0


@pytest.mark.settings(max_batch_items=2)
def test_a_batch_over_max_batch_items_is_refused_and_nothing_is_written(client, admin, row_count):
    response = put(client, admin, [{"id": f"c{n}"} for n in range(3)])

    assert response.status_code == 422
    assert row_count("customers") == 0


def test_pages_walk_every_customer_exactly_once_in_id_order(client, admin, store):
    ids = [f"c{n:02d}" for n in range(11)]
    put(client, admin, [{"id": i, "home_location": store if n % 2 else None} for n, i in enumerate(reversed(ids))])

    served, cursor = [], None
    while True:
        page = client.get("/v1/customers", query_string={"limit": 4, **({"cursor": cursor} if cursor else {})},
                          headers=admin)
        assert page.status_code == 200
        served += page.json["items"]
        if not (cursor := page.json["next_cursor"]):
            break

    assert [c["id"] for c in served] == ids
    assert {c["home_location"] for c in served} == {"s1", None}


def test_a_cursor_for_customers_cannot_be_tampered_with(client, admin):
    put(client, admin, [{"id": f"c{n}"} for n in range(3)])
    cursor = client.get("/v1/customers?limit=1", headers=admin).json["next_cursor"]

    response = client.get("/v1/customers", query_string={"cursor": cursor.swapcase()}, headers=admin)

    assert response.status_code == 422
