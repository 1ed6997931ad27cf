"""Fitting the recommender: profiles, repurchase rates, popularity, the item-to-item
model (EASE) and the learned buy-again ranker's state. Each function fills the fitted
attributes of the :class:`~promo.ml.recommender.model.Recommender` it is given."""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse as sp

from promo.ml import repeat_learning, repeat_ranker
from promo.ml.recommender.common import NO_LOCATION, REPURCHASE_PRIOR_BUYERS


def fit_repeat_ranker(model, users, items, times, locations):
    """The learned buy-again ranker and the per-pair state it reads at request time."""
    n_items, until = len(model.products_), int(model.data_until_.astype(np.int64))
    ranker, model.repeat_validation_ = repeat_learning.learn_ranker(
        users, items, times, locations, n_items, len(model.customers_), weeks=model.repeat_weeks,
        horizon_days=model.repeat_horizon_days, negatives=model.repeat_negatives, C=model.repeat_C,
        objective=model.repeat_objective, item_category=model.item_category_,
        category_penalty=model.repeat_category_penalty) \
        if model.repeat_weeks > 0 else (repeat_ranker.LinearRanker.empty(), {})
    model.ranker_means_, model.ranker_scales_, model.ranker_coef_ = \
        ranker.means, ranker.scales, ranker.coef
    model.ranker_category_coef_ = ranker.category_coef
    pairs, state = repeat_ranker.pair_state(users, items, times, n_items, until)
    stats = repeat_ranker.item_stats(pairs % n_items, state, n_items, users, items, times,
                                     locations, until)
    # Aligned with the profile rows (purchased ones filled; the others stay zero).
    profile_users = np.repeat(np.arange(len(model.customers_), dtype=np.int64),
                              np.diff(model.profile_indptr_))
    row = np.searchsorted(profile_users * n_items + model.profile_items_, pairs)
    size = len(model.profile_items_)
    model.pair_rows_ = np.zeros(size, np.float32)
    model.pair_days_ = np.zeros(size, np.float32)
    model.pair_first_day_ = np.zeros(size, np.float64)
    model.pair_last_day_ = np.zeros(size, np.float64)
    model.pair_decayed_ = np.zeros((size, len(repeat_ranker.HALF_LIVES)), np.float32)
    model.pair_rows_[row], model.pair_days_[row] = state.rows, state.days
    model.pair_first_day_[row], model.pair_last_day_[row] = state.first_day, state.last_day
    model.pair_decayed_[row] = state.weights
    model.item_cycle_, model.item_rate_, model.item_buyers_ = \
        stats.cycle, stats.repurchase_rate, stats.buyers
    model.store_ids_, model.store_indptr_ = stats.stores, stats.store_indptr
    model.store_items_, model.store_buyers_ = stats.store_items, stats.store_buyers


def item_categories(known_products: np.ndarray, products: pd.DataFrame | None) -> np.ndarray:
    """Per item (position in ``known_products``), its category's code among the known
    products' categories sorted by name; -1 without a category or a products frame."""
    result = np.full(len(known_products), -1, np.int32)
    if products is None or not len(known_products):
        return result
    named = products[products["category"].notna()]
    ids = named["product"].to_numpy(np.int64)
    position = np.searchsorted(known_products, ids).clip(max=len(known_products) - 1)
    found = known_products[position] == ids
    if found.any():
        _, codes = np.unique(named["category"].to_numpy(str)[found], return_inverse=True)
        result[position[found]] = codes
    return result


def fit_profiles(model, users, items, decayed, is_purchase):
    """One CSR row per customer: their items, decayed weights and whether bought."""
    n_items = len(model.products_)
    pairs, pair_of_row = np.unique(users * n_items + items, return_inverse=True)
    pair_users = pairs // n_items
    model.profile_indptr_ = np.searchsorted(
        pair_users, np.arange(len(model.customers_) + 1)).astype(np.int64)
    model.profile_items_ = (pairs % n_items).astype(np.int32)
    model.profile_weights_ = np.bincount(pair_of_row, decayed, len(pairs)).astype(np.float32)
    model.profile_purchased_ = np.bincount(pair_of_row, is_purchase, len(pairs)) > 0


def fit_repurchase(model, users, items):
    """Per item, the smoothed share of its buyers who bought it more than once."""
    n_items = len(model.products_)
    pairs, purchases = np.unique(users * n_items + items, return_counts=True)
    pair_items = pairs % n_items
    buyers = np.bincount(pair_items, minlength=n_items)
    repeaters = np.bincount(pair_items, purchases > 1, n_items)
    overall = repeaters.sum() / max(buyers.sum(), 1)
    model.repurchase_rate_ = ((repeaters + REPURCHASE_PRIOR_BUYERS * overall)
                             / (buyers + REPURCHASE_PRIOR_BUYERS)).astype(np.float32)
    model.repurchase_prior_ = np.float32(overall)


