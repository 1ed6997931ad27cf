"""The product recommender on small histories whose right answers are known."""
from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from promo.ml.frames import COLUMNS
from promo.ml.recommender.affinity import ItemToItemIndex
from promo.ml.recommender import Recommendation, Recommender

START = pd.Timestamp("2024-01-01")

# Product ids of the shop in these tests.
MILK, BREAD, JAM, COFFEE, TEA, SOAP = 10, 20, 30, 40, 50, 60


def history(*rows) -> pd.DataFrame:
    """A history frame from (customer, product, day[, type[, location]]) tuples."""
    records = []
    for customer, product, day, *rest in rows:
        kind = rest[0] if len(rest) > 0 else "purchase"
        location = rest[1] if len(rest) > 1 else 1
        records.append({"customer": customer, "product": product, "location": location,
                        "type": kind, "quantity": 1, "value": 1.0, "discount": 0.0,
                        "coupon_discount": 0.0,
                        "occurred_at": START + pd.Timedelta(days=day)})
    return pd.DataFrame(records, columns=list(COLUMNS["history"])).astype(
        {"customer": "int64", "product": "int64", "location": "int64", "quantity": "int64",
         "occurred_at": "datetime64[ns]"})


def products_of(recommendations: list[Recommendation]) -> list[int]:
    return [r.product for r in recommendations]


@pytest.fixture(scope="module")
def shop() -> pd.DataFrame:
    """Bread and jam go together; coffee is popular on its own; customer 9 bought bread."""
    rows = []
    for customer in range(1, 6):             # bread-and-jam households
        rows += [(customer, BREAD, day) for day in (1, 8, 15)]
        rows += [(customer, JAM, day) for day in (1, 15)]
    for customer in range(20, 30):           # coffee households, more of them
        rows += [(customer, COFFEE, day) for day in (2, 9)]
    rows += [(9, BREAD, 3), (9, BREAD, 10)]
    rows += [(7, MILK, day) for day in range(0, 30, 3)]   # customer 7 only ever buys milk
    rows += [(7, TEA, 5, "view")]
    return history(*rows)


@pytest.fixture(scope="module")
def model(shop) -> Recommender:
    return Recommender().fit(shop)


def test_fit_returns_self_and_clone_gives_an_unfitted_copy(shop):
    estimator = Recommender(half_life_days=30.0)
    assert estimator.fit(shop) is estimator
    copy = clone(estimator)
    assert copy.get_params() == estimator.get_params()
    assert not hasattr(copy, "products_")
    assert estimator.data_until_ == np.datetime64(START + pd.Timedelta(days=27), "ns")
    assert estimator.products_.dtype == np.int64


def test_a_customer_who_only_buys_milk_gets_milk_first_in_repeat_and_never_in_discovery(model):
    repeat = model.recommend(7, mode="repeat")
    assert products_of(repeat) == [MILK]
    assert repeat[0].reasons == (("bought_before", None),)

    # Nobody else buys milk, so nothing is similar to it: the other bought products,
    # most bought first (tea was only viewed, so it is not a purchase anybody made).
    discovery = model.recommend(7, mode="discovery")
    assert products_of(discovery) == [COFFEE, BREAD, JAM]
    assert {r.reasons for r in discovery} == {(("fallback_popular", None),)}


def test_views_are_not_purchases(model):
    assert TEA not in products_of(model.recommend(7, mode="repeat"))
    only_viewed = history((1, MILK, 0), (2, TEA, 0, "view"))
    cold = Recommender().fit(only_viewed).recommend(2, mode="repeat")
    assert [r.reasons for r in cold] == [(("fallback_popular", None),)]


def test_products_bought_together_are_discovered_as_similar(model):
    discovery = model.recommend(9, mode="discovery", limit=3)
    assert discovery[0].product == JAM
    assert discovery[0].reasons == (("similar_to", BREAD),)
    # Coffee is more popular than jam, but nobody who buys bread buys it.
    assert products_of(discovery).index(JAM) < products_of(discovery).index(COFFEE)
    # Jam out of stock: the next best, never jam.
    without_jam = model.recommend(9, mode="discovery", available=lambda ids: ids != JAM)
    assert products_of(without_jam) == [p for p in products_of(discovery) if p != JAM]


