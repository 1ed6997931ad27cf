"""Campaigns through the HTTP API: building and validating, editing rules per status, the
lifecycle with its audit log, the stock check, refusal and override, imported history
and copies. (Automatic transitions: test_campaign_watch.py.)"""
from __future__ import annotations

import datetime as dt
import itertools
import time

import pytest

from promo.services import campaign_history

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
_ids = itertools.count()


def iso(moment: dt.datetime) -> str:
    return moment.isoformat()


# Four products in two categories (the offers' tests sell them too).
PRODUCTS = [
    {"sku": "milk", "name": "Milk", "price": 2.0, "currency": "USD", "category": "DAIRY", "brand": "Cowco"},
    {"sku": "cheese", "name": "Cheese", "price": 5.0, "currency": "USD", "category": "DAIRY", "brand": "Cowco"},
    {"sku": "steak", "name": "Steak", "price": 20.0, "currency": "USD", "category": "MEAT", "brand": "Moo"},
    {"sku": "ham", "name": "Ham", "price": 8.0, "currency": "USD", "category": "MEAT", "brand": "Oink"},
]


@pytest.fixture
def shop(client, admin):
    """Four products in two categories; two stores and a web warehouse; three customers
    with purchases (so they have profiles)."""
    assert client.put("/v1/products", json=PRODUCTS, headers=admin).status_code == 200
    assert client.put("/v1/locations", json=[
        {"code": "S1", "name": "Store 1", "kind": "store", "channels": ["store", "mobile"]},
        {"code": "S2", "name": "Store 2", "kind": "store", "channels": ["store"]},
        {"code": "DC", "name": "Web DC", "kind": "warehouse", "channels": ["web"]},
    ], headers=admin).status_code == 200
    events = [{"event_id": f"p{n}", "customer": customer, "sku": sku, "type": "purchase", "quantity": 1,
               "value": 5.0, "channel": "store", "location": "S1",
               "occurred_at": iso(NOW - dt.timedelta(days=3 + n))}
              for n, (customer, sku) in enumerate([("ann", "milk"), ("bob", "steak"), ("cy", "milk"), ("ann", "ham")])]
    assert client.post("/v1/interactions", json={"events": events}, headers=admin).status_code == 200


def stock(client, admin, runtime, *counts: tuple[str, str, int]) -> int:
    """Count events setting on-hand; waits until this process's view has them."""
    events = [{"event_id": f"st-{next(_ids)}", "sku": sku, "location": loc, "type": "count", "quantity": qty,
               "occurred_at": iso(dt.datetime.now(dt.timezone.utc))} for sku, loc, qty in counts]
    response = client.post("/v1/stock/events", json={"events": events}, headers=admin)
    assert response.status_code == 200, response.json
    seq = response.json["last_seq"]
    deadline = time.monotonic() + 5
    while runtime.stock.view.as_of_seq < seq:
        assert time.monotonic() < deadline, "the stock view did not catch up"
        time.sleep(0.01)
    return seq


def body(**changes) -> dict:
    campaign = {
        "name": "Dairy days", "description": "Ten percent off dairy",
        "starts_at": iso(NOW - dt.timedelta(hours=1)), "ends_at": iso(NOW + dt.timedelta(days=7)),
        "channels": ["store"], "products": {"categories": ["dairy"]},
        "discount": {"type": "percent", "value": 10},
    }
    campaign.update(changes)
    return campaign


def create(client, headers, **changes) -> dict:
    response = client.post("/v1/campaigns", json=body(**changes), headers=headers)
    assert response.status_code == 201, response.json
    return response.json


# --- building -------------------------------------------------------------------------------

def test_a_campaign_is_created_as_a_draft_with_its_products_resolved(client, marketing, shop):
    made = create(client, marketing, products={"skus": ["steak"], "categories": ["Dairy"], "brands": ["oink"]},
                  limits={"max_redemptions": 100, "budget": 250.5}, holdout_percent=10, priority=3,
                  stock_policy={"on_stockout": "pause_campaign"})

    assert made["status"] == "draft" and made["source"] == "api" and made["id"].startswith("cmp-")
    assert made["products"]["resolved"] == 4  # steak, milk and cheese (DAIRY), ham (Oink)
    assert made["limits"] == {"max_redemptions": 100, "per_customer": None, "budget": 250.5}
    assert made["stock_policy"] == {"min_cover_ratio": 1.0, "min_available_per_location": 1,
                                    "on_stockout": "pause_campaign", "resume_on_restock": True}
    assert made["targeting"] == {"type": "everyone"} and made["locations"] is None
    assert made["created_by"] == "test-marketing"
    assert client.get(f"/v1/campaigns/{made['id']}", headers=marketing).json == made


