"""Offer rules that need no database: who may be offered a live campaign, how much stock a
shopper is told about, offer ids, and how a list of offers is chosen.

The serving path (promo.services.offers) applies them to in-memory snapshots; checkout
(promo.services.checkout) applies the same limits and holdout to carts at the till.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Iterable

import numpy as np

# --- eligibility ----------------------------------------------------------------------------

# Why a live campaign is not offered to a customer, in the order they are judged.
NOT_ON_CHANNEL = "channel"
NOT_AT_LOCATION = "location"
PER_CUSTOMER_LIMIT = "per_customer_limit"
CAP_REACHED = "max_redemptions_reached"
BUDGET_EXHAUSTED = "budget_exhausted"


@dataclasses.dataclass(frozen=True)
class Limits:
    max_redemptions: int | None
    per_customer: int | None
    budget: float | None


@dataclasses.dataclass(frozen=True)
class Tally:
    """A campaign's redemptions so far: how many, what they took off, and per customer."""

    redemptions: int = 0
    discount_spent: float = 0.0
    by_customer: dict[int, int] = dataclasses.field(default_factory=dict)


NO_REDEMPTIONS = Tally()


def limit_refusal(limits: Limits, tally: Tally, customer_id: int | None) -> str | None:
    """Why the campaign's limits leave nothing for this customer, or None. A customer we
    do not know has no redemptions of their own."""
    if limits.max_redemptions is not None and tally.redemptions >= limits.max_redemptions:
        return CAP_REACHED
    if limits.budget is not None and tally.discount_spent >= limits.budget:
        return BUDGET_EXHAUSTED
    if limits.per_customer is not None and customer_id is not None \
            and tally.by_customer.get(customer_id, 0) >= limits.per_customer:
        return PER_CUSTOMER_LIMIT
    return None


def serves(channels: frozenset[str], location_ids: frozenset[int] | None, channel: str,
           site_ids: Iterable[int]) -> str | None:
    """Why a campaign cannot be offered through ``channel`` at any of ``site_ids`` (the
    locations whose stock counts for the request), or None."""
    if channel not in channels:
        return NOT_ON_CHANNEL
    if location_ids is not None and location_ids.isdisjoint(site_ids):
        return NOT_AT_LOCATION
    return None


# --- what a shopper is told about stock -----------------------------------------------------

PLENTY, FEW, LAST_UNITS = "plenty", "few", "last_units"
# At most this many units available: "last units" (a shop shows urgency, not a count);
# at most FEW_AT: "few".
LAST_UNITS_AT = 3
FEW_AT = 10


def quantity_band(available: int, few_at: int = FEW_AT) -> str:
    """A band rather than an exact count: a competitor scraping offers learns little, and a
    count that moves under the shopper's eyes helps nobody."""
    if available <= LAST_UNITS_AT:
        return LAST_UNITS
    if available <= few_at:
        return FEW
    return PLENTY


# --- ids ------------------------------------------------------------------------------------

OFFER_ID = re.compile(r"^off-([0-9a-f]{32})-([0-9]{1,10})-([0-9]{1,12})$")
RECOMMENDATION_ID = re.compile(r"^rec-[0-9a-f]{32}$")


def offer_id(recommendation_id: str, campaign_id: int, product_id: int) -> str:
    """An offer's id names the list it was served in, the campaign and the product, so a
    redemption or a click that cites it can be traced without a lookup."""
    return f"off-{recommendation_id[4:]}-{campaign_id}-{product_id}"


def parse_offer_id(value: str) -> tuple[str, int, int] | None:
    """(recommendation_id, campaign id, product id) of a well-formed offer id, else None."""
    match = OFFER_ID.match(value)
    if match is None:
        return None
    return f"rec-{match.group(1)}", int(match.group(2)), int(match.group(3))


# --- choosing the list ----------------------------------------------------------------------

# Each further offer of a campaign already in the list, or of a category already in it,
# counts for this much less: a list of ten yoghurts from one campaign serves nobody.
SAME_CAMPAIGN_DECAY = 0.6
SAME_CATEGORY_DECAY = 0.7


