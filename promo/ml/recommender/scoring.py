"""Scoring a request: the learned buy-again ranking (or the counting rule), discovery by
the item-to-item weights, and popular products, each through the availability filter."""
from __future__ import annotations

from typing import Callable

import numpy as np

from promo.ml import repeat_ranker
from promo.ml.recommender.common import (BOUGHT_BEFORE, FALLBACK_POPULAR, NS_PER_DAY,
                                         POPULAR_AT_LOCATION, SIMILAR_TO, Profile,
                                         Recommendation)


def repeat(model, profile: Profile, limit, available) -> list[Recommendation]:
    """The purchased products: own recency-weighted count times repurchase rate."""
    items = profile.items[profile.purchased]
    products = np.r_[model.products_[items], profile.extra[profile.extra_purchased]]
    rates = np.r_[model.repurchase_rate_[items],
                  np.full(profile.extra_purchased.sum(), model.repurchase_prior_)]
    scores = np.r_[profile.weights[profile.purchased],
                   profile.extra_weights[profile.extra_purchased]] \
        * rates.astype(np.float64) ** model.repurchase_power
    chosen = best(scores.copy(), limit, products, available)
    return [Recommendation(int(products[i]), float(scores[i]), ((BOUGHT_BEFORE, None),))
            for i in chosen]


def repeat_learned(model, profile: Profile, limit, location, available
                    ) -> list[Recommendation]:
    """The purchased products, ranked by the learned buy-again model at ``profile.at``."""
    start, end = profile.rows
    fitted = np.flatnonzero(model.profile_purchased_[start:end]) + start
    n_items = len(model.products_)
    until = int(model.data_until_.astype("datetime64[ns]").astype(np.int64))
    half_lives = np.asarray(repeat_ranker.HALF_LIVES)
    # Decay is memoryless: the fitted weights move to ``at`` by one factor each.
    shift = 0.5 ** ((profile.at - until) / NS_PER_DAY / half_lives)
    if len(profile.recent_products) == 0:
        # The common case: nothing newer than the model, the fitted rows as they are.
        keys = model.profile_items_[fitted].astype(np.int64)
        state = repeat_ranker.PairState(model.pair_rows_[fitted], model.pair_days_[fitted],
                                        model.pair_first_day_[fitted], model.pair_last_day_[fitted],
                                        model.pair_decayed_[fitted] * shift)
    else:
        keys, state = model._fold_in_purchases(profile, fitted, shift)
    is_item = keys < n_items
    if is_item.all():
        item = keys
        cycle, rate = model.item_cycle_[item], model.item_rate_[item]
        buyers = model.item_buyers_[item]
        store_buyers = model._item_stats.at_store(location, item)
        category = model.item_category_[item]
    else:
        # Products newer than the model: no figures of their own yet.
        item = np.where(is_item, keys, 0)
        cycle = np.where(is_item, model.item_cycle_[item], float(np.median(model.item_cycle_)))
        rate = np.where(is_item, model.item_rate_[item], float(model.repurchase_prior_))
        buyers = np.where(is_item, model.item_buyers_[item], 0.0)
        store_buyers = np.where(is_item, model._item_stats.at_store(location, item), 0.0)
        # No category either: the ranker's shared coefficients alone.
        category = np.where(is_item, model.item_category_[item], -1)
    design = repeat_ranker.features(state, profile.at / NS_PER_DAY, cycle, rate, buyers, store_buyers,
                                    None, model.repeat_horizon_days)
    size = len(keys)
    scores = repeat_ranker.LinearRanker(model.ranker_means_, model.ranker_scales_, model.ranker_coef_,
                                        model.ranker_category_coef_).score(design, category)
    if is_item.all():
        products = model.products_[keys]
    else:
        products = np.empty(size, np.int64)
        products[is_item] = model.products_[keys[is_item]]
        products[~is_item] = profile.extra[keys[~is_item] - n_items]
    chosen = best(scores, limit, products, available)
    return [Recommendation(int(products[i]), float(scores[i]), ((BOUGHT_BEFORE, None),))
            for i in chosen]


