"""/v1/webhooks over HTTP: registration, validation, roles, deliveries, retry and ping."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from promo.domain import webhooks as rules
from promo.services import webhooks
from tests.webhook_receiver import Receiver, closed_port_url

pytestmark = pytest.mark.settings(webhook_sender_threads=0, webhook_max_attempts=1)


def create(client, admin, url="http://127.0.0.1:9/hook", events=("stock.out",), **extra):
    response = client.post("/v1/webhooks", json={"url": url, "events": list(events), **extra}, headers=admin)
    assert response.status_code == 201, response.json
    return response.json


def emit(runtime, event_type="stock.out", payload=None):
    with runtime.unit_of_work(write=True) as uow:
        event_id = webhooks.enqueue(uow, event_type, payload or {"sku": "a"})
        uow.commit()
    return event_id


def test_registering_answers_the_secret_once_and_stores_only_a_salt(client, admin, runtime):
    created = create(client, admin, events=["stock.out", "campaign.activated"], description="ops channel")

    assert created["secret"].startswith("whsec_") and created["id"].startswith("wh_")
    assert created["events"] == ["stock.out", "campaign.activated"] and created["active"] is True
    assert created["description"] == "ops channel"
    read = client.get(f"/v1/webhooks/{created['id']}", headers=admin).json
    assert "secret" not in read and read == {k: v for k, v in created.items() if k != "secret"}
    assert all("secret" not in item for item in client.get("/v1/webhooks", headers=admin).json["items"])
    with runtime.engine.connect() as connection:
        stored = [str(value) for value in connection.execute(text("SELECT * FROM webhooks")).one()]
    assert not any(created["secret"] in value or created["secret"][6:] in value for value in stored)


def test_the_secret_signs_deliveries_and_rotating_it_replaces_it(client, admin, runtime):
    with Receiver() as receiver:
        created = create(client, admin, url=receiver.url)
        emit(runtime)
        runtime.webhooks.send_due()
        rotated = client.post(f"/v1/webhooks/{created['id']}/rotate-secret", headers=admin)
        assert rotated.status_code == 200 and rotated.json["secret"] not in (created["secret"], None)
        emit(runtime)
        runtime.webhooks.send_due()

        first, second = receiver.received
        for request, secret, other in [(first, created["secret"], rotated.json["secret"]),
                                       (second, rotated.json["secret"], created["secret"])]:
            header = request["headers"]["Promo-Signature"]
            assert rules.verify_signature(secret, header, request["body"], now=time.time())
            assert not rules.verify_signature(other, header, request["body"], now=time.time())


@pytest.mark.parametrize("body,field", [
    ({"url": "ftp://example.com/x", "events": ["stock.out"]}, "url"),
    ({"url": "http://example.com/" + "a" * 2100, "events": ["stock.out"]}, "url"),
    ({"url": "http://u:p@example.com/", "events": ["stock.out"]}, "url"),
    ({"url": "http://example.com/\x00", "events": ["stock.out"]}, "url"),
    ({"url": "http://example.com/", "events": ["stock.exploded"]}, "events"),
    ({"url": "http://example.com/", "events": ["ping"]}, "events"),
    ({"url": "http://example.com/", "events": []}, "events"),
    ({"url": "http://example.com/", "events": ["stock.out", "stock.out"]}, "events"),
    ({"url": "http://example.com/"}, "events"),
    ({"url": "http://example.com/", "events": ["stock.out"], "secret": "mine"}, "secret"),
    ({"url": "http://example.com/", "events": ["stock.out"], "description": "x" * 501}, "description"),
])
def test_bad_registrations_are_422_naming_the_field_and_store_nothing(client, admin, row_count, body, field):
    response = client.post("/v1/webhooks", json=body, headers=admin)

    assert response.status_code == 422 and field in response.json["errors"]["json"]
    assert row_count("webhooks") == 0


def test_an_endpoint_is_changed_paused_and_deleted(client, admin, runtime, row_count):
    hook = create(client, admin)
    path = f"/v1/webhooks/{hook['id']}"

    changed = client.patch(path, json={"url": "https://example.com/new", "events": ["stock.low", "stock.back"],
                                       "active": False, "description": None}, headers=admin)
    assert changed.status_code == 200
    assert (changed.json["url"], changed.json["events"], changed.json["active"]) == (
        "https://example.com/new", ["stock.low", "stock.back"], False)
    assert client.patch(path, json={}, headers=admin).status_code == 422
    assert client.patch(path, json={"url": "gopher://x"}, headers=admin).status_code == 422
    assert client.patch(path, json={"events": ["nope"]}, headers=admin).status_code == 422
    emit(runtime, "stock.low")
    assert row_count("webhook_deliveries") == 0          # paused: no delivery

    client.patch(path, json={"active": True}, headers=admin)
    emit(runtime, "stock.low")
    assert row_count("webhook_deliveries") == 1
    assert client.delete(path, headers=admin).status_code == 204
    assert client.get(path, headers=admin).status_code == 404
    assert client.delete(path, headers=admin).status_code == 404
    assert row_count("webhook_deliveries") == 0


def test_the_list_is_paginated(client, admin):
    made = sorted(create(client, admin)["id"] for _ in range(5))

    first = client.get("/v1/webhooks?limit=2", headers=admin).json
    second = client.get(f"/v1/webhooks?limit=2&cursor={first['next_cursor']}", headers=admin).json
    third = client.get(f"/v1/webhooks?limit=2&cursor={second['next_cursor']}", headers=admin).json

    assert [h["id"] for h in first["items"] + second["items"] + third["items"]] == made
    assert third["next_cursor"] is None
    assert client.get("/v1/webhooks?cursor=forged", headers=admin).status_code == 422


def test_deliveries_are_listed_with_their_status_and_a_failed_one_is_retried(client, admin, runtime):
    hook = create(client, admin, url=closed_port_url())
    base = f"/v1/webhooks/{hook['id']}/deliveries"
    event_ids = [emit(runtime, payload={"n": n}) for n in range(3)]
    runtime.webhooks.send_due()        # max one attempt: all three fail at once

    listing = client.get(f"{base}?status=failed&limit=2", headers=admin)
    assert listing.status_code == 200
    page = listing.json
    rest = client.get(f"{base}?status=failed&limit=2&cursor={page['next_cursor']}", headers=admin).json
    items = page["items"] + rest["items"]
    assert [item["event_id"] for item in items] == event_ids[::-1]        # newest first
    assert {(i["status"], i["attempts"], i["last_status_code"]) for i in items} == {("failed", 1, None)}
    assert all(i["last_error"] and i["last_attempt_at"] and i["next_attempt_at"] is None for i in items)
    assert client.get(f"{base}?status=pending", headers=admin).json["items"] == []
    assert client.get(f"{base}?status=lost", headers=admin).status_code == 422

    with Receiver() as receiver:
        client.patch(f"/v1/webhooks/{hook['id']}", json={"url": receiver.url}, headers=admin)
        retried = client.post(f"{base}/{items[0]['id']}/retry", headers=admin)
        assert retried.status_code == 200 and (retried.json["status"], retried.json["attempts"]) == ("pending", 0)
        again = client.post(f"{base}/{items[0]['id']}/retry", headers=admin)
        assert again.status_code == 409 and again.json["reason"] == "delivery_not_failed"
        runtime.webhooks.send_due()
        assert [r["headers"]["Promo-Event-Id"] for r in receiver.received] == [items[0]["event_id"]]
    delivered = client.get(f"{base}?status=delivered", headers=admin).json["items"]
    assert [(d["id"], d["last_status_code"]) for d in delivered] == [(items[0]["id"], 200)]
    for missing in ("999999", "0", "abc", "9" * 30):
        assert client.post(f"{base}/{missing}/retry", headers=admin).status_code == 404
    other = create(client, admin)
    assert client.post(f"/v1/webhooks/{other['id']}/deliveries/{items[1]['id']}/retry",
                       headers=admin).status_code == 404      # another endpoint's delivery


def test_a_ping_goes_to_that_endpoint_alone(client, admin, runtime):
    with Receiver() as receiver:
        hook = create(client, admin, url=receiver.url)
        create(client, admin, url=receiver.url)

        response = client.post(f"/v1/webhooks/{hook['id']}/ping", headers=admin)
        assert response.status_code == 202
        runtime.webhooks.send_due()

        [request] = receiver.received
        assert request["headers"]["Promo-Event-Type"] == "ping"
        assert request["headers"]["Promo-Event-Id"] == response.json["event_id"]
        assert receiver.events()[0]["data"] == {"webhook": hook["id"]}
    client.patch(f"/v1/webhooks/{hook['id']}", json={"active": False}, headers=admin)
    paused = client.post(f"/v1/webhooks/{hook['id']}/ping", headers=admin)
    assert paused.status_code == 409 and paused.json["reason"] == "webhook_inactive"
    assert client.post("/v1/webhooks/wh_nothing/ping", headers=admin).status_code == 404


@pytest.mark.parametrize("role", ["inventory", "channel", "marketing"])
def test_only_admins_manage_webhooks(client, headers_for, role):
    headers = headers_for(role)

    assert client.get("/v1/webhooks", headers=headers).status_code == 403
    assert client.post("/v1/webhooks", json={"url": "http://example.com/", "events": ["stock.out"]},
                       headers=headers).status_code == 403


def test_registrations_past_the_limit_are_a_409(client, admin, monkeypatch, row_count):
    monkeypatch.setattr(webhooks, "MAX_WEBHOOKS", 2)
    create(client, admin)
    create(client, admin)

    refused = client.post("/v1/webhooks", json={"url": "http://example.com/", "events": ["stock.out"]}, headers=admin)

    assert refused.status_code == 409 and refused.json["reason"] == "too_many_webhooks"
    assert row_count("webhooks") == 2


def webhook_samples(client) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    found = {}
    for family in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True)):
        for sample in family.samples:
            if sample.name == "promo_webhook_deliveries_total":
                found[sample.labels["outcome"]] = sample.value
            elif sample.name == "promo_webhook_pending":
                found["pending"] = sample.value
    return found


def test_metrics_count_outcomes_and_the_outbox(client, admin, runtime):
    before = webhook_samples(client)
    hook = create(client, admin, url=closed_port_url())
    emit(runtime)
    emit(runtime)
    runtime.webhooks.refresh_pending_gauge()
    assert webhook_samples(client)["pending"] == 2

    runtime.webhooks.send_due()
    runtime.webhooks.refresh_pending_gauge()

    after = webhook_samples(client)
    assert after["failed"] - before.get("failed", 0) == 2 and after["pending"] == 0
    assert client.get(f"/v1/webhooks/{hook['id']}/deliveries?status=failed", headers=admin).json["items"]
