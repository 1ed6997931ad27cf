"""Offers and deals through the HTTP API: each eligibility rule, stock (never an
out-of-stock product), ranking with priority and one offer per product, holdout as
control exposures, unknown and opted-out shoppers, exposures and offer events.
(Several workers and shutdown: tests/integration/test_offer_workers.py.)"""
from __future__ import annotations

import datetime as dt
import itertools
import time

import pytest
from sqlalchemy import select

from promo.adapters.orm import Customer, OfferEvent, Redemption, ServedExposure
from promo.domain.campaigns import is_held_out
from promo.domain.offers import offer_id, parse_offer_id
from tests.api.test_campaigns import NOW, PRODUCTS, iso, stock

_ids = itertools.count()


@pytest.fixture
def shop(client, admin, runtime):
    """Four products in two categories; two stores and a web warehouse; customers with
    purchases (ann twice, so she is the only one with two visits); stock at S1."""
    assert client.put("/v1/products", json=PRODUCTS, headers=admin).status_code == 200
    assert client.put("/v1/locations", json=[
        {"code": "S1", "name": "Store 1", "kind": "store", "channels": ["store", "mobile"]},
        {"code": "S2", "name": "Store 2", "kind": "store", "channels": ["store", "mobile"]},
        {"code": "DC", "name": "Web DC", "kind": "warehouse", "channels": ["web"], "lead_time_days": 2},
    ], headers=admin).status_code == 200
    events = [{"event_id": f"p{n}", "customer": customer, "sku": sku, "type": "purchase", "quantity": 1,
               "value": 5.0, "channel": "store", "location": "S1",
               "occurred_at": iso(NOW - dt.timedelta(days=3 + n))}
              for n, (customer, sku) in enumerate([("ann", "milk"), ("bob", "steak"), ("cy", "milk"),
                                                   ("ann", "ham")])]
    assert client.post("/v1/interactions", json={"events": events}, headers=admin).status_code == 200
    stock(client, admin, runtime, ("milk", "S1", 50), ("cheese", "S1", 8), ("steak", "S1", 2), ("ham", "S1", 0),
          ("milk", "DC", 100), ("steak", "S2", 30))


def live(client, marketing, runtime, **changes) -> dict:
    """A campaign made and activated (overriding the stock check), and this process's
    serving snapshot brought up to date."""
    campaign = {
        "name": f"Campaign {next(_ids)}", "starts_at": iso(NOW - dt.timedelta(hours=1)),
        "ends_at": iso(NOW + dt.timedelta(days=7)), "channels": ["store", "mobile", "web"],
        "products": {"categories": ["dairy"]}, "discount": {"type": "percent", "value": 10},
    }
    campaign.update(changes)
    made = client.post("/v1/campaigns", json=campaign, headers=marketing)
    assert made.status_code == 201, made.json
    activated = client.post(f"/v1/campaigns/{made.json['id']}/activate",
                            json={"override": {"reason": "test"}}, headers=marketing)
    assert activated.status_code == 200, activated.json
    runtime.serving.refresh()
    return made.json


