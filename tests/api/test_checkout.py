"""Checkout through the HTTP API: carts evaluated (every discount type, stacking, each
reason a promotion does not apply), redemptions (each refusal, idempotency, stock held)
and cancellations. Races on both databases: tests/integration/test_checkout_races.py;
properties of the pricing: tests/unit/test_checkout_pricing.py."""
from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from promo.adapters.orm import Campaign, CustomerRedemptionCount, Redemption, StockReservation
from promo.domain.campaigns import is_held_out
from tests.api.test_campaigns import PRODUCTS, stock
from tests.api.test_offers import live, offers, shop  # noqa: F401  (a fixture)

_keys = itertools.count()


def evaluate(client, headers, lines, *, customer="ann", location="S1", channel_name="store", codes=(),
             status=200) -> dict:
    body = {"customer": customer, "channel": channel_name, "location": location,
            "lines": [dict(zip(("sku", "quantity", "unit_price"), line)) for line in lines], "codes": list(codes)}
    if customer is None:
        del body["customer"]
    response = client.post("/v1/carts/evaluate", json=body, headers=headers)
    assert response.status_code == status, response.json
    return response.json


def redeem(client, headers, lines, *, status=201, customer="ann", key=None, **named) -> dict:
    body = {"idempotency_key": key or f"key-{next(_keys):06d}", "customer": customer, "channel": "store",
            "location": "S1", "lines": [dict(zip(("sku", "quantity", "unit_price"), line)) for line in lines],
            **named}
    response = client.post("/v1/redemptions", json=body, headers=headers)
    assert response.status_code == status, response.json
    return response.json


def reasons(answer: dict) -> dict:
    return {(item["campaign"], item["code"]): item["reason"] for item in answer["not_applied"]}


# --- cart evaluation ----------------------------------------------------------------------

def test_a_percent_off_is_computed_per_line_and_rounded_once(client, marketing, channel, runtime, shop):
    campaign = live(client, marketing, runtime, products={"skus": ["milk"]}, discount={"type": "percent", "value": 15})

    answer = evaluate(client, channel, [("milk", 3, "1.99"), ("steak", 1, None)])

    assert [a["campaign"] for a in answer["applied"]] == [campaign["id"]]
    milk, steak = answer["lines"]
    # 3 x 1.99 = 5.97; 15% = 0.8955 -> 0.90 (rounded once, on the line, half up)
    assert (milk["amount"], milk["discount"], milk["total"]) == ("5.97", "0.90", "5.07")
    assert milk["promotions"] == [campaign["id"]]
    assert (steak["unit_price"], steak["discount"], steak["total"]) == ("20.00", "0.00", "20.00")   # the catalog's
    assert (answer["subtotal"], answer["discount"], answer["total"]) == ("25.97", "0.90", "25.07")
    assert answer["currency"] == "USD"


@pytest.mark.parametrize("discount, lines, expected", [
    ({"type": "amount_off", "value": 0.5}, [("milk", 4, "2.00")], "2.00"),
    ({"type": "amount_off", "value": 3}, [("milk", 2, "2.00")], "4.00"),       # never more than the line
    ({"type": "fixed_price", "value": 1.25}, [("milk", 2, "2.00")], "1.50"),
    ({"type": "fixed_price", "value": 2.5}, [("cheese", 1, "5.00")], "2.50"),
])
def test_amount_off_and_fixed_price_on_cart_lines(client, marketing, channel, runtime, shop, discount, lines,
                                                  expected):
    live(client, marketing, runtime, discount=discount)

    answer = evaluate(client, channel, lines)

    assert answer["discount"] == expected


def test_buy_two_get_one_gives_the_cheapest_units_of_each_group_free(client, marketing, channel, runtime, shop):
    live(client, marketing, runtime, discount={"type": "buy_x_get_y", "buy": 2, "get": 1})

    # Units by price: cheese 5, 5, 5, milk 2, 2, 2, 2 -> groups (5,5,5) and (2,2,2): a
    # cheese and a milk free; the seventh unit is no full group.
    answer = evaluate(client, channel, [("milk", 4, "2.00"), ("cheese", 3, "5.00")])

    milk, cheese = answer["lines"]
    assert (milk["discount"], cheese["discount"], answer["discount"]) == ("2.00", "5.00", "7.00")

    too_few = evaluate(client, channel, [("milk", 2, "2.00")])
    assert too_few["applied"] == [] and list(reasons(too_few).values()) == ["min_quantity"]


