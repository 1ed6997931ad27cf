"""Who a campaign reaches: its targeting applied to every customer with a history, the
response model's ranking, and the holdout.

Checks, activation and the audience export all start here, so they count the same
people. Customers who opted out of personalisation are never in an audience.
"""
from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from promo.adapters.orm import Campaign
from promo.domain.campaigns import is_held_out
from promo.domain.errors import Conflict
from promo.domain.profiles import ProfileConditions, segments_of
from promo.services.audience_scoring import campaign_types_of
from promo.services.model_server import RESPONSE
from promo.services.profiles import segment_rules
from promo.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from promo.bootstrap import Runtime

PROFILE_KEYS = ("segments", "top_category", "min_visits", "min_spend", "max_days_since_purchase")


@dataclasses.dataclass
class Audience:
    """A campaign's eligible customers, best first when a model ranked them."""

    customer_ids: np.ndarray            # internal ids
    external_ids: list[str]
    held_out: np.ndarray                # bool per customer
    probability: np.ndarray | None      # None without a response model
    uplift: np.ndarray | None
    reasons: list[list[str]]
    opted_out: int
    model: dict[str, str] | None
    ranked_by: str | None

    @property
    def size(self) -> int:
        return len(self.customer_ids)

    @property
    def treated(self) -> int:
        return int(np.count_nonzero(~self.held_out))


def profile_conditions(targeting: dict[str, Any]) -> ProfileConditions | None:
    if not any(targeting.get(key) not in (None, [], ()) for key in PROFILE_KEYS):
        return None
    return ProfileConditions.of(segments=targeting.get("segments") or (),
                                top_categories=targeting.get("top_category") or (),
                                min_visits=targeting.get("min_visits"), min_spend=targeting.get("min_spend"),
                                max_days_since_purchase=targeting.get("max_days_since_purchase"))


def _condition_reasons(targeting: dict[str, Any], segments: list[str], categories: list[str]) -> list[str]:
    reasons = [f"segment:{s}" for s in segments if s in set(targeting.get("segments") or ())]
    wanted = {c.casefold() for c in targeting.get("top_category") or ()}
    reasons += [f"top_category:{c}" for c in categories if c.casefold() in wanted]
    reasons += [name for name in ("min_visits", "min_spend", "max_days_since_purchase")
                if targeting.get(name) is not None]
    return reasons


def _candidates(runtime: "Runtime", uow: UnitOfWork, targeting: dict[str, Any]
                ) -> tuple[list[tuple[int, str]], list[list[str]], int]:
    """(id, external id) of the customers meeting the conditions, why, and how many
    otherwise eligible customers opted out."""
    conditions = profile_conditions(targeting)
    if conditions is None:
        rows = uow.profiles.with_history_ids()
        people = [(i, e) for i, e, opted in rows if not opted]
        return people, [["everyone" if targeting.get("type") == "everyone" else "any_customer"]] * len(people), \
            len(rows) - len(people)
    rules = segment_rules(runtime.settings)
    now = uow.profiles.clock()
    people, reasons, opted_out = [], [], 0
    by_category = bool(conditions.top_categories)
    for profile in uow.profiles.with_history(categories=by_category):
        segments = segments_of(profile, now, rules)  # type: ignore[arg-type]
        categories = [entry["name"] for entry in profile.top_categories] if by_category else []
        # Campaigns do not target by home store (ProfileConditions.home_location stays None).
        if not conditions.matches(profile, segments=segments, categories=categories, now=now,  # type: ignore[arg-type]
                                  home_location=None):
            continue
        if profile.opted_out:
            opted_out += 1
            continue
        people.append((profile.id, profile.external_id))
        reasons.append(_condition_reasons(targeting, segments, categories))
    return people, reasons, opted_out


def resolve(runtime: "Runtime", uow: UnitOfWork, campaign: Campaign, product_ids: list[int]) -> Audience:
    """The campaign's audience now: targeting, then the model's ranking (when a response
    model is active, for every targeting type: it gives expected redemptions), then the
    model's cut for model targeting, then the holdout."""
    targeting = campaign.targeting or {"type": "everyone"}
    people, reasons, opted_out = _candidates(runtime, uow, targeting)
    served = runtime.models.get(RESPONSE)
    if targeting.get("type") == "model" and served is None:
        raise Conflict("model targeting needs a response model; run `promo train`", reason="model_missing")
    probability = uplift = None
    model = ranked_by = None
    if served is not None and people and product_ids:
        # A type the model never saw (it learnt the demo's) is scored as no type at all.
        known_type = campaign.type if campaign.type in campaign_types_of(served.estimator.feature_names_) else None
        scored = runtime.audience_scorer.rank(product_ids, campaign_type=known_type,
                                              customer_ids=[i for i, _ in people])
        position = {int(i): n for n, (i, _) in enumerate(people)}
        order = [position[int(i)] for i in scored.customer_ids]
        people = [people[n] for n in order]
        reasons = [reasons[n] for n in order]
        probability, uplift = scored.probability, scored.uplift
        model = {"name": scored.model_name, "version": scored.model_version}
        ranked_by = scored.ranked_by
        if targeting.get("type") == "model":
            keep = _model_keeps(targeting, probability)
            people = [p for p, kept in zip(people, keep) if kept]
            reasons = [r + ["model_rank"] for r, kept in zip(reasons, keep) if kept]
            probability = probability[keep]
            uplift = None if uplift is None else uplift[keep]
    code = campaign.code
    held_out = np.array([is_held_out(code, external, campaign.holdout_percent or 0) for _, external in people],
                        dtype=bool)
    return Audience(customer_ids=np.array([i for i, _ in people], dtype=np.int64),
                    external_ids=[e for _, e in people], held_out=held_out, probability=probability,
                    uplift=uplift, reasons=reasons, opted_out=opted_out, model=model, ranked_by=ranked_by)


def _model_keeps(targeting: dict[str, Any], probability: np.ndarray) -> np.ndarray:
    """Which of the ranked customers model targeting keeps: the best ``top_percent`` of
    the ranking (by uplift when the model has it), or everyone whose probability reaches
    ``min_probability``."""
    keep = np.zeros(len(probability), dtype=bool)
    if targeting.get("top_percent") is not None:
        keep[:int(math.ceil(len(probability) * float(targeting["top_percent"]) / 100.0))] = True
    else:
        keep = probability >= float(targeting["min_probability"])
    return keep