def offers(client, headers, customer="ann", **query) -> dict:
    query = {"channel": "store", "location": "S1", **query}
    response = client.get(f"/v1/customers/{customer}/offers", query_string=query, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def skus(answer: dict, key: str = "offers") -> list[str]:
    return [item["sku"] for item in answer[key]]


def redeem(runtime, campaign_code: str, customer: str, discount: float = 1.0) -> None:
    """A redemption row written directly and counted as an import of history counts it
    (tests/api/test_checkout.py goes through the endpoint): the offers' limits read the
    counters every path keeps."""
    with runtime.unit_of_work(write=True) as uow:
        campaign_id = uow.campaigns.get(campaign_code).id
        customer_id = uow.session.scalar(select(Customer.id).where(Customer.external_id == customer))
        uow.session.add(Redemption(event_id=f"r-{next(_ids)}", campaign_id=campaign_id, customer_id=customer_id,
                                   redeemed_at=NOW, discount_total=discount))
        uow.session.flush()
        uow.checkout.recount([campaign_id])
        uow.commit()
    runtime.serving.refresh()


def exposures(runtime) -> list[ServedExposure]:
    runtime.exposures.flush()
    with runtime.unit_of_work() as uow:
        rows = list(uow.session.scalars(select(ServedExposure).order_by(ServedExposure.id)))
        uow.session.expunge_all()       # readable after the unit of work ends
        return rows


# --- what an offer says -----------------------------------------------------------------------

def test_an_offer_carries_the_campaign_the_prices_a_stock_band_and_ids_that_trace_back(
        client, marketing, channel, runtime, shop):
    campaign = live(client, marketing, runtime, name="Dairy days")

    answer = offers(client, channel)

    assert answer["personalised"] is True and answer["known_customer"] is True
    assert answer["recommendation_id"].startswith("rec-") and answer["stock_as_of_seq"] > 0
    assert skus(answer) == ["milk", "cheese"] or skus(answer) == ["cheese", "milk"]
    milk = next(item for item in answer["offers"] if item["sku"] == "milk")
    assert milk["campaign"] == {"id": campaign["id"], "name": "Dairy days"}
    assert milk["discount"] == {"type": "percent", "value": 10.0}
    assert (milk["price"], milk["final_price"], milk["currency"]) == (2.0, 1.8, "USD")
    assert milk["availability"] == {"in_stock": True, "band": "plenty", "location": "S1", "promise_date": None}
    assert "in_stock_at:S1" in milk["reasons"]
    cheese = next(item for item in answer["offers"] if item["sku"] == "cheese")
    assert cheese["availability"]["band"] == "few"          # 8 units: above the last 3, at most 10
    rec, _, _ = parse_offer_id(milk["offer_id"])
    assert rec == answer["recommendation_id"]


def test_web_offers_say_where_the_stock_is_and_when_it_can_be_delivered(client, marketing, channel, runtime, shop):
    live(client, marketing, runtime)

    answer = offers(client, channel, channel="web", location=None)

    assert skus(answer) == ["milk"]        # only the web warehouse counts, and it holds only milk
    assert answer["offers"][0]["availability"] == {
        "in_stock": True, "band": "plenty", "location": "DC",
        "promise_date": (dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=2)).isoformat()}


def test_an_out_of_stock_product_is_never_offered_and_goes_as_soon_as_the_view_sees_it(
        client, admin, marketing, channel, runtime, shop):
    live(client, marketing, runtime, products={"skus": ["milk", "ham"]})
    assert skus(offers(client, channel)) == ["milk"]       # ham has none at S1

    stock(client, admin, runtime, ("milk", "S1", 0))

    assert skus(offers(client, channel)) == []


def test_a_stock_policy_asking_several_units_per_location_leaves_out_products_below_it(
        client, marketing, channel, runtime, shop):
    live(client, marketing, runtime, stock_policy={"min_available_per_location": 10})

    assert skus(offers(client, channel)) == ["milk"]       # cheese has 8 at S1


# --- eligibility, one rule at a time ----------------------------------------------------------

def test_a_campaign_is_offered_only_on_its_channels_and_at_its_locations(client, marketing, channel, runtime, shop):
    live(client, marketing, runtime, channels=["web"], products={"skus": ["milk"]})
    live(client, marketing, runtime, channels=["store"], locations=["S2"], products={"skus": ["steak"]})

    assert skus(offers(client, channel)) == []
    assert skus(offers(client, channel, location="S2")) == ["steak"]
    assert skus(offers(client, channel, channel="web", location=None)) == ["milk"]


def test_profile_targeting_offers_the_campaign_only_to_its_audience(client, marketing, channel, runtime, shop):
    live(client, marketing, runtime, targeting={"type": "profile", "min_visits": 2}, products={"skus": ["steak"]})

    ann = offers(client, channel, "ann")
    assert skus(ann) == ["steak"] and "min_visits" in ann["offers"][0]["reasons"]
    assert skus(offers(client, channel, "bob")) == []
    assert skus(offers(client, channel, "stranger")) == []


def test_a_held_out_customer_gets_nothing_of_the_campaign_and_is_recorded_as_a_control_exposure(
        client, marketing, channel, runtime, shop):
    campaign = live(client, marketing, runtime, holdout_percent=50)
    held = next(c for c in (f"shopper-{n}" for n in range(200)) if is_held_out(campaign["id"], c, 50))
    treated = next(c for c in (f"shopper-{n}" for n in range(200)) if not is_held_out(campaign["id"], c, 50))

    assert skus(offers(client, channel, held)) == []
    assert skus(offers(client, channel, treated)) != []

    rows = exposures(runtime)
    control = [row for row in rows if row.customer == held]
    assert [(row.cohort, sorted(row.skus)) for row in control] == [("holdout", ["cheese", "milk"])]
    assert [row.cohort for row in rows if row.customer == treated] == ["untargeted"]


