"""The buy-again ranker's learning: the softmax fit (with its per-category adjustments), the
servable pairs it learns from, and the two objectives, on small data whose right answers
are known."""
from __future__ import annotations

import numpy as np
import pytest

from promo.ml.repeat_learning import learn_ranker
from promo.ml.repeat_ranker import FEATURES, NS_PER_DAY, PurchaseIndex, design_at
from promo.ml.softmax_ranker import category_scores, fit_softmax


def choice_data(seed: int = 0, groups: int = 400, size: int = 8):
    """Groups of candidates; one is chosen with probability softmax(2 * x0 - 1 * x1)."""
    rng = np.random.default_rng(seed)
    design = rng.normal(size=(groups * size, 3))
    score = (design @ np.array([2.0, -1.0, 0.0])).reshape(groups, size)
    share = np.exp(score - score.max(axis=1, keepdims=True))
    share /= share.sum(axis=1, keepdims=True)
    picked = np.array([rng.choice(size, p=row) for row in share])
    labels = np.zeros((groups, size), bool)
    labels[np.arange(groups), picked] = True
    return design, labels.ravel(), np.arange(groups) * size


def test_the_softmax_fit_recovers_the_coefficients_that_made_the_choices():
    design, labels, starts = choice_data()
    means, scales, coef, category_coef = fit_softmax(design, labels, starts, np.ones(len(starts)), C=100.0)
    raw = coef / scales              # back on the scale of the design
    assert raw[0] == pytest.approx(2.0, abs=0.35)
    assert raw[1] == pytest.approx(-1.0, abs=0.3)
    assert abs(raw[2]) < 0.3
    assert category_coef.shape == (0, 4)        # no categories, no adjustments


def test_a_constant_within_each_group_changes_nothing_the_softmax_learns():
    design, labels, starts = choice_data(seed=1)
    # A per-group offset (how much a customer shops) as an extra feature: it cannot tell
    # a group's candidates apart, so it gets no weight and the rest are unmoved.
    offset = np.repeat(np.random.default_rng(2).normal(size=len(starts)), 8)[:, None]
    plain = fit_softmax(design, labels, starts, np.ones(len(starts)))[2]
    with_offset = fit_softmax(np.hstack([design, offset]), labels, starts, np.ones(len(starts)))[2]
    assert abs(with_offset[3]) < 1e-3
    np.testing.assert_allclose(with_offset[:3], plain, atol=1e-3)


def test_a_stronger_penalty_shrinks_the_coefficients_and_groups_weigh_as_given():
    design, labels, starts = choice_data(seed=3)
    ones = np.ones(len(starts))
    loose = fit_softmax(design, labels, starts, ones, C=10.0)[2]
    tight = fit_softmax(design, labels, starts, ones, C=0.001)[2]
    assert np.abs(tight).sum() < 0.5 * np.abs(loose).sum()
    # Weighing only the first half of the groups is learning from that half alone.
    half = len(starts) // 2
    weight = np.r_[np.ones(half), np.full(len(starts) - half, 1e-9)]
    weighted = fit_softmax(design, labels, starts, weight, C=10.0)[2]
    alone = fit_softmax(design[:half * 8], labels[:half * 8], starts[:half], np.ones(half), C=10.0 * half / len(starts))[2]
    np.testing.assert_allclose(weighted, alone, rtol=0.05, atol=0.02)


def categorised_choices(seed: int = 4, groups: int = 600, size: int = 8):
    """Candidates of two categories; x0 makes one of category 0 likelier to be chosen
    (+2) and one of category 1 less likely (-2): a shared coefficient can only average."""
    rng = np.random.default_rng(seed)
    design = rng.normal(size=(groups * size, 2))
    categories = rng.integers(0, 2, size=groups * size)
    score = (np.where(categories == 0, 2.0, -2.0) * design[:, 0] + design[:, 1]).reshape(groups, size)
    share = np.exp(score - score.max(axis=1, keepdims=True))
    share /= share.sum(axis=1, keepdims=True)
    picked = np.array([rng.choice(size, p=row) for row in share])
    labels = np.zeros((groups, size), bool)
    labels[np.arange(groups), picked] = True
    return design, labels.ravel(), np.arange(groups) * size, categories


def test_each_category_learns_its_own_adjustment_of_the_shared_coefficients():
    design, labels, starts, categories = categorised_choices()
    ones = np.ones(len(starts))
    _, scales, shared, _ = fit_softmax(design, labels, starts, ones, C=100.0)
    assert abs(shared[0] / scales[0]) < 0.5     # +2 and -2 averaged away
    _, scales, coef, adjust = fit_softmax(design, labels, starts, ones, C=100.0, categories=categories,
                                          n_categories=2, category_penalty=1.0)
    assert adjust.shape == (2, 3)               # per category: intercept, then one per feature
    assert (coef[0] + adjust[0, 1]) / scales[0] == pytest.approx(2.0, abs=0.4)
    assert (coef[0] + adjust[1, 1]) / scales[0] == pytest.approx(-2.0, abs=0.4)
    assert (coef[1] + adjust[:, 2]) / scales[1] == pytest.approx([1.0, 1.0], abs=0.3)
    # A prohibitive penalty keeps every category on the shared coefficients.
    _, _, held, held_adjust = fit_softmax(design, labels, starts, ones, C=100.0, categories=categories,
                                          n_categories=2, category_penalty=1e9)
    assert np.abs(held_adjust).max() < 1e-4
    np.testing.assert_allclose(held, shared, atol=5e-3)


