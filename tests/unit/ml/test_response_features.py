"""The response model's features: hand-checked values, and nothing read from after the start."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from promo.ml.response_features import (
    band_value,
    campaign_features,
    campaigns_within,
    promotion_features,
    redemption_labels,
    training_table)

START = pd.Timestamp("2024-03-01")
PROMOTED = [1]


def at(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


def history_frame(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (customer, product, value, discount, coupon_discount, occurred_at[, type])."""
    records = [{"customer": row[0], "product": row[1], "location": -1, "type": row[6] if len(row) > 6 else "purchase",
                "quantity": 1, "value": float(row[2]), "discount": float(row[3]), "coupon_discount": float(row[4]),
                "occurred_at": at(row[5])} for row in rows]
    return pd.DataFrame(records).astype({"occurred_at": "datetime64[ns]"})


PRODUCTS = pd.DataFrame({"product": [1, 2, 3, 4], "sku": ["p1", "p2", "p3", "p4"],
                         "category": ["dairy", "dairy", "bakery", None], "brand": [None, None, None, None]})
CUSTOMERS = pd.DataFrame({
    "customer": [10, 20],
    "age": ["45-54", None], "income": ["50-74K", "Unknown"], "home_ownership": ["Probable Homeowner", "Renter"],
    "marital_status": ["Married", None], "household_size": ["5+", "1"], "household_comp": ["2 Adults Kids", None],
    "kids_count": ["3+", "0"],
})
BEFORE = [
    (10, 1, 4.0, 1.0, 0.0, "2024-02-01 10:00"),
    (10, 1, 4.0, 0.0, 1.0, "2024-02-20 09:00"),
    (10, 2, 2.0, 0.0, 0.0, "2024-02-20 09:05"),
    (10, 3, 10.0, 0.0, 0.0, "2024-02-25 18:00"),
    (20, 3, 5.0, 0.0, 0.0, "2024-01-01 12:00"),
    (20, 1, 0.0, 0.0, 0.0, "2024-02-28 12:00", "view"),   # a view is not a purchase
]
AFTER = [
    (10, 1, 4.0, 0.0, 2.0, "2024-03-01 00:00"),           # exactly at the start: already too late
    (20, 1, 9.0, 3.0, 3.0, "2024-03-05 08:00"),
    (30, 2, 7.0, 0.0, 0.0, "2024-04-01 08:00"),
]
CAMPAIGNS = pd.DataFrame({"campaign": [1, 2, 3], "type": ["A", "B", "A"],
                          "starts_at": pd.to_datetime(["2024-01-10", "2024-03-01", "2024-04-01"]),
                          "ends_at": pd.to_datetime(["2024-02-10", "2024-03-31", "2024-04-30"])})
CAMPAIGN_PRODUCTS = pd.DataFrame({"campaign": [1, 2, 2, 3], "product": [3, 1, 4, 2]})
EXPOSURES = pd.DataFrame({"campaign": [1, 1, 2, 2, 2, 3], "customer": [10, 20, 10, 20, 30, 10],
                          "group": ["targeted", "holdout", "targeted", "targeted", "holdout", "targeted"]})
REDEMPTIONS = pd.DataFrame({"campaign": [1, 1, 2], "customer": [10, 10, 10],
                            "redeemed_at": pd.to_datetime(["2024-01-15", "2024-01-16", "2024-03-02"])})


def features(history: pd.DataFrame, **extra) -> pd.DataFrame:
    return promotion_features(history, PRODUCTS, CUSTOMERS, promoted_products=PROMOTED, starts_at=START,
                              customer_ids=[10, 20, 30], **extra)


def test_purchase_features_count_what_happened_before_the_start():
    row = features(history_frame(BEFORE + AFTER)).loc[10]

    assert row["promoted_purchases"] == 2
    assert row["promoted_spend"] == 8.0
    assert row["promoted_days"] == 2
    assert row["promoted_products_bought"] == 1
    assert row["promoted_coupon_uses"] == 1
    assert row["promoted_spend_share"] == pytest.approx(8 / 20)
    assert row["category_purchases"] == 3          # products 1, 1 and 2 are dairy
    assert row["category_spend"] == 10.0
    assert row["total_spend"] == 20.0
    assert row["purchases"] == 4
    assert row["visit_days"] == 3
    assert row["recency_days"] == 5                # 25 February to 1 March 2024
    assert row["tenure_days"] == 29
    assert row["coupon_uses"] == 1
    assert row["coupon_share"] == pytest.approx(1 / 22)    # of 20 paid + 1 + 1 discounted
    assert row["discount_share"] == pytest.approx(1 / 22)
    assert row["promoted_purchases_per_week"] == pytest.approx(2 / (30 / 7))