def test_recent_interactions_count_without_refitting(model):
    # Customer 9 just bought coffee, after the data the model was fitted on.
    recent = history((9, COFFEE, 40))
    now = START + pd.Timedelta(days=41)
    before_repeat = products_of(model.recommend(9, mode="repeat", now=now))
    after_repeat = products_of(model.recommend(9, mode="repeat", recent=recent, now=now))
    assert COFFEE not in before_repeat
    assert set(after_repeat) == {BREAD, COFFEE}

    before = products_of(model.recommend(9, mode="discovery", now=now))
    after = products_of(model.recommend(9, mode="discovery", recent=recent, now=now))
    assert COFFEE in before and COFFEE not in after


def test_a_recent_purchase_drives_its_neighbours_up():
    rows = [(c, TEA, 1) for c in range(1, 5)] + [(c, SOAP, 1) for c in range(1, 5)]
    rows += [(c, COFFEE, 2) for c in range(10, 20)] + [(9, MILK, 3)]
    model = Recommender().fit(history(*rows))
    assert model.recommend(9, mode="discovery", limit=1)[0].product == COFFEE
    recent = history((9, TEA, 10))
    top = model.recommend(9, mode="discovery", recent=recent, limit=1)[0]
    assert top == Recommendation(SOAP, top.score, (("similar_to", TEA),))


def test_a_product_newer_than_the_model_can_be_bought_again(model):
    recent = history((9, 999, 30))
    repeat = products_of(model.recommend(9, mode="repeat", recent=recent))
    assert 999 in repeat and BREAD in repeat
    assert 999 not in products_of(model.recommend(9, mode="discovery", recent=recent))


def test_recency_outweighs_an_old_habit():
    rows = [(1, MILK, day) for day in (0, 1, 2)] + [(1, BREAD, day) for day in (400, 401)]
    model = Recommender(half_life_days=60.0, repurchase_power=0.0).fit(history(*rows))
    assert products_of(model.recommend(1, mode="repeat")) == [BREAD, MILK]


def test_cold_customers_get_popular_products(shop):
    rows = [(c, COFFEE, 1, "purchase", 1) for c in range(1, 8)]      # coffee at store 1
    rows += [(c, TEA, 1, "purchase", 2) for c in range(10, 14)]      # tea at store 2
    rows += [(c, SOAP, 1, "purchase", 2) for c in range(10, 12)]
    model = Recommender().fit(history(*rows))

    for customer in (None, 12345):
        cold = model.recommend(customer, mode="discovery", limit=3)
        assert products_of(cold) == [COFFEE, TEA, SOAP]
        assert {r.reasons for r in cold} == {(("fallback_popular", None),)}
        assert products_of(model.recommend(customer, mode="repeat", limit=1)) == [COFFEE]

    at_store_2 = model.recommend(None, mode="discovery", limit=3, location=2)
    assert products_of(at_store_2) == [TEA, SOAP, COFFEE]
    assert [r.reasons[0][0] for r in at_store_2] == ["popular_at_location"] * 2 + \
        ["fallback_popular"]
    unknown_store = model.recommend(None, limit=1, location=99)
    assert unknown_store[0].reasons == (("fallback_popular", None),)