def fit_popularity(model, users, items, locations, age_days, is_purchase):
    """Recency-weighted buyer counts, everywhere and per location.

    A customer counts once per product, weighted by the age of their latest purchase
    of it: popular means bought by many customers lately, not bought often by a few.
    """
    purchases = pd.DataFrame({
        "user": users[is_purchase], "item": items[is_purchase],
        "location": locations[is_purchase],
        "decay": 0.5 ** (age_days[is_purchase] / model.popularity_half_life_days)})
    latest = purchases.groupby(["user", "item"], sort=False)["decay"].max()
    popularity = np.bincount(latest.index.get_level_values("item"), latest.to_numpy(),
                             len(model.products_))
    model.popularity_ = (popularity / max(popularity.max(), 1e-12)).astype(np.float32)
    # Products nobody bought (only viewed) are not popular, whatever their rank.
    order = np.lexsort((np.arange(len(popularity)), -popularity))
    model.popular_order_ = order[popularity[order] > 0].astype(np.int32)

    located = purchases[purchases["location"] != NO_LOCATION]
    at_location = (located.groupby(["location", "user", "item"], sort=False)["decay"].max()
                   .groupby(level=["location", "item"]).sum().reset_index()
                   .sort_values(["location", "decay", "item"],
                                ascending=[True, False, True])
                   .groupby("location").head(model.location_products))
    location_of_row = at_location["location"].to_numpy(np.int64)
    model.locations_ = np.unique(location_of_row)
    model.location_indptr_ = np.r_[np.searchsorted(location_of_row, model.locations_),
                                  len(location_of_row)].astype(np.int64)
    model.location_items_ = at_location["item"].to_numpy(np.int32)
    model.location_scores_ = at_location["decay"].to_numpy(np.float32)


def fit_discovery(model):
    """The item-to-item model over the most-bought products.

    EASE learns, for every candidate product, weights over the other candidates such
    that a customer's purchases predict their purchase of it; the closed form needs one
    inverse of the regularised co-purchase (Gram) matrix. Only the ``neighbours``
    largest weights per product are kept, so scoring touches few numbers.
    """
    bought = model.profile_purchased_
    buyers = np.bincount(model.profile_items_[bought], minlength=len(model.products_))
    # Only items somebody bought can be discovered (a history of views only has none).
    order = np.lexsort((np.arange(len(buyers)), -buyers))
    candidates = order[:min(model.discovery_products, int((buyers > 0).sum()))]
    model.candidates_ = candidates.astype(np.int32)
    model.candidate_of_ = np.full(len(model.products_), -1, np.int32)
    model.candidate_of_[candidates] = np.arange(len(candidates), dtype=np.int32)

    users = np.repeat(np.arange(len(model.customers_)), np.diff(model.profile_indptr_))
    columns = model.candidate_of_[model.profile_items_]
    keep = bought & (columns >= 0)
    matrix = sp.csr_matrix((np.ones(keep.sum(), np.float32), (users[keep], columns[keep])),
                           shape=(len(model.customers_), len(candidates)))
    if len(candidates) == 0:
        model.neighbour_items_ = np.zeros((0, 1), np.int32)
        model.neighbour_weights_ = np.zeros((0, 1), np.float32)
        return
    weights = ease_weights(matrix, model.regularization)
    model.neighbour_items_, model.neighbour_weights_ = largest_per_row(weights,
                                                                     model.neighbours)


def ease_weights(bought: sp.csr_matrix, regularization: float) -> np.ndarray:
    """EASE item-to-item weights of a customer x item purchase matrix.

    ``B = argmin ||X - X B||^2 + regularization * ||B||^2`` with a zero diagonal, whose
    closed form is ``B = -P / diag(P)`` (column-wise) with ``P = (X'X + regularization I)^-1``.
    Row ``i`` says how a purchase of item ``i`` raises (or lowers) each other item's score.

    Float32 is enough: the penalty keeps the matrix well conditioned, and halves the
    memory and time of the inversion.
    """
    n_items = bought.shape[1]
    by_item = bought.T.tocsr().astype(np.float32)
    gram = np.empty((n_items, n_items), np.float32)
    for start in range(0, n_items, 1024):
        # Block by block: the sparse product of all columns at once would hold every
        # co-purchase pair in memory at the same time.
        gram[start:start + 1024] = (by_item[start:start + 1024] @ bought).toarray()
    gram[np.diag_indices_from(gram)] += regularization
    factor, info = scipy.linalg.lapack.spotrf(gram, lower=False, overwrite_a=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"co-purchase matrix is not positive definite ({info})")
    inverse, info = scipy.linalg.lapack.spotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"co-purchase matrix could not be inverted ({info})")
    # spotri fills the upper triangle only; mirror it block by block (the matrix is large).
    for start in range(0, n_items, 1024):
        end = min(start + 1024, n_items)
        inverse[start:end, :start] = inverse[:start, start:end].T
        block = inverse[start:end, start:end]
        block[...] = np.triu(block) + np.triu(block, 1).T
    inverse /= -np.diag(inverse).copy()[None, :]
    np.fill_diagonal(inverse, 0.0)
    return inverse


def largest_per_row(weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indexes and values of the ``k`` largest-magnitude entries of each row.

    Each row is ordered by decreasing magnitude, so its first entries are its strongest.
    Rows are processed in blocks to bound the temporary memory.
    """
    n_rows, n_columns = weights.shape
    k = max(1, min(k, n_columns))
    columns = np.empty((n_rows, k), np.int32)
    values = np.empty((n_rows, k), np.float32)
    for start in range(0, n_rows, 1024):
        block = weights[start:start + 1024]
        magnitude = np.abs(block)
        top = np.argpartition(-magnitude, k - 1, axis=1)[:, :k] if k < n_columns \
            else np.broadcast_to(np.arange(k), block.shape)
        order = np.argsort(-np.take_along_axis(magnitude, top, axis=1), axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        columns[start:start + 1024] = top
        values[start:start + 1024] = np.take_along_axis(block, top, axis=1)
    return columns, values
