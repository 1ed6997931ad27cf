"""Stock over HTTP: events in (all or nothing, idempotent, requests refused one by one),
positions, availability and low stock out, read from the in-memory view."""
from __future__ import annotations

import datetime as dt
import itertools
import time

import pytest
from sqlalchemy import text

from promo.services import stock

UTC = dt.timezone.utc
WHEN = (dt.datetime.now(UTC) - dt.timedelta(days=1)).replace(microsecond=0).isoformat()
_ids = itertools.count(1)


@pytest.fixture
def catalog(client, admin):
    """Two products; two stores and a web warehouse."""
    assert client.put("/v1/products", json=[{"sku": sku, "name": sku, "price": 1.0, "currency": "USD"}
                                            for sku in ("milk", "bread")], headers=admin).status_code == 200
    assert client.put("/v1/locations", json=[
        {"code": "S1", "name": "Store 1", "kind": "store", "channels": ["store"], "lead_time_days": 0},
        {"code": "S2", "name": "Store 2", "kind": "store", "channels": ["store", "mobile"], "lead_time_days": 1},
        {"code": "DC", "name": "Web DC", "kind": "warehouse", "channels": ["web", "mobile"], "lead_time_days": 2},
    ], headers=admin).status_code == 200


def ev(kind: str, quantity: int | None = None, sku: str = "milk", location: str = "S1", **fields) -> dict:
    body = {"event_id": fields.pop("event_id", f"ev-{next(_ids)}"), "sku": sku, "location": location, "type": kind,
            "occurred_at": fields.pop("occurred_at", WHEN), **fields}
    if quantity is not None:
        body["quantity"] = quantity
    return body


def post(client, headers, *events):
    return client.post("/v1/stock/events", json={"events": list(events)}, headers=headers)


def ingest(client, headers, *events) -> dict:
    response = post(client, headers, *events)
    assert response.status_code == 200, response.json
    return response.json


def stock_at(client, headers, sku: str, location: str, min_seq: int = 0) -> dict:
    body = client.get(f"/v1/products/{sku}/stock?min_seq={min_seq}", headers=headers).json
    return next((p for p in body["locations"] if p["location"] == location), None)


def ids_of(runtime, sku: str, location: str) -> tuple[int, int]:
    return runtime.stock.catalog.product_ids([sku])[sku], runtime.stock.catalog.location_id(location)


def positions_table(runtime) -> dict:
    """The table itself, once brought up to the log's head (it may trail the log)."""
    stock.bring_positions_forward(runtime.unit_of_work(write=True))
    with runtime.engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT p.sku, l.code, s.on_hand, s.reserved, s.safety_stock, s.inbound FROM stock_positions s "
            "JOIN products p ON p.id = s.product_id JOIN locations l ON l.id = s.location_id")).all()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


# --- writing events -----------------------------------------------------------------------

def test_events_are_applied_and_answered_with_counts_and_the_last_sequence(client, admin, catalog):
    result = ingest(client, admin, ev("receipt", 10), ev("sale", 3), ev("receipt", 4, sku="bread", location="S2"))

    assert result == {"accepted": 3, "duplicates": 0, "refused": [], "last_seq": 3, "anomalies": 0}
    body = client.get(f"/v1/products/milk/stock?min_seq={result['last_seq']}", headers=admin).json
    assert body["sku"] == "milk" and body["as_of_seq"] >= 3
    assert body["locations"] == [{"location": "S1", "on_hand": 7, "reserved": 0, "safety_stock": 0,
                                  "available": 7, "inbound": 0}]


def test_the_sequence_continues_across_batches(client, admin, catalog):
    first = ingest(client, admin, ev("receipt", 1), ev("receipt", 1))
    second = ingest(client, admin, ev("sale", 1))

    assert (first["last_seq"], second["last_seq"]) == (2, 3)


