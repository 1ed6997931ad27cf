"""Locations: stores and warehouses with the channels they serve."""
from __future__ import annotations

import pytest


def location(code: str, **fields) -> dict:
    return {"code": code, "name": f"Location {code}", "kind": "store", "channels": ["store"], **fields}


def put(client, headers, items):
    return client.put("/v1/locations", json=items, headers=headers)


def test_a_location_is_created_with_its_defaults(client, admin, row_count):
    response = put(client, admin, [location("s1", channels=["store", "web"])])

    assert response.status_code == 200 and response.json == {"upserted": 1}
    body = client.get("/v1/locations/s1", headers=admin).json
    assert {k: body[k] for k in ("code", "name", "kind", "channels", "lead_time_days", "region")} == {
        "code": "s1", "name": "Location s1", "kind": "store", "channels": ["store", "web"],
        "lead_time_days": 0, "region": None}
    assert row_count("locations") == 1


def test_putting_a_known_code_replaces_the_location(client, admin, row_count):
    put(client, admin, [location("w1", kind="warehouse", channels=["web"], lead_time_days=2, region="north")])

    put(client, admin, [location("w1", name="Hub", kind="warehouse", channels=["web", "mobile"])])

    body = client.get("/v1/locations/w1", headers=admin).json
    assert body["name"] == "Hub"
    assert body["channels"] == ["web", "mobile"]
    assert body["lead_time_days"] == 0 and body["region"] is None
    assert row_count("locations") == 1


def test_an_unknown_location_is_404(client, admin):
    response = client.get("/v1/locations/nowhere", headers=admin)

    assert response.status_code == 404
    assert "nowhere" in response.json["message"]


@pytest.mark.parametrize(("fields", "field"), [
    ({"kind": "kiosk"}, "kind"),
    ({"channels": []}, "channels"),
    ({"channels": ["store", "fax"]}, "channels"),
    ({"channels": ["web", "web"]}, "channels"),
    ({"channels": "store"}, "channels"),
    ({"lead_time_days": -1}, "lead_time_days"),
    ({"lead_time_days": 366}, "lead_time_days"),
    ({"code": ""}, "code"),
])
def test_an_invalid_location_is_refused_for_its_field_and_nothing_is_written(client, admin, row_count, fields, field):
    response = put(client, admin, [location("ok"), {**location("bad"), **fields}])

    assert response.status_code == 422
    assert list(response.json["errors"]["json"]) == ["1"]
    assert field in response.json["errors"]["json"]["1"]
    assert row_count("locations") == 0


def test_a_code_repeated_in_a_batch_is_refused_at_its_index(client, admin, row_count):
    response = put(client, admin, [location("s1"), location("s1", name="Again")])

    assert response.status_code == 422
    assert set(response.json["errors"]["json"]) == {"1"}
    assert "code" in response.json["errors"]["json"]["1"]
    assert row_count("locations") == 0


@pytest.mark.settings(max_batch_items=2)
def test_a_batch_over_max_batch_items_is_refused_and_nothing_is_written(client, admin, row_count):
    response = put(client, admin, [location(f"s{n}") for n in range(3)])

    assert response.status_code == 422
    assert row_count("locations") == 0


def test_the_kind_filter_lists_only_that_kind_across_pages(client, admin):
    put(client, admin, [location(f"s{n}", kind="warehouse" if n % 2 else "store") for n in range(7)])

    codes, cursor = [], None
    while True:
        page = client.get("/v1/locations", query_string={"kind": "warehouse", "limit": 2,
                                                         **({"cursor": cursor} if cursor else {})}, headers=admin)
        assert page.status_code == 200
        codes += [item["code"] for item in page.json["items"]]
        assert all(item["kind"] == "warehouse" for item in page.json["items"])
        if not (cursor := page.json["next_cursor"]):
            break

    assert codes == ["s1", "s3", "s5"]


def test_an_unknown_kind_filter_is_refused(client, admin):
    response = client.get("/v1/locations?kind=kiosk", headers=admin)

    assert response.status_code == 422
    assert "kind" in response.json["errors"]["query"]