def _item_to_item(model, profile: Profile) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(score per candidate, the profile's usable rows, their candidate positions, and the
    neighbours and contributions behind the scores) by the item-to-item weights."""
    sources = model.candidate_of_[profile.items]
    usable = np.flatnonzero(sources >= 0)
    # Sub-linear in the weight: the tenth purchase of milk says less than the first.
    strength = np.log1p(profile.weights[usable])
    # Rows hold the largest weights first; heavy customers read fewer of each, so that
    # a request costs at most about ``scoring_budget`` weights.
    width = max(1, min(model.neighbour_items_.shape[1],
                       model.scoring_budget // max(len(usable), 1)))
    neighbours = model.neighbour_items_[sources[usable], :width]
    contributions = model.neighbour_weights_[sources[usable], :width] * strength[:, None]
    # (bincount answers an int array when there is nothing to count)
    scores = np.bincount(neighbours.ravel(), contributions.ravel(),
                         len(model.candidates_)).astype(np.float64, copy=False)
    return scores, usable, sources[usable], neighbours, contributions


def discovery(model, profile: Profile, limit, location, available) -> list[Recommendation]:
    """Unbought candidates by the item-to-item model, then popular products."""
    scores, usable, sources, neighbours, contributions = _item_to_item(model, profile)
    scores[sources[profile.purchased[usable]]] = -np.inf
    # Ties (e.g. customers with no usable product) go to the more bought candidate.
    chosen = best(scores.copy(), limit, model.products_[model.candidates_], available)
    explained = strongest_sources(chosen, neighbours, contributions)

    recommendations = []
    for position, source in zip(chosen, explained):
        reason = (SIMILAR_TO, int(model.products_[profile.items[usable[source]]])) \
            if source >= 0 else (FALLBACK_POPULAR, None)
        recommendations.append(Recommendation(
            int(model.products_[model.candidates_[position]]), float(scores[position]),
            (reason,)))
    if len(recommendations) < limit:
        # Every candidate was bought or unavailable: popular products outside them.
        excluded = np.r_[profile.items[profile.purchased], model.candidates_[chosen]]
        recommendations += model._popular(limit - len(recommendations), location,
                                         excluded, available)
    return recommendations


def popular(model, limit, location, excluded_items, available) -> list[Recommendation]:
    """Popular products at ``location`` when it has data, then popular everywhere."""
    recommendations: list[Recommendation] = []
    excluded = excluded_items
    at = model._location_position(location)
    if at >= 0:
        start, end = model.location_indptr_[at], model.location_indptr_[at + 1]
        items = model.location_items_[start:end]
        picked = walk(items, limit, excluded, model.products_, available)
        recommendations += [Recommendation(int(model.products_[items[i]]),
                                           float(model.location_scores_[start + i]),
                                           ((POPULAR_AT_LOCATION, None),)) for i in picked]
        excluded = np.r_[excluded, items[picked]]
    if len(recommendations) < limit:
        # Beyond the few thousand most bought, "popular" would mean nothing.
        items = model.popular_order_[:POPULAR_POOL]
        picked = walk(items, limit - len(recommendations), excluded, model.products_,
                       available)
        recommendations += [Recommendation(int(model.products_[items[i]]),
                                           float(model.popularity_[items[i]]),
                                           ((FALLBACK_POPULAR, None),)) for i in picked]
    return recommendations


# Popular products examined per availability check when filling with popular ones.
WALK_BATCH = 1024
# How far down the global popularity ranking a fill with popular products may go.
POPULAR_POOL = 5000


def strongest_sources(chosen: list[int], neighbours: np.ndarray,
                       contributions: np.ndarray) -> list[int]:
    """Per chosen candidate, the profile row that raised its score most (-1: none did)."""
    best = np.full(len(chosen), -1)
    if neighbours.size == 0 or not chosen:
        return best.tolist()
    # Positive contributions to the chosen candidates only, found with a lookup table.
    slot_of = np.full(int(max(chosen)) + 1, -1, np.int16 if len(chosen) < 2**15 else np.int64)
    slot_of[chosen] = np.arange(len(chosen))
    flat = neighbours.ravel()
    entries = np.flatnonzero(flat < len(slot_of))
    slots = slot_of[flat[entries]]
    values = contributions.ravel()[entries]
    relevant = (slots >= 0) & (values > 0)
    entries, slots, values = entries[relevant], slots[relevant], values[relevant]
    # Strongest first within each slot, so a slot's first entry is its best.
    order = np.lexsort((-values, slots))
    slots, entries = slots[order], entries[order]
    first = np.r_[True, slots[1:] != slots[:-1]] if len(slots) else slots.astype(bool)
    best[slots[first]] = entries[first] // neighbours.shape[1]
    return best.tolist()


def best(scores: np.ndarray, limit: int, products: np.ndarray,
          available: Callable[[np.ndarray], np.ndarray] | None) -> list[int]:
    """Positions of the ``limit`` best finite ``scores`` whose product is available, best
    first (ties: lower position first).

    ``available`` is asked once, about every finite candidate (the stock view answers a
    few thousand products in microseconds): walking the ranking in small batches would
    cost more where the location stocks few of them. ``scores`` is consumed.
    """
    finite = np.flatnonzero(np.isfinite(scores))
    if available is not None and len(finite):
        unavailable = finite[~np.asarray(available(products[finite]), dtype=bool)]
        scores[unavailable] = -np.inf
        finite = np.setdiff1d(finite, unavailable, assume_unique=True)
    if len(finite) > limit:
        boundary = scores[finite[np.argpartition(-scores[finite], limit - 1)[limit - 1]]]
        # Everything tied with the last kept joins, so ties are broken by position, not by
        # where the partition happened to cut.
        finite = finite[scores[finite] >= boundary]
    ranked = finite[np.lexsort((finite, -scores[finite]))]
    return ranked[:limit].tolist()


def walk(items: np.ndarray, limit: int, excluded: np.ndarray, products: np.ndarray,
          available: Callable[[np.ndarray], np.ndarray] | None) -> list[int]:
    """Positions of the first ``limit`` of the ranked ``items`` not excluded and available.

    The head of the ranking usually suffices; when it does not (a location that stocks
    few of the popular products), the rest is checked in one call.
    """
    chosen: list[int] = []
    head = limit if available is None else max(2 * limit, WALK_BATCH)
    for positions in (np.arange(min(head + len(excluded), len(items))),
                      np.arange(min(head + len(excluded), len(items)), len(items))):
        if available is not None and len(positions):
            positions = positions[np.asarray(available(products[items[positions]]), dtype=bool)]
        if len(excluded):
            positions = positions[~np.isin(items[positions], excluded)]
        chosen += positions[:limit - len(chosen)].tolist()
        if len(chosen) >= limit:
            break
    return chosen