def preference_order(product: np.ndarray, priority: np.ndarray, exclusive: np.ndarray, saving: np.ndarray,
                     campaign: np.ndarray) -> np.ndarray:
    """The order that groups (campaign, product) pairs by product, the pair to show first
    within each: the highest priority campaign's, an exclusive one winning a tie, then
    the bigger saving, then the older campaign."""
    return np.lexsort((campaign, -np.asarray(saving, float), -np.asarray(exclusive, np.int8),
                       -np.asarray(priority), product))


def first_of_each_product(products: np.ndarray) -> np.ndarray:
    """Which entries of an array grouped by product (in preference order) come first in
    their group: one offer per product, whichever campaigns promote it."""
    first = np.ones(len(products), dtype=bool)
    first[1:] = products[1:] != products[:-1]
    return first


def choose(priority: np.ndarray, value: np.ndarray, campaign: np.ndarray, category: np.ndarray,
           limit: int) -> list[int]:
    """Up to ``limit`` positions, in the order to show them: higher priority campaigns
    first; within a priority, greedily the highest expected value after the diversity
    discounts (each offer already chosen from the same campaign or category lowers the
    others' value).

    The greedy choice runs on the best few candidates only (by priority, then value), and
    is checked: every pick must beat the undiscounted value of the first candidate left
    out (discounts only lower values), else it runs again on four times as many. A list
    of ten from hundreds of candidates then costs a few dozen steps in Python."""
    if limit <= 0 or len(value) == 0:
        return []
    value = np.asarray(value, dtype=float)
    order = np.lexsort((-value, -np.asarray(priority)))
    size = min(len(order), max(4 * limit, 16))
    while True:
        picks, exact = _greedy(order[:size], order[size] if size < len(order) else None, priority, value,
                               campaign, category, limit)
        if exact:
            return picks
        size = min(len(order), 4 * size)


def _greedy(candidates: np.ndarray, left_out: int | None, priority: np.ndarray, value: np.ndarray,
            campaign: np.ndarray, category: np.ndarray, limit: int) -> tuple[list[int], bool]:
    """The greedy choice among ``candidates`` (in priority, then value order), and whether
    no candidate beyond them (the best of which is ``left_out``) could have changed it."""
    ids = candidates.tolist()
    tiers, values = priority[candidates].tolist(), value[candidates].tolist()
    campaigns, categories = campaign[candidates].tolist(), category[candidates].tolist()
    bound = None if left_out is None else (int(priority[left_out]), float(value[left_out]))
    remaining = list(range(len(ids)))
    seen_campaign: dict[int, int] = {}
    seen_category: dict[int, int] = {}
    chosen: list[int] = []
    while remaining and len(chosen) < limit:
        tier = tiers[remaining[0]]
        best_at, best_value = 0, -1.0
        for at, i in enumerate(remaining):
            if tiers[i] != tier or values[i] <= best_value:
                break
            adjusted = values[i] * SAME_CAMPAIGN_DECAY ** seen_campaign.get(campaigns[i], 0)
            if categories[i] >= 0:
                adjusted *= SAME_CATEGORY_DECAY ** seen_category.get(categories[i], 0)
            if adjusted > best_value:
                best_at, best_value = at, adjusted
        if bound is not None and (bound[0] > tier or (bound[0] == tier and bound[1] >= best_value)):
            return [], False
        best = remaining.pop(best_at)
        chosen.append(ids[best])
        seen_campaign[campaigns[best]] = seen_campaign.get(campaigns[best], 0) + 1
        if categories[best] >= 0:
            seen_category[categories[best]] = seen_category.get(categories[best], 0) + 1
    if bound is not None and len(chosen) < limit:
        return [], False        # the list is short: what was left out may fill it
    return chosen, True


def expected_value(probability: np.ndarray, affinity: np.ndarray, saving: np.ndarray) -> np.ndarray:
    """What offering a product is worth: the chance the customer redeems the campaign,
    lifted by how much they like the product, times what it saves them. A product they
    never touched still counts (the floor): campaigns are also how people discover."""
    return np.asarray(probability) * (AFFINITY_FLOOR + np.asarray(affinity)) * np.asarray(saving)


AFFINITY_FLOOR = 0.1


def reasons_text(codes: Iterable[tuple[str, Any]]) -> list[str]:
    return [f"{code}:{arg}" if arg is not None else code for code, arg in codes]