def test_one_invalid_event_refuses_the_whole_batch_and_writes_nothing(client, admin, catalog, row_count):
    response = post(client, admin, ev("receipt", 10), ev("sale", 0), ev("adjustment", 2), ev("reserve", 1))

    assert response.status_code == 422
    errors = response.json["errors"]["json"]["events"]
    assert set(errors) == {"1", "2", "3"}
    assert "quantity" in errors["1"]
    assert "reason" in errors["2"]
    assert "reservation_id" in errors["3"]
    assert row_count("stock_events") == 0 and row_count("stock_positions") == 0


@pytest.mark.parametrize("bad, field", [
    ({"type": "inbound", "quantity": 3}, "eta"),
    ({"type": "sale", "quantity": 1, "expires_at": "2030-01-01T00:00:00+00:00"}, "expires_at"),
    ({"type": "count", "quantity": -1}, "quantity"),
    ({"type": "teleport", "quantity": 1}, "type"),
    ({"type": "sale", "quantity": 1, "occurred_at": "2024-03-01T10:00:00"}, "occurred_at"),
])
def test_each_type_has_its_own_rules(client, admin, catalog, row_count, bad, field):
    response = post(client, admin, ev("receipt", 1), {**ev("sale", 1), **bad})

    assert response.status_code == 422
    assert field in response.json["errors"]["json"]["events"]["1"]
    assert row_count("stock_events") == 0


def test_an_unknown_sku_or_location_refuses_the_batch_at_its_index(client, admin, catalog, row_count):
    response = post(client, admin, ev("receipt", 5), ev("receipt", 5, sku="caviar"), ev("receipt", 5, location="MARS"))

    assert response.status_code == 422
    errors = response.json["errors"]["json"]["events"]
    assert errors == {"1": {"sku": ["unknown sku 'caviar'"]}, "2": {"location": ["unknown location 'MARS'"]}}
    assert row_count("stock_events") == 0 and row_count("stock_positions") == 0
    assert client.get("/v1/products/milk/stock", headers=admin).json["locations"] == []


def test_a_reservation_beyond_available_is_refused_while_the_rest_applies(client, admin, catalog, row_count):
    result = ingest(client, admin, ev("receipt", 5), ev("reserve", 3, reservation_id="r1"),
                    ev("reserve", 3, reservation_id="r2"), ev("sale", 1, sku="bread"))

    assert result["accepted"] == 3 and result["duplicates"] == 0
    assert result["refused"] == [{"index": 2, "event_id": result["refused"][0]["event_id"],
                                  "reason": "insufficient_stock", "duplicate": False}]
    assert row_count("stock_events") == 4  # the refusal is logged too, with its reason
    milk = stock_at(client, admin, "milk", "S1", result["last_seq"])
    assert (milk["on_hand"], milk["reserved"], milk["available"]) == (5, 3, 2)
    assert stock_at(client, admin, "bread", "S1", result["last_seq"])["on_hand"] == -1
    assert result["anomalies"] == 1


def test_refusals_carry_their_reason_codes(client, admin, catalog):
    ingest(client, admin, ev("receipt", 10), ev("receipt", 10, location="S2"),
           ev("reserve", 2, reservation_id="r1"), ev("release", reservation_id="gone"))

    result = ingest(client, admin, ev("reserve", 1, reservation_id="r1"),
                    ev("release", reservation_id="nope"),
                    ev("release", reservation_id="r1", location="S2"),
                    ev("release", reservation_id="r1"),
                    ev("release", reservation_id="r1"))

    assert [(r["index"], r["reason"]) for r in result["refused"]] == [
        (0, "reservation_exists"), (1, "unknown_reservation"), (2, "reservation_elsewhere"), (4, "reservation_closed")]
    assert result["accepted"] == 1
    assert stock_at(client, admin, "milk", "S1", result["last_seq"])["reserved"] == 0


def test_a_repeated_batch_reports_the_original_outcomes_and_changes_nothing(client, admin, catalog, runtime, row_count):
    batch = [ev("receipt", 2), ev("reserve", 2, reservation_id="r1"), ev("reserve", 1, reservation_id="r2")]
    first = ingest(client, admin, *batch)
    assert first["refused"][0]["reason"] == "insufficient_stock"
    before = positions_table(runtime)

    again = ingest(client, admin, *batch)

    assert again == {"accepted": 0, "duplicates": 3, "last_seq": first["last_seq"], "anomalies": 0,
                     "refused": [{"index": 2, "event_id": batch[2]["event_id"], "reason": "insufficient_stock",
                                  "duplicate": True}]}
    assert row_count("stock_events") == 3
    assert positions_table(runtime) == before == {("milk", "S1"): (2, 2, 0, 0)}


