"""TEMPORARY stand-in for the per-process audience scorer (replaced when it lands): the
same interface, computed from the whole history on every call."""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from promo.adapters import training_data
from promo.domain.errors import Conflict
from promo.ml.response_features import promotion_features
from promo.services.model_server import RESPONSE

if TYPE_CHECKING:
    from promo.bootstrap import Runtime


@dataclasses.dataclass
class ScoredAudience:
    customer_ids: np.ndarray
    probability: np.ndarray
    uplift: np.ndarray | None
    ranked_by: str
    expected_redemptions: float
    model_name: str
    model_version: str
    as_of: Any


class SlowScorer:
    def __init__(self, runtime: "Runtime"):
        self.runtime = runtime

    def rank(self, product_ids: Sequence[int], *, campaign_type: str | None = None,
             customer_ids: Any = None) -> ScoredAudience:
        from promo.services.audiences import campaign_types_of
        served = self.runtime.models.get(RESPONSE)
        if served is None:
            raise Conflict("no response model is active; run `promo train`", reason="model_missing")
        model = served.estimator
        with self.runtime.unit_of_work() as uow:
            session = uow.session
            ids = None if customer_ids is None else [int(i) for i in customer_ids]
            history = training_data.read_history(session, customer_ids=ids)
            if ids is None:
                ids = sorted(set(history.loc[history["type"] == "purchase", "customer"].tolist()))
            opted_out = uow.customers.opted_out(ids)
            ids = sorted(i for i in ids if i not in opted_out)
            campaign = training_data.read_campaign_history(session)
            people = training_data.read_customers(session)
            products = training_data.read_products(session)
            present = uow.profiles.clock() or dt.datetime.now(dt.timezone.utc)
        starts_at = pd.Timestamp(present.astimezone(dt.timezone.utc).replace(tzinfo=None)) + pd.Timedelta(microseconds=1)
        X = promotion_features(history, products, people, promoted_products=list(product_ids), starts_at=starts_at,
                               customer_ids=ids, campaign_type=campaign_type,
                               campaign_types=campaign_types_of(model.feature_names_),
                               redemptions=campaign["redemptions"], exposures=campaign["exposures"],
                               campaigns=campaign["campaigns"])
        probability = model.predict_proba(X)[:, 1] if ids else np.zeros(0)
        uplift = model.predict_uplift(X) if model.has_uplift_ and ids else None
        order = np.argsort(-(uplift if uplift is not None else probability), kind="stable")
        return ScoredAudience(customer_ids=np.asarray(ids, dtype=np.int64)[order], probability=probability[order],
                              uplift=None if uplift is None else uplift[order],
                              ranked_by="uplift" if uplift is not None else "probability",
                              expected_redemptions=float(probability.sum()), model_name=served.name,
                              model_version=served.version, as_of=starts_at)
