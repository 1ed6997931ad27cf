"""Offer rules that need no database: eligibility by limits, channel and location, stock
bands, offer ids, one offer per product and the ranked, diverse choice."""
from __future__ import annotations

import numpy as np
import pytest

from promo.domain import offers as rules
from promo.domain.offers import Limits, Tally


@pytest.mark.parametrize("limits, tally, customer, refusal", [
    (Limits(None, None, None), Tally(10**6, 10.0**9, {1: 10**6}), 1, None),
    (Limits(5, None, None), Tally(5, 0.0, {}), 1, "max_redemptions_reached"),
    (Limits(5, None, None), Tally(4, 0.0, {}), 1, None),
    (Limits(None, None, 10.0), Tally(3, 10.0, {}), 1, "budget_exhausted"),
    (Limits(None, None, 10.0), Tally(3, 9.99, {}), 1, None),
    (Limits(None, 2, None), Tally(2, 0.0, {1: 2}), 1, "per_customer_limit"),
    (Limits(None, 2, None), Tally(2, 0.0, {1: 2}), 7, None),
    (Limits(None, 2, None), Tally(2, 0.0, {1: 2}), None, None),     # someone we do not know
    (Limits(1, 1, None), Tally(1, 0.0, {1: 1}), 1, "max_redemptions_reached"),   # the cap is judged first
])
def test_limits_refuse_only_what_they_bind(limits, tally, customer, refusal):
    assert rules.limit_refusal(limits, tally, customer) == refusal


@pytest.mark.parametrize("channels, locations, channel, sites, refusal", [
    ({"store"}, None, "store", [1], None),
    ({"store"}, None, "web", [1], "channel"),
    ({"store", "web"}, {2, 3}, "store", [1], "location"),
    ({"store", "web"}, {2, 3}, "web", [1, 3], None),
])
def test_a_campaign_serves_its_channels_at_its_locations(channels, locations, channel, sites, refusal):
    located = None if locations is None else frozenset(locations)
    assert rules.serves(frozenset(channels), located, channel, sites) == refusal


@pytest.mark.parametrize("available, band", [(0, "last_units"), (3, "last_units"), (4, "few"), (10, "few"),
                                             (11, "plenty"), (10**6, "plenty")])
def test_a_shopper_sees_a_band_never_a_count(available, band):
    assert rules.quantity_band(available) == band


def test_an_offer_id_names_its_list_campaign_and_product_and_nothing_else_parses():
    rec = "rec-" + "ab" * 16
    made = rules.offer_id(rec, 12, 3456)

    assert rules.parse_offer_id(made) == (rec, 12, 3456)
    for bad in ("", "off-", made + "x", made.replace("off-", "of-"), "off-" + "g" * 32 + "-1-2"):
        assert rules.parse_offer_id(bad) is None


def test_one_offer_per_product_prefers_priority_then_exclusive_then_saving_then_the_older_campaign():
    #             pair:  0   1   2   3   4   5
    product = np.array([7, 7, 7, 9, 9, 8])
    priority = np.array([0, 1, 1, 0, 0, 0])
    exclusive = np.array([True, False, True, False, False, False])
    saving = np.array([9.0, 1.0, 1.0, 1.0, 2.0, 1.0])
    campaign = np.array([0, 1, 2, 3, 4, 5])

    order = rules.preference_order(product, priority, exclusive, saving, campaign)
    first = order[rules.first_of_each_product(product[order])]

    assert dict(zip(product[first].tolist(), first.tolist())) == {7: 2, 8: 5, 9: 4}


def test_the_choice_puts_higher_priorities_first_and_spreads_campaigns_and_categories():
    priority = np.array([0, 0, 0, 0, 1])
    value = np.array([1.0, 0.95, 0.9, 0.5, 0.1])
    campaign = np.array([0, 0, 1, 2, 3])
    category = np.array([5, 5, 6, 5, -1])

    chosen = rules.choose(priority, value, campaign, category, limit=5)

    # Priority 1 first whatever its value; then 0.95 loses to 0.9 once campaign 0 and
    # category 5 have one offer each (0.95 * 0.6 * 0.7 < 0.9).
    assert chosen == [4, 0, 2, 1, 3]
    assert rules.choose(priority, value, campaign, category, limit=2) == [4, 0]
    assert rules.choose(priority[:0], value[:0], campaign[:0], category[:0], limit=3) == []


@pytest.mark.parametrize("campaigns, categories", [(5, 4), (1, 1), (60, 30)])
def test_the_choice_on_the_best_few_equals_the_greedy_choice_on_all(campaigns, categories):
    rng = np.random.default_rng(3)
    for _ in range(40):
        n = int(rng.integers(1, 300))
        # One campaign and category: every pick discounts the rest, so the best few
        # candidates are not enough and the choice must look further.
        priority, value = rng.integers(0, 3, n), rng.random(n) ** 4
        campaign, category = rng.integers(0, campaigns, n), rng.integers(-1, categories, n)

        chosen = rules.choose(priority, value, campaign, category, limit=10)

        assert chosen == _full_rescan(priority, value, campaign, category, 10)


def _full_rescan(priority, value, campaign, category, limit):
    """The plain definition: at each step, the best adjusted value of the highest tier left."""
    left, chosen, seen_c, seen_k = set(range(len(value))), [], {}, {}
    while left and len(chosen) < limit:
        tier = max(priority[i] for i in left)

        def adjusted(i):
            factor = rules.SAME_CAMPAIGN_DECAY ** seen_c.get(campaign[i], 0)
            if category[i] >= 0:
                factor *= rules.SAME_CATEGORY_DECAY ** seen_k.get(category[i], 0)
            return value[i] * factor

        best = max(sorted(i for i in left if priority[i] == tier), key=lambda i: (adjusted(i), -value[i], -i))
        chosen.append(best)
        left.remove(best)
        seen_c[campaign[best]] = seen_c.get(campaign[best], 0) + 1
        if category[best] >= 0:
            seen_k[category[best]] = seen_k.get(category[best], 0) + 1
    return chosen


def test_expected_value_is_probability_times_liking_times_saving_with_a_floor_for_the_unknown():
    value = rules.expected_value(np.array([0.5, 0.5, 0.0]), np.array([1.0, 0.0, 1.0]), np.array([2.0, 2.0, 2.0]))

    assert value.tolist() == pytest.approx([0.5 * 1.1 * 2, 0.5 * 0.1 * 2, 0.0])
