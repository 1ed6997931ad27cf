"""The per-process audience scorer on a real database: its features equal the ones
computed from scratch after interactions, redemptions, campaigns and catalog changes
arrive (through the service functions, and from another runtime), and it follows the
active model version."""
from __future__ import annotations

import dataclasses
import datetime as dt
import time

import numpy as np
import pandas as pd
import pytest

from promo.adapters import audience_data, training_data
from promo.bootstrap import bootstrap
from promo.domain.errors import Conflict, InvalidInput
from promo.ml.response_features import promotion_features
from promo.services import audience_scoring, campaign_history, catalog, customers, interactions
from promo.services.audience_scoring import campaign_types_of
from promo.services.model_server import RESPONSE
from tests.integration.test_models import DAY0, PAIRED, campaigns, promo, shop  # noqa: F401 (fixtures)


def buy(event_id, customer, sku, when, *, value=3.0, discount=0.0, coupon=0.0):
    return {"event_id": event_id, "customer": customer, "sku": sku, "type": "purchase", "quantity": 1,
            "value": value, "discount": discount, "coupon_discount": coupon, "channel": "store",
            "location": "S1", "occurred_at": when}


@pytest.fixture
def trained(runtime, promo, campaigns):  # noqa: F811
    catalog.upsert_products(runtime.unit_of_work(write=True), [
        {"sku": "m1", "name": "m1", "price": 1.0, "currency": "USD", "category": "D", "brand": "Acme"},
        {"sku": "m2", "name": "m2", "price": 1.0, "currency": "USD", "category": "D", "brand": "Other"}])
    result = promo("train", "--model", "response", "--quiet")
    assert result.exit_code == 0, result.output
    runtime.models.refresh()
    assert runtime.models.get(RESPONSE) is not None
    return runtime


def product_ids(runtime, skus):
    with runtime.unit_of_work() as uow:
        found = uow.products.ids_for(skus)
    return [found[sku] for sku in skus]


def from_scratch(runtime, promoted, ids, starts_at, campaign_type):
    types = campaign_types_of(runtime.models.get(RESPONSE).estimator.feature_names_)
    with runtime.session_factory() as session:
        history = training_data.read_history(session)
        frames = training_data.read_campaign_history(session)
        people = training_data.read_customers(session)
        products = training_data.read_products(session)
    return promotion_features(history, products, people, promoted_products=promoted, starts_at=starts_at,
                              customer_ids=ids, campaign_type=campaign_type, campaign_types=types,
                              redemptions=frames["redemptions"], exposures=frames["exposures"],
                              campaigns=frames["campaigns"])


def all_customer_ids(runtime):
    with runtime.unit_of_work() as uow:
        return np.asarray(uow.profiles.all_customer_ids(), dtype=np.int64)


def assert_same_features(runtime, scorer, skus, campaign_type="Type A"):
    """The scorer's features equal promotion_features from the whole history, for every
    customer, at the start its last ranking used."""
    promoted = product_ids(runtime, skus)
    scored = scorer.rank(promoted, campaign_type=campaign_type)
    starts_at = pd.Timestamp(scored.as_of.astimezone(dt.timezone.utc).replace(tzinfo=None))
    ids = all_customer_ids(runtime)
    types = campaign_types_of(runtime.models.get(RESPONSE).estimator.feature_names_)
    got = scorer.features(promoted, ids, starts_at=starts_at, campaign_type=campaign_type, campaign_types=types)
    expected = from_scratch(runtime, promoted, ids, starts_at, campaign_type)
    assert list(got.columns) == list(expected.columns)
    for name in expected.columns:
        np.testing.assert_allclose(got[name].to_numpy(), expected[name].to_numpy(), rtol=1e-9, atol=1e-9,
                                   equal_nan=True, err_msg=name)
    return scored


def test_ranking_without_a_model_is_a_conflict(runtime, shop):  # noqa: F811
    with pytest.raises(Conflict) as error:
        runtime.audience_scorer.rank([1])
    assert error.value.reason == "model_missing"


def test_warming_without_a_model_builds_nothing(runtime, shop):  # noqa: F811
    assert runtime.audience_scorer.warm() is False
    assert runtime.audience_scorer.state_version is None


