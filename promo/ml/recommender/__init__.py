"""Product recommendations for a grocery retailer, in two modes.

repeat
    "Buy again": the customer's own purchased products, ranked by a logistic model of
    re-buying them within the week (:mod:`promo.ml.repeat_ranker`: recency-weighted
    counts, the pair's repurchase cycle and how due it is, the product's repurchase rate
    and its current popularity at the store), learned on the training history alone.
discovery
    "You may also like": products the customer never bought, scored by an item-to-item
    model learned from co-purchases (EASE, Steck 2019: each product's purchases regressed
    on all the others'), applied to the customer's recency-weighted products.

Customers without purchases get what is popular at their location, or everywhere.

Every recommendation carries the reasons that produced it ("because you bought X").
Scoring a request is a few vector operations over precomputed arrays; a customer's
interactions newer than the fit are folded in per request, so they count immediately.

Modules: :mod:`.model` (the estimator), :mod:`.fitting`, :mod:`.fold_in`, :mod:`.scoring`,
:mod:`.persistence` and :mod:`.common` (the answer type and constants).
"""
from promo.ml.recommender.common import (BOUGHT_BEFORE, FALLBACK_POPULAR, MODES, NO_LOCATION,
                                         NS_PER_DAY, POPULAR_AT_LOCATION, REPURCHASE_PRIOR_BUYERS,
                                         SIMILAR_TO, Mode, Reason, Recommendation)
from promo.ml.recommender.fitting import ease_weights
from promo.ml.recommender.model import Recommender

__all__ = ["BOUGHT_BEFORE", "FALLBACK_POPULAR", "MODES", "NO_LOCATION", "NS_PER_DAY", "POPULAR_AT_LOCATION",
           "REPURCHASE_PRIOR_BUYERS", "SIMILAR_TO", "Mode", "Reason", "Recommendation", "Recommender",
           "ease_weights"]