def test_a_repeat_is_a_duplicate_even_when_the_new_copy_differs(client, admin, catalog):
    ingest(client, admin, ev("receipt", 5, event_id="x1"))

    result = ingest(client, admin, ev("receipt", 500, event_id="x1"), ev("sale", 1))

    assert (result["accepted"], result["duplicates"]) == (1, 1)
    assert stock_at(client, admin, "milk", "S1", result["last_seq"])["on_hand"] == 4


def test_an_event_id_repeated_within_one_batch_applies_once(client, admin, catalog, row_count):
    result = ingest(client, admin, ev("receipt", 5, event_id="x1"), ev("receipt", 5, event_id="x1"),
                    ev("reserve", 9, reservation_id="r1", event_id="x2"),
                    ev("reserve", 9, reservation_id="r1", event_id="x2"))

    assert (result["accepted"], result["duplicates"], result["last_seq"]) == (1, 2, 2)
    assert [(r["index"], r["duplicate"]) for r in result["refused"]] == [(2, False), (3, True)]
    assert row_count("stock_events") == 2
    assert stock_at(client, admin, "milk", "S1", 2)["on_hand"] == 5


def test_a_sale_against_a_reservation_consumes_the_hold(client, admin, catalog):
    ingest(client, admin, ev("receipt", 10), ev("reserve", 4, reservation_id="r1"))

    result = ingest(client, admin, ev("sale", 4, reservation_id="r1"))

    milk = stock_at(client, admin, "milk", "S1", result["last_seq"])
    assert (milk["on_hand"], milk["reserved"], milk["available"]) == (6, 0, 6)
    again = ingest(client, admin, ev("release", reservation_id="r1"))
    assert again["refused"][0]["reason"] == "reservation_closed"


def test_a_count_sets_on_hand_whatever_it_was(client, admin, catalog, runtime):
    ingest(client, admin, ev("receipt", 10), ev("sale", 3))

    result = ingest(client, admin, ev("count", 4))

    assert stock_at(client, admin, "milk", "S1", result["last_seq"])["on_hand"] == 4
    with runtime.engine.connect() as connection:
        assert connection.execute(text(
            "SELECT delta_on_hand FROM stock_events WHERE type = 'count'")).scalar_one() == -3


def test_inbound_shows_until_a_receipt_uses_it_up(client, admin, catalog):
    eta = (dt.datetime.now(UTC) + dt.timedelta(days=3)).isoformat()
    ingest(client, admin, ev("inbound", 6, eta=eta))
    assert stock_at(client, admin, "milk", "S1", 1)["inbound"] == 6

    result = ingest(client, admin, ev("receipt", 4))

    milk = stock_at(client, admin, "milk", "S1", result["last_seq"])
    assert (milk["on_hand"], milk["inbound"]) == (4, 2)


def test_a_receipt_naming_its_inbound_uses_up_that_one_and_not_the_earliest(client, admin, catalog, runtime):
    soon, later = (dt.datetime.now(UTC) + dt.timedelta(days=d) for d in (2, 6))
    ingest(client, admin, ev("inbound", 4, event_id="early", eta=soon.isoformat()),
           ev("inbound", 5, event_id="late", eta=later.isoformat()))

    result = ingest(client, admin, ev("receipt", 3, inbound_id="late"))

    assert stock_at(client, admin, "milk", "S1", result["last_seq"])["inbound"] == 6
    assert [q for _, q in runtime.stock.view.next_inbound(*ids_of(runtime, "milk", "S1"))] == [4, 2]