def test_non_exclusive_promotions_stack_by_priority_and_an_exclusive_one_takes_its_lines(
        client, marketing, channel, runtime, shop):
    first = live(client, marketing, runtime, products={"skus": ["milk"]}, priority=5,
                 discount={"type": "percent", "value": 50})
    second = live(client, marketing, runtime, products={"skus": ["milk", "cheese"]}, priority=1,
                  discount={"type": "amount_off", "value": 0.25})
    exclusive = live(client, marketing, runtime, products={"skus": ["milk", "cheese"]}, priority=0, exclusive=True,
                     discount={"type": "percent", "value": 90})

    answer = evaluate(client, channel, [("milk", 2, "2.00"), ("cheese", 1, "5.00")])

    # milk: 4.00 -> 50% = 2.00 -> then 0.25 x 2 = 0.50; cheese: 0.25. The exclusive one comes
    # last (lowest priority): its lines are already discounted.
    assert [a["campaign"] for a in answer["applied"]] == [first["id"], second["id"]]
    milk, cheese = answer["lines"]
    assert (milk["discount"], cheese["discount"]) == ("2.50", "0.25")
    assert reasons(answer) == {(exclusive["id"], None): "exclusive_conflict"}


def test_an_exclusive_promotion_of_higher_priority_shuts_out_the_others_on_its_lines(
        client, marketing, channel, runtime, shop):
    exclusive = live(client, marketing, runtime, products={"skus": ["milk"]}, priority=9, exclusive=True,
                     discount={"type": "percent", "value": 10})
    other = live(client, marketing, runtime, products={"skus": ["milk"]}, priority=1,
                 discount={"type": "percent", "value": 50})

    answer = evaluate(client, channel, [("milk", 1, "2.00")])

    assert [a["campaign"] for a in answer["applied"]] == [exclusive["id"]]
    assert reasons(answer) == {(other["id"], None): "exclusive_conflict"}


def test_each_reason_a_promotion_does_not_apply(client, admin, marketing, channel, runtime, shop):
    web_only = live(client, marketing, runtime, channels=["web"], products={"skus": ["milk"]})
    capped = live(client, marketing, runtime, products={"skus": ["milk"]}, limits={"max_redemptions": 1})
    out = live(client, marketing, runtime, products={"skus": ["ham"]})
    held = live(client, marketing, runtime, products={"skus": ["cheese"]}, holdout_percent=50)
    redeem(client, channel, [("milk", 1, "2.00")], customer="bob", campaign=capped["id"])

    customer = next(c for c in (f"c{n}" for n in range(100)) if is_held_out(held["id"], c, 50))
    answer = evaluate(client, channel, [("milk", 1, "2.00"), ("ham", 1, "8.00"), ("cheese", 1, "5.00")],
                      customer=customer)

    found = reasons(answer)
    assert found[(web_only["id"], None)] == "not_eligible"
    assert found[(capped["id"], None)] == "max_redemptions_reached"
    assert found[(out["id"], None)] == "out_of_stock"           # no ham at S1
    assert found[(held["id"], None)] == "holdout"
    assert answer["applied"] == [] and answer["discount"] == "0.00"


def test_a_cart_with_an_unknown_sku_or_a_location_off_the_channel_is_refused_whole(client, channel, runtime, shop):
    bad = evaluate(client, channel, [("milk", 1, "2.00"), ("nope", 1, "1.00")], status=422)
    assert bad["errors"]["json"]["lines"] == {"1": {"sku": ["unknown sku 'nope'"]}}

    off = evaluate(client, channel, [("milk", 1, "2.00")], location="DC", status=422)
    assert "does not serve channel" in off["message"]

    hostile = client.post("/v1/carts/evaluate", json={"channel": "store", "location": "S1", "lines": [
        {"sku": "milk", "quantity": 0, "unit_price": "NaN"}, {"sku": "milk", "quantity": 2.5, "unit_price": -1},
        {"sku": "milk", "quantity": 1, "unit_price": "1.00001"}]}, headers=channel)
    assert hostile.status_code == 422
    errors = hostile.json["errors"]["json"]["lines"]
    assert set(errors["0"]) == {"quantity", "unit_price"} and set(errors["1"]) == {"quantity", "unit_price"}
    assert set(errors["2"]) == {"unit_price"}