def test_available_filter_is_honoured_even_when_the_best_candidates_are_not():
    products = np.arange(100, 160)
    # Customer 1 bought product p (p - 99) times: the higher the id, the better in repeat.
    rows = [(1, int(p), day) for p in products for day in range(int(p) - 99)]
    rows += [(c, int(p), 1) for c in range(2, 6) for p in products[::3]]
    # The counting rule (no learned ranker), so the order of the survivors is known.
    model = Recommender(repurchase_power=0.0, repeat_weeks=0).fit(history(*rows))
    calls: list[np.ndarray] = []

    def available(ids: np.ndarray) -> np.ndarray:
        calls.append(ids)
        return ids < 130  # the 30 best repeat candidates are out of stock

    repeat = model.recommend(1, mode="repeat", limit=5, available=available)
    assert products_of(repeat) == [129, 128, 127, 126, 125]
    assert all(ids.dtype == np.int64 for ids in calls)
    assert len(calls) == 1 and len(calls[0]) == len(products)   # one question about every candidate

    # Nothing is available: fewer results rather than unavailable ones.
    assert model.recommend(1, mode="repeat", available=lambda ids: ids < 0) == []
    cold = model.recommend(None, mode="discovery", limit=5, available=available)
    assert len(cold) == 5 and all(r.product < 130 for r in cold)


def test_discovery_fills_with_popular_products_when_candidates_run_out():
    rows = [(1, MILK, 1), (1, BREAD, 1), (2, MILK, 1), (3, JAM, 1), (3, MILK, 2)]
    model = Recommender().fit(history(*rows))
    found = model.recommend(2, mode="discovery", limit=5)
    assert set(products_of(found)) == {BREAD, JAM}
    only_jam = model.recommend(2, mode="discovery", available=lambda ids: ids == JAM)
    assert products_of(only_jam) == [JAM]


def test_round_trip_through_npz_gives_identical_recommendations(model):
    arrays, params = model.to_arrays()
    assert all(array.dtype != object for array in arrays.values())
    assert json.loads(json.dumps(params)) == params
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as loaded:
        restored = Recommender.from_arrays(loaded, params)
    recent = history((9, COFFEE, 40))
    for customer in (1, 7, 9, 25, None, 555):
        for mode in ("repeat", "discovery"):
            for kwargs in ({}, {"recent": recent, "now": START + pd.Timedelta(days=50)},
                           {"location": 1, "available": lambda ids: ids != JAM}):
                assert restored.recommend(customer, mode=mode, **kwargs) == \
                    model.recommend(customer, mode=mode, **kwargs)
    assert restored.get_params() == model.get_params()


def test_products_missing_from_the_catalogue_are_ignored(shop):
    catalogue = pd.DataFrame({"product": [BREAD, JAM, COFFEE, MILK], "sku": ["b", "j", "c", "m"],
                              "category": None, "brand": None})
    model = Recommender().fit(shop, catalogue)
    assert TEA not in model.products_


def test_bad_requests_are_refused(model, shop):
    with pytest.raises(ValueError, match="mode"):
        model.recommend(9, mode="surprise")
    assert model.recommend(9, limit=0) == []
    with pytest.raises(ValueError, match="lacks columns"):
        Recommender().fit(shop.drop(columns=["occurred_at"]))


# --- the learned buy-again ranker ------------------------------------------------------------

FORTNIGHTLY_A, FORTNIGHTLY_B = 71, 72


@pytest.fixture(scope="module")
def fortnightly():
    """40 households buy A every 14 days from day 0 and B every 14 days from day 7, plus a
    one-off product each visit: which staple is bought next week depends only on which is due."""
    rows = []
    for customer in range(100, 140):
        for day in range(0, 140, 7):
            rows.append((customer, FORTNIGHTLY_A if day % 14 == 0 else FORTNIGHTLY_B, day))
            rows.append((customer, 1000 + day + customer, day))
    return history(*rows)


@pytest.mark.parametrize("objective", ["softmax", "logistic"])
def test_the_ranker_is_learned_from_the_history_and_puts_the_due_staple_first(fortnightly, objective):
    model = Recommender(repeat_weeks=3, repeat_objective=objective).fit(fortnightly)
    assert model.get_params()["repeat_objective"] == objective
    assert model.ranker_coef_.shape == model.ranker_means_.shape and len(model.ranker_coef_) > 0
    # Last visit: day 133 (B). A was bought on day 126: due now; B was just bought.
    now = START + pd.Timedelta(days=134)
    ranked = products_of(model.recommend(100, now=now, limit=50))
    assert ranked[0] == FORTNIGHTLY_A and ranked.index(FORTNIGHTLY_B) > 0


