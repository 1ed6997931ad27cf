"""Ranking an audience for a promotion with the redemption-response model.

Campaigns call ``runtime.audience_scorer.rank`` (:mod:`promo.services.audience_scoring`)
with internal ids; the marketing API exposes it as POST /v1/audiences/score, speaking
skus and customers' own ids. Features are computed as of the service's present (the
latest interaction seen), from each customer's whole history, kept current per process.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from promo.domain.errors import InvalidInput
from promo.services.audience_scoring import campaign_types_of

if TYPE_CHECKING:
    from promo.bootstrap import Runtime

__all__ = ["campaign_types_of", "score_audience"]


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
    scorer = runtime.audience_scorer
    scorer.model(campaign_type)           # 409 without a model, 422 for a type it does not know
    with runtime.unit_of_work() as uow:
        product_ids = uow.products.ids_for(skus)
        errors = _unknown(skus, product_ids, "skus", "sku")
        customer_ids = uow.customers.ids_for(customers) if customers is not None else {}
        if customers is not None:
            errors.update(_unknown(customers, customer_ids, "customers", "customer"))
        if errors:
            raise InvalidInput("the audience cannot be scored", errors)
    scored = scorer.rank(list(product_ids.values()), campaign_type=campaign_type,
                         customer_ids=list(customer_ids.values()) if customers is not None else None)
    top = scored.customer_ids[:limit]
    with runtime.unit_of_work() as uow:
        external = uow.customers.external_ids(top.tolist())
    return {
        "model": {"name": scored.model_name, "version": scored.model_version},
        "as_of": scored.as_of,
        "audience_size": len(scored.customer_ids),
        "opted_out": scored.opted_out,
        "expected_redemptions": round(scored.expected_redemptions, 2),
        "ranked_by": scored.ranked_by,
        "customers": [{"id": external[int(i)], "probability": round(float(scored.probability[n]), 6),
                       "uplift": None if scored.uplift is None else round(float(scored.uplift[n]), 6)}
                      for n, i in enumerate(top)],
    }