def test_unnamed_and_named_receipts_for_one_inbound_in_one_batch_count_it_once(client, admin, catalog, runtime):
    eta = (dt.datetime.now(UTC) + dt.timedelta(days=3)).isoformat()
    ingest(client, admin, ev("inbound", 5, event_id="n1", eta=eta))

    # The unnamed receipt is taken for 3 of n1's 5; the named one then receives the other 2 (and more).
    result = ingest(client, admin, ev("receipt", 3), ev("receipt", 4, inbound_id="n1"))

    milk = stock_at(client, admin, "milk", "S1", result["last_seq"])
    assert (milk["on_hand"], milk["inbound"]) == (7, 0)
    assert client.get("/v1/admin/stock/verify", headers=admin).json["ok"] is True
    # A process starting now (a fresh snapshot of the inbound table) sees nothing pending either.
    runtime.stock.follower.load_snapshot()
    assert runtime.stock.view.next_inbound(*ids_of(runtime, "milk", "S1")) == []
    assert stock_at(client, admin, "milk", "S1", result["last_seq"])["inbound"] == 0


def test_a_channel_key_may_read_stock_but_not_write_it(client, admin, catalog, headers_for, row_count):
    channel = headers_for("channel")

    assert post(client, channel, ev("receipt", 1)).status_code == 403
    assert row_count("stock_events") == 0
    assert client.get("/v1/products/milk/stock", headers=channel).status_code == 200
    assert post(client, headers_for("inventory"), ev("receipt", 1)).status_code == 200


def test_stock_needs_a_key(client, catalog):
    assert client.get("/v1/products/milk/stock").status_code == 401
    assert post(client, {}, ev("receipt", 1)).status_code == 401


def test_stock_of_an_unknown_sku_is_not_found(client, admin, catalog):
    assert client.get("/v1/products/caviar/stock", headers=admin).status_code == 404


# --- expiry -------------------------------------------------------------------------------

def test_an_expired_reservation_stops_holding_stock_without_any_other_write(client, admin, catalog, row_count):
    ingest(client, admin, ev("receipt", 5))
    expires = dt.datetime.now(UTC) + dt.timedelta(seconds=1.5)
    result = ingest(client, admin, ev("reserve", 5, reservation_id="r1", expires_at=expires.isoformat()))
    assert result["refused"] == []
    held = stock_at(client, admin, "milk", "S1", result["last_seq"])
    assert (held["reserved"], held["available"]) == (5, 0)
    events = row_count("stock_events")

    time.sleep(max(0.0, (expires - dt.datetime.now(UTC)).total_seconds()) + 0.2)

    freed = stock_at(client, admin, "milk", "S1", result["last_seq"])
    assert (freed["on_hand"], freed["reserved"], freed["available"]) == (5, 0, 5)
    assert row_count("stock_events") == events
    again = ingest(client, admin, ev("reserve", 5, reservation_id="r2"))
    assert again["refused"] == []


def test_a_reservation_that_expired_before_it_arrived_is_refused(client, admin, catalog):
    ingest(client, admin, ev("receipt", 5))

    result = ingest(client, admin, ev("reserve", 1, reservation_id="r1", expires_at="2020-01-01T00:00:00+00:00"))

    assert result["refused"][0]["reason"] == "insufficient_stock"


# --- availability -------------------------------------------------------------------------

@pytest.fixture
def stocked(client, admin, catalog) -> int:
    eta = dt.datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) + dt.timedelta(days=5)
    result = ingest(client, admin, ev("receipt", 3, location="S1"), ev("receipt", 10, location="S2"),
                    ev("receipt", 4, location="DC"), ev("inbound", 20, location="DC", eta=eta.isoformat()))
    return result["last_seq"]


def availability(client, headers, **query):
    return client.get("/v1/availability", query_string=query, headers=headers)


def test_a_store_with_enough_is_available_now(client, admin, stocked):
    body = availability(client, admin, sku="milk", channel="store", location="S1", quantity=2, min_seq=stocked).json

    today = dt.datetime.now(UTC).date().isoformat()
    assert body == {"sku": "milk", "quantity": 2, "channel": "store", "location": "S1", "available_now": True,
                    "quantity_now": 3, "promise_date": today, "source_location": "S1", "as_of_seq": body["as_of_seq"]}
    assert body["as_of_seq"] >= stocked