@pytest.mark.parametrize("limits, redemptions, who_is_refused", [
    ({"per_customer": 1}, [("ann", 1.0)], {"ann"}),
    ({"max_redemptions": 1}, [("bob", 1.0)], {"ann", "bob"}),
    ({"budget": 5.0}, [("bob", 2.0), ("cy", 3.0)], {"ann", "bob"}),
    ({"budget": 5.0, "per_customer": 2}, [("bob", 2.0)], set()),
])
def test_limits_used_up_stop_the_offers_they_bind(client, marketing, channel, runtime, shop, limits, redemptions,
                                                  who_is_refused):
    campaign = live(client, marketing, runtime, limits=limits, products={"skus": ["milk"]})
    for customer, discount in redemptions:
        redeem(runtime, campaign["id"], customer, discount)

    refused = {customer for customer in ("ann", "bob") if not offers(client, channel, customer)["offers"]}

    assert refused == who_is_refused


def test_opted_out_and_unknown_customers_get_popular_offers_of_campaigns_for_everyone_only(
        client, admin, marketing, channel, runtime, shop):
    live(client, marketing, runtime, name="For all", products={"skus": ["milk"]})
    live(client, marketing, runtime, targeting={"type": "profile", "min_visits": 1}, products={"skus": ["steak"]})
    assert sorted(skus(offers(client, channel, "ann"))) == ["milk", "steak"]
    assert client.put("/v1/customers", json=[{"id": "ann", "opted_out": True}], headers=admin).status_code == 200
    runtime.serving.refresh()

    for customer in ("ann", "nobody-we-know"):
        answer = offers(client, channel, customer)
        assert answer["personalised"] is False
        assert skus(answer) == ["milk"]
    assert {row.cohort for row in exposures(runtime) if row.customer == "nobody-we-know"} == {"untargeted"}


def test_paused_and_finished_campaigns_are_not_offered(client, marketing, channel, runtime, shop):
    paused = live(client, marketing, runtime, products={"skus": ["milk"]})
    ending = live(client, marketing, runtime, products={"skus": ["cheese"]})
    assert sorted(skus(offers(client, channel))) == ["cheese", "milk"]

    assert client.post(f"/v1/campaigns/{paused['id']}/pause", json={}, headers=marketing).status_code == 200
    assert client.post(f"/v1/campaigns/{ending['id']}/end", json={}, headers=marketing).status_code == 200
    runtime.serving.refresh()

    assert skus(offers(client, channel)) == []


# --- ranking ----------------------------------------------------------------------------------

def test_one_offer_per_product_from_the_highest_priority_campaign_and_higher_priorities_first(
        client, marketing, channel, runtime, shop):
    low = live(client, marketing, runtime, name="Low", products={"skus": ["milk", "cheese"]},
               discount={"type": "percent", "value": 50})
    high = live(client, marketing, runtime, name="High", priority=5, products={"skus": ["milk", "steak"]},
                discount={"type": "percent", "value": 5})

    answer = offers(client, channel)

    by_sku = {item["sku"]: item["campaign"]["id"] for item in answer["offers"]}
    assert by_sku == {"milk": high["id"], "steak": high["id"], "cheese": low["id"]}
    assert [item["campaign"]["id"] for item in answer["offers"]][-1] == low["id"]


def test_an_exclusive_campaign_wins_a_tie_of_priority_and_says_it_does_not_combine(
        client, marketing, channel, runtime, shop):
    live(client, marketing, runtime, products={"skus": ["milk"]}, discount={"type": "percent", "value": 30})
    exclusive = live(client, marketing, runtime, products={"skus": ["milk"]}, exclusive=True)

    [milk] = offers(client, channel)["offers"]

    assert milk["campaign"]["id"] == exclusive["id"] and milk["exclusive"] is True


def test_the_limit_caps_the_list(client, marketing, channel, runtime, shop):
    live(client, marketing, runtime, products={"skus": ["milk", "cheese", "steak"]})

    assert len(offers(client, channel, limit=2)["offers"]) == 2


# --- deals ------------------------------------------------------------------------------------

def test_deals_at_a_store_are_the_in_stock_products_of_campaigns_for_everyone(
        client, marketing, channel, runtime, shop):
    live(client, marketing, runtime, products={"skus": ["milk", "ham"]})
    live(client, marketing, runtime, targeting={"type": "profile", "min_visits": 1}, products={"skus": ["steak"]})

    anonymous = client.get("/v1/deals", query_string={"location": "S1"}, headers=channel)
    for_ann = client.get("/v1/deals", query_string={"location": "S1", "customer": "ann"}, headers=channel)

    assert anonymous.status_code == 200 and for_ann.status_code == 200
    assert skus(anonymous.json, "deals") == ["milk"] and anonymous.json["channel"] == "mobile"
    assert skus(for_ann.json, "deals") == ["milk"] and for_ann.json["personalised"] is True
    assert {row.kind for row in exposures(runtime)} == {"deals"}


