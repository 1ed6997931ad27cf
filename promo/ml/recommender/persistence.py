"""The fitted recommender as plain numpy arrays plus JSON parameters (no pickle)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import numpy as np
from sklearn.utils.validation import check_is_fitted

if TYPE_CHECKING:
    from promo.ml.recommender.model import Recommender

ARRAYS = ("products", "customers", "data_until", "profile_indptr", "profile_items",
          "profile_weights", "profile_purchased", "repurchase_rate", "repurchase_prior",
          "popularity", "popular_order", "locations", "location_indptr", "location_items",
          "location_scores", "candidates", "candidate_of", "neighbour_items",
          "neighbour_weights", "ranker_means", "ranker_scales", "ranker_coef", "pair_rows",
          "pair_days", "pair_first_day", "pair_last_day", "pair_decayed", "item_cycle",
          "item_rate", "item_buyers", "store_ids", "store_indptr", "store_items",
          "store_buyers")
# Arrays added since the first artefacts, with what an artefact without them means: no
# categories, so the ranker's shared coefficients alone.
LATER_ARRAYS = ("item_category", "ranker_category_coef")


def to_arrays(model: "Recommender") -> tuple[dict[str, np.ndarray], dict]:
    """The fitted state as plain numpy arrays plus the JSON-able parameters.

    Returns
    -------
    arrays : dict of str to numpy.ndarray
        Numeric, boolean or datetime arrays only, so ``np.savez`` then
        ``np.load(..., allow_pickle=False)`` round-trips them.
    params : dict
        :meth:`get_params`.
    """
    check_is_fitted(model, "neighbour_items_")
    arrays = {name: np.asarray(getattr(model, name + "_")) for name in ARRAYS + LATER_ARRAYS}
    return arrays, model.get_params()


def from_arrays(cls: type["Recommender"], arrays: Mapping[str, np.ndarray], params: dict) -> "Recommender":
    """Rebuild a fitted recommender from :meth:`to_arrays` output (or an ``np.load``)."""
    missing = [name for name in ARRAYS if name not in arrays]
    if missing:
        raise ValueError(f"recommender arrays lack {missing}")
    model = cls(**params)
    for name in ARRAYS:
        setattr(model, name + "_", np.asarray(arrays[name]))
    names = set(arrays)
    model.item_category_ = np.asarray(arrays["item_category"]) if "item_category" in names \
        else np.full(len(model.products_), -1, np.int32)
    model.ranker_category_coef_ = np.asarray(arrays["ranker_category_coef"]) \
        if "ranker_category_coef" in names else np.zeros((0, len(model.ranker_coef_) + 1))
    # Scalars were saved as 0-d arrays; the model uses them as numpy scalars.
    model.data_until_ = model.data_until_[()]
    model.repurchase_prior_ = model.repurchase_prior_[()]
    return model