def test_a_purchase_folded_in_at_request_time_makes_that_staple_not_due(fortnightly):
    model = Recommender(repeat_weeks=3).fit(fortnightly)
    now = START + pd.Timedelta(days=134)
    recent = pd.DataFrame({"product": [FORTNIGHTLY_A, 5000], "type": ["purchase", "purchase"], "quantity": [1, 1],
                           "occurred_at": [now - pd.Timedelta(hours=1)] * 2})
    ranked = products_of(model.recommend(100, now=now, limit=50, recent=recent))
    assert ranked.index(FORTNIGHTLY_B) < ranked.index(FORTNIGHTLY_A)
    assert 5000 in ranked        # a product newer than the model can be bought again at once


def test_with_a_catalogue_the_ranker_learns_per_category_adjustments_that_survive_a_round_trip(fortnightly):
    from promo.ml.repeat_ranker import FEATURES

    products = np.sort(fortnightly["product"].unique())
    catalogue = pd.DataFrame({"product": products, "sku": products.astype(str),
                              "category": np.where(products < 1000, "staples", "one-offs"), "brand": None})
    model = Recommender(repeat_weeks=3).fit(fortnightly, catalogue)
    # Categories are coded by name: "one-offs" 0, "staples" 1.
    assert model.item_category_.tolist() == [1, 1] + [0] * (len(products) - 2)
    assert model.ranker_category_coef_.shape == (2, len(FEATURES) + 1)
    now = START + pd.Timedelta(days=134)
    assert products_of(model.recommend(100, now=now, limit=50))[0] == FORTNIGHTLY_A

    arrays, params = model.to_arrays()
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as loaded:
        restored = Recommender.from_arrays(loaded, params)
        # An artefact from before the categories: the shared coefficients alone serve.
        older = Recommender.from_arrays({name: loaded[name] for name in loaded.files
                                         if name not in ("item_category", "ranker_category_coef")}, params)
    for customer in range(100, 140):
        assert restored.recommend(customer, now=now) == model.recommend(customer, now=now)
    assert (older.item_category_ == -1).all() and len(older.ranker_category_coef_) == 0
    assert products_of(older.recommend(100, now=now, limit=50))[0] == FORTNIGHTLY_A
    # Without a catalogue (or with the penalty None) there are no categories to learn.
    assert len(Recommender(repeat_weeks=3).fit(fortnightly).ranker_category_coef_) == 0
    assert len(Recommender(repeat_weeks=3, repeat_category_penalty=None)
               .fit(fortnightly, catalogue).ranker_category_coef_) == 0


def test_without_anything_re_bought_to_learn_from_the_counting_rule_serves(shop):
    model = Recommender(repeat_weeks=0).fit(shop)
    assert len(model.ranker_coef_) == 0
    assert products_of(model.recommend(7, mode="repeat"))[0] == MILK


def test_affinity_to_a_set_of_products_says_which_are_bought_again_and_which_are_like_what_was_bought(model):
    repeat, similar = model.affinity(9, [BREAD, JAM, COFFEE, MILK])

    assert products_of(repeat) == [BREAD] and repeat[0].reasons == (("bought_before", None),)
    assert products_of(similar) == [JAM] and similar[0].reasons == (("similar_to", BREAD),)
    # The same as discovery's own score for jam, restricted to the set.
    assert similar[0].score == pytest.approx(model.recommend(9, mode="discovery", limit=1)[0].score)


def test_affinity_with_a_prebuilt_index_equals_affinity_without(model):
    products = [BREAD, JAM, COFFEE, MILK, TEA]
    index = ItemToItemIndex(model, products)

    for customer in (1, 7, 9, 22, 12345):
        assert model.affinity(customer, products, index=index) == model.affinity(customer, products)
    assert model.affinity(12345, products) == ([], [])      # a stranger relates to nothing