@pytest.mark.parametrize("query, status, field", [
    ({}, 422, "location"),
    ({"location": "S1", "limit": 0}, 422, "limit"),
    ({"location": "S1", "channel": "fax"}, 422, "channel"),
    ({"location": "NOWHERE"}, 404, None),
    ({"location": "DC"}, 422, "location"),          # the warehouse serves web only
])
def test_bad_deal_queries_are_refused_clearly(client, channel, shop, query, status, field):
    response = client.get("/v1/deals", query_string=query, headers=channel)

    assert response.status_code == status, response.json
    if field:
        assert field in response.json["errors"]["query"]


def test_offers_need_a_channel_and_a_store_needs_its_location(client, channel, shop):
    assert "channel" in client.get("/v1/customers/ann/offers", headers=channel).json["errors"]["query"]
    response = client.get("/v1/customers/ann/offers", query_string={"channel": "store"}, headers=channel)
    assert response.status_code == 422 and "location" in response.json["errors"]["query"]


# --- exposures and events ---------------------------------------------------------------------

def test_every_served_list_is_recorded_per_campaign_and_its_offer_ids_can_be_rebuilt_from_it(
        client, marketing, channel, runtime, shop):
    dairy = live(client, marketing, runtime, products={"skus": ["milk", "cheese"]})
    meat = live(client, marketing, runtime, products={"skus": ["steak"]})

    answer = offers(client, channel)
    rows = exposures(runtime)

    assert {row.recommendation_id for row in rows} == {answer["recommendation_id"]}
    by_campaign = {row.campaign_id: row for row in rows}
    with runtime.unit_of_work() as uow:
        ids = {code: uow.campaigns.get(code).id for code in (dairy["id"], meat["id"])}
    assert sorted(by_campaign[ids[dairy["id"]]].skus) == ["cheese", "milk"]
    assert by_campaign[ids[meat["id"]]].skus == ["steak"]
    assert {row.cohort for row in rows} == {"treated"} and {row.customer for row in rows} == {"ann"}
    served = {item["offer_id"] for item in answer["offers"]}
    with runtime.unit_of_work() as uow:
        product_of = {sku: uow.products.ids_for([sku])[sku] for sku in ("milk", "cheese", "steak")}
    assert {offer_id(row.recommendation_id, row.campaign_id, product_of[sku]) for row in rows for sku in row.skus} \
        == served


def test_recommendation_lists_are_recorded_as_exposures_too(client, channel, runtime, shop):
    response = client.get("/v1/customers/ann/recommendations", query_string={"channel": "store", "location": "S1"},
                          headers=channel)
    assert response.status_code == 200

    [row] = exposures(runtime)

    assert (row.kind, row.cohort, row.campaign_id, row.customer) == ("recommendations", "recommendation", None, "ann")
    assert row.recommendation_id == response.json["recommendation_id"]
    assert row.skus == [item["sku"] for item in response.json["items"]]


def test_clicks_and_dismissals_are_stored_once_by_their_ids(client, marketing, channel, runtime, row_count, shop):
    live(client, marketing, runtime, products={"skus": ["milk"]})
    answer = offers(client, channel)
    offer = answer["offers"][0]["offer_id"]
    click = {"recommendation_id": answer["recommendation_id"], "offer_id": offer, "type": "click", "customer": "ann"}
    dismiss = {"recommendation_id": answer["recommendation_id"], "sku": "milk", "type": "dismiss"}

    first = client.post("/v1/offers/events", json={"events": [click, dismiss]}, headers=channel)
    again = client.post("/v1/offers/events", json={"events": [click]}, headers=channel)

    assert first.json == {"accepted": 2, "duplicates": 0} and again.json == {"accepted": 0, "duplicates": 1}
    with runtime.unit_of_work() as uow:
        stored = uow.session.scalars(select(OfferEvent).order_by(OfferEvent.id)).all()
        uow.session.expunge_all()
    assert [(e.type, e.offer_id, e.sku) for e in stored] == [("click", offer, None), ("dismiss", None, "milk")]


