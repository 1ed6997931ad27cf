"""Interactions: idempotent by event_id, all or nothing, customers created on first sight."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import text

WHEN = "2024-03-01T10:30:00+00:00"


@pytest.fixture
def catalog(client, admin):
    """Two products and a store to refer to."""
    assert client.put("/v1/products", json=[{"sku": sku, "name": sku, "price": 1.0, "currency": "USD"}
                                            for sku in ("milk", "bread")], headers=admin).status_code == 200
    assert client.put("/v1/locations", json=[{"code": "s1", "name": "S1", "kind": "store", "channels": ["store"]}],
                      headers=admin).status_code == 200


def event(event_id: str, customer: str = "c1", sku: str = "milk", **fields) -> dict:
    return {"event_id": event_id, "customer": customer, "sku": sku, "type": "purchase", "channel": "store",
            "occurred_at": WHEN, **fields}


def post(client, headers, events):
    return client.post("/v1/interactions", json={"events": events}, headers=headers)


def stored_event_ids(runtime) -> list[str]:
    with runtime.engine.connect() as connection:
        return list(connection.execute(text("SELECT event_id FROM interactions ORDER BY event_id")).scalars())


def test_events_are_stored_and_counted(client, admin, catalog, runtime):
    response = post(client, admin, [event("e1", quantity=2, value=3.5, discount=-0.5, location="s1"),
                                    event("e2", sku="bread", type="view", channel="web")])

    assert response.status_code == 200
    assert response.json == {"accepted": 2, "duplicates": 0}
    assert stored_event_ids(runtime) == ["e1", "e2"]
    with runtime.engine.connect() as connection:
        row = connection.execute(text(
            "SELECT quantity, value, discount, channel, location_id IS NOT NULL, occurred_at "
            "FROM interactions WHERE event_id = 'e1'")).one()
    assert tuple(row[:5]) == (2, 3.5, -0.5, "store", True)
    assert str(row[5]).startswith("2024-03-01 10:30:00")


def test_an_unknown_customer_is_created_on_the_fly(client, admin, catalog, row_count):
    assert client.get("/v1/customers/newbie", headers=admin).status_code == 404

    post(client, admin, [event("e1", customer="newbie"), event("e2", customer="newbie", sku="bread")])

    body = client.get("/v1/customers/newbie", headers=admin).json
    assert body["interaction_count"] == 2
    assert body["attributes"] == {} and body["opted_out"] is False
    assert row_count("customers") == 1


def test_a_known_customer_keeps_its_profile(client, admin, catalog):
    client.put("/v1/customers", json=[{"id": "c1", "attributes": {"age": "25-34"}, "home_location": "s1"}],
               headers=admin)

    post(client, admin, [event("e1", customer="c1")])

    body = client.get("/v1/customers/c1", headers=admin).json
    assert body["attributes"] == {"age": "25-34"} and body["home_location"] == "s1"
    assert body["interaction_count"] == 1


def test_posting_the_same_events_again_stores_nothing_twice(client, admin, catalog, runtime):
    events = [event("e1"), event("e2", sku="bread")]
    post(client, admin, events)

    again = post(client, admin, events + [event("e3")])

    assert again.json == {"accepted": 1, "duplicates": 2}
    assert stored_event_ids(runtime) == ["e1", "e2", "e3"]


def test_a_repeat_keeps_the_first_version_of_an_event(client, admin, catalog, runtime):
    post(client, admin, [event("e1", quantity=1)])

    assert post(client, admin, [event("e1", quantity=99)]).json == {"accepted": 0, "duplicates": 1}

    with runtime.engine.connect() as connection:
        assert connection.execute(text("SELECT quantity FROM interactions")).scalars().all() == [1]


def test_repeats_within_one_batch_count_as_duplicates(client, admin, catalog, runtime):
    response = post(client, admin, [event("e1"), event("e2"), event("e1"), event("e1")])

    assert response.json == {"accepted": 2, "duplicates": 2}
    assert stored_event_ids(runtime) == ["e1", "e2"]


def test_an_unknown_sku_fails_the_batch_at_its_index_and_writes_nothing(client, admin, catalog, row_count):
    response = post(client, admin, [event("e1", customer="new-1"), event("e2", customer="new-2", sku="caviar"),
                                    event("e3", customer="new-3"), event("e4", sku="truffle")])

    assert response.status_code == 422
    errors = response.json["errors"]["json"]["events"]
    assert set(errors) == {"1", "3"}
    assert errors["1"] == {"sku": ["unknown sku 'caviar'"]}
    assert "truffle" in errors["3"]["sku"][0]
    # Not the valid events, not the customers they would have created.
    assert row_count("interactions") == 0
    assert row_count("customers") == 0


def test_an_unknown_location_fails_the_batch_at_its_index(client, admin, catalog, row_count):
    response = post(client, admin, [event("e1", location="s1"), event("e2", location="nowhere")])

    assert response.status_code == 422
    assert set(response.json["errors"]["json"]["events"]) == {"1"}
    assert "location" in response.json["errors"]["json"]["events"]["1"]
    assert row_count("interactions") == 0


def test_a_location_that_does_not_serve_the_events_channel_fails_the_batch(client, admin, catalog, row_count):
    response = post(client, admin, [event("e1", location="s1"), event("e2", location="s1", channel="web")])

    assert response.status_code == 422
    assert response.json["errors"]["json"]["events"] == {
        "1": {"location": ["location 's1' does not serve channel 'web' (it serves store)"]}}
    assert row_count("interactions") == 0
    assert post(client, admin, [event("e3", channel="web")]).status_code == 200      # no location: nothing to check


def test_a_naive_datetime_is_refused(client, admin, catalog, row_count):
    response = post(client, admin, [event("e1"), event("e2", occurred_at="2024-03-01T10:30:00")])

    assert response.status_code == 422
    assert "occurred_at" in response.json["errors"]["json"]["events"]["1"]
    assert row_count("interactions") == 0


def test_an_offset_datetime_is_stored_as_the_same_instant_in_utc(client, admin, catalog, runtime):
    post(client, admin, [event("e1", occurred_at="2024-03-01T12:30:00+02:00")])

    with runtime.engine.connect() as connection:
        stored = connection.execute(text("SELECT occurred_at FROM interactions")).scalar_one()
    assert str(stored).startswith("2024-03-01 10:30:00")


def test_an_event_from_the_future_is_refused(client, admin, catalog):
    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()

    response = post(client, admin, [event("e1", occurred_at=later)])

    assert response.status_code == 422
    assert "occurred_at" in response.json["errors"]["json"]["events"]["0"]


@pytest.mark.parametrize(("fields", "field"), [
    ({"type": "wishlist"}, "type"), ({"channel": "fax"}, "channel"), ({"quantity": -1}, "quantity"),
    ({"event_id": ""}, "event_id"), ({"customer": ""}, "customer"),
])
def test_an_invalid_event_is_refused_for_its_field(client, admin, catalog, row_count, fields, field):
    response = post(client, admin, [event("ok"), {**event("bad"), **fields}])

    assert response.status_code == 422
    assert field in response.json["errors"]["json"]["events"]["1"]
    assert row_count("interactions") == 0


@pytest.mark.parametrize("body", [{}, {"events": []}, [{"event_id": "e1"}]])
def test_a_body_without_events_is_refused(client, admin, body):
    assert client.post("/v1/interactions", json=body, headers=admin).status_code == 422


@pytest.mark.settings(max_batch_items=3)
def test_a_batch_over_max_batch_items_is_refused_and_nothing_is_written(client, admin, catalog, row_count):
    response = post(client, admin, [event(f"e{n}") for n in range(4)])

    assert response.status_code == 422
    assert row_count("interactions") == 0 and row_count("customers") == 0


def test_concurrent_posts_of_the_same_events_store_each_exactly_once(app, admin, catalog, runtime, row_count):
    threads_count, window, step = 8, 30, 10
    events = [event(f"e{n:03d}", customer=f"c{n % 13}", sku="milk" if n % 2 else "bread")
              for n in range(window + step * (threads_count - 1))]
    # Each thread posts an overlapping window: every event is sent by up to three threads at once.
    batches = [events[i * step:i * step + window] for i in range(threads_count)]
    start = threading.Barrier(threads_count)
    results: list[dict[str, int]] = []
    failures: list[object] = []

    def send(batch):
        client = app.test_client()
        start.wait()
        try:
            response = post(client, admin, batch)
            if response.status_code == 200:
                results.append(response.json)
            else:
                failures.append((response.status_code, response.json))
        except Exception as exc:  # reported below, not swallowed
            failures.append(exc)

    workers = [threading.Thread(target=send, args=(batch,)) for batch in batches]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert failures == []
    assert len(results) == threads_count
    assert sum(r["accepted"] for r in results) == len(events)
    assert sum(r["accepted"] + r["duplicates"] for r in results) == sum(len(b) for b in batches)
    assert stored_event_ids(runtime) == sorted(e["event_id"] for e in events)
    assert row_count("customers") == 13
