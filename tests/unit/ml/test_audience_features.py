"""Audience features from compact state equal promotion_features computed from scratch."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from promo.ml.frames import DEMOGRAPHIC_COLUMNS
from promo.ml.audience_features import PurchaseState, audience_features, purchase_columns
from promo.ml.purchase_facts import CatalogVocabulary, PurchaseFacts, _ranges
from promo.ml.response_features import demographic_features, promotion_features

def random_history(seed: int, customers: int = 40, products: int = 30, rows: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = np.datetime64("2024-01-01T00:00", "ns")
    return pd.DataFrame({
        "customer": rng.integers(1, customers + 1, rows),
        "product": rng.integers(1, products + 1, rows),
        "location": -1,
        "type": pd.Categorical(rng.choice(["purchase", "purchase", "view"], rows)),
        "quantity": 1,
        "value": rng.integers(0, 500, rows) / 100,
        "discount": rng.integers(0, 2, rows) * rng.integers(0, 100, rows) / 100,
        "coupon_discount": (rng.random(rows) < 0.1) * rng.integers(1, 100, rows) / 100,
        "occurred_at": start + rng.integers(0, 200 * 24 * 3600, rows).astype("timedelta64[s]"),
    })


def products_frame(products: int = 30) -> pd.DataFrame:
    ids = np.arange(1, products + 1)
    return pd.DataFrame({"product": ids, "sku": [f"p{i}" for i in ids],
                         "category": [None if i % 7 == 0 else f"cat{i % 5}" for i in ids],
                         "brand": [None if i % 4 == 0 else f"brand{i % 3}" for i in ids]})


def facts_of(history: pd.DataFrame, vocabulary: CatalogVocabulary, n_slots: int) -> PurchaseFacts:
    bought = history[history["type"] == "purchase"]
    day = ((bought["occurred_at"].to_numpy(dtype="datetime64[ns]") - np.datetime64("1970-01-01", "ns"))
           // np.timedelta64(1, "D")).astype(np.int64)
    return PurchaseFacts(bought["customer"].to_numpy(), bought["product"].to_numpy(), day,
                         bought["value"].to_numpy(float), bought["discount"].to_numpy(float),
                         bought["coupon_discount"].to_numpy(float), n_slots=n_slots, catalog=vocabulary.codes,
                         n_categories=vocabulary.sizes[0], n_brands=vocabulary.sizes[1])


def vocabulary_of(products: pd.DataFrame) -> CatalogVocabulary:
    vocabulary = CatalogVocabulary()
    vocabulary.update(products["product"].to_numpy(), products["category"].tolist(), products["brand"].tolist())
    return vocabulary


def test_ranges_concatenate_aranges():
    assert _ranges(np.array([2, 10, 5]), np.array([4, 10, 8])).tolist() == [2, 3, 5, 6, 7]
    assert _ranges(np.array([], dtype=np.int64), np.array([], dtype=np.int64)).tolist() == []


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("promoted", [[3], [1, 2, 5, 8, 13], [29, 30, 99]])
def test_state_with_a_delta_equals_the_features_from_scratch(seed, promoted):
    history = random_history(seed)
    products = products_frame()
    vocabulary = vocabulary_of(products)
    cut = len(history) * 2 // 3
    # The base knows the first two thirds; customers touched later are rebuilt whole in the delta.
    state = PurchaseState(facts_of(history.iloc[:cut], vocabulary, 41), vocabulary.codes, *vocabulary.sizes)
    touched = np.unique(history["customer"].iloc[cut:].to_numpy())
    state.replace(facts_of(history[history["customer"].isin(touched)], vocabulary, 41), touched)
    starts_at = pd.Timestamp("2024-07-25 13:00")
    ids = np.arange(1, 41)

    expected = promotion_features(history, products, pd.DataFrame(columns=["customer", *DEMOGRAPHIC_COLUMNS]),
                                  promoted_products=promoted, starts_at=starts_at, customer_ids=ids)
    got = pd.DataFrame(purchase_columns(
        state, ids, promoted_products=promoted, promoted_categories=vocabulary.selected("category", np.array(promoted)),
        promoted_brands=vocabulary.selected("brand", np.array(promoted)), starts_at=starts_at), index=ids)
    for name in got.columns:
        np.testing.assert_allclose(got[name].to_numpy(), expected[name].to_numpy(), rtol=1e-9, atol=1e-9,
                                   equal_nan=True, err_msg=name)
    assert expected["recent_visit_days"].sum() > 0 and expected["promoted_days"].sum() > 0


def test_the_whole_frame_matches_including_campaigns_and_demographics():
    history = random_history(5)
    products = products_frame()
    vocabulary = vocabulary_of(products)
    state = PurchaseState(facts_of(history, vocabulary, 41), vocabulary.codes, *vocabulary.sizes)
    customers = pd.DataFrame({"customer": [1, 2, 3], "age": ["45-54", None, "65+"], "income": ["50-74K", None, None],
                              "home_ownership": ["Renter", None, "Homeowner"], "marital_status": [None, "Married", None],
                              "household_size": ["2", None, "5+"], "household_comp": ["2 Adults Kids", None, None],
                              "kids_count": ["1", None, None]})
    ids = np.arange(1, 41)
    people = demographic_features(customers, pd.Index(np.arange(0, 41)))
    campaigns = pd.DataFrame({"campaign": [1, 2], "type": ["A", "B"],
                              "starts_at": pd.to_datetime(["2024-02-01", "2024-09-01"]),
                              "ends_at": pd.to_datetime(["2024-02-10", "2024-09-10"])})
    exposures = pd.DataFrame({"campaign": [1, 1, 2], "customer": [1, 2, 3], "group": ["targeted"] * 3})
    redemptions = pd.DataFrame({"campaign": [1, 1], "customer": [1, 2],
                                "redeemed_at": pd.to_datetime(["2024-02-03 00:00", "2024-02-05 10:00"])})
    starts_at = pd.Timestamp("2024-07-25 13:00")
    common = dict(promoted_products=[2, 4], starts_at=starts_at, campaign_type="A", redemptions=redemptions,
                  exposures=exposures, campaigns=campaigns)

    expected = promotion_features(history, products, customers, customer_ids=ids, campaign_types=["A", "B"], **common)
    got = audience_features(state, ids, demographics=people.to_numpy(), demographic_names=list(people.columns),
                            promoted_categories=vocabulary.selected("category", np.array([2, 4])),
                            promoted_brands=vocabulary.selected("brand", np.array([2, 4])),
                            campaign_types=["A", "B"], **common)
    assert list(got.columns) == list(expected.columns)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-9, atol=1e-9, equal_nan=True)


def test_a_catalog_change_moves_category_sums():
    history = random_history(7)
    products = products_frame()
    vocabulary = vocabulary_of(products)
    state = PurchaseState(facts_of(history, vocabulary, 41), vocabulary.codes, *vocabulary.sizes)
    products.loc[products["product"] == 3, "category"] = "new-category"
    changed = vocabulary.update(np.array([3, 4]), ["new-category", products.loc[3, "category"]],
                                [products.loc[2, "brand"], products.loc[3, "brand"]])
    assert changed.tolist() == [3]
    state.set_catalog(vocabulary.codes, *vocabulary.sizes)
    ids = np.arange(1, 41)
    starts_at = pd.Timestamp("2024-08-01")
    expected = promotion_features(history, products, pd.DataFrame(columns=["customer", *DEMOGRAPHIC_COLUMNS]),
                                  promoted_products=[3], starts_at=starts_at, customer_ids=ids)
    got = purchase_columns(state, ids, promoted_products=[3], starts_at=starts_at,
                           promoted_categories=vocabulary.selected("category", np.array([3])),
                           promoted_brands=vocabulary.selected("brand", np.array([3])))
    np.testing.assert_allclose(got["category_purchases"], expected["category_purchases"].to_numpy())
    assert got["category_purchases"].sum() == got["promoted_purchases"].sum() > 0

