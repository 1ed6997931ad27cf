"""Recommenders judged over weekly cut-offs, served, with nothing from the future."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from promo.ml.baselines import BuyAgainCountBaseline, PopularityBaseline
from promo.ml.frames import COLUMNS
from promo.ml.multi_cutoff import compare_over_cutoffs, weekly_cutoffs
from promo.ml.recommender import Recommender

START = pd.Timestamp("2024-01-01")


def shop(seed: int = 5, customers: int = 60, days: int = 120) -> pd.DataFrame:
    """Customers with a few weekly staples and some random products, at two stores."""
    rng = np.random.default_rng(seed)
    rows = []
    for customer in range(customers):
        staples = rng.choice(30, size=4, replace=False)
        store = customer % 2
        for day in range(int(rng.integers(0, 7)), days, 7):
            for product in staples[rng.random(4) < 0.7]:
                rows.append((customer, int(product), store, day))
            rows.append((customer, int(rng.integers(30, 60)), store, day))
    frame = pd.DataFrame(rows, columns=["customer", "product", "location", "day"])
    frame = frame.assign(type="purchase", quantity=1, value=1.0, discount=0.0, coupon_discount=0.0,
                         occurred_at=START + pd.to_timedelta(frame["day"], unit="D") + pd.Timedelta(hours=10))
    return frame[list(COLUMNS["history"])]


def models():
    return {"ours": Recommender(repeat_weeks=2), "popularity": PopularityBaseline(),
            "buy_again_count": BuyAgainCountBaseline()}


def test_weekly_cutoffs_end_a_whole_horizon_before_the_history_does():
    history = shop()
    cutoffs = weekly_cutoffs(history, count=4, horizon_days=7)
    assert len(cutoffs) == 4
    assert all((later - earlier) == pd.Timedelta(weeks=1) for earlier, later in zip(cutoffs, cutoffs[1:]))
    assert cutoffs[-1] + pd.Timedelta(days=7) <= history["occurred_at"].max()
    assert all(cutoff == cutoff.normalize() for cutoff in cutoffs)


def test_every_model_is_fitted_and_judged_at_every_cutoff_with_intervals():
    history = shop()
    cutoffs = weekly_cutoffs(history, count=2)
    comparison = compare_over_cutoffs(history, cutoffs, models)
    assert sorted(comparison.rows["cutoff"].unique()) == cutoffs
    assert set(comparison.fit_seconds["model"]) == {"ours", "popularity", "buy_again_count"}
    table = comparison.table("ours")
    assert list(zip(table["mode"], table["model"])) == [
        ("repeat", "ours"), ("repeat", "popularity"), ("repeat", "buy_again_count"),
        ("discovery", "ours"), ("discovery", "popularity")]
    differences = comparison.differences("ours", replicates=100)
    assert differences[("repeat", "recall")][0] == "buy_again_count"
    per_cutoff = comparison.rows.groupby(["mode", "model", "cutoff"])["recall"].mean()
    assert table.loc[0, "recall"] == pytest.approx(per_cutoff.loc[("repeat", "ours")].mean())


def test_shuffling_the_history_after_the_horizon_changes_nothing():
    history = shop()
    cutoffs = weekly_cutoffs(history, count=2, horizon_days=7)
    rng = np.random.default_rng(0)
    later = history["occurred_at"] >= cutoffs[-1] + pd.Timedelta(days=7)
    scrambled = history.copy()
    for column in ("customer", "product", "location"):
        scrambled.loc[later, column] = rng.permutation(scrambled.loc[later, column].to_numpy())
    assert not scrambled.equals(history)
    before = compare_over_cutoffs(history, cutoffs, models).rows
    after = compare_over_cutoffs(scrambled, cutoffs, models).rows
    pd.testing.assert_frame_equal(after, before)


def test_the_recommenders_answers_at_a_cutoff_ignore_everything_from_it_on():
    history = shop()
    cutoff = weekly_cutoffs(history, count=1)[0]
    rng = np.random.default_rng(1)
    future = history["occurred_at"] >= cutoff
    scrambled = history.copy()
    for column in ("customer", "product"):
        scrambled.loc[future, column] = rng.permutation(scrambled.loc[future, column].to_numpy())
    fitted = [Recommender(repeat_weeks=2).fit(frame[frame["occurred_at"] < cutoff]) for frame in (history, scrambled)]
    for customer in range(10):
        for mode in ("repeat", "discovery"):
            answers = [[r.product for r in model.recommend(customer, mode=mode, now=cutoff, location=0)]
                       for model in fitted]
            assert answers[0] == answers[1]
