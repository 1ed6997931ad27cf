"""Edits and transitions racing on one campaign: none is lost, none is applied twice, and
each one that took effect has exactly one audit entry (on PostgreSQL these are true races;
SQLite serialises its writers)."""
from __future__ import annotations

import datetime as dt
import threading

import pytest

from promo.domain.errors import Conflict
from promo.services import campaign_lifecycle, campaigns, catalog

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
THREADS = 8


@pytest.fixture
def draft(runtime) -> str:
    catalog.upsert_products(runtime.unit_of_work(write=True), [
        {"sku": "milk", "name": "Milk", "price": 2.0, "currency": "USD"}])
    catalog.upsert_locations(runtime.unit_of_work(write=True), [
        {"code": "S1", "name": "S1", "kind": "store", "channels": ["store"]}])
    return campaigns.create_campaign(runtime.unit_of_work(write=True), {
        "name": "Race", "starts_at": NOW - dt.timedelta(hours=1), "ends_at": NOW + dt.timedelta(days=1),
        "channels": ["store"], "products": {"skus": ["milk"]}, "discount": {"type": "percent", "value": 5}},
        actor="tester")["id"]


def race(calls) -> list:
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            outcomes[index] = calls[index]()
        except Conflict as conflict:
            outcomes[index] = conflict.reason

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_racing_edits_each_apply_once_or_are_told_to_retry(runtime, draft):
    outcomes = race([lambda i=i: campaigns.update_campaign(runtime.unit_of_work(write=True), draft,
                                                           {"priority": i + 1}, actor=f"editor-{i}")
                     for i in range(THREADS)])

    applied = [o for o in outcomes if isinstance(o, dict)]
    assert applied and all(o == "concurrent_change" for o in outcomes if not isinstance(o, dict))
    final = campaigns.get_campaign(runtime.unit_of_work(), draft)
    assert final["revision"] == 1 + len(applied)
    history = campaigns.history(runtime.unit_of_work(), draft, after=None, limit=100).items
    assert len([e for e in history if e["action"] == "updated"]) == len(applied)
    assert final["priority"] == history[-1]["after"]["priority"]


def test_racing_pauses_and_ends_leave_one_winner_per_transition(runtime, draft):
    campaign_lifecycle.transition(runtime, draft, "activate", actor="tester", override_reason="no stock in tests")
    calls = [lambda i=i: campaign_lifecycle.transition(runtime, draft, "pause" if i % 2 else "end",
                                                       actor=f"person-{i}") for i in range(THREADS)]
    outcomes = race(calls)

    applied = [o for o in outcomes if isinstance(o, dict)]
    refused = [o for o in outcomes if not isinstance(o, dict)]
    assert set(refused) <= {"concurrent_change", "invalid_transition"}
    # At most a pause then an end; never two pauses, never two ends.
    actions = [e["action"] for e in campaigns.history(runtime.unit_of_work(), draft, after=None, limit=100).items]
    assert actions.count("paused") <= 1 and actions.count("ended") <= 1
    assert len(applied) == actions.count("paused") + actions.count("ended") >= 1