def test_a_short_store_is_promised_from_another_store_after_its_lead_time(client, admin, stocked):
    body = availability(client, admin, sku="milk", channel="store", location="S1", quantity=5, min_seq=stocked).json

    tomorrow = (dt.datetime.now(UTC).date() + dt.timedelta(days=1)).isoformat()
    assert (body["available_now"], body["quantity_now"], body["promise_date"], body["source_location"]) == (
        False, 3, tomorrow, "S2")


def test_the_web_sums_the_locations_serving_it_and_promises_inbound_when_short(client, admin, stocked):
    now = availability(client, admin, sku="milk", channel="web", quantity=4, min_seq=stocked).json
    later = availability(client, admin, sku="milk", channel="web", quantity=10, min_seq=stocked).json

    assert (now["available_now"], now["quantity_now"], now["source_location"]) == (True, 4, "DC")
    in_seven_days = (dt.datetime.now(UTC).date() + dt.timedelta(days=7)).isoformat()  # ETA in 5 days + 2 lead
    assert (later["available_now"], later["quantity_now"], later["promise_date"]) == (False, 4, in_seven_days)


def test_mobile_sums_every_location_listing_mobile(client, admin, stocked):
    body = availability(client, admin, sku="milk", channel="mobile", quantity=14, min_seq=stocked).json

    assert (body["available_now"], body["quantity_now"]) == (True, 14)


def test_nothing_anywhere_promises_no_date(client, admin, stocked):
    body = availability(client, admin, sku="bread", channel="store", location="S1", min_seq=stocked).json

    assert (body["available_now"], body["quantity_now"], body["promise_date"], body["source_location"]) == (
        False, 0, None, None)


def test_availability_follows_reservations_and_safety_stock(client, admin, stocked):
    ingest(client, admin, ev("reserve", 2, location="S2", reservation_id="r1"))
    seq = client.put("/v1/stock/safety", json=[{"sku": "milk", "location": "S2", "safety_stock": 3}],
                     headers=admin).json["last_seq"]

    body = availability(client, admin, sku="milk", channel="mobile", quantity=10, min_seq=seq).json

    assert body["quantity_now"] == 4 + (10 - 2 - 3)


def test_availability_at_an_unknown_location_is_not_found(client, admin, stocked):
    response = availability(client, admin, sku="milk", channel="store", location="MARS")

    assert response.status_code == 404


def test_availability_in_a_store_needs_the_store(client, admin, stocked):
    response = availability(client, admin, sku="milk", channel="store")

    assert response.status_code == 422
    assert "location" in response.json["errors"]["query"]


def test_availability_refuses_an_unknown_channel(client, admin, stocked):
    assert availability(client, admin, sku="milk", channel="fax").status_code == 422


def test_availability_answers_many_skus_at_once(client, admin, stocked):
    response = client.post("/v1/availability", json={
        "channel": "store", "location": "S1", "min_seq": stocked,
        "items": [{"sku": "milk", "quantity": 1}, {"sku": "milk", "quantity": 8}, {"sku": "bread"},
                  {"sku": "caviar", "quantity": 1}]}, headers=admin)

    assert response.status_code == 200
    items = response.json["items"]
    assert [(i["sku"], i["quantity"], i["available_now"], i["quantity_now"]) for i in items] == [
        ("milk", 1, True, 3), ("milk", 8, False, 3), ("bread", 1, False, 0), ("caviar", 1, False, 0)]
    assert items[1]["source_location"] == "S2"
    assert all(i["as_of_seq"] >= stocked for i in items)


# --- low stock and safety stock -----------------------------------------------------------

