"""Evaluation of recommenders: split, ground truth, metrics, baselines."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from promo.ml.baselines import ALSBaseline, BuyAgainCountBaseline, PopularityBaseline
from promo.ml.ranking import (compare_recommenders, evaluate_recommenders, hit_rate_at_k,
                              ndcg_at_k, recall_at_k, relevant_products, serving_at,
                              split_by_time)
from promo.ml.frames import COLUMNS

START = pd.Timestamp("2024-01-01")
CUTOFF = START + pd.Timedelta(days=10)


def history(*rows) -> pd.DataFrame:
    """A history frame from (customer, product, day[, type]) tuples, all at location 1."""
    records = [{"customer": customer, "product": product, "location": 1,
                "type": rest[0] if rest else "purchase", "quantity": 1, "value": 1.0,
                "discount": 0.0, "coupon_discount": 0.0,
                "occurred_at": START + pd.Timedelta(days=day)}
               for customer, product, day, *rest in rows]
    return pd.DataFrame(records, columns=list(COLUMNS["history"]))


@pytest.fixture(scope="module")
def periods() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Customer 1 buys 10 often and 11 once; customers 2-4 like 20; then the test period."""
    rows = [(1, 10, day) for day in (0, 2, 4, 6)] + [(1, 11, 1), (1, 20, 3, "view")]
    rows += [(c, 20, c) for c in (2, 3, 4)] + [(c, 21, c) for c in (2, 3)] + [(2, 10, 5)]
    rows += [(1, 10, 12), (1, 20, 13), (1, 30, 14),  # after the cutoff
             (2, 20, 15), (5, 20, 15)]               # customer 5 is new: not judged
    return split_by_time(history(*rows), CUTOFF)


def test_split_by_time_keeps_everything_before_the_cutoff_in_train(periods):
    train, test = periods
    assert (train["occurred_at"] < CUTOFF).all()
    assert (test["occurred_at"] >= CUTOFF).all()
    assert len(train) + len(test) == 17


def test_relevant_products_per_mode(periods):
    relevant = relevant_products(*periods)
    assert {c: list(p) for c, p in relevant["repeat"].items()} == {1: [10], 2: [20]}
    # Customer 1 had only viewed product 20, so buying it is a discovery.
    assert {c: list(p) for c, p in relevant["discovery"].items()} == {1: [20, 30]}


def test_metrics_on_a_hand_computed_example():
    recommended, relevant = [1, 2, 3, 4], np.array([2, 4, 9])
    assert hit_rate_at_k(recommended, relevant, k=4) == 1.0
    assert recall_at_k(recommended, relevant, k=4) == pytest.approx(2 / 3)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(recommended, relevant, k=4) == pytest.approx(dcg / ideal)
    assert (hit_rate_at_k(recommended, relevant, k=1), recall_at_k(recommended, relevant, k=1),
            ndcg_at_k(recommended, relevant, k=1)) == (0.0, 0.0, 0.0)
    assert ndcg_at_k([2, 4, 9], relevant, k=10) == pytest.approx(1.0)
    assert recall_at_k([], np.array([], dtype=np.int64)) == 0.0


def test_popularity_and_buy_again_by_count_baselines(periods):
    train, _ = periods
    popularity = PopularityBaseline().fit(train)
    own = BuyAgainCountBaseline().fit(train)
    # Product 10 has two buyers, 11 one; customer 1 bought 10 four times.
    assert [r.product for r in popularity.recommend(1, mode="repeat")] == [10, 11]
    assert [r.product for r in own.recommend(1, mode="repeat")] == [10, 11]
    assert [r.product for r in own.recommend(2, mode="repeat")] == [20, 10, 21]
    # Discovery: the most bought products the customer never bought (views do not count).
    assert [r.product for r in popularity.recommend(1, mode="discovery")] == [20, 21]
    for model in (popularity, own):
        assert model.recommend(99, mode="repeat") == []
    # Buying again has nothing to say about discovery: it is not asked there.
    assert own.modes == ("repeat",)
    with pytest.raises(ValueError, match="only answers mode 'repeat'"):
        own.recommend(1, mode="discovery")