def test_only_the_channel_role_may_evaluate_and_redeem(client, marketing, headers_for, shop):
    inventory = headers_for("inventory")
    body = {"channel": "store", "location": "S1", "lines": [{"sku": "milk", "quantity": 1}]}
    assert client.post("/v1/carts/evaluate", json=body, headers=marketing).status_code == 403
    assert client.post("/v1/carts/evaluate", json=body, headers=inventory).status_code == 403
    assert client.post("/v1/carts/evaluate", json=body).status_code == 401


# --- redemptions --------------------------------------------------------------------------

def test_a_redemption_counts_holds_the_stock_and_evaluation_said_the_same(client, marketing, channel, runtime,
                                                                         shop):
    campaign = live(client, marketing, runtime, products={"skus": ["milk"]}, discount={"type": "percent", "value": 15})
    lines = [("milk", 3, "1.99"), ("steak", 1, "20.00")]
    evaluated = evaluate(client, channel, lines)
    available_before = runtime.stock.view.available_matrix(
        [runtime.stock.catalog.product_ids(["milk"])["milk"]], [runtime.stock.catalog.location_id("S1")])[0, 0]

    done = redeem(client, channel, lines, campaign=campaign["id"])

    assert done["redemption_id"].startswith("rdm-") and done["status"] == "redeemed"
    assert (done["discount"], done["total"], done["subtotal"]) == (evaluated["discount"], evaluated["total"],
                                                                   evaluated["subtotal"])
    assert done["lines"] == evaluated["lines"]
    assert [(r["sku"], r["quantity"]) for r in done["reservations"]] == [("milk", 3)]
    runtime.stock.follower.wait_for(runtime.stock.view.as_of_seq + 1, 1)
    available_after = runtime.stock.view.available_matrix(
        [runtime.stock.catalog.product_ids(["milk"])["milk"]], [runtime.stock.catalog.location_id("S1")])[0, 0]
    assert available_after == available_before - 3
    with runtime.unit_of_work() as uow:
        row = uow.session.scalars(select(Campaign).where(Campaign.code == campaign["id"])).one()
        assert (row.redeemed_count, row.discount_spent_cents) == (1, 90)
        stored = uow.session.scalars(select(Redemption).where(Redemption.event_id == done["idempotency_key"])).one()
        assert (stored.discount_total, stored.revenue, stored.channel) == (0.90, 5.07, "store")
        held = uow.session.get(StockReservation, done["reservations"][0]["reservation_id"])
        assert (held.quantity, held.state) == (3, "open")


def test_the_same_key_gets_the_same_answer_and_another_body_is_refused(client, marketing, channel, runtime, shop):
    campaign = live(client, marketing, runtime, products={"skus": ["milk"]})
    first = redeem(client, channel, [("milk", 1, "2.00")], key="till-7-0001", campaign=campaign["id"])

    again = client.post("/v1/redemptions", json={
        "idempotency_key": "till-7-0001", "customer": "ann", "channel": "store", "location": "S1",
        "lines": [{"sku": "milk", "quantity": 1, "unit_price": "2.00"}], "campaign": campaign["id"]}, headers=channel)
    assert again.status_code == 201 and again.json == first
    assert again.headers["Idempotent-Replayed"] == "true"

    other = redeem(client, channel, [("milk", 2, "2.00")], key="till-7-0001", campaign=campaign["id"], status=409)
    assert other["reason"] == "idempotency_mismatch"
    with runtime.unit_of_work() as uow:
        assert uow.session.scalars(select(Campaign.redeemed_count).where(Campaign.code == campaign["id"])).one() == 1