def test_low_stock_lists_positions_at_or_under_the_threshold(client, admin, catalog):
    result = ingest(client, admin, ev("receipt", 2), ev("receipt", 9, sku="bread"), ev("receipt", 1, location="S2"))
    client.get(f"/v1/products/milk/stock?min_seq={result['last_seq']}", headers=admin)

    body = client.get("/v1/stock/low?location=S1&threshold=2", headers=admin).json
    wider = client.get("/v1/stock/low?location=S1&threshold=9", headers=admin).json

    assert body["location"] == "S1" and body["as_of_seq"] >= result["last_seq"]
    assert [(i["sku"], i["available"], i["threshold"]) for i in body["items"]] == [("milk", 2, 2)]
    assert sorted(i["sku"] for i in wider["items"]) == ["bread", "milk"]


@pytest.mark.settings(low_stock_threshold=3)
def test_low_stock_uses_the_configured_level_by_default(client, admin, catalog):
    result = ingest(client, admin, ev("receipt", 3), ev("receipt", 4, sku="bread"))
    client.get(f"/v1/products/milk/stock?min_seq={result['last_seq']}", headers=admin)

    body = client.get("/v1/stock/low?location=S1", headers=admin).json

    assert [(i["sku"], i["threshold"]) for i in body["items"]] == [("milk", 3)]


def test_low_stock_by_days_of_cover_uses_recent_sales(client, admin, catalog):
    # milk sells 28 a 28-day window (1 a day) and has 5: under 7 days of cover.
    # bread sells 2 a day (56) and has 30: 15 days of cover, not low.
    result = ingest(client, admin, ev("receipt", 33), ev("sale", 28),
                    ev("receipt", 86, sku="bread"), ev("sale", 56, sku="bread"),
                    ev("receipt", 1, sku="bread", location="S2"))
    client.get(f"/v1/products/milk/stock?min_seq={result['last_seq']}", headers=admin)

    body = client.get("/v1/stock/low?location=S1&cover_days=7", headers=admin).json

    assert [(i["sku"], i["available"], i["daily_sales"], i["threshold"]) for i in body["items"]] == [
        ("milk", 5, 1.0, 7.0)]
    wider = client.get("/v1/stock/low?location=S1&cover_days=20", headers=admin).json
    assert sorted(i["sku"] for i in wider["items"]) == ["bread", "milk"]


def test_low_stock_takes_threshold_or_cover_days_not_both(client, admin, catalog):
    response = client.get("/v1/stock/low?location=S1&threshold=2&cover_days=3", headers=admin)

    assert response.status_code == 422


def test_low_stock_at_an_unknown_location_is_not_found(client, admin, catalog):
    assert client.get("/v1/stock/low?location=MARS", headers=admin).status_code == 404


def test_safety_stock_is_set_in_bulk_and_logged_as_events(client, admin, catalog, row_count):
    ingest(client, admin, ev("receipt", 10), ev("receipt", 10, location="S2"))

    response = client.put("/v1/stock/safety", json=[
        {"sku": "milk", "location": "S1", "safety_stock": 4},
        {"sku": "milk", "location": "S2", "safety_stock": 1}], headers=admin)

    assert response.status_code == 200
    assert response.json["accepted"] == 2 and response.json["last_seq"] == 4
    body = client.get(f"/v1/products/milk/stock?min_seq={response.json['last_seq']}", headers=admin).json
    assert [(p["location"], p["safety_stock"], p["available"]) for p in body["locations"]] == [
        ("S1", 4, 6), ("S2", 1, 9)]
    assert row_count("stock_events") == 4
    lowered = client.put("/v1/stock/safety", json=[{"sku": "milk", "location": "S1", "safety_stock": 0}],
                         headers=admin).json
    assert stock_at(client, admin, "milk", "S1", lowered["last_seq"])["available"] == 10


def test_safety_stock_refuses_the_same_position_twice(client, admin, catalog, row_count):
    response = client.put("/v1/stock/safety", json=[
        {"sku": "milk", "location": "S1", "safety_stock": 4},
        {"sku": "milk", "location": "S1", "safety_stock": 1}], headers=admin)

    assert response.status_code == 422
    assert row_count("stock_events") == 0


def test_safety_stock_refuses_an_unknown_sku(client, admin, catalog, row_count):
    response = client.put("/v1/stock/safety", json=[{"sku": "caviar", "location": "S1", "safety_stock": 4}],
                          headers=admin)

    assert response.status_code == 422
    assert row_count("stock_events") == 0