@pytest.mark.parametrize("event, field", [
    ({"recommendation_id": "rec-nothex", "offer_id": None, "type": "click"}, "recommendation_id"),
    ({"offer_id": "off-bad", "type": "click"}, "offer_id"),
    ({"type": "like"}, "type"),
    ({"offer_id": None, "sku": None, "type": "click"}, "offer_id"),
    ({"offer_id": "off-" + "a" * 32 + "-1-2", "type": "click"}, "offer_id"),      # from another list
])
def test_a_bad_offer_event_refuses_the_whole_batch(client, channel, row_count, shop, event, field):
    good = {"recommendation_id": "rec-" + "0" * 32, "sku": "milk", "type": "click"}
    bad = {"recommendation_id": "rec-" + "0" * 32, "sku": "milk", **event}
    bad = {key: value for key, value in bad.items() if value is not None}

    response = client.post("/v1/offers/events", json={"events": [good, bad]}, headers=channel)

    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["json"]["events"]["1"]
    assert row_count("offer_events") == 0


def test_with_a_recommender_a_customer_s_own_products_rank_first_and_say_why(client, marketing, channel, runtime,
                                                                             shop):
    from promo.services import training

    training.train(runtime, ["recommender"])
    deadline = time.monotonic() + 10
    while runtime.models.get("recommender") is None:
        assert time.monotonic() < deadline, "the trained recommender was not picked up"
        time.sleep(0.05)
    live(client, marketing, runtime, products={"skus": ["milk", "cheese", "steak"]})

    answer = offers(client, channel)

    assert answer["model"]["name"] == "recommender"
    assert answer["offers"][0]["sku"] == "milk" and "bought_before" in answer["offers"][0]["reasons"]
    assert skus(offers(client, channel, "bob"))[0] == "steak"


def test_a_campaign_whose_end_has_come_is_not_offered_even_before_anything_else_changes(
        client, marketing, channel, runtime, shop):
    ends_at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=2)
    live(client, marketing, runtime, products={"skus": ["milk"]}, ends_at=iso(ends_at))
    assert skus(offers(client, channel)) == ["milk"]

    time.sleep(max(0.0, (ends_at - dt.datetime.now(dt.timezone.utc)).total_seconds()) + 0.05)

    assert skus(offers(client, channel)) == []      # no refresh, no campaign watch: the clock alone


# --- recommendations served from memory -------------------------------------------------------

@pytest.mark.settings(recommendation_answer_cache=1)
def test_cached_recommendations_follow_the_customer_the_stock_the_products_and_the_opt_out(
        client, admin, channel, runtime, row_count, shop):
    from promo.services import training

    training.train(runtime, ["recommender"])
    deadline = time.monotonic() + 10
    while runtime.models.get("recommender") is None:
        assert time.monotonic() < deadline, "the trained recommender was not picked up"
        time.sleep(0.05)
    runtime.serving.refresh()

    def ask() -> dict:
        response = client.get("/v1/customers/ann/recommendations",
                              query_string={"channel": "store", "location": "S1"}, headers=channel)
        assert response.status_code == 200, response.json
        return response.json

    first, again = ask(), ask()
    assert again["items"] == first["items"] and again["recommendation_id"] != first["recommendation_id"]
    assert [item["sku"] for item in first["items"]][:1] == ["milk"]

    # Written by another process (here: the service, not this app's API): the cached
    # answer stands until the refresher sees the profile rewritten.
    from promo.services import interactions

    purchase = {"event_id": "late-cheese", "customer": "ann", "sku": "cheese", "type": "purchase",
                "channel": "store", "location": "S1", "occurred_at": dt.datetime.now(dt.timezone.utc)}
    interactions.record_interactions(runtime.unit_of_work(write=True), [purchase])
    assert "cheese" not in [item["sku"] for item in ask()["items"]]
    runtime.serving.refresh()
    assert "cheese" in [item["sku"] for item in ask()["items"]]

    # Through this app's API: at once.
    purchase = {"event_id": "late-steak", "customer": "ann", "sku": "steak", "type": "purchase",
                "channel": "store", "location": "S1", "occurred_at": iso(dt.datetime.now(dt.timezone.utc))}
    assert client.post("/v1/interactions", json={"events": [purchase]}, headers=admin).status_code == 200
    assert "steak" in [item["sku"] for item in ask()["items"]]

    stock(client, admin, runtime, ("milk", "S1", 0))
    assert "milk" not in [item["sku"] for item in ask()["items"]]

    renamed = {**PRODUCTS[1], "name": "Cheddar"}
    assert client.put("/v1/products", json=[renamed], headers=admin).status_code == 200
    assert {item["name"] for item in ask()["items"] if item["sku"] == "cheese"} == {"Cheddar"}

    assert client.put("/v1/customers", json=[{"id": "ann", "opted_out": True}], headers=admin).status_code == 200
    assert ask()["personalised"] is False
    runtime.exposures.flush()
    assert row_count("served_exposures") == 8      # every answer recorded, cached or not
