"""Ranking an audience for a promotion with the redemption-response model.

Campaigns will call this to rank their audience and estimate expected redemptions; the
marketing API exposes it as POST /v1/audiences/score. Features are computed as of the
service's present (the latest interaction seen), from each customer's whole history.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from promo.adapters import training_data
from promo.domain.errors import Conflict, InvalidInput
from promo.ml.response_features import promotion_features
from promo.services.model_server import RESPONSE

if TYPE_CHECKING:
    from promo.bootstrap import Runtime

TYPE_PREFIX = "campaign_type="


def campaign_types_of(feature_names: Sequence[str]) -> list[str]:
    """The campaign-type vocabulary a response model was trained with."""
    return [name[len(TYPE_PREFIX):] for name in feature_names if name.startswith(TYPE_PREFIX)]


def _unknown(values: Sequence[str], known: dict[str, int], field: str, what: str) -> dict[str, list[str]]:
    missing = [f"unknown {what} {value!r}" for value in dict.fromkeys(values) if value not in known]
    return {field: missing} if missing else {}


def score_audience(runtime: "Runtime", *, skus: Sequence[str], campaign_type: str | None = None,
                   customers: Sequence[str] | None = None, limit: int = 100) -> dict[str, Any]:
    """Each customer's probability of redeeming a promotion of ``skus`` starting now
    (and the uplift, when the model learned from holdouts), best first, with the
    expected number of redemptions over the whole audience.

    ``customers`` defaults to every customer with any purchase. Customers who opted out
    of personalisation are never scored (they are counted in ``opted_out``). Features
    are taken as of the service's present: the latest interaction it has seen.
    """
    served = runtime.models.get(RESPONSE)
    if served is None:
        raise Conflict("no response model is active; run `promo train`", reason="model_missing")
    model = served.estimator
    types = campaign_types_of(model.feature_names_)
    if campaign_type is not None and campaign_type not in types:
        raise InvalidInput("unknown campaign type", {"campaign_type": [f"the model knows {types}"]})
    with runtime.unit_of_work() as uow:
        product_ids = uow.products.ids_for(skus)
        errors = _unknown(skus, product_ids, "skus", "sku")
        customer_ids = uow.customers.ids_for(customers) if customers is not None else {}
        if customers is not None:
            errors.update(_unknown(customers, customer_ids, "customers", "customer"))
        if errors:
            raise InvalidInput("the audience cannot be scored", errors)
        session = uow.session
        history = training_data.read_history(session, customer_ids=list(customer_ids.values())
                                             if customers is not None else None)
        if customers is None:
            ids = sorted(set(history.loc[history["type"] == "purchase", "customer"].tolist()))
            customer_ids = {external: i for i, external in uow.customers.external_ids(ids).items()}
        opted_out = uow.customers.opted_out(customer_ids.values())
        customer_ids = {external: i for external, i in customer_ids.items() if i not in opted_out}
        campaign = training_data.read_campaign_history(session)
        people = training_data.read_customers(session)
        products = training_data.read_products(session)
        present = uow.profiles.clock() or dt.datetime.now(dt.timezone.utc)
    # Everything seen so far is the past of a promotion starting now.
    starts_at = pd.Timestamp(present.astimezone(dt.timezone.utc).replace(tzinfo=None)) + pd.Timedelta(microseconds=1)
    ordered = sorted(customer_ids.items(), key=lambda pair: pair[1])
    X = promotion_features(history, products, people, promoted_products=list(product_ids.values()),
                           starts_at=starts_at, customer_ids=[i for _, i in ordered], campaign_type=campaign_type,
                           campaign_types=types, redemptions=campaign["redemptions"],
                           exposures=campaign["exposures"], campaigns=campaign["campaigns"])
    probability = model.predict_proba(X)[:, 1] if len(ordered) else np.zeros(0)
    uplift = model.predict_uplift(X) if model.has_uplift_ and len(ordered) else None
    rank = np.argsort(-(uplift if uplift is not None else probability), kind="stable")[:limit]
    return {
        "model": {"name": served.name, "version": served.version},
        "as_of": starts_at.to_pydatetime().replace(tzinfo=dt.timezone.utc),
        "audience_size": len(ordered),
        "opted_out": len(opted_out),
        "expected_redemptions": round(model.expected_redemptions(X), 2) if len(ordered) else 0.0,
        "ranked_by": "uplift" if uplift is not None else "probability",
        "customers": [{"id": ordered[i][0], "probability": round(float(probability[i]), 6),
                       "uplift": None if uplift is None else round(float(uplift[i]), 6)} for i in rank],
    }