def test_each_refusal_has_its_reason_and_writes_nothing(client, admin, marketing, channel, runtime, shop):
    capped = live(client, marketing, runtime, products={"skus": ["milk"]}, limits={"max_redemptions": 1})
    once = live(client, marketing, runtime, products={"skus": ["cheese"]}, limits={"per_customer": 1})
    budget = live(client, marketing, runtime, products={"skus": ["steak"]}, limits={"budget": 3},
                  discount={"type": "amount_off", "value": 2})
    web = live(client, marketing, runtime, products={"skus": ["milk"]}, channels=["web"])
    ham = live(client, marketing, runtime, products={"skus": ["ham"]})
    redeem(client, channel, [("milk", 1, "2.00")], customer="bob", campaign=capped["id"])
    redeem(client, channel, [("cheese", 1, "5.00")], campaign=once["id"])
    redeem(client, channel, [("steak", 1, "20.00")], campaign=budget["id"])
    with runtime.unit_of_work() as uow:
        before = uow.session.scalar(select(Redemption.id).order_by(Redemption.id.desc()).limit(1))

    assert redeem(client, channel, [("milk", 1, "2.00")], campaign=capped["id"], status=409)["reason"] \
        == "max_redemptions_reached"
    assert redeem(client, channel, [("cheese", 1, "5.00")], campaign=once["id"], status=409)["reason"] \
        == "per_customer_limit"
    assert redeem(client, channel, [("steak", 1, "20.00")], campaign=budget["id"], status=409)["reason"] \
        == "budget_exhausted"       # 2.00 of 3.00 spent: 2.00 more would pass it
    assert redeem(client, channel, [("milk", 1, "2.00")], campaign=web["id"], status=409)["reason"] == "not_eligible"
    assert redeem(client, channel, [("ham", 1, "8.00")], campaign=ham["id"], status=409)["reason"] == "out_of_stock"
    assert redeem(client, channel, [("milk", 1, "2.00")], campaign="cmp-nope", status=404)
    with runtime.unit_of_work() as uow:
        assert uow.session.scalar(select(Redemption.id).order_by(Redemption.id.desc()).limit(1)) == before


def test_a_redemption_by_offer_id_is_attributed_to_the_list_it_was_served_in(client, marketing, channel, runtime,
                                                                            shop):
    live(client, marketing, runtime, products={"skus": ["milk"]})
    served = offers(client, channel)
    offer = served["offers"][0]

    done = redeem(client, channel, [("milk", 1, None)], offer_id=offer["offer_id"])

    assert done["recommendation_id"] == served["recommendation_id"] and done["offer_id"] == offer["offer_id"]
    assert done["lines"][0]["unit_price"] == "2.00"


def test_a_redemption_shows_in_the_customers_next_offers_at_once(client, marketing, channel, runtime, shop):
    campaign = live(client, marketing, runtime, products={"skus": ["milk"]}, limits={"per_customer": 1})
    assert [o["sku"] for o in offers(client, channel)["offers"]] == ["milk"]

    redeem(client, channel, [("milk", 1, "2.00")], campaign=campaign["id"])

    assert offers(client, channel)["offers"] == []
    profile = client.get("/v1/customers/ann", headers=marketing)
    assert profile.status_code == 200 and profile.json["profile"]["coupons"]["redemptions"] == 1