def test_a_candidate_without_a_known_category_gets_no_adjustment():
    standard = np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]])
    adjust = np.array([[0.5, 1.0, -1.0]])
    # Category 0: 0.5 + 1 * 1 - 1 * 2; none (-1); one beyond those learned (a newer one).
    np.testing.assert_allclose(category_scores(standard, np.array([0, -1, 1]), adjust), [-0.5, 0.0, 0.0])


def test_a_group_with_nothing_chosen_is_refused():
    design, labels, starts = choice_data(groups=3)
    labels[:8] = False
    with pytest.raises(ValueError, match="chosen"):
        fit_softmax(design, labels, starts, np.ones(3))


# --- the pairs learned from ------------------------------------------------------------------

DAY = NS_PER_DAY


def rows(*purchases):
    """(user, item, day, location) tuples as the index's arrays."""
    users, items, days, locations = (np.array(column, dtype=np.int64) for column in zip(*purchases))
    return users, items, days * DAY, locations


def test_only_products_sold_at_the_customers_usual_store_lately_can_be_served():
    # Customer 0 shops at store 1 (three visits) and once at store 2, where they bought
    # item 2; item 2 never sold at store 1, item 3 sold there only long ago.
    users, items, times, locations = rows(
        (0, 0, 100, 1), (0, 1, 101, 1), (0, 0, 102, 1), (0, 2, 103, 2), (0, 3, 5, 1),
        (1, 1, 104, 1), (2, 4, 104, -1), (2, 5, 105, -1))
    index = PurchaseIndex.build(users, items, times, locations, n_items=6)
    pairs, design, servable = design_at(index, 3, 110 * DAY, 7.0)
    served = dict(zip(pairs.tolist(), servable.tolist()))
    assert served == {0: True, 1: True, 2: False, 3: False,    # customer 0: items 0-3
                      6 * 1 + 1: True,                         # customer 1: item 1 at store 1
                      6 * 2 + 4: True, 6 * 2 + 5: True}        # customer 2: no store known, all
    assert design.shape == (len(pairs), len(FEATURES))


def weekly_shop(weeks: int = 12, customers: int = 30):
    """Each customer buys item 0 every week and item 1 every other week, and a one-off
    item every visit, all at store 1: next week holds item 0 for everyone."""
    purchases, one_off = [], 10
    for user in range(customers):
        for week in range(weeks):
            day = 7 * week + user % 3
            purchases.append((user, 0, day, 1))
            if (week + user) % 2 == 0:
                purchases.append((user, 1, day, 1))
            purchases.append((user, one_off, day, 1))
            one_off += 1
    return rows(*purchases), one_off


@pytest.mark.parametrize("objective", ["softmax", "logistic"])
def test_either_objective_learns_to_put_the_weekly_staple_ahead_of_one_offs(objective):
    (users, items, times, locations), n_items = weekly_shop()
    ranker, validation = learn_ranker(users, items, times, locations, n_items, 30, weeks=3, objective=objective)
    assert ranker.learned
    index = PurchaseIndex.build(users, items, times, locations, n_items)
    pairs, design, _ = design_at(index, 30, int(times.max()) + DAY, 7.0)
    scores = ranker.score(design)
    staple, one_offs = scores[pairs % n_items == 0], scores[pairs % n_items >= 10]
    assert staple.min() > one_offs.max()
    assert set(validation) == {"ranker", "buy_again_count", "buy_again_recency_30d"}
    assert validation["ranker"] >= validation["buy_again_recency_30d"]


def test_with_item_categories_the_softmax_learns_an_adjustment_per_category_and_still_ranks_the_staple_first():
    (users, items, times, locations), n_items = weekly_shop()
    # The two staples in one category, the one-offs in another but for a few with none.
    item_category = np.where(np.arange(n_items) < 10, 0, 1)
    item_category[n_items - 5:] = -1
    ranker, validation = learn_ranker(users, items, times, locations, n_items, 30, weeks=3,
                                      item_category=item_category, category_penalty=300.0)
    assert ranker.category_coef.shape == (2, len(FEATURES) + 1)
    index = PurchaseIndex.build(users, items, times, locations, n_items)
    pairs, design, _ = design_at(index, 30, int(times.max()) + DAY, 7.0)
    scores = ranker.score(design, item_category[pairs % n_items])
    assert scores[pairs % n_items == 0].min() > scores[pairs % n_items >= 10].max()
    assert validation["ranker"] >= validation["buy_again_recency_30d"]
    # The logistic objective has no categories; nor has a ranker asked for none.
    for options in ({"objective": "logistic", "category_penalty": 300.0}, {"category_penalty": None}):
        plain, _ = learn_ranker(users, items, times, locations, n_items, 30, weeks=3,
                                item_category=item_category, **options)
        assert plain.learned and len(plain.category_coef) == 0


def test_an_unknown_objective_is_refused_and_an_empty_history_learns_nothing():
    (users, items, times, locations), n_items = weekly_shop(weeks=3)
    with pytest.raises(ValueError, match="objective"):
        learn_ranker(users, items, times, locations, n_items, 30, objective="pairwise")
    empty = np.empty(0, np.int64)
    ranker, validation = learn_ranker(empty, empty, empty, empty, 1, 0)
    assert not ranker.learned and validation == {}