def test_a_customer_without_history_has_zeros_and_unknown_shares():
    table = features(history_frame(BEFORE))

    assert list(table.index) == [10, 20, 30]
    assert table.loc[20, "promoted_purchases"] == 0    # only viewed the promoted product
    assert table.loc[20, "recency_days"] == 60
    empty = table.loc[30]
    assert empty["total_spend"] == 0 and empty["visit_days"] == 0
    assert np.isnan(empty["recency_days"]) and np.isnan(empty["coupon_share"])
    assert (table.dtypes == float).all()


def test_rows_at_or_after_the_start_change_nothing():
    before_only = features(history_frame(BEFORE))
    with_later = features(history_frame(BEFORE + AFTER))
    altered = history_frame(BEFORE + AFTER)
    later = altered["occurred_at"] >= START
    altered.loc[later, ["value", "coupon_discount"]] = 1000.0
    altered.loc[later, "product"] = 1

    pd.testing.assert_frame_equal(with_later, before_only)
    pd.testing.assert_frame_equal(features(altered), before_only)


def test_past_campaigns_count_only_before_the_start():
    table = features(history_frame(BEFORE), redemptions=REDEMPTIONS, exposures=EXPOSURES, campaigns=CAMPAIGNS)

    # Campaign 2 starts with the promotion and campaign 3 after it: neither is in the past.
    assert table["past_exposures"].tolist() == [1, 1, 0]
    assert table["past_redeemed_campaigns"].tolist() == [1, 0, 0]
    assert table["past_redemptions"].tolist() == [2, 0, 0]
    assert table.loc[10, "past_redemption_rate"] == 1.0 and np.isnan(table.loc[30, "past_redemption_rate"])

    later = pd.DataFrame({"campaign": [3, 3], "customer": [20, 30],
                          "redeemed_at": [START, START + pd.Timedelta(days=40)]})
    more = pd.concat([REDEMPTIONS, later], ignore_index=True)
    pd.testing.assert_frame_equal(
        features(history_frame(BEFORE), redemptions=more, exposures=EXPOSURES, campaigns=CAMPAIGNS), table)


def test_exposures_can_carry_their_campaign_start_instead_of_a_campaigns_frame():
    dated = EXPOSURES.merge(CAMPAIGNS[["campaign", "starts_at"]], on="campaign")
    expected = features(history_frame(BEFORE), exposures=EXPOSURES, campaigns=CAMPAIGNS)

    pd.testing.assert_frame_equal(features(history_frame(BEFORE), exposures=dated), expected)
    with pytest.raises(ValueError, match="starts_at column or a campaigns frame"):
        features(history_frame(BEFORE), exposures=EXPOSURES)


def test_demographics_become_numbers_and_unknown_is_nan():
    table = features(history_frame(BEFORE))

    assert table.loc[10, ["age", "income", "household_size", "kids_count", "adults", "homeowner", "married"]] \
        .tolist() == [49.5, 62.0, 5.0, 3.0, 2.0, 1.0, 1.0]
    assert np.isnan(table.loc[20, "age"]) and np.isnan(table.loc[20, "income"])
    assert table.loc[20, "homeowner"] == 0.0 and table.loc[20, "kids_count"] == 0.0
    assert table.loc[30, ["age", "income", "homeowner"]].isna().all()     # not in the customers frame


@pytest.mark.parametrize("text, value", [("45-54", 49.5), ("65+", 65.0), ("Under 15K", 7.5), ("250K+", 250.0),
                                         ("3+", 3.0), ("2", 2.0), ("Unknown", np.nan), (None, np.nan)])
def test_band_value(text, value):
    assert band_value(text) == pytest.approx(value, nan_ok=True)


def test_campaign_type_is_one_hot_over_the_vocabulary():
    table = features(history_frame(BEFORE), campaign_type="B", campaign_types=["A", "B", "C"])

    assert table[["campaign_type=A", "campaign_type=B", "campaign_type=C"]].drop_duplicates().values.tolist() \
        == [[0.0, 1.0, 0.0]]
    assert (table["promoted_products"] == 1).all()