def test_a_process_started_with_a_model_builds_the_state_before_its_first_ranking(trained):
    runtime = trained
    other = bootstrap(dataclasses.replace(runtime.settings, audience_warm_up=1), follow_stock=True)
    try:
        version = other.models.get(RESPONSE).version
        deadline = time.monotonic() + 60
        while other.audience_scorer.state_version != version:
            assert time.monotonic() < deadline, "the warm-up never built the state"
            time.sleep(0.05)
        assert other.audience_scorer.nbytes > 0
        assert_same_features(other, other.audience_scorer, ["m1"])      # and what it built is right
    finally:
        other.close()


def test_features_stay_equal_to_the_from_scratch_ones_as_history_arrives(trained):
    runtime = trained
    scorer = runtime.audience_scorer
    first = assert_same_features(runtime, scorer, ["a"])
    assert scorer.state_version == runtime.models.get(RESPONSE).version
    assert first.ranked_by == "probability" and len(first.customer_ids) == len(first.probability) > 30
    assert first.expected_redemptions > 0
    assert set(first.customer_ids[:5].tolist()) <= set(_ids(runtime, PAIRED + ["a-only"]).values())

    later = DAY0 + dt.timedelta(days=200)
    interactions.record_interactions(runtime.unit_of_work(write=True), [
        buy("n1", "c00", "m1", later, discount=0.5, coupon=0.25),
        buy("n2", "c00", "a", later + dt.timedelta(hours=1), coupon=1.0),
        buy("n3", "newcomer", "m2", later + dt.timedelta(days=1), value=7.5),
        buy("n4", "shopper3", "m1", later + dt.timedelta(days=2), discount=1.0),
        {**buy("n5", "only-x", "a", later + dt.timedelta(days=3)), "type": "view"}])
    campaign_history.record_redemptions(runtime.unit_of_work(write=True), [
        {"event_id": "late-r", "campaign": "k2", "customer": "shopper5", "redeemed_at": later}])
    campaign_history.import_campaigns(runtime.unit_of_work(write=True), [
        {"code": "k9", "name": "k9", "type": "Type A", "skus": ["m1"], "targeted": ["c01", "newcomer"],
         "holdout": ["c02"], "starts_at": later - dt.timedelta(days=5), "ends_at": later + dt.timedelta(days=2)}])

    second = assert_same_features(runtime, scorer, ["a", "m1"])
    state = scorer._state
    assert state.purchases.dirty.sum() == 3            # c00, newcomer, shopper3: rebuilt apart, not reloaded
    assert second.as_of > first.as_of
    assert _ids(runtime, ["newcomer"])["newcomer"] in second.customer_ids
    assert len(second.customer_ids) == len(first.customer_ids) + 1
    # A promotion of other products, and a type-free one, from the same state.
    assert_same_features(runtime, scorer, ["m2", "b", "y"], campaign_type=None)


def test_a_product_changing_category_moves_its_customers(trained):
    runtime = trained
    scorer = runtime.audience_scorer
    assert_same_features(runtime, scorer, ["m1"])
    catalog.upsert_products(runtime.unit_of_work(write=True), [
        {"sku": "a", "name": "a", "price": 2.0, "currency": "USD", "category": "D", "brand": "Acme"}])
    assert_same_features(runtime, scorer, ["m1"])
    assert_same_features(runtime, scorer, ["a"])


def test_new_demographics_and_new_customers_are_taken_up(trained):
    runtime = trained
    scorer = runtime.audience_scorer
    assert_same_features(runtime, scorer, ["a"])
    customers.upsert_customers(runtime.unit_of_work(write=True), [
        {"id": "c03", "attributes": {"age": "45-54", "income": "50-74K", "marital_status": "Married"}},
        {"id": "brand-new", "attributes": {"household_size": "5+", "home_ownership": "Renter"}}])
    scored = assert_same_features(runtime, scorer, ["a"])
    new_id = _ids(runtime, ["brand-new"])["brand-new"]
    assert new_id not in scored.customer_ids          # no purchase: not in the default audience
    chosen = scorer.rank(product_ids(runtime, ["a"]), customer_ids=[new_id])
    assert chosen.customer_ids.tolist() == [new_id]


def test_another_process_sees_what_this_one_wrote(trained, settings_overrides):
    runtime = trained
    other = bootstrap(runtime.settings)
    try:
        other.models.refresh()
        before = other.audience_scorer.rank(product_ids(runtime, ["m1"]))
        interactions.record_interactions(runtime.unit_of_work(write=True), [
            buy("o1", "far-away", "m1", DAY0 + dt.timedelta(days=300), coupon=0.5)])
        after = assert_same_features(other, other.audience_scorer, ["m1"])
        newcomer = _ids(runtime, ["far-away"])["far-away"]
        assert newcomer not in before.customer_ids and newcomer in after.customer_ids
    finally:
        other.close()


