"""The simple rules the recommender must beat: each is a distinct, honest competitor."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from promo.ml.baselines import (BuyAgainCountBaseline, BuyAgainRecencyBaseline,
                                RepurchaseCycleBaseline, default_baselines, tune_half_life)
from promo.ml.frames import COLUMNS

START = pd.Timestamp("2024-01-01")
OLD_HABIT, NEW_HABIT, WEEKLY, MONTHLY = 1, 2, 3, 4


def history(*rows) -> pd.DataFrame:
    records = [{"customer": customer, "product": product, "location": 1, "type": "purchase", "quantity": 1,
                "value": 1.0, "discount": 0.0, "coupon_discount": 0.0,
                "occurred_at": START + pd.Timedelta(days=day)} for customer, product, day in rows]
    return pd.DataFrame(records, columns=list(COLUMNS["history"]))


def products(recommendations) -> list[int]:
    return [r.product for r in recommendations]


def test_count_and_recency_rank_an_old_habit_and_a_new_one_differently():
    # Bought 6 times long ago, against 4 times in the last weeks.
    data = history(*[(1, OLD_HABIT, day) for day in range(0, 60, 10)],
                   *[(1, NEW_HABIT, day) for day in (200, 207, 214, 221)])
    count = BuyAgainCountBaseline().fit(data)
    recency = BuyAgainRecencyBaseline(half_life_days=14).fit(data)
    assert products(count.recommend(1)) == [OLD_HABIT, NEW_HABIT]
    assert products(recency.recommend(1)) == [NEW_HABIT, OLD_HABIT]


def test_the_half_life_is_tuned_on_the_training_history_alone():
    # 30 customers keep buying what they bought in the last weeks and drop what they bought long ago.
    rows = []
    for customer in range(30):
        # Twelve old, frequent habits (more than the ten judged), then the current one.
        rows += [(customer, 1000 + 20 * customer + old, day) for old in range(12) for day in range(0, 90, 3)]
        rows += [(customer, 200 + customer, day) for day in range(150, 220, 7)]
    data = history(*rows)
    best, recalls = tune_half_life(data, grid=(7.0, np.inf), weeks=2)
    assert best == 7.0 and recalls["7.0"] > recalls["inf"]
    # Rows after the history change nothing: the tuning reads only what it is given.
    model = BuyAgainRecencyBaseline(half_life_grid=(7.0, np.inf), tuning_weeks=2).fit(data)
    assert model.half_life_ == 7.0 and model.tuning_ == recalls


def test_the_repurchase_cycle_puts_a_due_product_before_one_just_bought():
    # Both bought every 10 days, six times: the count cannot tell them apart.
    data = history(*[(1, WEEKLY, day) for day in range(0, 60, 10)],
                   *[(1, MONTHLY, day) for day in range(5, 65, 10)])

    def ranked(day):
        now = START + pd.Timedelta(days=day)
        model = RepurchaseCycleBaseline(horizon_days=1).fit(data[data["occurred_at"] < now])
        return products(model.recommend(1, now=now))

    assert ranked(57) == [WEEKLY, MONTHLY]     # WEEKLY last bought 7 days ago, MONTHLY 2
    assert ranked(52) == [MONTHLY, WEEKLY]     # WEEKLY bought 2 days ago, MONTHLY 7


def test_every_baseline_honours_the_stock_filter_and_only_repeat_rules_skip_discovery():
    data = history(*[(c, p, d) for c in range(6) for p, d in ((1, 1), (2, 2), (3, 3), (1, 8))])
    for name, model in default_baselines(als=False).items():
        model.fit(data)
        found = products(model.recommend(0, mode="repeat", available=lambda ids: ids != 1))
        assert 1 not in found and found, name
        assert ("discovery" in getattr(model, "modes", ("repeat", "discovery"))) == (name == "popularity")
    with pytest.raises(ValueError):
        BuyAgainRecencyBaseline(half_life_days=7).fit(data).recommend(0, mode="discovery")