@pytest.mark.parametrize("changes, field, words", [
    ({"products": {"skus": ["milk", "nope", "gone"]}}, "products", "'nope', 'gone'"),
    ({"products": {"categories": ["toys"]}}, "products", "match no product"),
    ({"products": {}}, "products", "at least one"),
    ({"ends_at": iso(NOW - dt.timedelta(days=1))}, "ends_at", "after starts_at"),
    ({"channels": ["store", "fax"]}, "channels", "Must be one of"),
    ({"channels": []}, "channels", "Length"),
    ({"locations": ["S1", "XX"]}, "locations", "unknown location 'XX'"),
    ({"locations": ["DC"]}, "locations", "serves none of the campaign's channels"),
    ({"discount": {"type": "percent", "value": 120}}, "discount", "at most 100"),
    ({"discount": {"type": "buy_x_get_y", "buy": 2}}, "discount", "needs 'get'"),
    ({"discount": {"type": "amount_off", "value": 1, "buy": 2}}, "discount", "takes no 'buy'"),
    ({"targeting": {"type": "everyone", "min_visits": 2}}, "targeting", "takes no conditions"),
    ({"targeting": {"type": "profile"}}, "targeting", "at least one condition"),
    ({"targeting": {"type": "model", "top_percent": 10, "min_probability": 0.2}}, "targeting", "exactly one"),
    ({"targeting": {"type": "profile", "segments": ["vip"]}}, "targeting", "Must be one of"),
    ({"holdout_percent": 60}, "holdout_percent", "50"),
    ({"limits": {"per_customer": 0}}, "limits", "greater than or equal to 1"),
])
def test_bad_campaigns_are_422s_naming_the_field_and_write_nothing(client, marketing, shop, row_count, changes,
                                                                    field, words):
    response = client.post("/v1/campaigns", json=body(**changes), headers=marketing)

    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["json"]
    assert words in str(response.json["errors"]["json"][field])
    assert row_count("campaigns") == 0 and row_count("campaign_events") == 0


def test_every_bound_is_storable_on_this_database(client, marketing, shop):
    made = create(client, marketing, limits={"max_redemptions": 1_000_000_000, "per_customer": 1_000_000,
                                             "budget": 1e9},
                  discount={"type": "fixed_price", "value": 1e9}, priority=1000, holdout_percent=50,
                  stock_policy={"min_cover_ratio": 100, "min_available_per_location": 1_000_000_000},
                  targeting={"type": "profile", "min_spend": 1e12, "max_days_since_purchase": 36_500})
    assert made["limits"]["budget"] == 1e9 and made["holdout_percent"] == 50
    report = client.post(f"/v1/campaigns/{made['id']}/check", headers=marketing)
    assert report.status_code == 200 and report.json["audience"]["eligible"] == 0
    assert client.patch(f"/v1/campaigns/{made['id']}", json={"limits": {"budget": 1.0000001e9}},
                        headers=marketing).status_code == 422


def test_only_marketing_and_admin_keys_reach_campaigns(client, headers_for, shop):
    for role, status in (("channel", 403), ("inventory", 403), ("marketing", 201), ("admin", 201)):
        assert client.post("/v1/campaigns", json=body(), headers=headers_for(role)).status_code == status
    assert client.get("/v1/campaigns").status_code == 401


def test_the_list_filters_by_status_words_and_source_and_pages_newest_first(client, marketing, shop):
    first = create(client, marketing, name="Spring dairy")
    second = create(client, marketing, name="Meat week", products={"categories": ["MEAT"]})
    assert client.post(f"/v1/campaigns/{second['id']}/archive", json={}, headers=marketing).status_code == 200

    everything = client.get("/v1/campaigns?limit=1", headers=marketing).json
    assert [c["id"] for c in everything["items"]] == [second["id"]]
    rest = client.get(f"/v1/campaigns?limit=1&cursor={everything['next_cursor']}", headers=marketing).json
    assert [c["id"] for c in rest["items"]] == [first["id"]] and rest["next_cursor"] is None
    assert [c["id"] for c in client.get("/v1/campaigns?status=archived", headers=marketing).json["items"]] == [second["id"]]
    assert [c["id"] for c in client.get("/v1/campaigns?q=SPRING", headers=marketing).json["items"]] == [first["id"]]
    assert client.get("/v1/campaigns?source=import", headers=marketing).json["items"] == []
    assert client.get("/v1/campaigns?status=lost", headers=marketing).status_code == 422