def test_cancel_gives_everything_back_once(client, marketing, channel, runtime, shop):
    campaign = live(client, marketing, runtime, products={"skus": ["milk"]},
                    limits={"max_redemptions": 1, "per_customer": 1, "budget": 1})
    done = redeem(client, channel, [("milk", 2, "2.00")], campaign=campaign["id"])
    assert redeem(client, channel, [("milk", 1, "2.00")], campaign=campaign["id"], customer="bob",
                  status=409)["reason"] == "max_redemptions_reached"

    cancelled = client.post(f"/v1/redemptions/{done['redemption_id']}/cancel", json={"reason": "returned"},
                            headers=channel)
    again = client.post(f"/v1/redemptions/{done['redemption_id']}/cancel", json={}, headers=channel)

    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    assert [r["quantity"] for r in cancelled.json["stock_released"]] == [2]
    assert again.status_code == 200 and again.json == cancelled.json
    with runtime.unit_of_work() as uow:
        row = uow.session.scalars(select(Campaign).where(Campaign.code == campaign["id"])).one()
        assert (row.redeemed_count, row.discount_spent_cents) == (0, 0)
        count = uow.session.scalars(select(CustomerRedemptionCount.redeemed)
                                    .where(CustomerRedemptionCount.campaign_id == row.id)).one()
        assert count == 0
        held = uow.session.get(StockReservation, done["reservations"][0]["reservation_id"])
        assert held.state == "released"
    # Room again, for her as for anyone.
    redeem(client, channel, [("milk", 1, "2.00")], campaign=campaign["id"])
    assert client.post("/v1/redemptions/rdm-999999/cancel", json={}, headers=channel).status_code == 404


def test_a_redemption_body_must_name_one_promotion_and_its_lines(client, channel, shop):
    base = {"idempotency_key": "k-00000001", "customer": "ann", "channel": "store", "location": "S1"}
    cases = [
        {**base, "sku": "milk", "quantity": 1},                                         # no promotion
        {**base, "sku": "milk", "quantity": 1, "campaign": "a", "code": "ABC"},         # two
        {**base, "campaign": "a"},                                                      # no lines
        {**base, "campaign": "a", "sku": "milk"},                                       # no quantity
        {**base, "campaign": "a", "sku": "milk", "quantity": 1, "offer_id": "x"},
        {**base, "idempotency_key": "short", "campaign": "a", "sku": "milk", "quantity": 1},
    ]
    for body in cases:
        response = client.post("/v1/redemptions", json=body, headers=channel)
        assert response.status_code == 422, (body, response.json)


# --- coupon codes -----------------------------------------------------------------------------

def issue(client, headers, campaign, status=201, **body) -> dict:
    response = client.post(f"/v1/campaigns/{campaign}/codes", json=body, headers=headers)
    assert response.status_code == status, response.json
    return response.json


def test_unique_codes_are_unguessable_distinct_and_exported(client, marketing, runtime, shop):
    campaign = live(client, marketing, runtime, products={"skus": ["milk"]})

    issued = issue(client, marketing, campaign["id"], count=2000, pattern="PR-####-####")

    codes = [c["code"] for c in issued["codes"]]
    assert issued["issued"] == 2000 and len(set(codes)) == 2000
    assert all(len(code) == 12 and code.startswith("PR-") and code[7] == "-" for code in codes)
    assert {c["max_uses"] for c in issued["codes"]} == {1}
    short = issue(client, marketing, campaign["id"], status=422, count=10_000, pattern="PR-####")
    assert "need at least 8 '#'" in short["errors"]["json"]["pattern"][0]

    exported = client.get(f"/v1/campaigns/{campaign['id']}/codes", query_string={"format": "csv"}, headers=marketing)
    lines = exported.get_data(as_text=True).splitlines()
    assert exported.status_code == 200 and lines[0] == "code,customer,max_uses,uses" and len(lines) == 2001
    assert sorted(line.split(",")[0] for line in lines[1:]) == sorted(codes)
    page = client.get(f"/v1/campaigns/{campaign['id']}/codes", query_string={"limit": 500}, headers=marketing)
    assert len(page.json["items"]) == 500 and page.json["next_cursor"]


