"""Campaign audiences and checks with a real response model fitted on small data: the
check sums the model's probabilities over the treated audience, the audience is ranked
by the model, and model targeting keeps the best share or those above a probability."""
from __future__ import annotations

import datetime as dt
import math

import pytest

from promo.services import campaign_audience_export, campaign_check
from promo.services import campaigns as campaign_service
from tests.integration.test_audience_scoring import trained  # noqa: F401 (fixture)
from tests.integration.test_models import campaigns, promo, shop  # noqa: F401 (fixtures)

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def make(runtime, **changes) -> str:
    body = {"name": "Promote a", "starts_at": NOW - dt.timedelta(hours=1), "ends_at": NOW + dt.timedelta(days=7),
            "channels": ["store"], "products": {"skus": ["a"]}, "discount": {"type": "percent", "value": 20},
            **changes}
    return campaign_service.create_campaign(runtime.unit_of_work(write=True), body, actor="tester")["id"]


def everyone(runtime, code):
    summary, page = campaign_audience_export.audience_page(runtime, code, after=None, limit=1000)
    return summary, page.items


def test_the_check_expects_the_models_probabilities_summed_over_the_treated(trained):
    runtime = trained
    code = make(runtime, holdout_percent=20)
    summary, members = everyone(runtime, code)
    report = campaign_check.run_check(runtime, code).report

    assert summary["ranked_by"] == "probability" and summary["model"]["name"] == "response"
    assert report["expected_from"] == "model" and report["model"] == summary["model"]
    treated = sum(m["probability"] for m in members if not m["held_out"])
    assert report["expected_redemptions"] == pytest.approx(treated, abs=0.01)
    assert 0 < report["audience"]["held_out"] < report["audience"]["eligible"] == len(members)
    probabilities = [m["probability"] for m in members]
    assert probabilities == sorted(probabilities, reverse=True)
    # The buyers of the promoted product are the likeliest to redeem it.
    assert members[0]["id"] in ("a-only", *[f"c{n:02d}" for n in range(100)])


def test_model_targeting_keeps_the_best_share_or_those_above_a_probability(trained):
    runtime = trained
    _, members = everyone(runtime, make(runtime))
    top = everyone(runtime, make(runtime, targeting={"type": "model", "top_percent": 10}))[1]
    assert [m["id"] for m in top] == [m["id"] for m in members[:math.ceil(len(members) * 0.1)]]
    assert all("model_rank" in m["reasons"] for m in top)

    threshold = members[len(members) // 3]["probability"]
    above = everyone(runtime, make(runtime, targeting={"type": "model", "min_probability": threshold}))[1]
    assert {m["id"] for m in above} == {m["id"] for m in members if m["probability"] >= threshold}


def test_model_targeting_on_top_of_profile_conditions_ranks_only_those_who_meet_them(trained):
    runtime = trained
    code = make(runtime, targeting={"type": "model", "top_percent": 50, "min_visits": 3})
    _, members = everyone(runtime, code)
    summary, all_members = everyone(runtime, make(runtime, targeting={"type": "profile", "min_visits": 3}))
    assert len(members) == math.ceil(summary["eligible"] * 0.5)
    assert {m["id"] for m in members} <= {m["id"] for m in all_members}


def test_a_campaign_type_the_model_never_learnt_is_scored_as_no_type(trained):
    runtime = trained
    code = make(runtime)
    untyped = campaign_check.run_check(runtime, code).report["expected_redemptions"]
    with runtime.unit_of_work(write=True) as uow:   # a type the demo's model never saw, set behind the API
        uow.campaigns.get(code).type = "Type Z"
        uow.commit()
    assert campaign_check.run_check(runtime, code).report["expected_redemptions"] == untyped