# --- editing --------------------------------------------------------------------------------

def test_a_draft_may_change_anything_and_each_change_is_audited(client, marketing, shop):
    made = create(client, marketing)
    response = client.patch(f"/v1/campaigns/{made['id']}", json={
        "products": {"skus": ["steak"]}, "discount": {"type": "fixed_price", "value": 15}, "name": "Steak night"},
        headers=marketing)

    assert response.status_code == 200, response.json
    assert response.json["products"]["resolved"] == 1 and response.json["discount"] == {"type": "fixed_price",
                                                                                          "value": 15.0}
    assert response.json["revision"] == made["revision"] + 1
    history = client.get(f"/v1/campaigns/{made['id']}/history", headers=marketing).json["items"]
    assert [e["action"] for e in history] == ["created", "updated"]
    assert history[1]["before"]["name"] == "Dairy days" and history[1]["after"]["name"] == "Steak night"
    assert history[1]["actor"] == "test-marketing"


def test_a_running_campaign_keeps_its_promise_but_may_end_later(client, marketing, runtime, admin, shop):
    stock(client, admin, runtime, ("milk", "S1", 500), ("cheese", "S1", 500), ("milk", "S2", 500),
          ("cheese", "S2", 500))
    made = create(client, marketing)
    assert client.post(f"/v1/campaigns/{made['id']}/activate", json={}, headers=marketing).status_code == 200

    refused = client.patch(f"/v1/campaigns/{made['id']}", json={"discount": {"type": "percent", "value": 50},
                                                                 "holdout_percent": 5}, headers=marketing)
    assert refused.status_code == 409 and refused.json["reason"] == "not_editable"
    assert "discount, holdout_percent" in refused.json["message"]

    later = iso(NOW + dt.timedelta(days=30))
    moved = client.patch(f"/v1/campaigns/{made['id']}", json={"ends_at": later, "limits": {"per_customer": 2}},
                         headers=marketing)
    assert moved.status_code == 200, moved.json
    assert moved.json["ends_at"].startswith(later[:19]) and moved.json["limits"]["per_customer"] == 2
    past = client.patch(f"/v1/campaigns/{made['id']}", json={"ends_at": iso(NOW - dt.timedelta(minutes=1))},
                        headers=marketing)
    assert past.status_code == 422 and "ends_at" in past.json["errors"]["json"]


def test_limits_and_the_stock_policy_change_key_by_key(client, marketing, shop):
    made = create(client, marketing, limits={"max_redemptions": 100, "budget": 50},
                  stock_policy={"on_stockout": "pause_campaign", "min_cover_ratio": 2})
    url = f"/v1/campaigns/{made['id']}"

    changed = client.patch(url, json={"limits": {"per_customer": 1}, "stock_policy": {"min_cover_ratio": 1.5}},
                           headers=marketing).json
    assert changed["limits"] == {"max_redemptions": 100, "per_customer": 1, "budget": 50.0}
    assert changed["stock_policy"]["on_stockout"] == "pause_campaign" and changed["stock_policy"]["min_cover_ratio"] == 1.5
    cleared = client.patch(url, json={"limits": {"budget": None}}, headers=marketing).json
    assert cleared["limits"] == {"max_redemptions": 100, "per_customer": 1, "budget": None}


def test_an_edit_that_breaks_the_dates_is_refused_whole(client, marketing, shop):
    made = create(client, marketing)
    response = client.patch(f"/v1/campaigns/{made['id']}", json={
        "name": "Renamed", "starts_at": iso(NOW + dt.timedelta(days=8))}, headers=marketing)

    assert response.status_code == 422 and "ends_at" in response.json["errors"]["json"]
    assert client.get(f"/v1/campaigns/{made['id']}", headers=marketing).json["name"] == "Dairy days"


# --- lifecycle, check, refusal and override ---------------------------------------------------