def test_a_campaign_with_codes_is_redeemed_only_with_one_and_a_single_use_code_once(
        client, marketing, channel, runtime, shop):
    campaign = live(client, marketing, runtime, products={"skus": ["milk"]})
    code = issue(client, marketing, campaign["id"], count=1)["codes"][0]["code"]
    runtime.serving.refresh()

    without = evaluate(client, channel, [("milk", 1, "2.00")])
    assert reasons(without) == {(campaign["id"], None): "code_required"}
    with_code = evaluate(client, channel, [("milk", 1, "2.00")], codes=[code.lower()])   # any letter case
    assert [(a["campaign"], a["code"]) for a in with_code["applied"]] == [(campaign["id"], code)]

    done = redeem(client, channel, [("milk", 1, "2.00")], code=f" {code.lower()} ")
    assert done["code"] == code
    again = redeem(client, channel, [("milk", 1, "2.00")], code=code, customer="bob", status=409)
    assert again["reason"] == "code_used"
    assert reasons(evaluate(client, channel, [("milk", 1, "2.00")], codes=[code]))[(campaign["id"], code)] \
        == "code_used"
    assert redeem(client, channel, [("milk", 1, "2.00")], code="NOPE-NOPE", status=409)["reason"] == "code_unknown"

    client.post(f"/v1/redemptions/{done['redemption_id']}/cancel", json={}, headers=channel)
    redeem(client, channel, [("milk", 1, "2.00")], code=code, customer="bob")        # its use came back


def test_a_shared_code_and_codes_assigned_to_customers(client, marketing, channel, runtime, shop):
    shared = live(client, marketing, runtime, products={"skus": ["milk"]}, limits={"per_customer": 1})
    issue(client, marketing, shared["id"], code="summer20")
    assert issue(client, marketing, shared["id"], code="SUMMER20", status=409)["reason"] == "code_exists"
    own = live(client, marketing, runtime, products={"skus": ["cheese", "ham"]})
    assigned = issue(client, marketing, own["id"], customers=["ann", "bob"])["codes"]
    runtime.serving.refresh()

    redeem(client, channel, [("milk", 1, "2.00")], code="SUMMER20")
    redeem(client, channel, [("milk", 1, "2.00")], code="Summer20", customer="bob")
    assert redeem(client, channel, [("milk", 1, "2.00")], code="SUMMER20", status=409)["reason"] \
        == "per_customer_limit"
    anns = next(c["code"] for c in assigned if c["customer"] == "ann")
    # Another customer's code is answered as unknown.
    assert redeem(client, channel, [("cheese", 1, "5.00")], code=anns, customer="bob", status=409)["reason"] \
        == "code_unknown"

    mine = client.get("/v1/customers/ann/codes", query_string={"location": "S1"}, headers=channel)
    assert mine.status_code == 200
    assert [(c["code"], c["uses_left"]) for c in mine.json["codes"]] == [(anns, 1)]
    assert [d["sku"] for d in mine.json["codes"][0]["deals"]] == ["cheese"]     # ham: none at S1


def test_wrong_codes_are_rate_limited_per_key_and_customer(client, marketing, channel, runtime, shop, monkeypatch):
    monkeypatch.setattr(runtime.code_guesses, "limit", 3)
    for n in range(3):
        evaluate(client, channel, [("milk", 1, "2.00")], codes=[f"GUESS-{n}"])

    refused = client.post("/v1/carts/evaluate", json={"customer": "ann", "channel": "store", "location": "S1",
                                                     "lines": [{"sku": "milk", "quantity": 1}], "codes": ["X-1"]},
                          headers=channel)
    assert refused.status_code == 429 and refused.json["reason"] == "too_many_code_guesses"
    assert int(refused.headers["Retry-After"]) >= 1
    # A cart without codes is still evaluated.
    evaluate(client, channel, [("milk", 1, "2.00")])


# --- evaluation equals redemption -----------------------------------------------------------

cart_lines = st.lists(st.tuples(st.sampled_from(["milk", "cheese", "steak", "ham"]), st.integers(1, 5),
                                st.one_of(st.none(), st.decimals("0.50", "30", places=2))),
                      min_size=1, max_size=6)


@pytest.fixture
def four_campaigns(client, admin, marketing, runtime, shop) -> dict:
    """One campaign per product, one of each discount type, none sharing a product."""
    stock(client, admin, runtime, *((sku, "S1", 1_000_000) for sku in ("milk", "cheese", "steak", "ham")))
    made = [live(client, marketing, runtime, products={"skus": [sku]}, discount=discount)
            for sku, discount in (("milk", {"type": "percent", "value": 15}),
                                  ("cheese", {"type": "amount_off", "value": 0.7}),
                                  ("steak", {"type": "fixed_price", "value": 17.5}),
                                  ("ham", {"type": "buy_x_get_y", "buy": 2, "get": 1}))]
    return {campaign["id"]: campaign for campaign in made}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=cart_lines)
