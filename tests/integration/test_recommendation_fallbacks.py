"""A shop never gets an empty list while anything popular is in stock: a short or empty
personal list is topped up with popular in-stock products, labelled, and every item
carries what a shop shows."""
from __future__ import annotations

import datetime as dt

from promo.adapters.model_store import ModelStore
from promo.services import stock
from tests.integration.test_models import DAY0
from tests.integration.test_models import (  # noqa: F401  (fixtures)
    POPULAR,
    campaigns,
    promo,
    recommend,
    shop,
    skus,
    trained,
    wait_for_version,
)

POPULARITY = {"fallback_popular", "popular_at_location"}


def reasons(item):
    return set(item["reasons"])


def serve_latest(client, admin, runtime):
    wait_for_version(client, admin, ModelStore(runtime.settings.model_dir).versions("recommender")[-1])


def buy_a_new_product(client, admin):
    """Like the README tour's tour-c1: one purchase of a product the model never saw, not in stock."""
    assert client.put("/v1/products", headers=admin, json=[
        {"sku": "tour-1", "name": "Oat milk 1L", "category": "DAIRY ALTERNATIVES", "price": 1.89,
         "currency": "USD"}]).status_code == 200
    assert client.post("/v1/interactions", headers=admin, json={"events": [
        {"event_id": "tour-e1", "customer": "tour-c1", "sku": "tour-1", "type": "purchase", "quantity": 2,
         "value": 3.78, "channel": "web", "occurred_at": dt.datetime.now(dt.timezone.utc).isoformat()}]}
    ).status_code == 200


def test_a_customer_with_a_little_history_gets_popular_in_stock_products_in_repeat_mode(
        client, admin, trained, runtime):
    serve_latest(client, admin, runtime)
    buy_a_new_product(client, admin)

    body = recommend(client, admin, "tour-c1", channel="web", mode="repeat", limit=4)

    assert skus(body) == skus(recommend(client, admin, "a-stranger", channel="web", limit=4)) == ["p0", "y", "p1", "p2"]
    assert all(reasons(item) == {"fallback_popular"} for item in body["items"])
    assert body["personalised"] is False


def test_discovery_for_such_a_customer_ranks_by_popularity_not_by_zero_scores(client, admin, trained, runtime):
    serve_latest(client, admin, runtime)
    buy_a_new_product(client, admin)

    body = recommend(client, admin, "tour-c1", channel="web", mode="discovery", limit=4)

    assert skus(body) == skus(recommend(client, admin, "a-stranger", channel="web", limit=4))
    assert all(item["score"] > 0 and reasons(item) <= POPULARITY for item in body["items"])


def test_a_short_repeat_list_is_topped_up_after_the_customer_s_own_products(client, admin, trained, runtime):
    serve_latest(client, admin, runtime)

    body = recommend(client, admin, "only-x", mode="repeat", limit=4)

    assert skus(body)[0] == "x" and body["items"][0]["reasons"] == ["bought_before"]
    assert len(body["items"]) == 4
    assert all(reasons(item) <= POPULARITY for item in body["items"][1:])
    assert body["personalised"] is True


def test_the_discovery_top_up_leaves_out_what_the_customer_bought(client, admin, trained, runtime):
    serve_latest(client, admin, runtime)

    body = recommend(client, admin, "shopper0", mode="discovery", limit=20)   # bought every popular product

    assert body["items"]
    assert not set(skus(body)) & set(POPULAR)


def test_nothing_in_stock_is_the_only_empty_answer(client, admin, trained, runtime):
    serve_latest(client, admin, runtime)
    now = dt.datetime.now(dt.timezone.utc)
    everything = ["x", "y", "a", "b", "gone", *POPULAR]
    seq = stock.ingest_events(runtime.unit_of_work(write=True), runtime.stock, [
        {"event_id": f"empty:{sku}", "sku": sku, "location": "WEB", "type": "count", "quantity": 0,
         "occurred_at": now} for sku in everything], now)["last_seq"]
    assert runtime.stock.follower.wait_for(seq, timeout=5)

    assert recommend(client, admin, "only-x", channel="web", limit=5)["items"] == []
    assert recommend(client, admin, "only-x", channel="store", location="S1", limit=5)["items"]


def test_recommended_items_carry_what_a_shop_shows(client, admin, trained, runtime):
    serve_latest(client, admin, runtime)

    for mode in ("repeat", "discovery"):
        items = recommend(client, admin, "only-x", mode=mode, limit=3)["items"]
        assert items
        for item in items:
            assert set(item) == {"sku", "name", "category", "price", "currency", "score", "reasons"}
            assert (item["name"], item["category"], item["price"], item["currency"]) == (item["sku"], "C", 2.0, "USD")


def test_without_a_model_the_answer_carries_the_same_product_details(client, admin, shop):
    # Without a model, popularity is read from the last 28 days of history: y (20 purchases) leads.
    items = recommend(client, admin, "anyone", channel="web", limit=2)["items"]

    assert [(item["sku"], item["name"], item["price"], item["currency"]) for item in items] == [
        (sku, sku, 2.0, "USD") for sku in ("y", "p0")]


def test_a_small_store_whose_stock_the_model_never_saw_still_gets_what_sells_there(client, admin, trained, runtime):
    serve_latest(client, admin, runtime)
    assert client.put("/v1/locations", headers=admin, json=[
        {"code": "TINY", "name": "Tiny", "kind": "store", "channels": ["store"]}]).status_code == 200
    assert client.put("/v1/products", headers=admin, json=[
        {"sku": "rare", "name": "Rare jam", "category": "JAM", "price": 4.5, "currency": "USD"}]).status_code == 200
    when = (DAY0 + dt.timedelta(days=400)).isoformat()
    assert client.post("/v1/interactions", headers=admin, json={"events": [
        {"event_id": f"rare{n}", "customer": f"local{n}", "sku": "rare", "type": "purchase", "channel": "store",
         "location": "TINY", "occurred_at": when} for n in range(3)]}).status_code == 200
    now = dt.datetime.now(dt.timezone.utc)
    seq = stock.ingest_events(runtime.unit_of_work(write=True), runtime.stock, [
        {"event_id": "rare-count", "sku": "rare", "location": "TINY", "type": "count", "quantity": 4,
         "occurred_at": now}], now)["last_seq"]
    assert runtime.stock.follower.wait_for(seq, timeout=5)

    for customer, mode in (("only-x", "repeat"), ("a-only", "discovery"), ("a-stranger", "repeat")):
        body = recommend(client, admin, customer, channel="store", location="TINY", mode=mode, limit=5)
        assert [(item["sku"], item["reasons"]) for item in body["items"]] == [("rare", ["popular_at_location"])]