def test_a_delta_past_its_share_is_folded_into_a_new_base(trained, monkeypatch):
    runtime = trained
    scorer = runtime.audience_scorer
    scorer.rank(product_ids(runtime, ["a"]))
    monkeypatch.setattr(audience_scoring, "FOLD_MIN_ROWS", 5)
    monkeypatch.setattr(audience_scoring, "FOLD_SHARE", 0.0)
    interactions.record_interactions(runtime.unit_of_work(write=True), [
        buy(f"f{n}", f"c{n:02d}", "m2", DAY0 + dt.timedelta(days=250 + n)) for n in range(6)])
    assert_same_features(runtime, scorer, ["m2"])
    assert not scorer._state.purchases.dirty.any() and len(scorer._state.delta_rows.id) == 0


def test_a_new_model_version_rebuilds_the_state(trained, promo):  # noqa: F811
    runtime = trained
    scorer = runtime.audience_scorer
    scorer.rank(product_ids(runtime, ["a"]))
    old_state, old_version = scorer._state, scorer.state_version
    assert promo("train", "--model", "response", "--quiet").exit_code == 0
    runtime.models.refresh()
    assert runtime.models.get(RESPONSE).version != old_version
    scored = assert_same_features(runtime, scorer, ["a"])
    assert scored.model_version == scorer.state_version == runtime.models.get(RESPONSE).version
    assert scorer._state is not old_state


def test_opted_out_customers_are_never_scored_and_are_counted(trained, client, admin):
    runtime = trained
    scorer = runtime.audience_scorer
    everyone = scorer.rank(product_ids(runtime, ["a"]))
    ids = _ids(runtime, ["c00", "c01", "only-x"])
    assert client.put("/v1/customers", json=[{"id": "c00", "opted_out": True}], headers=admin).status_code == 200
    after = scorer.rank(product_ids(runtime, ["a"]))
    assert ids["c00"] not in after.customer_ids and after.opted_out == 1
    assert len(after.customer_ids) == len(everyone.customer_ids) - 1
    chosen = scorer.rank(product_ids(runtime, ["a"]), customer_ids=list(ids.values()))
    assert sorted(chosen.customer_ids.tolist()) == sorted([ids["c01"], ids["only-x"]]) and chosen.opted_out == 1
    with pytest.raises(InvalidInput) as error:
        scorer.rank(product_ids(runtime, ["a"]), customer_ids=[ids["c01"], 10_000_000])
    assert error.value.errors == {"customer_ids": ["unknown customer id 10000000"]}


def test_the_scorer_answers_the_http_route_as_before(trained, client, admin):
    body = client.post("/v1/audiences/score", json={"skus": ["a"], "campaign_type": "Type A", "limit": 3},
                       headers=admin).json
    scored = trained.audience_scorer.rank(product_ids(trained, ["a"]), campaign_type="Type A")
    external = {v: k for k, v in _ids(trained, [c["id"] for c in body["customers"]]).items()}
    assert [c["id"] for c in body["customers"]] == [external[int(i)] for i in scored.customer_ids[:3]]
    assert body["audience_size"] == len(scored.customer_ids)
    assert body["expected_redemptions"] == round(scored.expected_redemptions, 2)


def _ids(runtime, externals):
    with runtime.unit_of_work() as uow:
        return uow.customers.ids_for(externals)


def test_ranking_in_a_row_reads_the_campaign_history_at_most_once(trained, monkeypatch):
    runtime = trained
    scorer = runtime.audience_scorer
    promoted = product_ids(runtime, ["a"])
    reads = []
    whole = audience_data.read_campaigns
    monkeypatch.setattr(audience_data, "read_campaigns", lambda session: reads.append(1) or whole(session))
    scorer.rank(promoted, campaign_type="Type A")
    later = DAY0 + dt.timedelta(days=200)

    def redeemed(n):
        campaign_history.record_redemptions(runtime.unit_of_work(write=True), [
            {"event_id": f"row-{n}", "campaign": "k2", "customer": "shopper5", "redeemed_at": later}])

    with scorer.reading_history_once():
        redeemed(1)
        scorer.rank(promoted, campaign_type="Type A")
        redeemed(2)
        scorer.rank(promoted, campaign_type="Type A")
    assert len(reads) == 2          # the first ranking's build, then once in the row
    redeemed(3)

    assert_same_features(runtime, scorer, ["a"])        # outside a row: the history is current again
    assert len(reads) == 3