def test_what_evaluation_says_a_promotion_takes_is_what_its_redemption_takes(client, channel, four_campaigns,
                                                                            lines):
    evaluated = evaluate(client, channel, lines, customer=None)
    assert Decimal(evaluated["subtotal"]) - Decimal(evaluated["discount"]) == Decimal(evaluated["total"])
    if any(sku == "milk" for sku, _, _ in lines):        # 15% off milk always saves something
        assert evaluated["applied"]

    for applied in evaluated["applied"]:
        done = redeem(client, channel, lines, customer=f"shopper-{next(_keys)}", campaign=applied["campaign"])
        assert done["discount"] == applied["amount"]
        assert {(line["index"], line["discount"]) for line in done["lines"] if line["discount"] != "0.00"} \
            == {(line["index"], line["discount"]) for line in applied["lines"]}


# --- reports ----------------------------------------------------------------------------------

def test_the_report_counts_what_was_served_clicked_redeemed_and_left(client, marketing, channel, runtime, shop):
    campaign = live(client, marketing, runtime, products={"skus": ["milk"]},
                    limits={"max_redemptions": 10, "budget": 5})
    served = offers(client, channel)
    offer = served["offers"][0]
    assert client.post("/v1/offers/events", json={"events": [
        {"recommendation_id": served["recommendation_id"], "offer_id": offer["offer_id"], "type": "click",
         "customer": "ann"}]}, headers=channel).status_code == 200
    done = redeem(client, channel, [("milk", 2, "2.00")], offer_id=offer["offer_id"])
    redeem(client, channel, [("milk", 1, "2.00")], customer="bob", campaign=campaign["id"])
    cancelled = redeem(client, channel, [("milk", 1, "2.00")], customer="cy", campaign=campaign["id"])
    client.post(f"/v1/redemptions/{cancelled['redemption_id']}/cancel", json={}, headers=channel)
    runtime.exposures.flush()

    report = client.get(f"/v1/campaigns/{campaign['id']}/report", headers=marketing)

    assert report.status_code == 200, report.json
    totals = report.json["totals"]
    assert (totals["exposures"], totals["clicks"], totals["redemptions"], totals["cancelled"]) == (1, 1, 2, 1)
    assert (totals["revenue"], totals["discount"]) == (5.4, 0.6)       # 4.00 - 0.40 and 2.00 - 0.20
    assert (totals["citing_an_offer"], totals["after_exposure"]) == (1, 1)      # ann saw it before redeeming
    assert report.json["limits"] == {"max_redemptions": 10, "redeemed": 2, "redemptions_left": 8, "budget": 5.0,
                                     "discount_spent": 0.6, "budget_left": 4.4, "per_customer": None,
                                     "codes_issued": 0, "codes_left": 0}
    assert report.json["by_channel"] == [{"channel": "store", "exposures": 1, "redemptions": 2, "revenue": 5.4,
                                          "discount": 0.6}]
    assert [row["location"] for row in report.json["by_location"]] == ["S1"]
    assert [e["action"] for e in report.json["timeline"]] == ["activated"]
    assert done["redemption_id"] != cancelled["redemption_id"]

    exported = client.get(f"/v1/campaigns/{campaign['id']}/report", query_string={"format": "csv"},
                          headers=marketing)
    lines = exported.get_data(as_text=True).splitlines()
    assert exported.status_code == 200 and lines[0] == "section,key,metric,value"
    assert "totals,,redemptions,2" in lines and "by_channel,store,revenue,5.4" in lines
    assert client.get(f"/v1/campaigns/{campaign['id']}/report", headers=channel).status_code == 403
    assert client.get("/v1/campaigns/cmp-none/report", headers=marketing).status_code == 404


