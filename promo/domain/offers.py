"""Offer rules that need no database: who may be offered a live campaign, how much stock a
shopper is told about, offer ids, and how a list of offers is chosen.

The serving path (promo.services.offers) applies them to in-memory snapshots; checkout
(redemptions) will apply the same eligibility rules at the till.
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
NOT_TARGETED = "not_eligible"
HELD_OUT = "holdout"
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


@dataclasses.dataclass(frozen=True)
class Candidates:
    """Offerable (campaign, product) pairs, one entry per pair, as parallel arrays."""

    key: np.ndarray           # the caller's id of each pair (int)
    campaign: np.ndarray      # index of the campaign (int)
    product: np.ndarray       # product id (int64)
    category: np.ndarray      # category index (int; -1 when unknown)
    priority: np.ndarray      # the campaign's priority (int)
    exclusive: np.ndarray     # bool
    saving: np.ndarray        # what one unit's discount is worth (float)
    value: np.ndarray         # expected value of offering it (float, >= 0)

    def take(self, keep: np.ndarray) -> "Candidates":
        return Candidates(**{f.name: getattr(self, f.name)[keep] for f in dataclasses.fields(self)})

    def __len__(self) -> int:
        return len(self.product)


def one_per_product(candidates: Candidates) -> Candidates:
    """Where several campaigns promote the same product, the one offer shown is the highest
    priority campaign's; an exclusive campaign wins a tie of priority, then the bigger
    saving, then the higher expected value."""
    if len(candidates) < 2:
        return candidates
    order = np.lexsort((-candidates.value, -candidates.saving, -candidates.exclusive.astype(np.int8),
                        -candidates.priority, candidates.product))
    products = candidates.product[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = products[1:] != products[:-1]
    return candidates.take(order[first])


def choose(candidates: Candidates, limit: int) -> np.ndarray:
    """Up to ``limit`` positions into ``candidates``, in the order to show them.

    Higher priority campaigns come first; within a priority, greedily the highest
    expected value after the diversity discounts (each offer already chosen from the same
    campaign or category lowers the others' value)."""
    chosen: list[int] = []
    if limit <= 0 or len(candidates) == 0:
        return np.zeros(0, dtype=np.int64)
    campaigns_seen: dict[int, int] = {}
    categories_seen: dict[int, int] = {}
    for priority in np.unique(candidates.priority)[::-1]:
        tier = np.flatnonzero(candidates.priority == priority)
        value = candidates.value[tier].astype(np.float64)
        campaign = candidates.campaign[tier]
        category = candidates.category[tier]
        factor = np.ones(len(tier))
        for c, n in campaigns_seen.items():
            factor[campaign == c] *= SAME_CAMPAIGN_DECAY ** n
        for k, n in categories_seen.items():
            if k >= 0:
                factor[category == k] *= SAME_CATEGORY_DECAY ** n
        open_ = np.ones(len(tier), dtype=bool)
        while len(chosen) < limit and open_.any():
            adjusted = np.where(open_, value * factor, -1.0)
            best = int(np.argmax(adjusted))
            open_[best] = False
            chosen.append(int(tier[best]))
            c, k = int(campaign[best]), int(category[best])
            campaigns_seen[c] = campaigns_seen.get(c, 0) + 1
            factor[campaign == c] *= SAME_CAMPAIGN_DECAY
            if k >= 0:
                categories_seen[k] = categories_seen.get(k, 0) + 1
                factor[category == k] *= SAME_CATEGORY_DECAY
        if len(chosen) >= limit:
            break
    return np.asarray(chosen, dtype=np.int64)


def expected_value(probability: np.ndarray, affinity: np.ndarray, saving: np.ndarray) -> np.ndarray:
    """What offering a product is worth: the chance the customer redeems the campaign,
    lifted by how much they like the product, times what it saves them. A product they
    never touched still counts (the floor): campaigns are also how people discover."""
    return np.asarray(probability) * (AFFINITY_FLOOR + np.asarray(affinity)) * np.asarray(saving)


AFFINITY_FLOOR = 0.1


def reasons_text(codes: Iterable[tuple[str, Any]]) -> list[str]:
    return [f"{code}:{arg}" if arg is not None else code for code, arg in codes]
