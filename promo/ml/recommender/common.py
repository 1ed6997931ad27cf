"""What the recommender's modules share: the answer type, the reason names, the constants
and a customer's profile at request time."""
from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import pandas as pd

MODES = ("repeat", "discovery")
Mode = Literal["repeat", "discovery"]
Reason = tuple[str, "int | None"]

BOUGHT_BEFORE = "bought_before"
SIMILAR_TO = "similar_to"
POPULAR_AT_LOCATION = "popular_at_location"
FALLBACK_POPULAR = "fallback_popular"

NS_PER_DAY = 86_400 * 10**9
NO_LOCATION = -1
# A product's repurchase rate is shrunk towards the overall rate as if this many more
# customers had bought it, so that two buyers who both came back do not make it a staple.
REPURCHASE_PRIOR_BUYERS = 5.0


@dataclasses.dataclass(frozen=True)
class Recommendation:
    """One recommended product.

    Attributes
    ----------
    product : int
        The product's integer id.
    score : float
        The score of the rule named by the first reason (higher is better); comparable
        between recommendations of one answer that share that reason, not otherwise.
    reasons : tuple of (str, int or None)
        Why, most important first: ``("bought_before", None)``, ``("similar_to", product)``
        naming the customer's product that contributed most, ``("popular_at_location",
        None)`` or ``("fallback_popular", None)``.
    """

    product: int
    score: float
    reasons: tuple[Reason, ...]


@dataclasses.dataclass(frozen=True)
class Profile:
    """A customer's interactions as the model sees them at request time.

    ``items`` are item indexes (known products); ``extra`` are products newer than the
    model, seen only in the request's recent interactions.
    """

    items: np.ndarray
    weights: np.ndarray
    purchased: np.ndarray
    extra: np.ndarray
    extra_weights: np.ndarray
    extra_purchased: np.ndarray
    rows: tuple[int, int]            # the customer's slice of the fitted profile arrays
    at: int                          # the reference time, ns
    recent_products: np.ndarray      # the request's purchases (product ids) and times
    recent_times: np.ndarray


def as_ns(moment) -> int:
    return int(pd.Timestamp(moment).as_unit("ns").value)