def test_the_reports_uplift_is_the_hand_computed_one(client, admin, marketing, runtime):
    """20 treated customers of whom 6 buy a promoted product during the campaign, 10 held
    out of whom 2 do: the figures of tests/unit/test_checkout_pricing.py's fixture."""
    assert client.put("/v1/products", json=PRODUCTS, headers=admin).status_code == 200
    assert client.put("/v1/locations", json=[{"code": "S1", "name": "Store 1", "kind": "store",
                                              "channels": ["store"]}], headers=admin).status_code == 200
    names = (f"h{n}" for n in itertools.count())
    campaign_code = "cmp-uplift-fixture"
    treated = [n for n in itertools.islice((n for n in names if not is_held_out(campaign_code, n, 30)), 20)]
    held = [n for n in itertools.islice((n for n in names if is_held_out(campaign_code, n, 30)), 10)]
    now = dt.datetime.now(dt.timezone.utc)
    before = [purchase(customer, "ham", now - dt.timedelta(days=3)) for customer in treated + held]
    during = [purchase(customer, "milk", now - dt.timedelta(minutes=30)) for customer in treated[:6] + held[:2]]
    assert client.post("/v1/interactions", json={"events": before}, headers=admin).status_code == 200
    campaign = live(client, marketing, runtime, products={"skus": ["milk"]}, holdout_percent=30,
                    channels=["store"])
    assert client.post("/v1/interactions", json={"events": during}, headers=admin).status_code == 200
    with runtime.unit_of_work(write=True) as uow:      # the fixture's campaign id, so the holdout is known
        uow.session.execute(update(Campaign).where(Campaign.code == campaign["id"]).values(code=campaign_code))
        uow.commit()

    found = client.get(f"/v1/campaigns/{campaign_code}/report", headers=marketing).json["treated_vs_control"]

    assert found["comparison"] == "holdout"
    assert (found["treated"], found["treated_buyers"], found["control"], found["control_buyers"]) == (20, 6, 10, 2)
    assert (found["treated_rate"], found["control_rate"], found["uplift"]) == (0.3, 0.2, 0.1)
    assert found["interval_95"] == [-0.219059, 0.419059] and found["relative_uplift"] == 0.5


def purchase(customer: str, sku: str, when: dt.datetime) -> dict:
    return {"event_id": f"buy-{next(_keys)}", "customer": customer, "sku": sku, "type": "purchase", "quantity": 1,
            "value": 2.0, "channel": "store", "location": "S1", "occurred_at": when.isoformat()}


def test_an_offer_says_when_its_campaign_needs_a_code(client, marketing, channel, runtime, shop):
    campaign = live(client, marketing, runtime, products={"skus": ["milk"]})
    assert [o["code_required"] for o in offers(client, channel)["offers"]] == [False]

    issue(client, marketing, campaign["id"], code="MILKY")
    runtime.serving.refresh()

    assert [o["code_required"] for o in offers(client, channel)["offers"]] == [True]


def test_a_cart_without_prices_is_priced_at_the_catalogs_current_ones(client, admin, channel, runtime, shop):
    assert evaluate(client, channel, [("ham", 2, None)], customer=None)["subtotal"] == "16.00"

    changed = [{**p, "price": 9.5} if p["sku"] == "ham" else p for p in PRODUCTS]
    assert client.put("/v1/products", json=changed, headers=admin).status_code == 200

    assert evaluate(client, channel, [("ham", 2, None)], customer=None)["subtotal"] == "19.00"


def test_a_line_short_here_is_left_out_of_the_promotion_and_says_so(client, marketing, channel, runtime, shop):
    campaign = live(client, marketing, runtime, products={"skus": ["milk", "ham"]})   # no ham at S1

    evaluated = evaluate(client, channel, [("milk", 1, "2.00"), ("ham", 1, "8.00")])

    milk, ham = evaluated["lines"]
    assert (milk["promotions"], milk["not_discounted"]) == ([campaign["id"]], None)
    assert (ham["promotions"], ham["not_discounted"]) == ([], "out_of_stock")
    done = redeem(client, channel, [("milk", 1, "2.00"), ("ham", 1, "8.00")], campaign=campaign["id"])
    assert done["discount"] == evaluated["discount"] == "0.20"
    assert [r["sku"] for r in done["reservations"]] == ["milk"]      # only the promotion's lines are held
