"""The campaigns list of the web app: every campaign with its status, schedule, channels,
live stock coverage, redemptions against the cap and budget used; filters and search."""
from __future__ import annotations

import datetime as dt

from promo.services import campaign_lifecycle, campaigns, catalog, staff
from promo.services.stock import ingest_events
from tests.web.test_sign_in import PASSWORD, sign_in

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def make(runtime, name: str, **changes) -> str:
    body = {"name": name, "starts_at": NOW - dt.timedelta(hours=1), "ends_at": NOW + dt.timedelta(days=3),
            "channels": ["store"], "products": {"skus": ["milk"]}, "discount": {"type": "percent", "value": 10},
            **changes}
    return campaigns.create_campaign(runtime.unit_of_work(write=True), body, actor="tester")["id"]


def test_the_list_shows_each_campaign_with_its_stock_badge_limits_and_filters(client, runtime):
    staff.create_user(runtime.unit_of_work(write=True), email="anna@shop.example", name="Anna",
                      role="marketing", password=PASSWORD)
    catalog.upsert_products(runtime.unit_of_work(write=True), [
        {"sku": "milk", "name": "Milk", "price": 2.0, "currency": "USD"}])
    catalog.upsert_locations(runtime.unit_of_work(write=True), [
        {"code": "S1", "name": "S1", "kind": "store", "channels": ["store"]}])
    ingest_events(runtime.unit_of_work(write=True), runtime.stock, [
        {"event_id": "in-1", "sku": "milk", "location": "S1", "type": "receipt", "quantity": 500,
         "occurred_at": NOW, "reason": None, "reservation_id": None, "expires_at": None, "eta": None}])
    runtime.stock.follower.wait_for(runtime.stock.view.as_of_seq + 1, 2)
    live = make(runtime, "Milk week", limits={"max_redemptions": 100, "budget": 250})
    campaign_lifecycle.transition(runtime, live, "activate", actor="tester")
    make(runtime, "Draft for spring", description="cheese and milk")
    sign_in(client)

    page = client.get("/app/campaigns").get_data(as_text=True)

    assert "Milk week" in page and "Draft for spring" in page
    assert 'class="badge badge-ok"' in page            # 500 on the shelf: covered
    assert "0 / 100" in page and "0.00 / 250.00" in page
    active_only = client.get("/app/campaigns", query_string={"status": "active"}).get_data(as_text=True)
    assert "Milk week" in active_only and "Draft for spring" not in active_only
    searched = client.get("/app/campaigns", query_string={"q": "spring"}).get_data(as_text=True)
    assert "Draft for spring" in searched and "Milk week" not in searched
    assert client.get("/app/campaigns", query_string={"status": "nonsense"}).status_code == 200


def test_the_list_needs_a_signed_in_person(client):
    answer = client.get("/app/campaigns")
    assert answer.status_code == 302 and "/app/sign-in" in answer.headers["Location"]
