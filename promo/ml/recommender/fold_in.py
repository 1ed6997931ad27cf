"""A customer's profile at request time: the fitted row, moved to the request's time and
with the interactions newer than the model folded in, so they count without a refit."""
from __future__ import annotations

import numpy as np

from promo.ml import repeat_ranker
from promo.ml.recommender.common import NS_PER_DAY, Profile, as_ns


def profile(model, customer, recent, now) -> Profile:
    """The customer's weighted items at ``now``: the fitted row plus ``recent``."""
    position = model._customer_position(customer)
    start, end = (model.profile_indptr_[position], model.profile_indptr_[position + 1]) \
        if position >= 0 else (0, 0)
    items = model.profile_items_[start:end]
    weights = model.profile_weights_[start:end]
    purchased = model.profile_purchased_[start:end]
    until = int(model.data_until_.astype("datetime64[ns]").astype(np.int64))
    at = until if now is None else as_ns(now)
    if at != until:
        # Exponential decay is memoryless: moving the reference time scales every
        # fitted weight alike, so only the balance with ``recent`` changes.
        weights = weights * 0.5 ** ((at - until) / (model.half_life_days * NS_PER_DAY))
    if recent is None or len(recent) == 0:
        none = np.empty(0, np.int64)
        return Profile(items, weights, purchased, none, none.astype(float),
                        none.astype(bool), (start, end), at, none, none)
    return model._fold_in(items, weights, purchased, recent, at, (start, end))


def fold_in(model, items, weights, purchased, recent, at, rows) -> Profile:
    products = recent["product"].to_numpy(np.int64)
    types = recent["type"].to_numpy()
    times = recent["occurred_at"].to_numpy("datetime64[ns]").view(np.int64)
    age_days = np.maximum(at - times, 0) / NS_PER_DAY
    new_weights = model._weights_of(types) * 0.5 ** (age_days / model.half_life_days)
    new_purchased = types == "purchase"
    position = np.searchsorted(model.products_, products).clip(max=len(model.products_) - 1)
    known = model.products_[position] == products

    merged, slot = np.unique(np.r_[items, position[known]], return_inverse=True)
    merged_weights = np.bincount(slot, np.r_[weights, new_weights[known]], len(merged))
    merged_purchased = np.bincount(slot, np.r_[purchased, new_purchased[known]],
                                   len(merged)) > 0
    # Products newer than the model can still be bought again; they just have no
    # item-to-item weights or popularity yet.
    extra, extra_slot = np.unique(products[~known], return_inverse=True)
    extra_weights = np.bincount(extra_slot, new_weights[~known], len(extra))
    extra_purchased = np.bincount(extra_slot, new_purchased[~known], len(extra)) > 0
    return Profile(merged.astype(np.int32), merged_weights, merged_purchased,
                    extra, extra_weights, extra_purchased, rows, at,
                    products[new_purchased], times[new_purchased])


def fold_in_purchases(model, profile: Profile, fitted: np.ndarray, shift: np.ndarray
                       ) -> tuple[np.ndarray, repeat_ranker.PairState]:
    """The customer's pair state with the request's new purchases added; keys are item
    indexes, then ``len(products_) + position in profile.extra`` for unknown products."""
    n_items = len(model.products_)
    known = np.searchsorted(model.products_, profile.recent_products).clip(max=n_items - 1)
    is_known = model.products_[known] == profile.recent_products
    new_keys = np.where(is_known, known,
                        n_items + np.searchsorted(profile.extra, profile.recent_products))
    keys, slot = np.unique(np.r_[model.profile_items_[fitted].astype(np.int64), new_keys],
                           return_inverse=True)
    old, new = slot[:len(fitted)], slot[len(fitted):]
    size = len(keys)
    half_lives = np.asarray(repeat_ranker.HALF_LIVES)
    new_days = (profile.recent_times // NS_PER_DAY).astype(float)
    new_age = np.maximum(profile.at - profile.recent_times, 0) / NS_PER_DAY
    decayed = np.zeros((size, len(half_lives)))
    decayed[old] = model.pair_decayed_[fitted] * shift
    np.add.at(decayed, new, 0.5 ** (new_age[:, None] / half_lives))
    rows, days = np.zeros(size), np.zeros(size)
    rows[old], days[old] = model.pair_rows_[fitted], model.pair_days_[fitted]
    rows += np.bincount(new, minlength=size)
    first, last = np.full(size, np.inf), np.full(size, np.nan)
    first[old], last[old] = model.pair_first_day_[fitted], model.pair_last_day_[fitted]
    # New purchase days, except the fitted last day seen again.
    fresh = np.unique(np.column_stack([new, new_days]), axis=0)
    fresh = fresh[fresh[:, 1] != last[fresh[:, 0].astype(np.int64)]]
    days += np.bincount(fresh[:, 0].astype(np.int64), minlength=size)
    np.minimum.at(first, new, new_days)
    last = np.where(np.isnan(last), -np.inf, last)
    np.maximum.at(last, new, new_days)
    return keys, repeat_ranker.PairState(rows, days, first, last, decayed)