def test_activation_is_refused_when_stock_cannot_carry_the_campaign_and_the_refusal_is_audited(
        client, marketing, admin, runtime, shop):
    seq = stock(client, admin, runtime, ("milk", "S1", 0))
    made = create(client, marketing, stock_policy={"on_stockout": "pause_campaign"})

    refused = client.post(f"/v1/campaigns/{made['id']}/activate", json={}, headers=marketing)

    assert refused.status_code == 409 and refused.json["reason"] == "stock_insufficient"
    report = refused.json["details"]
    assert report["verdict"] == "short" and report["policy_met"] is False and report["as_of_seq"] >= seq
    assert {(p["sku"], p["location"], p["status"]) for p in report["positions"]} == {
        ("milk", "S1", "short"), ("milk", "S2", "short"), ("cheese", "S1", "short"), ("cheese", "S2", "short")}
    assert client.get(f"/v1/campaigns/{made['id']}", headers=marketing).json["status"] == "draft"
    history = client.get(f"/v1/campaigns/{made['id']}/history", headers=marketing).json["items"]
    assert history[-1]["action"] == "activation_refused" and history[-1]["stock_seq"] == report["as_of_seq"]


def test_an_override_activates_anyway_and_its_reason_is_audited(client, marketing, shop):
    made = create(client, marketing)
    response = client.post(f"/v1/campaigns/{made['id']}/activate",
                           json={"override": {"reason": "stock arrives tonight"}}, headers=marketing)

    assert response.status_code == 200, response.json
    assert response.json["status"] == "active"
    last = client.get(f"/v1/campaigns/{made['id']}/history", headers=marketing).json["items"][-1]
    assert last["action"] == "activated" and last["reason"] == "stock arrives tonight"
    assert last["details"]["override"] == {"reason": "stock arrives tonight", "needed": True}
    assert last["before"]["status"] == "draft" and last["after"]["status"] == "active"
    assert client.post(f"/v1/campaigns/{made['id']}/activate", json={"override": {}},
                       headers=marketing).status_code == 422


def test_the_check_sets_expected_units_against_available_stock(client, marketing, admin, runtime, shop):
    seq = stock(client, admin, runtime, ("milk", "S1", 100), ("cheese", "S1", 1), ("milk", "S2", 2),
                ("cheese", "S2", 100))
    made = create(client, marketing, holdout_percent=0,
                  stock_policy={"min_available_per_location": 2, "min_cover_ratio": 1})

    report = client.post(f"/v1/campaigns/{made['id']}/check", headers=marketing).json

    assert report["as_of_seq"] >= seq and report["products"] == 2 and report["locations"] == 2
    assert report["audience"] == {"eligible": 3, "held_out": 0, "treated": 3, "opted_out": 0}
    assert report["expected_from"] == "fallback_rate"
    assert report["expected_redemptions"] == pytest.approx(0.06)
    assert report["counts"] == {"ok": 2, "at_risk": 1, "short": 1}
    assert report["positions"][0] == {"sku": "cheese", "location": "S1", "available": 1,
                                      "expected_units": pytest.approx(report["positions"][0]["expected_units"]),
                                      "cover": report["positions"][0]["cover"], "status": "short"}
    assert report["positions"][1]["status"] == "at_risk" and report["positions"][1]["sku"] == "milk"
    # exclude_product (the default): one short pair is excluded, the campaign may run.
    assert report["verdict"] == "at_risk" and report["policy_met"] is True
    assert {row["location"]: row["short"] for row in report["by_location"]} == {"S1": 1, "S2": 0}


def test_the_lifecycle_moves_only_along_its_arrows(client, marketing, shop):
    made = create(client, marketing, starts_at=iso(NOW + dt.timedelta(days=1)),
                  ends_at=iso(NOW + dt.timedelta(days=2)))
    url = f"/v1/campaigns/{made['id']}"

    not_yet = client.post(f"{url}/activate", json={}, headers=marketing)
    assert not_yet.status_code == 409 and not_yet.json["reason"] == "not_started"
    assert client.post(f"{url}/pause", json={}, headers=marketing).json["reason"] == "invalid_transition"
    assert client.post(f"{url}/schedule", json={"reason": "launch"}, headers=marketing).json["status"] == "scheduled"
    assert client.post(f"{url}/archive", json={}, headers=marketing).json["reason"] == "invalid_transition"
    assert client.post(f"{url}/end", json={}, headers=marketing).json["status"] == "ended"
    assert client.patch(url, json={"channels": ["web"]}, headers=marketing).json["reason"] == "not_editable"
    assert client.post(f"{url}/archive", json={}, headers=marketing).json["status"] == "archived"
    assert client.patch(url, json={"name": "x"}, headers=marketing).json["reason"] == "not_editable"
    actions = [e["action"] for e in client.get(f"{url}/history", headers=marketing).json["items"]]
    assert actions == ["created", "scheduled", "ended", "archived"]
    assert client.post("/v1/campaigns/cmp-none/activate", json={}, headers=marketing).status_code == 404


