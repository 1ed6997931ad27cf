"""The response model and its time-split evaluation, fitted for real on small synthetic data."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from promo.ml.response import ResponseModel
from promo.ml.response_evaluation import evaluate_response, judged_campaigns, split_campaigns
from promo.ml.response_features import promotion_features, training_table

YEAR_START = pd.Timestamp("2024-01-01")


def synthetic_world(seed: int = 7, customers: int = 240, campaigns: int = 8) -> dict[str, pd.DataFrame]:
    """A year of purchases and monthly campaigns where the chance to redeem grows with how
    often the customer bought the promoted products before the campaign, and nothing else.

    40 products in 8 categories of 5; each customer favours a few products; campaign k
    promotes one category and starts on day 60 + 30 k, for 20 days.
    """
    rng = np.random.default_rng(seed)
    favourites = [rng.choice(40, size=4, replace=False) for _ in range(customers)]
    rows = []
    for customer, liked in enumerate(favourites):
        visits = rng.poisson(70)
        picks = np.where(rng.random(visits) < 0.8, rng.choice(liked, visits), rng.integers(0, 40, visits))
        days = rng.uniform(0, 366, visits)
        for product, day in zip(picks, days):
            rows.append((customer, int(product), float(rng.uniform(1, 6)), day))
    history = pd.DataFrame(rows, columns=["customer", "product", "value", "day"])
    history = history.assign(location=-1, type="purchase", quantity=1, discount=0.0,
                             coupon_discount=0.0, occurred_at=YEAR_START + pd.to_timedelta(history["day"], unit="D"))
    history = history.drop(columns="day").astype({"occurred_at": "datetime64[ns]"})
    products = pd.DataFrame({"product": np.arange(40), "sku": [f"p{i}" for i in range(40)],
                             "category": [f"c{i // 5}" for i in range(40)], "brand": None})
    people = pd.DataFrame({"customer": np.arange(customers), "age": "35-44", "income": None,
                           "home_ownership": None, "marital_status": None, "household_size": "2",
                           "household_comp": None, "kids_count": "0"})
    starts = YEAR_START + pd.to_timedelta(60 + 30 * np.arange(campaigns), unit="D")
    table = pd.DataFrame({"campaign": np.arange(1, campaigns + 1), "type": "B", "starts_at": starts,
                          "ends_at": starts + pd.Timedelta(days=20)}).astype({"starts_at": "datetime64[ns]",
                                                                               "ends_at": "datetime64[ns]"})
    campaign_products = pd.DataFrame([(campaign, product) for campaign in table["campaign"]
                                      for product in range(5 * (campaign % 8), 5 * (campaign % 8) + 5)],
                                     columns=["campaign", "product"])
    exposures, redemptions = [], []
    for campaign, start in zip(table["campaign"], table["starts_at"]):
        promoted = campaign_products.loc[campaign_products["campaign"] == campaign, "product"]
        past = history[(history["occurred_at"] < start) & history["product"].isin(promoted)]
        bought = past.groupby("customer").size().reindex(np.arange(customers), fill_value=0).to_numpy()
        chosen = rng.random(customers) < 0.6
        chance = 1 / (1 + np.exp(-(-3.5 + 1.2 * np.log1p(bought))))
        for customer in np.flatnonzero(chosen):
            exposures.append((campaign, customer, "targeted"))
            if rng.random() < chance[customer]:
                redemptions.append((campaign, customer, start + pd.Timedelta(days=int(rng.integers(0, 20)))))
    return {
        "history": history, "products": products, "customers": people, "campaigns": table,
        "campaign_products": campaign_products,
        "exposures": pd.DataFrame(exposures, columns=["campaign", "customer", "group"]),
        "redemptions": pd.DataFrame(redemptions, columns=["campaign", "customer", "redeemed_at"])
        .astype({"redeemed_at": "datetime64[ns]"}),
    }


@pytest.fixture(scope="module")
def world() -> dict[str, pd.DataFrame]:
    return synthetic_world()


def uplift_data(rows: int = 4000, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Targeting lifts redemption from 10% to 40% for "loyal" customers and does nothing for
    the others; "noise" is unrelated to anything."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"loyal": rng.integers(0, 2, rows).astype(float), "noise": rng.normal(size=rows)})
    treatment = rng.integers(0, 2, rows)
    chance = 0.1 + 0.3 * treatment * X["loyal"].to_numpy()
    return X, (rng.random(rows) < chance).astype(int), treatment


@pytest.fixture(scope="module")
def uplift_model() -> tuple[ResponseModel, pd.DataFrame]:
    X, y, treatment = uplift_data()
    return ResponseModel(features=None).fit(X, y, treatment), X


# --- the response model ----------------------------------------------------------------

def test_a_buyer_of_the_promoted_products_is_scored_above_a_customer_who_never_bought_them(world):
    frames = [world[name] for name in ("history", "products", "customers", "campaigns", "campaign_products",
                                       "exposures", "redemptions")]
    X, y, treatment, _ = training_table(*frames, campaign_ids=world["campaigns"]["campaign"])
    model = ResponseModel().fit(X, y, treatment)

    # Two newcomers who spent the same: one on the promoted products (0-4), one elsewhere.
    start = pd.Timestamp("2025-01-15")
    days = pd.to_timedelta(np.arange(10) * 3 + 1, unit="D")
    newcomers = pd.DataFrame({"customer": [1001] * 10 + [1002] * 10, "product": [0, 1, 2, 3, 4] * 2 + [20] * 10,
                              "location": -1, "type": "purchase", "quantity": 1, "value": 3.0, "discount": 0.0,
                              "coupon_discount": 0.0, "occurred_at": list(start - days) * 2})
    features = promotion_features(newcomers, world["products"], world["customers"], promoted_products=range(5),
                                  starts_at=start, customer_ids=[1001, 1002], campaign_type="B",
                                  campaign_types=["B"], redemptions=world["redemptions"],
                                  exposures=world["exposures"], campaigns=world["campaigns"])
    buyer, stranger = model.predict_proba(features)[:, 1]

    assert buyer > 2 * stranger


def test_fit_returns_self_and_clone_gives_an_unfitted_copy():
    X, y, treatment = uplift_data(rows=400)
    model = ResponseModel(C=0.5, features=None, min_control_rows=20)

    assert model.fit(X, y, treatment) is model
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    with pytest.raises(NotFittedError):
        copy.predict_proba(X)


def test_probabilities_and_expected_redemptions(uplift_model):
    model, X = uplift_model
    probability = model.predict_proba(X)

    assert probability.shape == (len(X), 2)
    np.testing.assert_allclose(probability.sum(axis=1), 1.0)
    assert model.expected_redemptions(X) == pytest.approx(probability[:, 1].sum())
    assert model.predict(X).tolist() == (probability[:, 1] > 0.5).astype(int).tolist()


def test_a_frame_is_read_by_column_name(uplift_model):
    model, X = uplift_model

    np.testing.assert_array_equal(model.predict_proba(X[["noise", "loyal"]].assign(extra=1.0)),
                                  model.predict_proba(X))
    with pytest.raises(ValueError, match="lacks the features"):
        model.predict_proba(X[["noise"]])


def test_missing_values_are_imputed():
    X, y, _ = uplift_data(rows=600)
    X.loc[X.index[::5], "noise"] = np.nan
    model = ResponseModel(features=None).fit(X, y)

    assert np.isfinite(model.predict_proba(X)).all()
    assert model.response_.flagged.tolist() == [1]      # noise had gaps, so it has a missing flag


def test_the_targeted_rows_need_both_outcomes():
    X, _, _ = uplift_data(rows=100)
    with pytest.raises(ValueError, match="both redeemers and non-redeemers"):
        ResponseModel(features=None).fit(X, np.zeros(len(X)))


# --- uplift ----------------------------------------------------------------------------

def test_uplift_is_found_where_the_promotion_works_and_nowhere_else(uplift_model):
    model, X = uplift_model
    uplift = model.predict_uplift(X)
    loyal = X["loyal"].to_numpy() == 1

    assert model.has_uplift_
    assert uplift[loyal].mean() == pytest.approx(0.3, abs=0.06)
    assert abs(uplift[~loyal].mean()) < 0.04


def test_uplift_needs_a_holdout():
    X, y, treatment = uplift_data(rows=400)
    without = ResponseModel(features=None).fit(X, y)
    tiny_holdout = ResponseModel(features=None, min_control_rows=1000).fit(X, y, treatment)

    for model in (without, tiny_holdout):
        assert not model.has_uplift_
        with pytest.raises(ValueError, match="without a holdout group"):
            model.predict_uplift(X)


def test_a_holdout_where_nobody_redeemed_gives_a_constant_control():
    X, y, treatment = uplift_data(rows=1000)
    y = np.where(treatment == 0, 0, y)
    model = ResponseModel(features=None).fit(X, y, treatment)

    control = model.predict_proba(X)[:, 1] - model.predict_uplift(X)
    assert np.ptp(control) == pytest.approx(0.0, abs=1e-12)
    assert 0 < control[0] < 1 / (treatment == 0).sum()


# --- storage ---------------------------------------------------------------------------

def test_arrays_round_trip_without_pickle(uplift_model, tmp_path):
    model, X = uplift_model
    arrays, params = model.to_arrays()
    assert all(array.dtype != object for array in arrays.values())
    np.savez(tmp_path / "model.npz", **arrays)
    (tmp_path / "model.json").write_text(json.dumps(params))

    with np.load(tmp_path / "model.npz", allow_pickle=False) as stored:
        rebuilt = ResponseModel.from_arrays(stored, json.loads((tmp_path / "model.json").read_text()))

    assert rebuilt.get_params() == model.get_params()
    assert rebuilt.feature_names_.tolist() == ["loyal", "noise"]
    np.testing.assert_array_equal(rebuilt.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(rebuilt.predict_uplift(X), model.predict_uplift(X))


def test_a_model_without_uplift_round_trips_too():
    X, y, _ = uplift_data(rows=400)
    model = ResponseModel(features=None).fit(X.to_numpy(), y)
    rebuilt = ResponseModel.from_arrays(*model.to_arrays())

    assert not rebuilt.has_uplift_
    np.testing.assert_array_equal(rebuilt.predict_proba(X.to_numpy()), model.predict_proba(X.to_numpy()))


# --- the held-out-campaign evaluation ------------------------------------------------------

CUTOFF = pd.Timestamp("2024-06-01")    # campaigns start on days 60, 90, ... and last 20 days


def test_the_split_trains_on_ended_campaigns_and_tests_on_later_ones(world):
    starts_ends = world["campaigns"].set_index("campaign")
    train, test = split_campaigns(world["campaigns"], CUTOFF)

    assert train and test
    assert (starts_ends.loc[train, "ends_at"] < CUTOFF).all()
    assert (starts_ends.loc[test, "starts_at"] >= CUTOFF).all()
    straddling = set(starts_ends.index) - set(train) - set(test)
    assert straddling == {4}    # starts on 30 May, ends on 19 June


@pytest.fixture(scope="module")
def evaluation(world):
    return evaluate_response(**world, min_redeemers=5)


def test_every_campaign_with_redeemers_is_held_out_learning_only_from_campaigns_ended_before_it(world, evaluation):
    dates = world["campaigns"].set_index("campaign")
    table = evaluation.campaigns.set_index("campaign")
    # Campaign 1 has nothing before it to learn from; every later one is held out in turn.
    assert list(table.index) == [2, 3, 4, 5, 6, 7, 8]
    for campaign, row in table.iterrows():
        assert row["train_campaigns"] == (dates["ends_at"] < dates.loc[campaign, "starts_at"]).sum()
    targeted = world["exposures"].groupby("campaign").size()
    assert (table["rows"] == targeted.reindex(table.index)).all()


def test_the_model_beats_every_single_figure_on_average_and_its_interval_is_reported(evaluation):
    summary = evaluation.summary().set_index("scorer")
    assert list(summary.index) == ["model", "past_coupon_use", "past_redemptions", "spend", "promoted_affinity",
                                   "logistic_one_campaign"]
    # Redemption follows past purchases of the promoted products only: spend is a weak proxy.
    assert summary.loc["model", "roc_auc"] > summary.loc["spend", "roc_auc"] + 0.1
    best, interval = evaluation.difference(replicates=200)
    assert best == evaluation.best_baseline()
    assert interval.low <= interval.difference <= interval.high
    expected, actual = evaluation.expected_vs_actual()
    assert actual == int(evaluation.predictions["y"].sum())
    assert expected == pytest.approx(evaluation.predictions["model"].sum())
    assert evaluation.reliability["rows"].sum() == len(evaluation.predictions)


def test_campaigns_running_past_the_history_are_neither_learned_from_nor_judged(world):
    # The history now ends inside campaign 8's window (it starts on day 270, ends on day 290).
    cut = world["campaigns"].set_index("campaign").loc[8, "starts_at"] + pd.Timedelta(days=5)
    truncated = dict(world, history=world["history"][world["history"]["occurred_at"] < cut])
    eligible, held_out = judged_campaigns(truncated["campaigns"], truncated["exposures"], truncated["redemptions"],
                                          truncated["history"], min_redeemers=5)
    assert 8 not in eligible and 8 not in held_out
    assert 7 in held_out
    evaluation = evaluate_response(**truncated, min_redeemers=5)
    assert 8 not in set(evaluation.campaigns["campaign"])


def test_shuffling_everything_from_a_campaigns_start_on_changes_none_of_its_predictions(world, evaluation):
    """The future (purchases, redemptions, exposures of later campaigns) is scrambled:
    a leak from it into features or training would move the held-out predictions."""
    campaign = 5
    start = world["campaigns"].set_index("campaign").loc[campaign, "starts_at"]
    rng = np.random.default_rng(0)
    history = world["history"].copy()
    future = history["occurred_at"] >= start
    for column in ("customer", "product", "value"):
        history.loc[future, column] = rng.permutation(history.loc[future, column].to_numpy())
    redemptions = world["redemptions"].copy()
    later = redemptions["redeemed_at"] >= start
    mine = redemptions["campaign"] == campaign
    # Later campaigns' redeemers are scrambled; the held-out campaign keeps its own (the truth).
    redemptions.loc[later & ~mine, "customer"] = rng.permutation(redemptions.loc[later & ~mine, "customer"].to_numpy())
    shuffled = evaluate_response(**dict(world, history=history, redemptions=redemptions), min_redeemers=5)

    def predictions(result):
        return result.predictions.loc[result.predictions["campaign"] == campaign].reset_index(drop=True)

    pd.testing.assert_frame_equal(predictions(shuffled), predictions(evaluation))
    assert not predictions(shuffled).empty