# --- signals ------------------------------------------------------------------------------

def test_selling_out_and_restocking_raise_signals_after_commit(client, admin, catalog, runtime):
    seen: list[tuple[str, int, int]] = []

    def remember(signal):
        with runtime.engine.connect() as connection:  # committed by the time we hear of it
            logged = connection.execute(text("SELECT COUNT(*) FROM stock_events")).scalar_one()
        seen.append((signal.kind, signal.payload["available"], logged))

    for kind in ("out_of_stock", "back_in_stock", "low_stock"):
        runtime.stock.signals.subscribe(kind, remember)

    ingest(client, admin, ev("receipt", 10))
    ingest(client, admin, ev("sale", 7))
    ingest(client, admin, ev("sale", 3))
    ingest(client, admin, ev("receipt", 2))

    assert seen == [("back_in_stock", 10, 1), ("low_stock", 3, 2), ("out_of_stock", 0, 3),
                    ("back_in_stock", 2, 4), ("low_stock", 2, 4)]


# --- verification and readiness -----------------------------------------------------------

def test_verify_finds_the_log_the_table_and_the_view_in_agreement(client, admin, catalog):
    ingest(client, admin, ev("receipt", 10), ev("reserve", 3, reservation_id="r1"), ev("sale", 20, sku="bread"),
           ev("inbound", 5, location="DC", eta="2030-01-01T00:00:00+00:00"))

    body = client.get("/v1/admin/stock/verify", headers=admin).json

    assert body["ok"] is True
    assert body["log_vs_table"] == [] and body["view_vs_table"] == []
    assert (body["as_of_seq"], body["view_as_of_seq"], body["positions"]) == (4, 4, 3)
    assert (body["negative_on_hand"], body["anomalies"]) == (1, 1)


def test_verify_reports_a_positions_table_that_drifted_from_the_log(client, admin, catalog, runtime):
    ingest(client, admin, ev("receipt", 10))
    stock.bring_positions_forward(runtime.unit_of_work(write=True))
    with runtime.engine.begin() as connection:
        connection.execute(text("UPDATE stock_positions SET on_hand = 11"))
    ingest(client, admin, ev("receipt", 5))     # may stay in the log only: still compared

    body = client.get("/v1/admin/stock/verify", headers=admin).json

    assert body["ok"] is False
    assert [(d["expected"], d["found"]) for d in body["log_vs_table"]] == [([15, 0, 0, 0], [16, 0, 0, 0])]


@pytest.mark.parametrize("role", ["inventory", "channel", "marketing"])
def test_only_an_admin_may_verify_stock(client, headers_for, catalog, role):
    assert client.get("/v1/admin/stock/verify", headers=headers_for(role)).status_code == 403


def test_readiness_includes_a_caught_up_stock_view(client, admin, catalog):
    ingest(client, admin, ev("receipt", 1))

    response = client.get("/readyz")

    assert response.status_code == 200
    check = response.json["checks"]["stock_view"]
    assert check["ok"] is True and "as_of_seq" in check["detail"]


def test_low_stock_pages_through_every_low_position_once(client, admin):
    client.put("/v1/locations", json=[{"code": "P1", "name": "P1", "kind": "store", "channels": ["store"]}],
               headers=admin)
    skus = [f"low-{i:02d}" for i in range(7)]
    client.put("/v1/products", json=[{"sku": s, "name": s, "price": 1, "currency": "USD"} for s in skus],
               headers=admin)
    events = [{"event_id": f"lp-{s}", "sku": s, "location": "P1", "type": "receipt", "quantity": 1,
               "occurred_at": "2026-11-25T10:00:00Z"} for s in skus]
    seq = client.post("/v1/stock/events", json={"events": events}, headers=admin).json["last_seq"]

    seen, cursor = [], None
    while True:
        url = f"/v1/stock/low?location=P1&limit=3&min_seq={seq}" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=admin).json
        seen += [item["sku"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == skus