def test_customer_ids_must_be_unique():
    with pytest.raises(ValueError, match="duplicates"):
        promotion_features(history_frame(BEFORE), PRODUCTS, CUSTOMERS, promoted_products=PROMOTED,
                           starts_at=START, customer_ids=[10, 10])


def test_training_table_has_one_row_per_exposure_with_its_label_and_group():
    history = history_frame(BEFORE + AFTER)
    frames = (history, PRODUCTS, CUSTOMERS, CAMPAIGNS, CAMPAIGN_PRODUCTS, EXPOSURES, REDEMPTIONS)

    X, y, treatment, campaign = training_table(*frames, campaign_ids=[2, 1])

    assert campaign.tolist() == [2, 2, 2, 1, 1]
    assert y.tolist() == [1, 0, 0, 1, 0]
    assert treatment.tolist() == [1, 1, 0, 1, 0]
    expected = campaign_features(history, PRODUCTS, CUSTOMERS, CAMPAIGNS, CAMPAIGN_PRODUCTS, campaign_id=2,
                                 customer_ids=[10, 20, 30], exposures=EXPOSURES, redemptions=REDEMPTIONS)
    pd.testing.assert_frame_equal(X.iloc[:3].reset_index(drop=True), expected.reset_index(drop=True))
    assert X.loc[0, "promoted_products"] == 2 and X.loc[0, "campaign_type=B"] == 1.0
    assert X.loc[3, "total_spend"] == 0     # campaign 1 started before any purchase


def test_training_table_rejects_unknown_groups():
    exposures = EXPOSURES.assign(group="control")
    with pytest.raises(ValueError, match="targeted"):
        training_table(history_frame(BEFORE), PRODUCTS, CUSTOMERS, CAMPAIGNS, CAMPAIGN_PRODUCTS, exposures,
                       REDEMPTIONS, campaign_ids=[1])


def test_a_label_counts_a_redemption_only_inside_its_window_and_before_the_cutoff():
    redemptions = pd.concat([REDEMPTIONS, pd.DataFrame({
        "campaign": [2, 2, 1], "customer": [20, 30, 20],
        # customer 20 redeemed campaign 2 after it ended, 30 before it started,
        # and 20 redeemed campaign 1 inside its window.
        "redeemed_at": pd.to_datetime(["2024-04-05", "2024-02-20", "2024-02-01"])})], ignore_index=True)

    labels = redemption_labels(CAMPAIGNS, redemptions)
    assert sorted(map(tuple, labels[["campaign", "customer"]].to_numpy().tolist())) == [(1, 10), (1, 20), (2, 10)]
    # Before a cut-off of 2024-01-20, customer 20's redemption of 1 (on 1 February) is not known yet.
    early = redemption_labels(CAMPAIGNS, redemptions, until="2024-01-20")
    assert sorted(map(tuple, early[["campaign", "customer"]].to_numpy().tolist())) == [(1, 10)]

    frames = (history_frame(BEFORE + AFTER), PRODUCTS, CUSTOMERS, CAMPAIGNS, CAMPAIGN_PRODUCTS, EXPOSURES,
              redemptions)
    _, y, _, campaign = training_table(*frames, campaign_ids=[2])
    assert y.tolist() == [1, 0, 0]          # customers 10, 20, 30: only 10 redeemed inside the window
    _, y, _, _ = training_table(*frames, campaign_ids=[1], until="2024-01-20")
    assert y.tolist() == [1, 0]


def test_only_campaigns_whose_whole_window_is_recorded_are_kept():
    assert campaigns_within(CAMPAIGNS, pd.Timestamp("2024-01-01"), pd.Timestamp("2024-05-01")) == [1, 2, 3]
    # The history ends inside campaign 3's window, and starts inside campaign 1's.
    assert campaigns_within(CAMPAIGNS, pd.Timestamp("2024-01-01"), pd.Timestamp("2024-04-15")) == [1, 2]
    assert campaigns_within(CAMPAIGNS, pd.Timestamp("2024-01-20"), pd.Timestamp("2024-05-01")) == [2, 3]
    assert campaigns_within(CAMPAIGNS, None, None) == []