def test_evaluate_recommenders_judges_each_mode_with_the_models_that_compete_in_it(periods):
    train, test = periods
    models = {"popularity": PopularityBaseline().fit(train), "own": BuyAgainCountBaseline().fit(train)}
    table = evaluate_recommenders(train, test, models, k=2)
    assert list(table.columns) == ["mode", "model", "users", "hit_rate", "recall", "ndcg"]
    assert list(zip(table["mode"], table["model"])) == [
        ("repeat", "popularity"), ("repeat", "own"), ("discovery", "popularity")]
    own_repeat = table.iloc[1]
    assert own_repeat["users"] == 2
    assert own_repeat["hit_rate"] == 1.0 and own_repeat["recall"] == 1.0
    # Customer 1's discovery: [20, 21] at k=2 finds 20 of {20, 30}.
    discovery = table.iloc[2]
    assert (discovery["users"], discovery["hit_rate"], discovery["recall"]) == (1, 1.0, 0.5)
    assert discovery["ndcg"] == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_served_evaluation_asks_at_the_usual_store_and_counts_only_what_is_in_stock():
    # Customer 1 shops at store 1 (three visits) and once at store 2; product 11 sold only at store 2.
    rows = [(1, 10, 0, 1), (1, 10, 2, 1), (1, 12, 3, 1), (1, 11, 4, 2), (2, 12, 1, 1)]
    train = history(*[(c, p, d) for c, p, d, _ in rows])
    train["location"] = [location for *_, location in rows]
    serving = serving_at(train)
    assert serving.location(1) == 1 and serving.location(2) == 1
    assert serving.available(1)(np.array([10, 11, 12])).tolist() == [True, False, True]
    test = history((1, 11, 12), (1, 10, 12))
    model = BuyAgainCountBaseline().fit(train)
    served = evaluate_recommenders(train, test, {"own": model}, k=3, serving=serving)
    unserved = evaluate_recommenders(train, test, {"own": model}, k=3)
    # Product 11 is out of stock at store 1, so served it can never be found.
    assert served.loc[0, "recall"] == 0.5 and unserved.loc[0, "recall"] == 1.0


def test_split_with_a_horizon_judges_only_the_days_after_the_cutoff(periods):
    whole = pd.concat(periods)
    _, test = split_by_time(whole, CUTOFF, horizon_days=3)
    assert test["occurred_at"].min() >= CUTOFF
    assert test["occurred_at"].max() < CUTOFF + pd.Timedelta(days=3)
    assert len(test) == 1   # day 12 only: 13, 14 and 15 are past the horizon


def test_als_baseline_follows_the_candidate_rules():
    rows = [(c, p, d) for c in range(12) for d, p in enumerate(range(c % 4, 20, 4))]
    rows += [(c, 100 + c % 3, 30) for c in range(12)]
    train = history(*rows)
    model = ALSBaseline(factors=4, iterations=3).fit(train)
    bought = set(train.loc[train["customer"] == 0, "product"])
    repeat = [r.product for r in model.recommend(0, mode="repeat", limit=3)]
    discovery = [r.product for r in model.recommend(0, mode="discovery", limit=3)]
    assert len(repeat) == 3 and set(repeat) <= bought
    assert len(discovery) == 3 and not set(discovery) & bought
    assert model.recommend(999, mode="repeat") == []
    assert len(model.recommend(999, mode="discovery", limit=2)) == 2


def test_compare_recommenders_fits_on_the_past_and_reports_fit_times(periods):
    train, test = periods
    whole = pd.concat([train, test])
    table = compare_recommenders(whole, CUTOFF, {"popularity": PopularityBaseline()}, k=2)
    expected = evaluate_recommenders(train, test, {"popularity": PopularityBaseline().fit(train)},
                                     k=2)
    pd.testing.assert_frame_equal(table.drop(columns="fit_seconds"), expected)
    assert (table["fit_seconds"] >= 0).all()