def test_a_person_pauses_and_resumes(client, marketing, admin, runtime, shop):
    stock(client, admin, runtime, *[(sku, loc, 50) for sku in ("milk", "cheese") for loc in ("S1", "S2")])
    made = create(client, marketing)
    url = f"/v1/campaigns/{made['id']}"
    client.post(f"{url}/activate", json={}, headers=marketing)

    paused = client.post(f"{url}/pause", json={"reason": "pricing error"}, headers=marketing).json
    assert paused["status"] == "paused" and paused["paused_by"] == "manual"
    resumed = client.post(f"{url}/resume", json={}, headers=marketing).json
    assert resumed["status"] == "active" and resumed["paused_by"] is None


# --- history imported with the data, and copies ------------------------------------------------

def test_imported_campaigns_are_listed_as_ended_with_their_results_and_copy_into_drafts(
        client, marketing, runtime, shop):
    campaign_history.import_campaigns(runtime.unit_of_work(write=True), [{
        "code": "8", "name": "Complete Journey campaign 8 (TypeA)", "type": "TypeA",
        "starts_at": NOW - dt.timedelta(days=60), "ends_at": NOW - dt.timedelta(days=30),
        "skus": ["milk", "ham"], "targeted": ["ann", "bob", "cy"]}])
    campaign_history.record_redemptions(runtime.unit_of_work(write=True), [
        {"event_id": "r1", "campaign": "8", "customer": "ann", "coupon_code": "c", "redeemed_at": NOW - dt.timedelta(days=40)}])

    listed = client.get("/v1/campaigns?source=import", headers=marketing).json["items"]
    assert [(c["id"], c["status"]) for c in listed] == [("8", "ended")]
    assert listed[0]["results"] == {"targeted": 3, "holdout": 0, "redemptions": 1, "redeemers": 1,
                                    "redemption_rate": pytest.approx(0.3333), "discount_spent": 0.0}
    assert client.post("/v1/campaigns/8/activate", json={}, headers=marketing).json["reason"] == "invalid_transition"

    copy = client.post("/v1/campaigns/8/copy", headers=marketing)
    assert copy.status_code == 201, copy.json
    draft = copy.json
    assert draft["status"] == "draft" and draft["name"].startswith("Copy of Complete Journey")
    assert sorted(draft["products"]["skus"]) == ["ham", "milk"] and draft["products"]["resolved"] == 2
    assert draft["discount"] is None and dt.datetime.fromisoformat(draft["starts_at"]) > NOW
    incomplete = client.post(f"/v1/campaigns/{draft['id']}/schedule", json={}, headers=marketing)
    assert incomplete.status_code == 409 and incomplete.json["reason"] == "incomplete"


# --- audiences --------------------------------------------------------------------------------

def test_the_audience_lists_eligible_customers_with_holdout_and_reasons_never_the_opted_out(
        client, marketing, admin, shop):
    assert client.put("/v1/customers", json=[{"id": "cy", "opted_out": True}], headers=admin).status_code == 200
    made = create(client, marketing, targeting={"type": "profile", "min_visits": 1}, holdout_percent=50)

    page = client.get(f"/v1/campaigns/{made['id']}/audience?limit=1", headers=marketing).json
    assert page["audience"]["eligible"] == 2 and page["audience"]["opted_out"] == 1
    assert len(page["items"]) == 1 and page["items"][0]["reasons"] == ["min_visits"]
    rest = client.get(f"/v1/campaigns/{made['id']}/audience?limit=5&cursor={page['next_cursor']}",
                      headers=marketing).json
    members = page["items"] + rest["items"]
    assert sorted(m["id"] for m in members) == ["ann", "bob"] and rest["next_cursor"] is None

    csv = client.get(f"/v1/campaigns/{made['id']}/audience?format=csv", headers=marketing)
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    lines = csv.get_data(as_text=True).strip().splitlines()
    assert lines[0] == "rank,customer,probability,uplift,held_out,reasons" and len(lines) == 3
    assert {line.split(",")[1] for line in lines[1:]} == {"ann", "bob"}


def test_model_targeting_without_a_response_model_is_a_409(client, marketing, shop):
    made = create(client, marketing, targeting={"type": "model", "top_percent": 20})
    response = client.post(f"/v1/campaigns/{made['id']}/check", headers=marketing)
    assert response.status_code == 409 and response.json["reason"] == "model_missing"
